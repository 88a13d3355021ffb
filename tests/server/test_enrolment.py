"""The record's changes on a real database: each all or nothing, each audited; discharge
ends the hub's assignment and keeps the history; a hub serving someone else is never taken."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from common.wire.vocabulary import Condition
from server.enrolment import RecordError, discharge, enrol, free_hubs, give_hub, read_form, update
from server.provisioning import add_hub
from server.store.database import Database
from server.store.models import AuditEvent, Hub, HubAssignment, Patient
from server.teams import ensure_team

TODAY = date(2026, 12, 3)
GOOD = {
    "name": "  Edna   Enrolled ",
    "nhs_number": "943 476 5919",
    "dob_day": "27",
    "dob_month": "3",
    "dob_year": "1947",
    "phone": "01632 960 001",
    "gp_practice": "Riverside Surgery",
    "team": "north",
}


def _teams(db: Database) -> list[str]:
    with db.session() as s:
        ensure_team(s, "north")
        ensure_team(s, "south")
    return ["north", "south"]


def _audit(db: Database, target: str) -> list[tuple[str, str]]:
    with db.session() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.target == target).order_by(AuditEvent.id))
        return [(e.action, e.detail) for e in rows]


def test_the_form_names_every_problem_by_its_box() -> None:
    form = read_form(
        {
            "name": "",
            "nhs_number": "1234",
            "dob_day": "31",
            "dob_month": "2",
            "dob_year": "1950",
            "phone": "call me",
        },
        ["copd", "not-a-condition"],
        ["north"],
        TODAY,
    )
    assert [(p.field, p.text) for p in form.problems] == [
        ("name", "Enter the patient's full name"),
        ("nhs_number", "NHS number must be 10 digits"),
        ("dob-day", "Date of birth must be a real date, for example 27 3 1947"),
        ("phone", "Enter a phone number, like 01632 960 001 or 07700 900 982"),
        ("team", "Select the team that cares for the patient"),
    ]
    assert form.conditions == [Condition.COPD]
    future = read_form({**GOOD, "dob_year": "2027"}, [], ["north"], TODAY)
    assert [p.text for p in future.problems] == ["Date of birth must be in the past"]


def test_enrol_edit_give_a_hub_swap_and_discharge(database: Database) -> None:
    teams = _teams(database)
    form = read_form(GOOD, ["copd"], teams, TODAY)
    assert form.problems == []
    pid = enrol(database, form, actor="tech-1")
    with database.session() as s:
        p = s.get(Patient, pid)
        assert p is not None
        assert (p.display_name, p.nhs_number, p.date_of_birth, p.team, p.conditions) == (
            "Edna Enrolled",
            "9434765919",
            date(1947, 3, 27),
            "north",
            ["copd"],
        )
    with pytest.raises(RecordError, match="already enrolled"):  # the same NHS number twice
        enrol(database, read_form(GOOD, [], teams, TODAY), actor="tech-1")

    moved = read_form({**GOOD, "team": "south", "phone": ""}, ["copd", "heart_failure"], teams, TODAY)
    update(database, pid, moved, actor="tech-1", reason="moved house")
    with database.session() as s:
        p = s.get(Patient, pid)
        assert p is not None and (p.team, p.phone, p.conditions) == ("south", None, ["heart_failure", "copd"])
    edited = [json.loads(d) for a, d in _audit(database, pid) if a == "patient_edited"]
    assert edited == [{"changed": ["phone", "team"], "reason": "moved house"}]
    assert [a for a, _ in _audit(database, pid)][-2:] == ["conditions_changed", "patient_edited"]

    add_hub(database, "hub-a", actor="test")
    add_hub(database, "hub-b", actor="test")
    assert give_hub(database, pid, "hub-a", actor="tech-1") is None
    assert give_hub(database, pid, "hub-b", actor="tech-1") == "hub-a"  # a swap
    assert free_hubs(database) == ["hub-a"]
    add_hub(database, "hub-c", actor="test")
    other = enrol(database, read_form({**GOOD, "nhs_number": "4010232137"}, [], teams, TODAY), actor="t")
    with pytest.raises(RecordError, match="serves another patient"):
        give_hub(database, other, "hub-b", actor="tech-1")

    assert discharge(database, pid, actor="tech-1", reason="monitoring ended") == ["hub-b"]
    with pytest.raises(RecordError, match="already been discharged"):
        discharge(database, pid, actor="tech-1", reason="again")
    with database.session() as s:
        history = [
            (a.hub_id, a.end_at is not None)
            for a in s.scalars(
                select(HubAssignment).where(HubAssignment.patient_id == pid).order_by(HubAssignment.id)
            )
        ]
        p = s.get(Patient, pid)
        assert p is not None and p.discharged_at is not None
    assert history == [("hub-a", True), ("hub-b", True)]  # kept, both ended
    assert sorted(free_hubs(database)) == ["hub-a", "hub-b", "hub-c"]
    assert json.loads(_audit(database, pid)[-1][1]) == {
        "reason": "monitoring ended",
        "hubs_released": ["hub-b"],
    }


def test_a_revoked_hub_is_neither_offered_nor_given(database: Database) -> None:
    """A revoked hub is refused at the broker: given to a patient, it would take readings
    that never arrive, so enrolment neither lists it nor accepts it."""
    teams = _teams(database)
    pid = enrol(database, read_form(GOOD, [], teams, TODAY), actor="tech-1")
    add_hub(database, "hub-kept", actor="test")
    add_hub(database, "hub-gone", actor="test")
    with database.session() as s:
        gone = s.get(Hub, "hub-gone")
        assert gone is not None
        gone.revoked_at = datetime.now(UTC)
    assert free_hubs(database) == ["hub-kept"]
    with pytest.raises(RecordError, match="has been revoked"):
        give_hub(database, pid, "hub-gone", actor="tech-1")
    with database.session() as s:
        assert s.scalars(select(HubAssignment).where(HubAssignment.patient_id == pid)).all() == []
