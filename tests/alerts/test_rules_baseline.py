"""Personal baselines (rolling median and MAD) at their edges; checked against the oracle."""

from __future__ import annotations

import numpy as np

from alerts.rules.baseline import rolling_mad, rolling_median
from alerts.severity import Severity
from common.wire.vocabulary import Measure
from tests.alerts.test_rules_support import DAY, T0, only, single

PULSE = only({"baselines": {"pulse": {"enabled": True, "persistence": 1, "min_readings": 7}}})


def pulses(*values: float) -> list[tuple[int, int, Measure, float]]:
    return [(0, T0 + i * DAY // 2, Measure.PULSE, v) for i, v in enumerate(values)]


def test_median_and_mad_match_the_textbook_on_odd_and_even_windows() -> None:
    values = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 10.0])
    start = np.array([0, 0, 1])
    count = np.array([5, 6, 4])
    median = rolling_median(values, start, count)
    assert median.tolist() == [3.0, 3.5, 2.5]
    assert rolling_mad(values, start, count, median).tolist() == [1.0, 1.5, 1.0]


def test_no_baseline_before_min_readings() -> None:
    history = pulses(70, 71, 69, 70, 72, 70)  # six
    assert single(PULSE, [(0, T0 + 4 * DAY, Measure.PULSE, 120)], history=history) == []
    seventh = (0, T0 + 3 * DAY + 1, Measure.PULSE, 71.0)
    (finding,) = single(PULSE, [(0, T0 + 4 * DAY, Measure.PULSE, 120)], history=[*history, seventh])
    assert (finding.rule_id, finding.reason) == ("baseline.pulse", "above_baseline")


def test_limit_is_k_times_scaled_mad_with_a_floor() -> None:
    # Median 70, MAD 1 → scaled 1.4826 < min_mad 3 → limit 3 × 3 = 9: 79 is within, 80 beyond.
    history = pulses(69, 70, 71, 70, 69, 71, 70)
    at = T0 + 5 * DAY
    assert single(PULSE, [(0, at, Measure.PULSE, 79)], history=history) == []
    (finding,) = single(PULSE, [(0, at, Measure.PULSE, 80)], history=history)
    assert (finding.severity, finding.value) == (Severity.AMBER, 10.0)
    (low,) = single(PULSE, [(0, at, Measure.PULSE, 60)], history=history)
    assert low.reason == "below_baseline"


def test_direction_up_ignores_falls_and_window_drops_old_readings() -> None:
    weight = only({"baselines": {"weight": {"enabled": True, "persistence": 1, "days": 14}}})
    history = [(0, T0 + i * DAY, Measure.WEIGHT, 80.0) for i in range(10)]
    assert single(weight, [(0, T0 + 10 * DAY, Measure.WEIGHT, 70.0)], history=history) == []
    assert single(weight, [(0, T0 + 10 * DAY, Measure.WEIGHT, 81.6)], history=history) != []
    # 25 days later every reading has left the 14-day window: no baseline, no finding.
    assert single(weight, [(0, T0 + 35 * DAY, Measure.WEIGHT, 90.0)], history=history) == []


def test_default_persistence_two() -> None:
    rules = only({"baselines": {"pulse": {"enabled": True}}})
    history = pulses(69, 70, 71, 70, 69, 71, 70)
    assert single(rules, [(0, T0 + 5 * DAY, Measure.PULSE, 90)], history=history) == []
    two = [(0, T0 + 5 * DAY, Measure.PULSE, 90), (0, T0 + 5 * DAY + 60, Measure.PULSE, 91)]
    (finding,) = single(rules, two, history=history)
    assert finding.reading == 1
