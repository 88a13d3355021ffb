"""Threshold bands and persistence, at their edges; every case is checked against the oracle."""

from __future__ import annotations

import math

import pytest

from alerts.engine import evaluate
from alerts.ruleset.compiling import compile_rules
from alerts.severity import Severity
from common.wire.vocabulary import Measure
from tests.alerts.test_rules_support import T0, columns, only, reading, single

SPO2 = only({"thresholds": {"spo2": {"enabled": True}}})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (96, None),
        (94, None),
        (93.5, None),  # recorded 94 (half-up), as NEWS2 records it
        (93.49, Severity.AMBER),  # recorded 93
        (93, Severity.AMBER),
        (92, Severity.AMBER),
        (91.5, Severity.AMBER),  # recorded 92
        (91.4, Severity.RED),  # recorded 91: NEWS2 scores it 3
        (91, Severity.RED),
        (-math.inf, Severity.RED),  # a device fault is loud
        (math.nan, None),  # not measured
    ],
)
def test_spo2_scale_1_edges(value: float, expected: Severity | None) -> None:
    findings = single(SPO2, [(0, T0, Measure.SPO2, value)])
    assert [f.severity for f in findings] == ([] if expected is None else [expected])
    assert all(f.rule_id == "threshold.spo2" and f.reason == "below_band" for f in findings)


def test_temperature_edges_at_a_tenth() -> None:
    rules = only({"thresholds": {"temperature": {"enabled": True}}})
    got = {
        v: [f.severity for f in single(rules, [(0, T0, Measure.TEMPERATURE, v)])]
        for v in (35.0, 35.05, 39.05, 39.1)
    }
    assert got == {35.0: [Severity.RED], 35.05: [], 39.05: [Severity.AMBER], 39.1: [Severity.AMBER]}


def test_systolic_high_and_low_reasons() -> None:
    rules = only({"thresholds": {"systolic": {"enabled": True}}})
    (high,) = single(rules, [(0, T0, Measure.SYSTOLIC, 181)])
    (low,) = single(rules, [(0, T0, Measure.SYSTOLIC, 95)])
    assert (high.severity, high.reason) == (Severity.RED, "above_band")
    assert (low.severity, low.reason) == (Severity.AMBER, "below_band")


def test_a_full_re_evaluation_reports_one_finding_per_offending_reading() -> None:
    """Back-testing a rule change needs to know what each reading would have raised, not
    only the worst of the batch (the engine used to keep one finding per patient and rule)."""
    rules = only({"thresholds": {"spo2": {"enabled": True}}})
    batch = [
        (0, T0, Measure.SPO2, 90),
        (0, T0 + 60, Measure.SPO2, 92),
        (0, T0 + 120, Measure.SPO2, 96),
        (0, T0 + 180, Measure.SPO2, 91),
        (0, T0 + 240, Measure.SPO2, 93),
    ]
    found = single(rules, batch)
    assert [(f.reading, f.severity, f.time) for f in found] == [
        (0, Severity.RED, T0),
        (1, Severity.AMBER, T0 + 60),
        (3, Severity.RED, T0 + 180),
        (4, Severity.AMBER, T0 + 240),
    ]


def test_the_strongest_view_keeps_the_worst_then_latest_per_patient_and_rule() -> None:
    rules = only({"thresholds": {"spo2": {"enabled": True}}})
    batch = [(0, T0 + 60 * i, Measure.SPO2, v) for i, v in enumerate((90, 92, 91, 93))]
    table = compile_rules(rules, 1)
    strongest = evaluate(table, columns([reading(row) for row in batch])).strongest().records()
    (finding,) = [f for f in strongest if f.rule_id == "threshold.spo2"]
    assert (finding.severity, finding.time, finding.reading) == (Severity.RED, T0 + 120, 2)


def test_persistence_needs_n_consecutive_and_takes_the_weakest() -> None:
    rules = only({"thresholds": {"spo2": {"enabled": True, "persistence": 3}}})
    assert single(rules, [(0, T0, Measure.SPO2, 90), (0, T0 + 60, Measure.SPO2, 90)]) == []
    (run,) = single(
        rules,
        [(0, T0 + 120, Measure.SPO2, 90)],
        history=[(0, T0, Measure.SPO2, 93), (0, T0 + 60, Measure.SPO2, 90)],
    )
    assert run.severity is Severity.AMBER or run.severity == Severity.AMBER
    broken = [(0, T0, Measure.SPO2, 90), (0, T0 + 60, Measure.SPO2, 97), (0, T0 + 120, Measure.SPO2, 90)]
    assert single(rules, broken[2:], history=broken[:2]) == []


def test_history_alone_raises_nothing() -> None:
    assert single(SPO2, [], history=[(0, T0, Measure.SPO2, 80)]) == []


def test_a_disabled_rule_is_silent() -> None:
    rules = only({"thresholds": {"spo2": {"enabled": False}}})
    assert single(rules, [(0, T0, Measure.SPO2, 80)]) == []
