"""Per-patient rule overrides through the API: validated before storing, versioned, audited."""

from __future__ import annotations

import json

from sqlalchemy import select

from server.api.auth import Role, create_user
from server.provisioning import add_patient
from server.store.models import AuditEvent, RuleOverride
from tests.fixtures.server import Stack

URL = "/api/v1/patients/p-ovr-1/rules"


def test_invalid_changes_are_refused_with_the_reason_and_nothing_is_stored(stack: Stack) -> None:
    add_patient(stack.db, "p-ovr-1", "Override patient", actor="test")
    inverted = {"thresholds": {"spo2": {"red": {"at_or_below": 90}, "amber": {"at_or_below": 88}}}}
    cases = [
        (
            {"changes": inverted, "reason": "COPD"},
            "red.at_or_below (90.0) must not be above amber.at_or_below",
        ),
        ({"changes": {"thresholds": {"spo2": {"rde": {}}}}, "reason": "typo"}, "thresholds.spo2.rde"),
        ({"changes": {"hub_silence": {"max_hours": 0}}, "reason": "never"}, "hub_silence.max_hours"),
    ]
    for body, message in cases:
        r = stack.api.put(URL, json=body, headers=stack.auth())
        assert r.status_code == 422, r.text
        assert message in r.json()["detail"]
    no_reason = stack.api.put(URL, json={"changes": {}}, headers=stack.auth())
    assert no_reason.status_code == 422
    self_named = stack.api.put(
        URL, json={"changes": {}, "reason": "x" * 5, "set_by": "Dr X"}, headers=stack.auth()
    )
    assert self_named.status_code == 422  # who set it comes from the token, never the body
    with stack.db.session() as s:
        assert list(s.scalars(select(RuleOverride))) == []
        assert list(s.scalars(select(AuditEvent).where(AuditEvent.action == "rules_changed"))) == []
    rules = stack.api.get(URL, headers=stack.auth()).json()
    assert (rules["override"], rules["history"]) == (None, [])
    assert rules["effective"]["thresholds"]["spo2"]["red"]["at_or_below"] == 91


def test_versions_are_kept_newest_first_and_an_empty_change_restores_the_defaults(stack: Stack) -> None:
    add_patient(stack.db, "p-ovr-1", "Override patient", actor="test")
    defaults = stack.api.get(URL, headers=stack.auth()).json()["effective"]
    first = {"weight_gain": {"daily": {"enabled": True}}}
    second = {"weight_gain": {"daily": {"enabled": True, "gain_kg": 1.5}}}
    for changes, reason in (
        (first, "HF nurse plan"),
        (second, "fluid plan revised"),
        ({}, "back to defaults"),
    ):
        assert (
            stack.api.put(URL, json={"changes": changes, "reason": reason}, headers=stack.auth()).status_code
            == 200
        )
    rules = stack.api.get(URL, headers=stack.auth()).json()
    assert [(v["changes"], v["reason"]) for v in rules["history"]] == [
        ({}, "back to defaults"),
        (second, "fluid plan revised"),
        (first, "HF nurse plan"),
    ]
    assert rules["override"] == rules["history"][0]
    assert rules["effective"] == defaults
    with stack.db.session() as s:
        audited = [
            (e.target, json.loads(e.detail)["reason"])
            for e in s.scalars(
                select(AuditEvent).where(AuditEvent.action == "rules_changed").order_by(AuditEvent.id)
            )
        ]
        viewed = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "rules_viewed")))
    assert audited == [
        ("p-ovr-1", "HF nurse plan"),
        ("p-ovr-1", "fluid plan revised"),
        ("p-ovr-1", "back to defaults"),
    ]
    assert len(viewed) == 2


def test_only_clinicians_change_rules_and_only_for_known_patients(stack: Stack) -> None:
    add_patient(stack.db, "p-ovr-1", "Override patient", actor="test")
    tech = {"Authorization": f"Bearer {create_user(stack.db, 'tech-ovr', Role.TECHNICIAN)}"}
    body = {"changes": {}, "reason": "trying"}
    assert stack.api.put(URL, json=body, headers=tech).status_code == 403
    assert stack.api.get(URL, headers=tech).status_code == 403
    assert stack.api.put(URL, json=body).status_code == 401
    assert (
        stack.api.put("/api/v1/patients/p-nobody/rules", json=body, headers=stack.auth()).status_code == 404
    )
    assert stack.api.get("/api/v1/patients/p-nobody/rules", headers=stack.auth()).status_code == 404
