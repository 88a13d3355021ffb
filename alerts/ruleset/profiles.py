"""Condition profiles: the rules a long-term condition brings, as data (``profiles.yaml``).

A COPD patient on SpO2 scale 2, a patient with known atrial fibrillation whose cuff flags an
irregular pulse on every reading, a treated hypertensive patient whose usual pressure sits
above the general bands: each used to need hand-edited thresholds. A profile is a partial
rule document of the same shape as a personal override; a patient's rules are the defaults,
their conditions' profiles in one fixed order, then the clinician's personal override — so
"where does this band come from" always has one answer (``band_origin``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from alerts.ruleset.loading import apply_override, default_ruleset, merge_documents
from alerts.ruleset.models import RuleSet, RuleSetError
from common.wire.vocabulary import Condition

__all__ = ["PROFILES_PATH", "Profile", "band_origin", "load_profiles", "profile_changes", "rules_for"]

PROFILES_PATH = Path(__file__).resolve().parent.parent / "rules" / "profiles.yaml"


@dataclass(frozen=True)
class Profile:
    condition: Condition
    sources: tuple[str, ...]
    changes: Mapping[str, Any]
    #: How a person names it ("COPD"): the pages say a limit comes from the "COPD profile".
    name: str = ""


@cache
def load_profiles() -> tuple[Profile, ...]:
    """Every profile, in the order they are applied; each validated on the defaults."""
    import yaml  # imported here so that the pure modules never pull in a parser

    document = yaml.safe_load(PROFILES_PATH.read_text(encoding="utf-8"))
    order = [Condition(name) for name in document["order"]]
    if sorted(order) != sorted(Condition):
        raise RuleSetError(f"{PROFILES_PATH}: 'order' must name every condition once")
    profiles = []
    for condition in order:
        entry = document["profiles"].get(condition.value, {})
        profile = Profile(
            condition,
            tuple(entry.get("sources", ())),
            entry.get("changes", {}),
            str(entry.get("name") or condition.value.replace("_", " ").capitalize()),
        )
        try:
            apply_override(default_ruleset(), profile.changes)
        except RuleSetError as error:
            raise RuleSetError(f"{PROFILES_PATH}: profile {condition.value}: {error}") from None
        profiles.append(profile)
    return tuple(profiles)


def profile_changes(conditions: Iterable[Condition | str]) -> dict[str, Any]:
    """The merged changes of these conditions' profiles, in the profiles' fixed order."""
    wanted = {Condition(c) for c in conditions}
    merged: dict[str, Any] = {}
    for profile in load_profiles():
        if profile.condition in wanted:
            merged = merge_documents(merged, dict(profile.changes))
    return merged


def rules_for(conditions: Iterable[Condition | str], personal: Mapping[str, Any] | None = None) -> RuleSet:
    """A patient's effective rules: defaults, then condition profiles, then the personal
    override (``RuleSetError`` if the result does not validate)."""
    base = apply_override(default_ruleset(), profile_changes(conditions))
    return base if not personal else apply_override(base, personal)


def band_origin(
    conditions: Iterable[Condition | str], personal: Mapping[str, Any] | None, path: tuple[str, ...]
) -> str:
    """Where the setting at ``path`` (e.g. ``("thresholds", "systolic", "red", "at_or_above")``)
    comes from: ``"personal"``, a condition's value (``"copd"``) or ``"default"``."""

    def sets(document: Mapping[str, Any]) -> bool:
        node: Any = document
        for key in path:
            if not isinstance(node, Mapping) or key not in node:
                return False
            node = node[key]
        return True

    if personal and sets(personal):
        return "personal"
    wanted = {Condition(c) for c in conditions}
    origin = "default"
    for profile in load_profiles():
        if profile.condition in wanted and sets(profile.changes):
            origin = profile.condition.value
    return origin
