"""Clinical scenarios on the real services: simulated hub → TLS Mosquitto → ingest → InfluxDB
history → the rule engine → alerts in the API, and the clock rules on the ticker.

Each reading is sent and ingested on its own, so every judgement reads the ones before it
back from InfluxDB as history, as in production where readings arrive hours apart.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from common.wire.vocabulary import Measure, ReadingKind, StatusFlag
from gateway.reading_builder import build_reading
from gateway.simulator import SIM_DEVICES, SimulatedHub
from server.judging.findings import DEFAULT_TIMEZONE
from server.settings import EscalationSettings
from server.store.models import AuditEvent
from server.tick import Ticker
from tests.fixtures.server import Stack

COPD_BAND = {"thresholds": {"spo2": {"red": {"at_or_below": 85}, "amber": {"at_or_below": 87}}}}


def alerts_of(stack: Stack, patient_id: str) -> list[dict[str, Any]]:
    r = stack.api.get("/api/v1/alerts", params={"patient_id": patient_id}, headers=stack.auth())
    assert r.status_code == 200
    alerts: list[dict[str, Any]] = r.json()
    return alerts


def test_heart_failure_weight_gain_is_one_alert_with_later_readings_as_evidence(stack: Stack) -> None:
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3, hours=2)
    hub = stack.patient_with_hub("p-hf-1", "hub-hf-1", since=t0 - timedelta(days=30))
    weights = [
        (t0, 80.0),
        (t0 + timedelta(days=1), 80.2),
        (t0 + timedelta(days=2), 81.0),
        (t0 + timedelta(days=3), 82.4),  # +2.4 kg on the lowest in the 3 days before: alert
        (t0 + timedelta(days=3, minutes=30), 82.5),  # +2.3 on t0+1d: still gaining
        (t0 + timedelta(days=3, hours=1), 82.6),
    ]
    sent = []
    for n, (at, kg) in enumerate(weights, start=1):
        sent.append(hub.send(ReadingKind.WEIGHT, {Measure.WEIGHT: kg}, measured_at=at))
        stack.wait_processed(n)
        if n == 3:
            assert alerts_of(stack, "p-hf-1") == []  # +1.0 kg in 3 days is not a gain to act on

    assert stack.influx.count_points("p-hf-1", ReadingKind.WEIGHT) == len(weights)
    [alert] = alerts_of(stack, "p-hf-1")
    assert (alert["rule_id"], alert["severity"], alert["status"]) == ("trend.weight_gain", "amber", "open")
    assert alert["summary"] == "Weight +2.4 kg in 3 days (amber)"
    assert alert["evidence"] == [str(r.reading_id) for r in sent[3:]]
    detail = stack.api.get(f"/api/v1/alerts/{alert['id']}", headers=stack.auth()).json()
    assert [e["action"] for e in detail["events"]] == ["opened"]


def test_copd_patients_own_spo2_band_is_recorded_and_used(stack: Stack) -> None:
    own = stack.patient_with_hub("p-copd-1", "hub-copd-1")
    other = stack.patient_with_hub("p-copd-2", "hub-copd-2")
    reason = "COPD, CO2 retainer: BTS target 88-92 %"
    put = stack.api.put(
        "/api/v1/patients/p-copd-1/rules", json={"changes": COPD_BAND, "reason": reason}, headers=stack.auth()
    )
    assert put.status_code == 200, put.text

    rules = stack.api.get("/api/v1/patients/p-copd-1/rules", headers=stack.auth()).json()
    assert rules["override"]["changes"] == COPD_BAND
    assert rules["override"]["reason"] == reason
    assert rules["override"]["set_by"].startswith("matron-")
    assert [v["version"] for v in rules["history"]] == [rules["override"]["version"]]
    assert rules["effective"]["thresholds"]["spo2"]["amber"] == {"at_or_below": 87.0, "at_or_above": None}
    with stack.db.session() as s:
        [changed] = s.scalars(select(AuditEvent).where(AuditEvent.action == "rules_changed"))
    assert (changed.actor, changed.target) == (rules["override"]["set_by"], "p-copd-1")
    assert reason in changed.detail and '"at_or_below": 87' in changed.detail

    own.send(ReadingKind.SPO2, {Measure.SPO2: 89})
    stack.wait_processed(1)
    assert alerts_of(stack, "p-copd-1") == []  # 89 % is inside her target

    other.send(ReadingKind.SPO2, {Measure.SPO2: 89})
    stack.wait_processed(2)
    assert [(a["rule_id"], a["severity"], a["summary"]) for a in alerts_of(stack, "p-copd-2")] == [
        ("threshold.spo2", "red", "SpO2 89% (red, NEWS2/BTS)")  # NEWS2 scale 1: ≤ 91 scores 3
    ]

    own.send(ReadingKind.SPO2, {Measure.SPO2: 85})
    stack.wait_processed(3)
    assert [(a["rule_id"], a["severity"], a["summary"]) for a in alerts_of(stack, "p-copd-1")] == [
        ("threshold.spo2", "red", "SpO2 85% (red, patient's own band)")
    ]


def test_a_missed_morning_weight_is_one_alert_however_many_ticks_run(stack: Stack) -> None:
    hub = stack.patient_with_hub("p-miss-1", "hub-miss-1")
    hub.send(ReadingKind.WEIGHT, {Measure.WEIGHT: 70.1})  # today's weight: nothing missed today
    stack.wait_processed(1)
    ticker = Ticker(stack.db, EscalationSettings(), relay=None, tz=DEFAULT_TIMEZONE)
    # Tomorrow's missed weight is the hub's to remind; the team hears on the second morning.
    tomorrow = datetime.now(DEFAULT_TIMEZONE).date() + timedelta(days=2)

    def local(hour: int, minute: int) -> datetime:
        return datetime(tomorrow.year, tomorrow.month, tomorrow.day, hour, minute, tzinfo=DEFAULT_TIMEZONE)

    def missed() -> list[dict[str, Any]]:
        return [a for a in alerts_of(stack, "p-miss-1") if a["rule_id"] == "missed.weight"]

    ticker.tick(local(10, 30))  # not due until 11:00
    assert missed() == []
    ticker.tick(local(11, 30))
    ticker.tick(local(11, 45))
    [alert] = missed()
    assert (alert["severity"], alert["status"]) == ("amber", "open")
    assert alert["summary"] == f"No weight reading by 11:00 on {local(11, 0):%a %d %b} (amber)"
    [evidence] = alert["evidence"]
    assert evidence.startswith("missed-after:")  # the run of missed weights since the last one

    resolved = stack.api.post(
        f"/api/v1/alerts/{alert['id']}/resolve",
        json={"outcome": "phoned: scale battery flat"},
        headers=stack.auth(),
    )
    assert resolved.status_code == 200
    ticker.tick(local(12, 0))  # the same missed morning, already dealt with: not raised again
    assert [a["status"] for a in missed()] == ["resolved"]


def send_bp(hub: SimulatedHub, *, irregular: bool) -> None:
    flags = [StatusFlag.SIMULATED, *([StatusFlag.IRREGULAR_PULSE] if irregular else [])]
    hub.send_reading(
        build_reading(
            kind=ReadingKind.BLOOD_PRESSURE,
            values={Measure.SYSTOLIC: 124, Measure.DIASTOLIC: 78, Measure.PULSE: 84},
            device=SIM_DEVICES[ReadingKind.BLOOD_PRESSURE],
            received_at=datetime.now(UTC),
            flags=flags,
        )
    )


def test_repeated_irregular_pulse_flags_prompt_an_amber_alert(stack: Stack) -> None:
    hub = stack.patient_with_hub("p-af-1", "hub-af-1")
    send_bp(hub, irregular=True)
    stack.wait_processed(1)
    assert alerts_of(stack, "p-af-1") == []  # one flag is common: movement, an ectopic beat
    send_bp(hub, irregular=False)
    stack.wait_processed(2)
    send_bp(hub, irregular=True)
    stack.wait_processed(3)
    assert [(a["rule_id"], a["severity"], a["summary"]) for a in alerts_of(stack, "p-af-1")] == [
        ("device.irregular_pulse", "amber", "Irregular pulse flagged in 2 of the last 3 BP readings (amber)")
    ]
