"""The vectorised engine agrees with the plain-Python oracle on random patient histories.

The unit tests pin the edges we thought of; here hypothesis draws caseloads nobody chose:
several patients with their own overrides, readings in history and batch, ties in time,
readings either side of local midnight, NaN and infinite values, rounding ties at band
edges, and clock ticks, and every finding (severity, time, triggering reading, reason and
value, compared exactly) must be the same.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.reference import rules as oracle
from alerts.ruleset.loading import apply_override, default_ruleset
from alerts.ruleset.models import RuleSet
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag
from tests.alerts.test_rules_support import DAY, HOUR, T0, run_both

MEASURES = [
    Measure.WEIGHT,
    Measure.PULSE,
    Measure.SYSTOLIC,
    Measure.DIASTOLIC,
    Measure.SPO2,
    Measure.TEMPERATURE,
]
KINDS_FOR = {
    Measure.WEIGHT: [ReadingKind.WEIGHT],
    Measure.PULSE: [ReadingKind.BLOOD_PRESSURE, ReadingKind.SPO2, ReadingKind.PULSE],
    Measure.SYSTOLIC: [ReadingKind.BLOOD_PRESSURE],
    Measure.DIASTOLIC: [ReadingKind.BLOOD_PRESSURE],
    Measure.SPO2: [ReadingKind.SPO2],
    Measure.TEMPERATURE: [ReadingKind.TEMPERATURE],
}
RANGES = {
    Measure.WEIGHT: (78.0, 84.0, 1),
    Measure.PULSE: (35.0, 140.0, 0),
    Measure.SYSTOLIC: (85.0, 190.0, 0),
    Measure.DIASTOLIC: (60.0, 125.0, 0),
    Measure.SPO2: (80.0, 100.0, 0),
    Measure.TEMPERATURE: (34.5, 40.0, 1),
}
SPAN_DAYS = 8


@st.composite
def values(draw: st.DrawFn, measure: Measure) -> float:
    low, high, decimals = RANGES[measure]
    choice = draw(st.integers(0, 19))
    if choice == 0:
        return math.nan
    if choice == 1:
        return draw(st.sampled_from([math.inf, -math.inf]))
    if choice < 6:  # a tie at the recording precision, e.g. 91.5 or 36.05
        step = 10.0**-decimals
        return round(draw(st.integers(int(low / step), int(high / step))) * step + step / 2, decimals + 1)
    if measure is Measure.WEIGHT and choice < 14:  # weights that move by whole 0.1 kg steps
        return round(draw(st.floats(80.0, 82.5)), 1)
    return round(draw(st.floats(low, high)), decimals + 1)


@st.composite
def readings(draw: st.DrawFn, n_patients: int) -> oracle.Reading:
    measure = draw(st.sampled_from(MEASURES))
    kind = draw(st.sampled_from(KINDS_FOR[measure]))
    slot = draw(st.integers(0, SPAN_DAYS * 48))  # half-hour slots: ties and midnights happen
    jitter = draw(st.sampled_from([0, 0, 0, 1, 59, 1799]))
    flags = draw(
        st.sampled_from(
            [
                frozenset(),
                frozenset(),
                frozenset(),
                frozenset({StatusFlag.IRREGULAR_PULSE}),
                frozenset({StatusFlag.CUFF_LOOSE}),  # quality flags: unconfirmed readings
                frozenset({StatusFlag.IMPLAUSIBLE, StatusFlag.IRREGULAR_PULSE}),
                frozenset({StatusFlag.LOW_PERFUSION}),
            ]
        )
    )
    return oracle.Reading(
        patient=draw(st.integers(0, n_patients - 1)),
        time=T0 + slot * 1800 + jitter,
        kind=kind,
        measure=measure,
        value=draw(values(measure)),
        flags=flags,
    )


def _hhmm(draw: st.DrawFn, low: int, high: int) -> int:
    return draw(st.integers(low, high)) * 30 * 60


@st.composite
def overrides(draw: st.DrawFn) -> RuleSet:
    defaults = default_ruleset()
    changes: dict[str, Any] = {"thresholds": {}, "baselines": {}}
    for measure in defaults.thresholds:
        changes["thresholds"][measure.value] = {
            "persistence": draw(st.integers(1, 3)),
            "enabled": draw(st.integers(0, 5)) > 0,
        }
    if draw(st.booleans()):  # NEWS2 scale 2 / BTS 88–92 % target
        changes["thresholds"]["spo2"].update(
            {"red": {"at_or_below": 83, "at_or_above": 97}, "amber": {"at_or_below": 85, "at_or_above": 95}}
        )
    changes["weight_gain"] = {
        "window": {
            "enabled": draw(st.integers(0, 4)) > 0,
            "days": draw(st.integers(1, 4)),
            "gain_kg": draw(st.sampled_from([0.5, 1.0, 1.5, 2.0])),
            "severity": draw(st.sampled_from(["amber", "red"])),
        },
        "week": {
            "enabled": draw(st.integers(0, 2)) > 0,
            "days": draw(st.integers(2, 7)),
            "gain_kg": draw(st.sampled_from([0.5, 1.0, 2.3])),
        },
        "daily": {
            "enabled": draw(st.booleans()),
            "consecutive_days": draw(st.integers(1, 3)),
            "gain_kg": draw(st.sampled_from([0.1, 0.3, 0.5, 1.0])),
        },
    }
    for measure in defaults.baselines:
        amber_k = draw(st.sampled_from([0.5, 1.0, 2.0, 3.0]))
        changes["baselines"][measure.value] = {
            "enabled": draw(st.integers(0, 4)) > 0,
            "days": draw(st.integers(1, 5)),
            "min_readings": draw(st.integers(3, 5)),
            "amber_k": amber_k,
            "red_k": draw(st.sampled_from([None, amber_k * 2])),
            "min_mad": draw(st.sampled_from([0.0, 0.1, 0.5, 2.0])),
            "direction": draw(st.sampled_from(["up", "down", "both"])),
            "persistence": draw(st.integers(1, 3)),
            "clinical_change": draw(st.sampled_from([None, 1.0, 3.0])),
        }
    start = draw(st.integers(0, 40))
    due = draw(st.integers(start + 1, 47))
    changes["missed_readings"] = {
        "weight": {
            "enabled": draw(st.integers(0, 4)) > 0,
            "window_start": f"{start // 2:02d}:{start % 2 * 30:02d}",
            "due_by": f"{due // 2:02d}:{due % 2 * 30:02d}",
            "days": draw(st.integers(1, 3)),
        },
    }
    changes["averages"] = {
        measure: {
            "enabled": draw(st.integers(0, 3)) > 0,
            "days": draw(st.integers(1, 4)),
            "min_readings": draw(st.integers(1, 4)),
            "amber": {"at_or_above": draw(st.sampled_from([None, edge])), "at_or_below": low},
            "red": {"at_or_above": draw(st.sampled_from([None, edge + 20]))},
        }
        for measure, edge, low in (
            ("systolic", 150, draw(st.sampled_from([None, 100]))),
            ("diastolic", 95, None),
        )
    }
    if draw(st.booleans()):
        changes["missed_readings"]["blood_pressure"] = {"due_by": "20:00"}
    changes["hub_silence"] = {
        "enabled": draw(st.integers(0, 4)) > 0,
        "max_hours": draw(st.sampled_from([1, 24, 26])),
    }
    last_n = draw(st.integers(1, 4))
    changes["irregular_pulse"] = {
        "enabled": draw(st.integers(0, 4)) > 0,
        "last_n": last_n,
        "min_flagged": draw(st.integers(1, last_n)),
    }
    amber_at = draw(st.integers(1, 6))
    changes["news2"] = {
        "enabled": draw(st.integers(0, 4)) > 0,
        "window_minutes": draw(st.sampled_from([30, 60, 240])),
        "spo2_scale": draw(st.sampled_from([1, 2])),
        "min_parameters": draw(st.integers(1, 3)),
        "amber_at": amber_at,
        "red_at": draw(st.sampled_from([None, amber_at + 2])),
        "single_parameter_3": draw(st.sampled_from([None, "amber", "red"])),
    }
    changes["quality"] = {
        "enabled": draw(st.integers(0, 4)) > 0,
        "confirm_within_hours": draw(st.sampled_from([0.5, 6, 24])),
        "retake_out_of_range": draw(st.booleans()),
    }
    return apply_override(defaults, changes)


@st.composite
def caseloads(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 3))
    rulesets = [draw(st.one_of(st.just(default_ruleset()), overrides())) for _ in range(n)]
    size = draw(st.integers(0, 60))
    rows = draw(st.lists(readings(n), min_size=size, max_size=size))
    in_batch = draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows)))
    tick = draw(st.one_of(st.none(), st.integers(T0, T0 + (SPAN_DAYS + 2) * DAY)))
    offsets = draw(st.lists(st.sampled_from([0, HOUR, -5 * HOUR, 13 * HOUR]), min_size=n, max_size=n))
    last_reading = draw(
        st.dictionaries(
            st.tuples(st.integers(0, n - 1), st.sampled_from(list(ReadingKind))),
            st.integers(T0 - 3 * DAY, T0 + SPAN_DAYS * DAY),
            max_size=3,
        )
    )
    last_contact = draw(
        st.dictionaries(st.integers(0, n - 1), st.integers(T0 - 3 * DAY, T0 + SPAN_DAYS * DAY))
    )
    return {
        "rulesets": rulesets,
        "batch": [row for row, new in zip(rows, in_batch, strict=True) if new],
        "history": [row for row, new in zip(rows, in_batch, strict=True) if not new],
        "tick": tick,
        "utc_offset_s": offsets,
        "last_reading": last_reading,
        "last_hub_contact": last_contact,
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(caseloads())
def test_engine_agrees_with_oracle_on_random_caseloads(case: dict[str, Any]) -> None:
    run_both(**case)


@st.composite
def dense_series(draw: st.DrawFn) -> dict[str, Any]:
    """One patient, one measure, many readings close together around a steady level with
    occasional jumps: what baselines, persistence, weight windows and day chains need."""
    measure = draw(st.sampled_from(MEASURES))
    low, high, decimals = RANGES[measure]
    step = 10.0**-decimals
    level = round(draw(st.floats(low, high)), decimals)
    kind = draw(st.sampled_from(KINDS_FOR[measure]))
    size = draw(st.integers(1, 60))  # drawn first: hypothesis otherwise favours short lists
    hours = sorted(draw(st.lists(st.integers(0, 5 * 24), min_size=size, max_size=size)))
    rows = []
    for hour in hours:
        wobble = draw(st.integers(-3, 3)) * step
        jump = draw(st.sampled_from([0.0] * 6 + [5 * step, -5 * step, 20 * step, -20 * step]))
        value = round(level + wobble + jump, decimals) if draw(st.integers(0, 30)) else math.nan
        flags = frozenset({StatusFlag.IRREGULAR_PULSE}) if draw(st.integers(0, 3)) == 0 else frozenset()
        rows.append(
            oracle.Reading(
                0, T0 + hour * HOUR + draw(st.sampled_from([0, 0, 1])), kind, measure, value, flags
            )
        )
    split = draw(st.integers(0, len(rows)))
    order = draw(st.permutations(range(len(rows))))  # input order must not matter beyond ties
    shuffled = [rows[i] for i in order]
    return {
        "rulesets": [draw(overrides())],
        "batch": shuffled[split:],
        "history": shuffled[:split],
        "utc_offset_s": [draw(st.sampled_from([0, HOUR, -5 * HOUR]))],
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dense_series())
def test_engine_agrees_with_oracle_on_dense_series(case: dict[str, Any]) -> None:
    run_both(**case)
