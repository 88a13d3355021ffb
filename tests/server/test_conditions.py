"""Condition profiles on the real server: chosen at enrolment, changed with a reason through
the API (audited), and used by the judge on arriving readings."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from common.wire.vocabulary import Condition, Measure, ReadingKind, StatusFlag
from server.ingest.processor import IngestProcessor
from server.provisioning import add_hub, add_patient, assign_hub
from server.store.database import Database
from server.store.influx.store import InfluxStore
from server.store.models import AuditEvent
from server.store.overrides import set_override
from tests.fixtures.server import Stack
from tests.server.test_judge import T0, TOPIC, alerts
from tests.support.readings import make_batch, make_reading

URL = "/api/v1/patients/p-cnd-1/conditions"


def _enrol(db: Database, patient: str, conditions: list[Condition]) -> None:
    add_patient(db, patient, patient, actor="test", conditions=conditions)
    add_hub(db, "hub-jdg-1", actor="test")
    assign_hub(db, "hub-jdg-1", patient, actor="test", start=T0 - timedelta(days=30))


def test_a_known_af_patients_irregular_pulse_raises_nothing_where_it_would_for_others(
    database: Database, influx_store: InfluxStore
) -> None:
    _enrol(database, "p-cnd-af", [Condition.ATRIAL_FIBRILLATION])
    proc = IngestProcessor(database, influx_store)
    for i in range(4):
        flagged = make_reading(taken_at=T0 + timedelta(hours=i), flags=[StatusFlag.IRREGULAR_PULSE])
        proc.handle(TOPIC, make_batch([flagged], hub_id="hub-jdg-1").to_json())
    assert alerts(database) == []


def test_a_hypercapnic_patient_on_scale_2_at_88_percent_raises_nothing_at_84_amber(
    database: Database, influx_store: InfluxStore
) -> None:
    _enrol(database, "p-cnd-copd", [Condition.COPD, Condition.HYPERCAPNIC_RESPIRATORY_FAILURE])
    proc = IngestProcessor(database, influx_store)
    for minutes, spo2 in ((0, 88), (120, 84)):
        reading = make_reading(ReadingKind.SPO2, {Measure.SPO2: spo2}, T0 + timedelta(minutes=minutes))
        proc.handle(TOPIC, make_batch([reading], hub_id="hub-jdg-1").to_json())
    assert alerts(database) == [("p-cnd-copd", "threshold.spo2", "amber")]


def test_a_copd_patient_without_the_hypercapnic_decision_at_88_percent_is_red(
    database: Database, influx_store: InfluxStore
) -> None:
    _enrol(database, "p-cnd-copd", [Condition.COPD])
    proc = IngestProcessor(database, influx_store)
    reading = make_reading(ReadingKind.SPO2, {Measure.SPO2: 88}, T0)
    proc.handle(TOPIC, make_batch([reading], hub_id="hub-jdg-1").to_json())
    assert alerts(database) == [("p-cnd-copd", "threshold.spo2", "red")]


def test_conditions_change_through_the_api_with_a_reason_and_an_audit_record(stack: Stack) -> None:
    add_patient(stack.db, "p-cnd-1", "Conditions patient", actor="test")
    rules = stack.api.get("/api/v1/patients/p-cnd-1/rules", headers=stack.auth()).json()
    assert (rules["conditions"], rules["effective"]["news2"]["spo2_scale"]) == ([], 1)
    no_reason = stack.api.put(URL, json={"conditions": ["copd"]}, headers=stack.auth())
    assert no_reason.status_code == 422
    unknown = stack.api.put(
        URL, json={"conditions": ["diabetes"], "reason": "GP letter"}, headers=stack.auth()
    )
    assert unknown.status_code == 422
    r = stack.api.put(
        URL,
        json={
            "conditions": ["hypercapnic_respiratory_failure", "copd", "heart_failure"],
            "reason": "GP letter",
        },
        headers=stack.auth(),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["conditions"] == [
        "heart_failure",
        "copd",
        "hypercapnic_respiratory_failure",
    ]  # the profiles' order
    assert body["effective"]["news2"]["spo2_scale"] == 2
    assert body["effective"]["thresholds"]["spo2"]["amber"]["at_or_below"] == 85
    with stack.db.session() as s:
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "conditions_changed"))
        assert json.loads(event.detail) == {
            "from": [],
            "to": ["heart_failure", "copd", "hypercapnic_respiratory_failure"],
            "reason": "GP letter",
        }
        assert event.actor != ""
    assert (
        stack.api.put(
            "/api/v1/patients/p-nobody/conditions",
            json={"conditions": [], "reason": "x" * 5},
            headers=stack.auth(),
        ).status_code
        == 404
    )


def test_a_personal_override_that_would_not_apply_on_the_new_profiles_blocks_the_change(stack: Stack) -> None:
    add_patient(stack.db, "p-cnd-1", "Conditions patient", actor="test")
    with stack.db.session() as s:
        # Red at or below 86 is valid on the defaults (amber at or below 93) but not under
        # the hypercapnic profile (amber at or below 85): red would sit above amber.
        set_override(
            s,
            "p-cnd-1",
            {"thresholds": {"spo2": {"red": {"at_or_below": 86}}}},
            reason="usual 90",
            set_by="t",
            at=T0,
        )
    r = stack.api.put(
        URL,
        json={"conditions": ["hypercapnic_respiratory_failure"], "reason": "GP letter"},
        headers=stack.auth(),
    )
    assert r.status_code == 422
    assert "red.at_or_below" in r.json()["detail"]
    assert stack.api.get("/api/v1/patients/p-cnd-1/rules", headers=stack.auth()).json()["conditions"] == []
