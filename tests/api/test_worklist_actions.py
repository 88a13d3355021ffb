"""The work list's actions through the API, on alerts raised by real readings through the
broker and the ingest: claim, take over and release; the contact log; resolve with the
pages' structured outcomes (the same words on the alert either way); another team's
clinician answered as if the alert did not exist, a technician refused; each change in the
audit trail under the user's name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from common.wire.vocabulary import ALERT_OUTCOME_LABELS, AlertOutcome, Measure, ReadingKind
from server.api.auth import Role, create_user
from server.store.models import AuditEvent
from tests.fixtures.server import Stack


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _red_alert(stack: Stack, patient_id: str, hub_id: str, team: str = "north") -> int:
    hub = stack.patient_with_hub(patient_id, hub_id, team=team)
    hub.send(ReadingKind.SPO2, {Measure.SPO2: 86, Measure.PULSE: 90})
    assert hub.wait_delivered(20)
    got = stack.api.get("/api/v1/alerts", params={"patient_id": patient_id}, headers=stack.auth())
    [alert] = got.json()
    return int(alert["id"])


def _post(stack: Stack, token: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return stack.api.post(path, json=body, headers=_bearer(token))


def _audited(stack: Stack, alert_id: int) -> list[tuple[str, str, str]]:
    with stack.db.session() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.target == str(alert_id)).order_by(AuditEvent.id))
        return [(e.actor, e.action, e.detail) for e in rows]


def test_claim_take_over_and_release(stack: Stack) -> None:
    alert_id = _red_alert(stack, "p-api-wl-1", "hub-api-wl-1")
    colleague = create_user(stack.db, "matron-api-colleague", Role.CLINICIAN, teams=["north"])

    claimed = _post(stack, stack.token, f"/api/v1/alerts/{alert_id}/claim")
    assert claimed.status_code == 200, claimed.text
    mine = claimed.json()["claimed_by"]
    assert mine.startswith("matron-")
    assert claimed.json()["status"] == "open"  # claiming is not acknowledging
    again = _post(stack, stack.token, f"/api/v1/alerts/{alert_id}/claim")
    assert [e["action"] for e in again.json()["events"]].count("claimed") == 1  # the holder again: no change

    taken = _post(stack, colleague, f"/api/v1/alerts/{alert_id}/claim")
    assert taken.json()["claimed_by"] == "matron-api-colleague"
    assert taken.json()["events"][-1] == {
        "at": taken.json()["events"][-1]["at"],
        "actor": "matron-api-colleague",
        "action": "claimed",
        "detail": f"taken over from {mine}",
    }
    refused = _post(stack, stack.token, f"/api/v1/alerts/{alert_id}/release")
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": f"alert {alert_id} is claimed by matron-api-colleague; claim it to take it over"
    }
    released = _post(stack, colleague, f"/api/v1/alerts/{alert_id}/release")
    assert released.status_code == 200
    assert released.json()["claimed_by"] is None and released.json()["claimed_at"] is None
    assert released.json()["events"][-1]["action"] == "released"
    assert _post(stack, colleague, f"/api/v1/alerts/{alert_id}/release").status_code == 200  # nothing held

    assert [(actor, action) for actor, action, _ in _audited(stack, alert_id)] == [
        (mine, "alert_claimed"),
        (mine, "alert_claimed"),
        ("matron-api-colleague", "alert_claimed"),
        ("matron-api-colleague", "alert_released"),
        ("matron-api-colleague", "alert_released"),
    ]


def test_contact_log_then_a_structured_outcome(stack: Stack) -> None:
    alert_id = _red_alert(stack, "p-api-wl-2", "hub-api-wl-2")
    path = f"/api/v1/alerts/{alert_id}"
    for empty in ({"note": ""}, {"note": "   "}, {}):
        refused = _post(stack, stack.token, f"{path}/contacts", empty)
        assert refused.status_code == 422, empty
        assert refused.headers["content-type"] == "application/json"
    logged = _post(stack, stack.token, f"{path}/contacts", {"note": "  no answer, left a message "})
    assert logged.status_code == 201, logged.text
    [contact] = logged.json()["contacts"]
    assert contact["note"] == "no answer, left a message"
    assert contact["actor"].startswith("matron-")
    shown = stack.api.get(path, headers=stack.auth()).json()
    assert shown["contacts"] == [contact]
    assert ("contact_logged", "no answer, left a message") in [
        (e["action"], e["detail"]) for e in shown["events"]
    ]

    for wrong, says in (
        ({"outcome_code": "other"}, "needs a note"),
        ({"outcome_code": "phoned"}, "phoned_patient"),  # the valid codes are listed
        ({"outcome_code": "artefact", "outcome": "looked wrong"}, "either outcome_code"),
        ({"outcome": "phoned", "note": "and the GP"}, "a note goes with outcome_code"),
        ({}, "either outcome_code"),
    ):
        answer = _post(stack, stack.token, f"{path}/resolve", wrong)
        assert answer.status_code == 422, (wrong, answer.text)
        assert says in answer.text, (wrong, answer.text)
    assert stack.api.get(path, headers=stack.auth()).json()["status"] == "open"

    resolved = _post(
        stack,
        stack.token,
        f"{path}/resolve",
        {"outcome_code": "visit_arranged", "note": "district nurse at 3 pm"},
    )
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert body["status"] == "resolved" and body["outcome_code"] == "visit_arranged"
    # The words the pages write for the same choice (server.store.worklist.outcome_words).
    assert body["outcome"] == f"{ALERT_OUTCOME_LABELS[AlertOutcome.VISIT_ARRANGED]}: district nurse at 3 pm"

    closed = _post(stack, stack.token, f"{path}/contacts", {"note": "too late"})
    assert closed.status_code == 409 and closed.json() == {"detail": f"alert {alert_id} is already resolved"}
    assert _post(stack, stack.token, f"{path}/claim").status_code == 409
    assert [action for _, action, detail in _audited(stack, alert_id) if detail == "api"] == [
        "alert_contact_logged",
        "alert_resolved",
    ]


def test_the_outcome_codes_are_the_pages_own(stack: Stack) -> None:
    spec = stack.api.get("/openapi.json").json()
    resolve_in = spec["components"]["schemas"]["ResolveIn"]["properties"]["outcome_code"]
    [choices] = [option for option in resolve_in["anyOf"] if "$ref" in option]
    enum = spec["components"]["schemas"][choices["$ref"].rsplit("/", 1)[-1]]["enum"]
    assert enum == [o.value for o in ALERT_OUTCOME_LABELS] == [o.value for o in AlertOutcome]


def test_another_teams_clinician_gets_404_and_a_technician_403(stack: Stack) -> None:
    alert_id = _red_alert(stack, "p-api-wl-3", "hub-api-wl-3", team="north")
    outsider = create_user(stack.db, "matron-api-south", Role.CLINICIAN, teams=["south"])
    technician = create_user(stack.db, "tech-api-wl", Role.TECHNICIAN)
    path = f"/api/v1/alerts/{alert_id}"
    attempts: list[tuple[str, dict[str, Any] | None]] = [
        ("claim", None),
        ("release", None),
        ("contacts", {"note": "called"}),
        ("resolve", {"outcome_code": "phoned_patient"}),
        ("acknowledge", {"note": "seen"}),
    ]
    for verb, body in attempts:
        hidden = _post(stack, outsider, f"{path}/{verb}", body)
        assert hidden.status_code == 404, verb
        assert hidden.json() == {"detail": f"no alert {alert_id}"}  # as if absent: no hint of another team
        refused = _post(stack, technician, f"{path}/{verb}", body)
        assert refused.status_code == 403, verb
        assert refused.json() == {"detail": "role technician may not do this"}
    untouched = stack.api.get(path, headers=stack.auth()).json()
    assert untouched["status"] == "open" and untouched["claimed_by"] is None and untouched["contacts"] == []
    assert [e["action"] for e in untouched["events"]] == ["opened"]
    with stack.db.session() as s:
        tried = list(
            s.scalars(
                select(AuditEvent.detail).where(
                    AuditEvent.actor == "matron-api-south", AuditEvent.action == "patient_out_of_team"
                )
            )
        )
    assert tried == [f"alert {alert_id}: answered as not found"] * len(attempts)
