"""What the pages make of a patient's readings, with plain values: the patient's own limits
(a COPD profile's SpO2 band, a personal override), which line an alert's reading is marked
on, the latest value of each measure with out-of-range first, and readings in the
vocabulary's words."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.ruleset.profiles import rules_for
from common.wire.messages import TimeSource
from common.wire.vocabulary import Condition, Measure, ReadingKind
from server.pages.charts.model import Edge, Limit
from server.pages.charts.trends import (
    beyond,
    build_charts,
    latest_values,
    limits_of,
    measured_words,
    period,
    table_of,
)
from server.store.influx.schema import StoredReading

END = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


def _reading(
    kind: ReadingKind, values: dict[Measure, float], hours_ago: float, flags: tuple[str, ...] = ()
) -> StoredReading:
    at = END - timedelta(hours=hours_ago)
    return StoredReading(
        reading_id=uuid.uuid4(),
        patient_id="p-1",
        kind=kind,
        taken_at=at,
        values=values,
        flags=list(flags),
        device_model="test",
        hub_id="hub-1",
        time_source=TimeSource.DEVICE,
        received_at=at,
    )


def test_the_patients_own_limits_come_from_their_rules() -> None:
    copd = rules_for([Condition.COPD, Condition.HYPERCAPNIC_RESPIRATORY_FAILURE])
    spo2 = limits_of(copd, Measure.SPO2)
    assert {(limit.severity, limit.edge) for limit in spo2} >= {("red", Edge.BELOW)}
    red = next(limit for limit in spo2 if limit.severity == "red")
    assert red.value < 91  # scale 2: lower than the default NEWS2 scale 1 limit of 91 %
    personal = rules_for([], {"thresholds": {"systolic": {"red": {"at_or_above": 170}}}})
    assert Limit("Systolic", "red", Edge.ABOVE, 170) in limits_of(personal, Measure.SYSTOLIC)
    off = rules_for([], {"thresholds": {"pulse": {"enabled": False}}})
    assert limits_of(off, Measure.PULSE) == ()


def test_beyond_includes_the_limit_itself_and_says_the_worst() -> None:
    limits = (Limit("SpO2", "red", Edge.BELOW, 88), Limit("SpO2", "amber", Edge.BELOW, 92))
    assert [beyond(limits, v) for v in (93, 92, 89, 88, 80)] == [None, "amber", "amber", "red", "red"]


def test_an_alerts_reading_is_marked_on_the_line_beyond_the_limit() -> None:
    rules = rules_for([])
    high = _reading(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 190, Measure.DIASTOLIC: 80}, 30)
    calm = _reading(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 128, Measure.DIASTOLIC: 78}, 20)
    trend = _reading(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 130, Measure.DIASTOLIC: 80}, 10)
    doubtful = _reading(
        ReadingKind.BLOOD_PRESSURE,
        {Measure.SYSTOLIC: 135, Measure.DIASTOLIC: 85},
        5,
        ("body_movement", "simulated"),
    )
    evidence = {
        str(high.reading_id): {"threshold.blood_pressure"},
        str(trend.reading_id): {"baseline.systolic"},
    }
    [bp] = build_charts([high, calm, trend, doubtful], evidence, rules, END - timedelta(days=7), END, LONDON)
    systolic, diastolic = bp.series
    assert [(p.value, p.alerting) for p in systolic.points] == [
        (190, True),
        (128, False),
        (130, True),
        (135, False),
    ]
    # 80 is within every diastolic limit: the 190 reading is marked on systolic only; a
    # systolic baseline's reading on the systolic line only, though nothing is beyond a limit.
    assert [(p.value, p.alerting) for p in diastolic.points] == [
        (80, False),
        (78, False),
        (80, False),
        (85, False),
    ]
    # A reading that alerted on the reading as a whole (NEWS2), nothing beyond a limit: both lines.
    [whole] = build_charts(
        [trend], {str(trend.reading_id): {"news2.home"}}, rules, END - timedelta(days=7), END, LONDON
    )
    assert [p.alerting for series in whole.series for p in series.points] == [True, True]
    assert [p.flags for p in systolic.points] == [(), (), (), ("body_movement",)]  # quality flags only
    assert systolic.points[0].at.tzinfo == LONDON
    rows = table_of(bp)
    assert [r["cells"] for r in rows] == [["135", "85"], ["130", "80"], ["128", "78"], ["190", "80"]]
    assert [r["state"] for r in rows] == [None, None, None, "red"]


def test_a_group_without_readings_is_not_drawn() -> None:
    spo2 = _reading(ReadingKind.SPO2, {Measure.SPO2: 95, Measure.PULSE: 70}, 1)
    charts = build_charts([spo2], {}, rules_for([]), END - timedelta(days=7), END, UTC)
    assert [c.key for c in charts] == ["pulse", "spo2"]
    assert build_charts([], {}, rules_for([]), END - timedelta(days=7), END, UTC) == []


def test_latest_values_put_out_of_range_first_and_bp_together() -> None:
    rows = [
        _reading(ReadingKind.WEIGHT, {Measure.WEIGHT: 80.2}, 50),
        _reading(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 120, Measure.DIASTOLIC: 80}, 40),
        _reading(ReadingKind.SPO2, {Measure.SPO2: 90, Measure.PULSE: 72}, 30),
        _reading(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 98, Measure.DIASTOLIC: 60}, 20),
    ]
    latest = latest_values(rows, rules_for([]))
    assert [(v["label"], v["value"], v["unit"], v["state"]) for v in latest] == [
        ("SpO2", "90", "%", "red"),
        ("Blood pressure", "98/60", "mmHg", "amber"),
        ("Pulse", "72", "/min", None),
        ("Weight", "80.2", "kg", None),
    ]


def test_readings_in_the_vocabularys_words() -> None:
    bp = _reading(
        ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 150, Measure.DIASTOLIC: 95, Measure.PULSE: 70}, 1
    )
    spo2 = _reading(ReadingKind.SPO2, {Measure.SPO2: 95, Measure.PULSE: 80}, 1)
    assert measured_words(bp) == "150/95 mmHg · Pulse 70 /min"
    assert measured_words(spo2) == "SpO2 95 % · Pulse 80 /min"
    assert [period(d) for d in (7, 30, 90, 14, None, -1)] == [7, 30, 90, 30, 30, 30]


def test_an_spo2_alerts_reading_is_not_marked_on_the_pulse_chart() -> None:
    """The oximeter's reading carries a pulse; the SpO2 alert it raised is not about the pulse."""
    rules = rules_for([])
    low = _reading(ReadingKind.SPO2, {Measure.SPO2: 86, Measure.PULSE: 80}, 30)
    charts = build_charts(
        [low], {str(low.reading_id): {"threshold.spo2"}}, rules, END - timedelta(days=7), END, UTC
    )
    marks = {c.key: [p.alerting for s in c.series for p in s.points] for c in charts}
    assert marks == {"pulse": [False], "spo2": [True]}
