"""Condition profiles as data: each validates, each does what its source says, and "where
does this band come from" has one answer."""

from __future__ import annotations

import itertools

import pytest

from alerts.ruleset.models import RuleSetError
from alerts.ruleset.profiles import band_origin, load_profiles, profile_changes, rules_for
from alerts.severity import Severity
from common.wire.vocabulary import Condition, Measure, StatusFlag
from tests.alerts.test_rules_support import DAY, HOUR, T0, single

IRREGULAR = frozenset({StatusFlag.IRREGULAR_PULSE})


@pytest.mark.parametrize("n", range(len(Condition) + 1))
def test_every_combination_of_conditions_gives_valid_rules(n: int) -> None:
    for combination in itertools.combinations(Condition, n):
        rules_for(combination)


def test_every_profile_names_its_sources() -> None:
    for profile in load_profiles():
        assert profile.sources, profile.condition
        # COPD alone changes nothing (scale 2 needs the hypercapnic decision): profiles.yaml
        assert profile.changes or profile.condition is Condition.COPD, profile.condition


def test_a_known_af_patient_gets_no_irregular_pulse_alert() -> None:
    bp = [(0, T0 + i * HOUR, Measure.SYSTOLIC, 128, IRREGULAR) for i in range(3)]
    (flagged,) = [
        f for f in single(rules_for([]), bp[2:], history=bp[:2]) if f.rule_id == "device.irregular_pulse"
    ]
    assert flagged.severity == Severity.AMBER
    assert [f for f in single(rules_for([Condition.ATRIAL_FIBRILLATION]), bp[2:], history=bp[:2])] == []


def test_hypercapnic_respiratory_failure_uses_spo2_scale_2_and_its_target_range() -> None:
    hypercapnic = rules_for([Condition.COPD, Condition.HYPERCAPNIC_RESPIRATORY_FAILURE])
    assert hypercapnic.news2.spo2_scale == 2
    assert single(hypercapnic, [(0, T0, Measure.SPO2, 88)]) == []
    (low,) = single(hypercapnic, [(0, T0, Measure.SPO2, 85)])
    assert (low.rule_id, low.severity) == ("threshold.spo2", Severity.AMBER)
    (general,) = single(rules_for([]), [(0, T0, Measure.SPO2, 88)])
    assert general.severity == Severity.RED


def test_copd_alone_stays_on_spo2_scale_1() -> None:
    """RCP NEWS2: scale 2 only after hypercapnia is confirmed and the decision recorded; a
    non-hypercapnic COPD patient at 88 % is as unwell as anyone else at 88 %."""
    copd = rules_for([Condition.COPD])
    assert copd.news2.spo2_scale == 1
    (low,) = single(copd, [(0, T0, Measure.SPO2, 88)])
    assert (low.rule_id, low.severity) == ("threshold.spo2", Severity.RED)


def test_a_treated_hypertensive_patient_is_judged_on_the_weeks_average_and_a_confirmed_severe_reading() -> (
    None
):
    hypertension = rules_for([Condition.HYPERTENSION])
    week = [(0, T0 + day * DAY, Measure.SYSTOLIC, 157 + day) for day in range(4)]  # 157 … 160
    # A general patient's week averaging 158.5 is NICE stage 2 (≥ 150): amber once, when
    # the fourth reading makes the average; a treated hypertensive patient's line is 160.
    (general,) = single(rules_for([]), week[3:], history=week[:3])
    assert (general.rule_id, general.severity, general.value) == ("average.systolic", Severity.AMBER, 158.5)
    assert single(hypertension, week[3:], history=week[:3]) == []
    higher = [*week[:3], (0, T0 + 3 * DAY, Measure.SYSTOLIC, 166)]
    (uncontrolled,) = single(hypertension, higher[3:], history=higher[:3])
    assert (uncontrolled.rule_id, uncontrolled.value) == ("average.systolic", 160.0)
    # The next reading of a still-high week raises nothing new: the average was high already.
    assert single(hypertension, [(0, T0 + 4 * DAY, Measure.SYSTOLIC, 166)], history=higher) == []
    # A severe reading needs its retake (or the next reading) to confirm it.
    severe = (0, T0 + 5 * DAY, Measure.SYSTOLIC, 186)
    assert [f.rule_id for f in single(hypertension, [severe])] == []
    (confirmed,) = single(hypertension, [(0, T0 + 5 * DAY + 300, Measure.SYSTOLIC, 184)], history=[severe])
    assert (confirmed.rule_id, confirmed.severity) == ("threshold.systolic", Severity.RED)


def test_personal_override_wins_over_profiles_and_later_profiles_over_earlier() -> None:
    both = [Condition.HYPERTENSION, Condition.HEART_FAILURE]
    rules = rules_for(both, {"thresholds": {"systolic": {"amber": {"at_or_above": 170}}}})
    assert rules.thresholds[Measure.SYSTOLIC].amber.at_or_above == 170
    assert rules.thresholds[Measure.SYSTOLIC].amber.at_or_below == 95  # heart failure's
    path = ("thresholds", "systolic", "amber", "at_or_below")
    assert band_origin(both, None, path) == "heart_failure"
    assert band_origin([], None, path) == "default"
    assert band_origin(both, {"thresholds": {"systolic": {"amber": {"at_or_below": 90}}}}, path) == "personal"
    assert profile_changes([Condition.HYPERCAPNIC_RESPIRATORY_FAILURE])["news2"] == {"spo2_scale": 2}
    assert "news2" not in profile_changes([Condition.COPD])


def test_an_unknown_condition_is_refused() -> None:
    with pytest.raises(ValueError, match="diabetes"):
        rules_for(["diabetes"])
    with pytest.raises(RuleSetError):
        rules_for([Condition.HYPERCAPNIC_RESPIRATORY_FAILURE], {"news2": {"spo2_scale": 3}})
