"""Missed readings, hub silence and repeated irregular pulse; checked against the oracle."""

from __future__ import annotations

from alerts.severity import Severity
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag
from tests.alerts.test_rules_support import DAY, HOUR, T0, only, single

MISSED = only({"missed_readings": {"weight": {"enabled": True, "days": 1}}})
SILENCE = only({"hub_silence": {"enabled": True}})
IRREGULAR = only({"irregular_pulse": {"enabled": True}})
FLAG = frozenset({StatusFlag.IRREGULAR_PULSE})


def test_weight_due_by_11_is_missed_at_11_not_before() -> None:
    yesterday = [(0, T0 - DAY + 8 * HOUR, Measure.WEIGHT, 80.0)]
    assert single(MISSED, [], history=yesterday, tick=T0 + 11 * HOUR - 1) == []
    (finding,) = single(MISSED, [], history=yesterday, tick=T0 + 11 * HOUR)
    assert (finding.rule_id, finding.time, finding.reading, finding.reason) == (
        "missed.weight",
        T0 + 11 * HOUR,
        None,
        "missed_reading",
    )


def test_a_reading_today_even_late_clears_it() -> None:
    late = [(0, T0 + 11 * HOUR + 1800, Measure.WEIGHT, 80.0)]
    assert single(MISSED, [], history=late, tick=T0 + 12 * HOUR) == []
    assert (
        single(MISSED, [], tick=T0 + 12 * HOUR, last_reading={(0, ReadingKind.WEIGHT): T0 + 7 * HOUR}) == []
    )


def test_schedule_uses_local_time() -> None:
    # At UTC+1, 10:30 UTC is 11:30 local: today's deadline (10:00 UTC) has passed. At UTC
    # it is 10:30 local, so the latest deadline is yesterday's, and that is what is missed.
    (bst,) = single(MISSED, [], tick=T0 + 10 * HOUR + 1800, utc_offset_s=[HOUR])
    (utc,) = single(MISSED, [], tick=T0 + 10 * HOUR + 1800, utc_offset_s=[0])
    assert (bst.time, utc.time) == (T0 + 10 * HOUR, T0 - DAY + 11 * HOUR)


def test_hub_silence_after_26_hours_and_never_heard_is_not_silence() -> None:
    heard = {0: T0}
    assert single(SILENCE, [], tick=T0 + 26 * HOUR, last_hub_contact=heard) == []
    (finding,) = single(SILENCE, [], tick=T0 + 26 * HOUR + 1, last_hub_contact=heard)
    assert (finding.rule_id, finding.value) == ("hub.silent", 26 * HOUR + 1.0)
    assert single(SILENCE, [], tick=T0 + 100 * HOUR) == []
    # A reading is contact too.
    assert single(SILENCE, [], history=[(0, T0 + 90 * HOUR, Measure.SPO2, 97)], tick=T0 + 100 * HOUR) == []


def test_two_of_last_three_bp_readings_flagged() -> None:
    one = [(0, T0, Measure.SYSTOLIC, 130, FLAG)]
    assert single(IRREGULAR, one) == []
    two = [
        (0, T0, Measure.SYSTOLIC, 130, FLAG),
        (0, T0 + HOUR, Measure.SYSTOLIC, 131, frozenset()),
        (0, T0 + 2 * HOUR, Measure.SYSTOLIC, 129, FLAG),
    ]
    (finding,) = single(IRREGULAR, two[2:], history=two[:2])
    assert (finding.severity, finding.value, finding.reason) == (
        Severity.AMBER,
        2.0,
        "irregular_pulse_repeated",
    )
    spread = [
        *two[:1],
        (0, T0 + HOUR, Measure.SYSTOLIC, 131, frozenset()),
        (0, T0 + 2 * HOUR, Measure.SYSTOLIC, 131, frozenset()),
        (0, T0 + 3 * HOUR, Measure.SYSTOLIC, 129, FLAG),
    ]
    assert single(IRREGULAR, spread[3:], history=spread[:3]) == []
