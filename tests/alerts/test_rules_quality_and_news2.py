"""The defects the cohort review found, each as a test: NEWS2 was never a rule, quality flags
were ignored, the SpO2 baseline missed the 3-point fall it claimed. Every case runs the
engine and the oracle and insists they agree (``single``)."""

from __future__ import annotations

from alerts.severity import Severity
from common.wire.vocabulary import Measure, StatusFlag
from tests.alerts.test_rules_support import DAY, HOUR, T0, Row, only, single

MINUTE = 60
IMPLAUSIBLE = frozenset({StatusFlag.IMPLAUSIBLE})
CUFF_LOOSE = frozenset({StatusFlag.CUFF_LOOSE})

NEWS2_ON = {"news2": {"enabled": True}}
SPO2_BANDS = {"thresholds": {"spo2": {"enabled": True}}}


def test_news2_aggregate_raises_on_a_fever_with_a_fast_pulse_and_falling_pressure() -> None:
    # Temperature 38.6 (1) + pulse 118 (2) + SpO2 94 (1) + systolic 105 (1) = 5 within the
    # hour: RCP "medium" clinical risk, though no single value crosses a threshold band.
    rules = only(NEWS2_ON)
    batch = [
        (0, T0, Measure.TEMPERATURE, 38.6),
        (0, T0 + 5 * MINUTE, Measure.SPO2, 94),
        (0, T0 + 5 * MINUTE, Measure.PULSE, 118),
        (0, T0 + 10 * MINUTE, Measure.SYSTOLIC, 105),
    ]
    found = single(rules, batch)
    assert [(f.rule_id, f.severity, f.reason, f.value) for f in found] == [
        ("news2.home", Severity.AMBER, "news2_aggregate", 5.0)
    ]
    assert found[0].time == T0 + 10 * MINUTE


def test_news2_reaches_red_at_seven_and_ignores_values_outside_its_window() -> None:
    rules = only(NEWS2_ON)
    batch = [
        (0, T0, Measure.TEMPERATURE, 39.3),  # 2
        (0, T0 + 5 * MINUTE, Measure.SPO2, 93),  # 2
        (0, T0 + 5 * MINUTE, Measure.PULSE, 125),  # 2
        (0, T0 + 10 * MINUTE, Measure.SYSTOLIC, 108),  # 1
    ]
    (*_, last) = single(rules, batch)
    assert (last.severity, last.value) == (Severity.RED, 7.0)
    late = [*batch[1:], (0, T0 + 2 * HOUR, Measure.PULSE, 125)]  # the fever is 2 h old now
    assert single(rules, late[-1:], history=[batch[0]]) == []


def test_news2_needs_two_parameters_and_never_scores_a_flagged_value() -> None:
    rules = only(NEWS2_ON)
    assert single(rules, [(0, T0, Measure.PULSE, 135)]) == []  # one parameter: thresholds' job
    flagged: list[Row] = [
        (0, T0, Measure.TEMPERATURE, 38.6),
        (0, T0 + 5 * MINUTE, Measure.SPO2, 86, frozenset({StatusFlag.LOW_PERFUSION})),
        (0, T0 + 5 * MINUTE, Measure.PULSE, 118),
    ]
    assert single(rules, flagged) == []  # 1 + 2 without the questionable saturation


def test_news2_scale_2_scores_a_copd_patient_at_88_as_on_target() -> None:
    batch = [(0, T0, Measure.SPO2, 88), (0, T0, Measure.PULSE, 118), (0, T0, Measure.TEMPERATURE, 38.6)]
    (scale_1,) = single(only(NEWS2_ON), batch)
    assert scale_1.value == 6.0  # 3 + 2 + 1
    assert single(only({"news2": {"enabled": True, "spo2_scale": 2}}), batch) == []  # 0 + 2 + 1


def test_a_flagged_implausible_spo2_raises_nothing_until_confirmed() -> None:
    rules = only(SPO2_BANDS)
    assert single(rules, [(0, T0, Measure.SPO2, 42, IMPLAUSIBLE)]) == []
    # A clean retake of 97 clears it; nothing was ever raised.
    assert (
        single(rules, [(0, T0 + 6 * MINUTE, Measure.SPO2, 97)], [(0, T0, Measure.SPO2, 42, IMPLAUSIBLE)])
        == []
    )
    # A second questionable low reading within the day confirms it.
    (confirmed,) = single(
        rules, [(0, T0 + 2 * HOUR, Measure.SPO2, 44, IMPLAUSIBLE)], [(0, T0, Measure.SPO2, 42, IMPLAUSIBLE)]
    )
    assert (confirmed.rule_id, confirmed.severity) == ("threshold.spo2", Severity.RED)
    # ... but not once the confirmation window (24 h by default) has passed.
    assert (
        single(
            rules,
            [(0, T0 + 2 * DAY, Measure.SPO2, 44, IMPLAUSIBLE)],
            [(0, T0, Measure.SPO2, 42, IMPLAUSIBLE)],
        )
        == []
    )


def test_a_clean_retake_out_of_range_raises_on_its_own() -> None:
    rules = only({"thresholds": {"systolic": {"enabled": True}}})
    (found,) = single(
        rules, [(0, T0 + 6 * MINUTE, Measure.SYSTOLIC, 186)], [(0, T0, Measure.SYSTOLIC, 214, CUFF_LOOSE)]
    )
    assert (found.severity, found.reading) == (Severity.RED, 0)


def test_a_flagged_reading_and_a_first_out_of_range_reading_ask_the_hub_for_a_retake() -> None:
    rules = only({"thresholds": {"systolic": {"enabled": True}, "diastolic": {"enabled": True}}})
    loose = [(0, T0, Measure.SYSTOLIC, 128, CUFF_LOOSE), (0, T0, Measure.DIASTOLIC, 80, CUFF_LOOSE)]
    (retake,) = single(rules, loose, retakes=True)
    assert (retake.rule_id, retake.severity, retake.reason, retake.value) == (
        "quality.retake",
        Severity.NONE,
        "retake_flagged",
        300.0,
    )
    high = [(0, T0, Measure.SYSTOLIC, 182), (0, T0, Measure.DIASTOLIC, 121)]
    found = single(rules, high, retakes=True)
    # One request for the reading, however many of its measures are out of range.
    assert sorted(f.rule_id for f in found) == ["quality.retake", "threshold.diastolic", "threshold.systolic"]
    # The retake itself is not asked to be retaken.
    again = single(rules, [(0, T0 + 6 * MINUTE, Measure.SYSTOLIC, 181)], high, retakes=True)
    assert [f.rule_id for f in again] == ["threshold.systolic"]


def test_a_three_point_spo2_fall_below_a_steady_baseline_raises() -> None:
    rules = only({"baselines": {"spo2": {"enabled": True}}})
    steady = [(0, T0 + day * DAY, Measure.SPO2, 96) for day in range(10)]
    fall = [(0, T0 + 10 * DAY, Measure.SPO2, 93), (0, T0 + 11 * DAY, Measure.SPO2, 93)]
    (found,) = single(rules, fall[1:], history=[*steady, fall[0]])
    assert (found.rule_id, found.severity, found.value) == ("baseline.spo2", Severity.AMBER, -3.0)
    two_points = [(0, T0 + 10 * DAY, Measure.SPO2, 94), (0, T0 + 11 * DAY, Measure.SPO2, 94)]
    assert single(rules, two_points[1:], history=[*steady, two_points[0]]) == []
