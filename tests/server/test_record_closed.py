"""A record's changes refused as a whole, on a real database: conditions that contradict the
patient's personal limits are said in plain words beside their box (they raised a bare
RuleSetError, an HTTP 500 on the page), and a discharged record is read-only everywhere
until it is readmitted, which is audited and brings no hub back."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from common.wire.feedback_prefs import PatientFeedback
from common.wire.vocabulary import Condition
from server.enrolment import RecordError, discharge, enrol, give_hub, read_form, readmit, update
from server.patient_feedback import set_feedback
from server.provisioning import add_hub
from server.store.database import Database
from server.store.discharged import PatientDischarged
from server.store.models import AuditEvent, HubAssignment, Patient
from server.store.overrides import set_conditions, set_override
from server.teams import ensure_team

TODAY = date(2026, 12, 3)
AT = datetime(2026, 12, 3, 9, tzinfo=UTC)
GOOD = {
    "name": "Edna Enrolled",
    "nhs_number": "943 476 5919",
    "dob_day": "27",
    "dob_month": "3",
    "dob_year": "1947",
    "phone": "01632 960 001",
    "team": "north",
}
#: Valid on the defaults (red 86 % below amber 93 %); the hypercapnic profile's amber is 85 %.
OWN_SPO2_RED = {"thresholds": {"spo2": {"red": {"at_or_below": 86}}}}


def _patient(db: Database) -> str:
    with db.session() as s:
        ensure_team(s, "north")
    return enrol(db, read_form(GOOD, [], ["north"], TODAY), actor="tech-1")


def _actions(db: Database, pid: str) -> list[str]:
    with db.session() as s:
        return list(
            s.scalars(select(AuditEvent.action).where(AuditEvent.target == pid).order_by(AuditEvent.id))
        )


def test_conditions_that_contradict_the_personal_limits_refuse_the_change_in_plain_words(
    database: Database,
) -> None:
    pid = _patient(database)
    with database.session() as s:
        set_override(s, pid, OWN_SPO2_RED, reason="usual sats low", set_by="nurse.jones", at=AT)
    asked = read_form(
        {**GOOD, "phone": "07700 900 982"},
        [Condition.HYPERCAPNIC_RESPIRATORY_FAILURE.value],
        ["north"],
        TODAY,
    )
    with pytest.raises(RecordError) as refused:
        update(database, pid, asked, actor="tech-1", reason="blood gases confirm CO2 retention")
    [problem] = refused.value.problems
    assert problem.field == "conditions"
    assert problem.text.startswith(
        "These conditions cannot be used with the personal SpO2 alert limits set for this patient"
    )
    assert "RuleSetError" not in problem.text and "at_or_below" not in problem.text
    with database.session() as s:  # nothing of the form was stored
        patient = s.get(Patient, pid)
        assert patient is not None and (patient.conditions, patient.phone) == ([], "01632 960 001")
    assert "conditions_changed" not in _actions(database, pid) and "patient_edited" not in _actions(
        database, pid
    )


def test_a_discharged_record_is_read_only_until_readmitted_which_is_audited_and_brings_no_hub(
    database: Database,
) -> None:
    pid = _patient(database)
    add_hub(database, "hub-closed", actor="test")
    give_hub(database, pid, "hub-closed", actor="tech-1")
    assert discharge(database, pid, actor="tech-1", reason="monitoring ended") == ["hub-closed"]

    with pytest.raises(PatientDischarged):
        update(
            database, pid, read_form({**GOOD, "phone": ""}, [], ["north"], TODAY), actor="t", reason="edit"
        )
    for change in (
        lambda s: set_override(s, pid, OWN_SPO2_RED, reason="late edit", set_by="nurse.jones", at=AT),
        lambda s: set_conditions(s, pid, [Condition.COPD], reason="late edit", set_by="nurse.jones"),
        lambda s: set_feedback(s, pid, PatientFeedback(speak_values=True), actor="nurse.jones"),
    ):
        with pytest.raises(PatientDischarged), database.session() as s:
            change(s)
    with pytest.raises(RecordError, match="discharged"):
        give_hub(database, pid, "hub-closed", actor="tech-1")
    with database.session() as s:
        patient = s.get(Patient, pid)
        assert patient is not None and (patient.phone, patient.conditions, patient.feedback) == (
            "01632 960 001",
            [],
            None,
        )
    assert _actions(database, pid)[-1] == "patient_discharged"  # no change was recorded

    readmit(database, pid, actor="matron.ali", reason="re-referred by the GP")
    with database.session() as s:
        patient = s.get(Patient, pid)
        assert patient is not None and patient.discharged_at is None
        open_hubs = s.scalars(
            select(HubAssignment).where(HubAssignment.patient_id == pid, HubAssignment.end_at.is_(None))
        ).all()
        assert open_hubs == []  # readmitted with no hub: one is given as for a new patient
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "patient_readmitted")).one()
    assert (event.actor, event.target) == ("matron.ali", pid)
    assert json.loads(event.detail)["reason"] == "re-referred by the GP"
    with pytest.raises(RecordError, match="has not been discharged"):
        readmit(database, pid, actor="matron.ali", reason="again")
    update(database, pid, read_form({**GOOD, "phone": ""}, [], ["north"], TODAY), actor="t", reason="edit")
    with database.session() as s:
        patient = s.get(Patient, pid)
        assert patient is not None and patient.phone is None
