"""Which rules a cohort patient is judged by: the engine's, the naive baseline's, and the
variants the sweeps try.

``rules_for`` is the one place a patient's conditions choose their rules, so condition
profiles (HF, COPD, hypercapnic respiratory failure on SpO2 scale 2, hypertension, AF,
frailty) apply here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Final

from alerts.ruleset.loading import apply_override, default_ruleset
from alerts.ruleset.models import RuleSet
from alerts.ruleset.profiles import rules_for as profile_rules_for
from common.wire.vocabulary import Condition

__all__ = ["NAIVE_CHANGES", "RulesFor", "naive_rules_for", "rules_for", "with_changes"]

RulesFor = Callable[[tuple[str, ...]], RuleSet]


#: The cohort's condition names, as the server's conditions.
CONDITIONS: Final[Mapping[str, Condition]] = {
    "hf": Condition.HEART_FAILURE,
    "copd": Condition.COPD,
    "hypertension": Condition.HYPERTENSION,
    "frail": Condition.FRAILTY,
    "af": Condition.ATRIAL_FIBRILLATION,
    "hypercapnic": Condition.HYPERCAPNIC_RESPIRATORY_FAILURE,
}


@cache
def rules_for(conditions: tuple[str, ...]) -> RuleSet:
    """The engine's rules for a patient with these conditions (e.g. ``("hf", "af")``): the
    defaults and the condition profiles, exactly as the server enrols them."""
    return profile_rules_for([CONDITIONS[name] for name in conditions])


_OFF: Final = {"enabled": False}

#: The naive comparison: fixed thresholds only (systolic ≥ 180 or ≤ 90, SpO2 ≤ 91, more
#: than 2 kg in 3 days), red, first reading; everything else off.
NAIVE_CHANGES: Final[Mapping[str, Any]] = {
    "thresholds": {
        "systolic": {
            "persistence": 1,
            "red": {"at_or_below": 90, "at_or_above": 180},
            "amber": {"at_or_below": None, "at_or_above": None},
        },
        "spo2": {"persistence": 1, "red": {"at_or_below": 91}, "amber": {"at_or_below": None}},
        "diastolic": _OFF,
        "pulse": _OFF,
        "respiration_rate": _OFF,
        "temperature": _OFF,
    },
    "weight_gain": {"window": {"enabled": True, "gain_kg": 2.0, "days": 3}, "week": _OFF, "daily": _OFF},
    "baselines": {"weight": _OFF, "pulse": _OFF, "systolic": _OFF, "spo2": _OFF},
    "averages": {"systolic": _OFF, "diastolic": _OFF},
    "missed_readings": {"weight": _OFF},
    "hub_silence": _OFF,
    "irregular_pulse": _OFF,
    "news2": _OFF,
    "quality": _OFF,  # fixed thresholds know nothing of a device's quality flags
}


@cache
def _naive() -> RuleSet:
    return apply_override(default_ruleset(), NAIVE_CHANGES)


def naive_rules_for(conditions: tuple[str, ...]) -> RuleSet:
    return _naive()


def with_changes(base: RulesFor, changes: Mapping[str, Any]) -> RulesFor:
    """``base``'s rules with ``changes`` merged on top, for every patient (a sweep point).
    Cached per rule set, so a 500-patient cohort validates a handful of documents, not 500."""
    merged: list[tuple[RuleSet, RuleSet]] = []

    def rules(conditions: tuple[str, ...]) -> RuleSet:
        ruleset = base(conditions)
        for original, changed in merged:
            if original is ruleset or original == ruleset:
                return changed
        changed = apply_override(ruleset, changes)
        merged.append((ruleset, changed))
        return changed

    return rules
