"""Before saving a threshold a clinician sees what it would have raised on the patient's own
history: the preview replays real stored readings (InfluxDB) hour by hour through the judge,
for the rules now and the rules with the change, and stores nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from common.wire.vocabulary import Measure, ReadingKind
from server.provisioning import add_patient
from server.store.influx.schema import ReadingRecord
from server.store.models import AuditEvent, RuleOverride, now
from tests.fixtures.server import Stack
from tests.support.readings import make_reading

URL = "/api/v1/patients/p-prv-1/rules/preview"


def test_a_change_is_previewed_on_the_patients_history_and_nothing_is_stored(stack: Stack) -> None:
    add_patient(stack.db, "p-prv-1", "Preview patient", actor="test")
    start = now() - timedelta(days=20)
    # Twenty mornings of SpO2 around 92–93 %: amber (≤ 93) on the default bands, on four of
    # the mornings; a COPD-style personal band (amber ≤ 88) would have raised none.
    values = [94, 93, 95, 94, 92, 95, 94, 96, 93, 95, 94, 95, 94, 95, 92, 94, 95, 94, 95, 94]
    stack.influx.write_readings(
        [
            ReadingRecord(
                "p-prv-1",
                "hub-prv-1",
                make_reading(ReadingKind.SPO2, {Measure.SPO2: v}, start + timedelta(days=i, hours=8)),
            )
            for i, v in enumerate(values)
        ]
    )
    change = {"thresholds": {"spo2": {"red": {"at_or_below": 85}, "amber": {"at_or_below": 88}}}}
    r = stack.api.post(URL, json={"changes": change, "days": 30}, headers=stack.auth())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["readings"] == 20
    # 93, 92, 93, 92: each opens an amber alert (a day apart, so the last one was resolved).
    assert body["current"]["by_rule"] == {"threshold.spo2": 4}
    assert body["proposed"]["opened"] == 0
    with stack.db.session() as s:
        assert list(s.scalars(select(RuleOverride))) == []
        assert [e.action for e in s.scalars(select(AuditEvent).where(AuditEvent.target == "p-prv-1"))] == [
            "patient_added",
            "rules_previewed",
        ]
    invalid = {"thresholds": {"spo2": {"red": {"at_or_below": 90}, "amber": {"at_or_below": 88}}}}
    refused = stack.api.post(URL, json={"changes": invalid}, headers=stack.auth())
    assert refused.status_code == 422
    assert "red.at_or_below" in refused.json()["detail"]
    assert (
        stack.api.post("/api/v1/patients/p-nobody/rules/preview", json={}, headers=stack.auth()).status_code
        == 404
    )
