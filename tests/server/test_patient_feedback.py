"""What a patient's hub says aloud, set through the API on the real server: validated in
plain words, audited, hidden from other teams, compared with the missed-readings schedule,
and sent to a hub whose devices were paired at the hub without a device list, so that they stay."""

from __future__ import annotations

import json

from sqlalchemy import select

from server.api.auth import Role, create_user
from server.enrolment import give_hub
from server.hub_config import desired, pair
from server.provisioning import add_hub, add_patient, assign_hub
from server.store.models import AuditEvent
from tests.fixtures.server import Stack

URL = "/api/v1/patients/p-fb-1/feedback"
CUFF = "00:09:1F:8A:12:34"
BP_AT_8 = {"kind": "blood_pressure", "at": "08:00"}
WELSH = {"speak": ["confirmed", "reminder"], "speak_values": False, "language": "cy", "reminders": [BP_AT_8]}


def _audit(stack: Stack, action: str) -> list[AuditEvent]:
    with stack.db.session() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
        s.expunge_all()
        return rows


def test_set_read_and_clear_through_the_api_each_change_audited(stack: Stack) -> None:
    add_patient(stack.db, "p-fb-1", "Feedback patient", actor="test")
    fresh = stack.api.get(URL, headers=stack.auth())
    assert fresh.status_code == 200, fresh.text
    body = fresh.json()
    assert body["preferences"] is None
    assert body["effective"]["speak_values"] is False  # never read out unless a clinician chooses
    assert body["hub_id"] is None and body["languages"] == {"en": "English", "cy": "Welsh (Cymraeg)"}

    r = stack.api.put(URL, json={"preferences": WELSH}, headers=stack.auth())
    assert r.status_code == 200, r.text
    assert r.json()["preferences"] == {**WELSH, "reminders": [{**BP_AT_8, "window_min": 120}]}
    assert r.json()["delivery"] == "waiting"  # no hub serves the patient
    assert stack.api.get(URL, headers=stack.auth()).json()["preferences"]["language"] == "cy"

    cleared = stack.api.put(URL, json={"preferences": None}, headers=stack.auth())
    assert cleared.status_code == 200 and cleared.json()["preferences"] is None
    changes = [json.loads(e.detail) for e in _audit(stack, "feedback_changed")]
    assert [c["to"] is None for c in changes] == [False, True]
    assert changes[0]["to"]["language"] == "cy" and changes[1]["from"]["language"] == "cy"
    assert all(e.actor.startswith("matron-") for e in _audit(stack, "feedback_changed"))
    assert len(_audit(stack, "feedback_viewed")) == 2


def test_bad_preferences_are_refused_in_plain_words_and_nothing_is_stored(stack: Stack) -> None:
    add_patient(stack.db, "p-fb-1", "Feedback patient", actor="test")
    for wrong, words in (
        ({**WELSH, "language": "fr"}, "cannot speak 'fr': choose from en (English), cy (Welsh (Cymraeg))"),
        ({**WELSH, "speak": ["shout"]}, "speak"),
        ({**WELSH, "reminders": [{"kind": "weight", "at": "25:00"}]}, "reminders"),
        ({**WELSH, "reminders": [{"kind": "glucose", "at": "08:00"}]}, "reminders"),
        (
            {**WELSH, "reminders": [{"kind": "weight", "at": "08:00"}, {"kind": "weight", "at": "08:00"}]},
            "listed twice",
        ),
    ):
        r = stack.api.put(URL, json={"preferences": wrong}, headers=stack.auth())
        assert r.status_code == 422, (wrong, r.text)
        assert words in r.text, (words, r.text)
    assert stack.api.get(URL, headers=stack.auth()).json()["preferences"] is None
    assert _audit(stack, "feedback_changed") == []


def test_another_teams_clinician_can_neither_read_nor_set_them(stack: Stack) -> None:
    add_patient(stack.db, "p-fb-1", "Feedback patient", actor="test", team="north")
    outsider = create_user(stack.db, "south-nurse", Role.CLINICIAN, teams=("south",))
    theirs = {"Authorization": f"Bearer {outsider}"}
    assert stack.api.get(URL, headers=theirs).status_code == 404
    assert stack.api.put(URL, json={"preferences": WELSH}, headers=theirs).status_code == 404
    assert stack.api.get("/api/v1/patients/p-nobody/feedback", headers=theirs).status_code == 404
    technician = create_user(stack.db, "tech-fb", Role.TECHNICIAN)
    assert stack.api.get(URL, headers={"Authorization": f"Bearer {technician}"}).status_code == 403
    assert stack.api.get(URL, headers=stack.auth()).json()["preferences"] is None
    assert _audit(stack, "feedback_changed") == []
    refusals = [e for e in _audit(stack, "patient_out_of_team") if e.target == "p-fb-1"]
    assert [e.detail for e in refusals] == ["feedback: answered as not found"] * 2


def test_reminders_follow_the_missed_readings_schedule_or_say_where_they_differ(stack: Stack) -> None:
    add_patient(stack.db, "p-fb-1", "Feedback patient", actor="test")
    # The defaults expect a weight by 11:00 (window from 00:00).
    warned = stack.api.put(URL, json={"preferences": WELSH}, headers=stack.auth()).json()["warnings"]
    assert any("blood_pressure reminder at 08:00" in w and "not alerted" in w for w in warned), warned
    assert any("weight reading is expected by 11:00" in w for w in warned), warned
    derived = stack.api.put(
        URL, json={"preferences": WELSH, "reminders_from_schedule": True}, headers=stack.auth()
    ).json()
    assert derived["preferences"]["reminders"] == [{"kind": "weight", "at": "10:00", "window_min": 600}]
    assert derived["preferences"]["language"] == "cy"  # the rest as asked
    assert derived["warnings"] == []
    silent = stack.api.put(
        URL, json={"preferences": {**derived["preferences"], "speak": ["confirmed"]}}, headers=stack.auth()
    ).json()
    assert any("never prompted" in w for w in silent["warnings"]), silent["warnings"]


def test_a_hub_whose_devices_were_paired_at_the_hub_gets_the_preferences_without_a_device_list(
    stack: Stack,
) -> None:
    """Precedence: preferences never unpair what a technician paired at the hub. Until a device
    is paired on the server, the hub's configurations carry no list (keep your own); the first
    server pairing makes the server's list the hub's, audited in the same record."""
    add_patient(stack.db, "p-fb-1", "Feedback patient", actor="test")
    add_hub(stack.db, "hub-fb-1", actor="test")
    assign_hub(stack.db, "hub-fb-1", "p-fb-1", actor="test")  # version 1: now serves the patient
    r = stack.api.put(URL, json={"preferences": WELSH}, headers=stack.auth()).json()
    assert (r["hub_id"], r["hub_config_version"]) == ("hub-fb-1", 2)
    assert r["delivery"] not in ("delivered", "waiting")  # sent, but this stack's API has no broker password
    kept = desired(stack.db, "hub-fb-1")
    assert kept.paired_devices is None and kept.patient_feedback is not None
    assert kept.patient_feedback.language == "cy"
    sent = pair(stack.db, "hub-fb-1", CUFF, model_id="and-ua-651ble", actor="tech")
    assert sent.version == 3 and sent.patient_feedback is not None
    assert [d.address for d in sent.paired_devices or []] == [CUFF]
    [paired] = _audit(stack, "device_paired")
    assert "the server's device list is the hub's list from now on (config v3)" in paired.detail
    again = stack.api.put(URL, json={"preferences": None}, headers=stack.auth()).json()
    assert again["hub_config_version"] == 4
    assert [d.address for d in desired(stack.db, "hub-fb-1").paired_devices or []] == [CUFF]
    bumps = _audit(stack, "hub_patient_settings_changed")
    assert [b.detail[-len("(config v4)") :] for b in bumps] == ["(config v1)", "(config v2)", "(config v4)"]
    assert {b.target for b in bumps} == {"hub-fb-1"}


def test_a_swapped_hub_takes_the_patients_preferences_and_the_old_one_loses_them(stack: Stack) -> None:
    add_patient(stack.db, "p-fb-1", "Feedback patient", actor="test")
    for hub_id, address in (("hub-fb-old", CUFF), ("hub-fb-new", "00:09:1F:8A:12:35")):
        add_hub(stack.db, hub_id, actor="test")
        pair(stack.db, hub_id, address, model_id="and-ua-651ble", actor="tech")  # both at version 1
    assign_hub(stack.db, "hub-fb-old", "p-fb-1", actor="test")  # version 2: now serves the patient
    assert stack.api.put(URL, json={"preferences": WELSH}, headers=stack.auth()).status_code == 200
    assert desired(stack.db, "hub-fb-old").patient_feedback is not None
    assert desired(stack.db, "hub-fb-new").patient_feedback is None
    give_hub(stack.db, "p-fb-1", "hub-fb-new", actor="test")
    new, old = desired(stack.db, "hub-fb-new"), desired(stack.db, "hub-fb-old")
    assert new.patient_feedback is not None and new.patient_feedback.language == "cy"
    assert (new.version, old.version, old.patient_feedback) == (2, 4, None)
