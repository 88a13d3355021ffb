"""Weight-gain rules at their edges; every case is checked against the oracle."""

from __future__ import annotations

from alerts.severity import Severity
from common.wire.vocabulary import Measure
from tests.alerts.test_rules_support import DAY, HOUR, T0, only, single

WINDOW = only({"weight_gain": {"window": {"enabled": True}}})
DAILY = only({"weight_gain": {"daily": {"enabled": True}}})
MORNING = T0 + 7 * HOUR


def weights(*values: float, start: int = MORNING, step: int = DAY) -> list[tuple[int, int, Measure, float]]:
    return [(0, start + i * step, Measure.WEIGHT, v) for i, v in enumerate(values)]


def test_more_than_2kg_in_3_days_fires_exactly_2kg_does_not() -> None:
    assert single(WINDOW, weights(80.1, 82.1)) == []  # 2.0 kg (82.1 − 80.1 ≈ 1.99999…), not more
    (finding,) = single(WINDOW, weights(80.1, 82.2))
    assert (finding.rule_id, finding.severity, finding.reason) == (
        "trend.weight_gain",
        Severity.AMBER,
        "gain_in_window",
    )
    assert round(finding.value, 6) == 2.1


def test_window_is_inclusive_at_3_days_and_uses_the_lowest_weight() -> None:
    at_edge = [(0, MORNING, Measure.WEIGHT, 80.0), (0, MORNING + 3 * DAY, Measure.WEIGHT, 82.5)]
    assert len(single(WINDOW, at_edge)) == 1
    beyond = [(0, MORNING, Measure.WEIGHT, 80.0), (0, MORNING + 3 * DAY + 1, Measure.WEIGHT, 82.5)]
    assert single(WINDOW, beyond) == []
    (finding,) = single(
        WINDOW, weights(81.0, 80.0, 81.0, 82.1)[3:], history=weights(81.0, 80.0, 81.0, 82.1)[:3]
    )
    assert round(finding.value, 6) == 2.1  # from the 80.0 low, not the 81.0 start


def test_one_kg_on_two_consecutive_days() -> None:
    assert [f.rule_id for f in single(DAILY, weights(79.3, 80.3, 81.3))] == ["trend.weight_gain_daily"]
    assert single(DAILY, weights(80.0, 81.0, 81.9)) == []  # second gain 0.9 kg
    gap = [
        (0, MORNING, Measure.WEIGHT, 80.0),
        (0, MORNING + DAY, Measure.WEIGHT, 81.0),
        (0, MORNING + 3 * DAY, Measure.WEIGHT, 82.0),
    ]
    assert single(DAILY, gap) == []  # a missing day breaks the run


def test_days_are_local_days_and_a_days_weight_is_its_last() -> None:
    # 23:30 UTC is 00:30 the next day at UTC+1: the three readings are three local days.
    late = [(0, T0 + 23 * HOUR + 1800 + i * DAY, Measure.WEIGHT, 80.0 + i) for i in range(3)]
    assert single(DAILY, late, utc_offset_s=[0]) != []
    assert single(DAILY, late, utc_offset_s=[HOUR]) != []
    same_day_drop = [*weights(80.0, 81.0, 82.0), (0, MORNING + DAY + HOUR, Measure.WEIGHT, 80.5)]
    # day 2's last weight is 80.5, so day 3's 82.0 is +1.5 on it but 80.5 − 80.0 < 1
    assert [f for f in single(DAILY, same_day_drop) if f.time == MORNING + 2 * DAY] == []
