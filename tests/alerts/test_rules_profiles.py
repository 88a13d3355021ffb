"""Condition profiles as data: each validates, each does what its source says, and "where
does this band come from" has one answer."""

from __future__ import annotations

import itertools

import pytest

from alerts.ruleset.models import RuleSetError
from alerts.ruleset.profiles import band_origin, load_profiles, profile_changes, rules_for
from alerts.severity import Severity
from common.wire.vocabulary import Condition, Measure, StatusFlag
from tests.alerts.test_rules_support import HOUR, T0, single

IRREGULAR = frozenset({StatusFlag.IRREGULAR_PULSE})


@pytest.mark.parametrize("n", range(len(Condition) + 1))
def test_every_combination_of_conditions_gives_valid_rules(n: int) -> None:
    for combination in itertools.combinations(Condition, n):
        rules_for(combination)


def test_every_profile_names_its_sources() -> None:
    for profile in load_profiles():
        assert profile.sources, profile.condition
        assert profile.changes, profile.condition


def test_a_known_af_patient_gets_no_irregular_pulse_alert() -> None:
    bp = [(0, T0 + i * HOUR, Measure.SYSTOLIC, 128, IRREGULAR) for i in range(3)]
    (flagged,) = [
        f for f in single(rules_for([]), bp[2:], history=bp[:2]) if f.rule_id == "device.irregular_pulse"
    ]
    assert flagged.severity == Severity.AMBER
    assert [f for f in single(rules_for([Condition.ATRIAL_FIBRILLATION]), bp[2:], history=bp[:2])] == []


def test_copd_uses_spo2_scale_2_and_its_target_range() -> None:
    copd = rules_for([Condition.COPD])
    assert copd.news2.spo2_scale == 2
    assert single(copd, [(0, T0, Measure.SPO2, 88)]) == []
    (low,) = single(copd, [(0, T0, Measure.SPO2, 85)])
    assert (low.rule_id, low.severity) == ("threshold.spo2", Severity.AMBER)
    (general,) = single(rules_for([]), [(0, T0, Measure.SPO2, 88)])
    assert general.severity == Severity.RED


def test_a_treated_hypertensive_patient_needs_two_high_readings() -> None:
    hypertension = rules_for([Condition.HYPERTENSION])
    first = (0, T0, Measure.SYSTOLIC, 165)
    assert single(hypertension, [first]) == []
    (second,) = single(hypertension, [(0, T0 + 300, Measure.SYSTOLIC, 168)], history=[first])
    assert (second.rule_id, second.severity) == ("threshold.systolic", Severity.AMBER)
    (general,) = single(rules_for([]), [first])
    assert general.severity == Severity.AMBER


def test_personal_override_wins_over_profiles_and_later_profiles_over_earlier() -> None:
    both = [Condition.HYPERTENSION, Condition.HEART_FAILURE]
    rules = rules_for(both, {"thresholds": {"systolic": {"amber": {"at_or_above": 170}}}})
    assert rules.thresholds[Measure.SYSTOLIC].amber.at_or_above == 170
    assert rules.thresholds[Measure.SYSTOLIC].amber.at_or_below == 95  # heart failure's
    path = ("thresholds", "systolic", "amber", "at_or_below")
    assert band_origin(both, None, path) == "heart_failure"
    assert band_origin([], None, path) == "default"
    assert band_origin(both, {"thresholds": {"systolic": {"amber": {"at_or_below": 90}}}}, path) == "personal"
    assert profile_changes([Condition.COPD])["news2"] == {"spo2_scale": 2}


def test_an_unknown_condition_is_refused() -> None:
    with pytest.raises(ValueError, match="diabetes"):
        rules_for(["diabetes"])
    with pytest.raises(RuleSetError):
        rules_for([Condition.COPD], {"news2": {"spo2_scale": 3}})
