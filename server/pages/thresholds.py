"""A patient's alert limits as a clinician reads and changes them: each edge with its unit
and where it comes from, a form's edits checked field by field in plain words, and the
change history said in words.

Why edge by edge: an empty box used to mean "no limit", so saving one new limit silently
removed every edge the form did not show. Here a change names only the edges that differ
from what the form showed; an edge is removed only by the confirmed remove action, never by
an empty box.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from alerts.ruleset.loading import apply_override, default_ruleset
from alerts.ruleset.models import MAX_PERSISTENCE, RuleSet, RuleSetError, ThresholdRule
from alerts.ruleset.profiles import Profile, band_origin, load_profiles, rules_for
from common.wire.vocabulary import MEASURES, Condition, Measure


@dataclass(frozen=True, slots=True)
class Edge:
    field: str  # the form field and the id of its box
    band: str  # "red" or "amber"
    side: str  # "at_or_below" or "at_or_above"
    label: str


#: In the order a value climbs through them: low red, low amber, high amber, high red.
EDGES: tuple[Edge, ...] = (
    Edge("red_below", "red", "at_or_below", "Red at or below"),
    Edge("amber_below", "amber", "at_or_below", "Amber at or below"),
    Edge("amber_above", "amber", "at_or_above", "Amber at or above"),
    Edge("red_above", "red", "at_or_above", "Red at or above"),
)
EDGE_BY_FIELD = {e.field: e for e in EDGES}
PERSISTENCE_LABEL = "Readings in a row before alerting"


class Source(StrEnum):
    """Where an edge's value comes from. A condition profile (COPD, heart failure) sits
    between the service defaults and a personal override (``alerts.ruleset.profiles``):
    ``alerts.ruleset.profiles.band_origin`` is the one place that decides."""

    DEFAULT = "Service default"
    CONDITION_PROFILE = "Condition profile"
    PERSONAL = "Personal"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where one limit in force comes from, named as the clinician needs it: a profile's
    limit called "Personal" once made a clinician think a colleague had set it, and look
    for a reason in the history that was never there."""

    source: Source
    name: str  # "Service default", "COPD profile", "Personal"
    detail: str = ""  # the guidance behind a default or a profile's limit
    set_by: str = ""  # a personal limit: who set the value in force, and when
    set_at: datetime | None = None

    def __str__(self) -> str:
        return self.name


def _at(document: Mapping[str, Any] | None, path: Sequence[str]) -> tuple[bool, Any]:
    node: Any = document or {}
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _setter(history: Sequence[Any], path: Sequence[str]) -> Any:
    """The oldest version of the unbroken run, back from the newest, that holds the value
    now in force at ``path``: whoever set it, not whoever last saved another limit."""
    found, value = _at(history[0].changes, path)
    setter = history[0]
    for row in history[1:]:
        has, older = _at(row.changes, path)
        if not has or older != value:
            break
        setter = row
    return setter if found else None


def profile_named(condition: str) -> Profile:
    return next(p for p in load_profiles() if p.condition.value == condition)


def edge_origin(
    measure: str,
    path: Sequence[str],
    history: Sequence[Any],
    conditions: Sequence[Condition | str],
    basis: str,
) -> Origin:
    """Where the limit at ``path`` of ``measure``'s threshold comes from (``history``: the
    override versions, newest first)."""
    full = ("thresholds", measure, *path)
    personal = history[0].changes if history else None
    origin = band_origin(conditions, personal, full)
    if origin == "personal":
        row = _setter(history, full)
        return Origin(Source.PERSONAL, Source.PERSONAL.value, "", row.set_by, row.set_at)
    if origin != "default":
        profile = profile_named(origin)
        _, why = _at(profile.changes, ("thresholds", measure, "source"))
        detail = why if isinstance(why, str) and why else "; ".join(profile.sources)
        return Origin(Source.CONDITION_PROFILE, f"{profile.name} profile", detail)
    return Origin(Source.DEFAULT, Source.DEFAULT.value, basis)


@dataclass(frozen=True, slots=True)
class Limits:
    """One measure's limits in force for a patient, as the page shows and edits them."""

    measure: Measure
    label: str
    unit: str
    decimals: int
    values: dict[str, float | None]  # by edge field
    persistence: int
    sources: dict[str, Origin]  # by edge field, and "persistence"
    basis: str  # the guidance the service defaults follow

    def shown(self, field: str) -> str:
        """An edge as a person reads it: '180 mmHg', or 'no limit'."""
        return with_unit(self.values[field], self.decimals, self.unit)

    def box(self, field: str) -> str:
        """An edge as it stands in its form box: the number, or empty for no limit."""
        value = self.values[field]
        return "" if value is None else f"{value:.{self.decimals}f}"

    def origins(self) -> list[Origin]:
        """Each distinct origin of this measure's limits, personal first, then the
        profiles, then the defaults: what the "Where from" column says."""
        rank = {Source.PERSONAL: 0, Source.CONDITION_PROFILE: 1, Source.DEFAULT: 2}
        seen: dict[tuple[str, str, str], Origin] = {}
        for origin in self.sources.values():
            seen.setdefault((origin.name, origin.set_by, str(origin.set_at)), origin)
        return sorted(seen.values(), key=lambda o: (rank[o.source], o.name))


def with_unit(value: float | None, decimals: int, unit: str) -> str:
    if value is None:
        return "no limit"
    return f"{value:.{decimals}f} {unit}".replace(" %", "%")


def limits(
    effective: RuleSet, history: Sequence[Any] = (), conditions: Sequence[Condition | str] = ()
) -> list[Limits]:
    """The limits in force (``effective``) with where each comes from: the patient's
    condition profiles and override versions (``history``, newest first)."""
    defaults = default_ruleset().thresholds
    out = []
    for measure, rule in effective.thresholds.items():
        spec = MEASURES[measure]
        basis = defaults[measure].source if measure in defaults else ""
        sources = {
            e.field: edge_origin(measure.value, (e.band, e.side), history, conditions, basis) for e in EDGES
        }
        sources["persistence"] = edge_origin(measure.value, ("persistence",), history, conditions, basis)
        out.append(
            Limits(
                measure=measure,
                label=spec.label,
                unit=spec.unit.label,
                decimals=rule.decimals,
                values={e.field: getattr(getattr(rule, e.band), e.side) for e in EDGES},
                persistence=rule.persistence,
                sources=sources,
                basis=basis,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str | None  # the box to correct; None when no one box is to blame
    text: str


@dataclass(frozen=True, slots=True)
class Proposal:
    """What a posted form asks for: the edges (and persistence) that differ from now."""

    edges: dict[str, float]
    persistence: int | None
    problems: list[FieldProblem]


def _number(edge: Edge, now: Limits, text: str) -> tuple[float | None, str]:
    """The value typed into an edge's box, or why it cannot be used."""
    name = edge.label.lower()
    if not text:
        if now.values[edge.field] is None:
            return None, ""
        return None, (
            f"Enter {name} as a number. To take this limit away, use 'Remove' instead: "
            "an empty box does not remove it"
        )
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        return None, f"Enter {name} as a number in {now.unit}, like {now.box(edge.field) or '100'}"
    if round(value, now.decimals) != value:
        places = (
            "a whole number" if now.decimals == 0 else f"a number with at most {now.decimals} decimal place"
        )
        return None, f"Enter {name} as {places}: {now.label.lower()} is recorded to that precision"
    spec = MEASURES[now.measure]
    if not spec.possible_min <= value <= spec.possible_max:
        low, high = (with_unit(v, now.decimals, now.unit) for v in (spec.possible_min, spec.possible_max))
        return None, f"{edge.label} must be between {low} and {high}"
    return value, ""


def _order_problem(now: Limits, merged: dict[str, float | None], changed: set[str]) -> FieldProblem | None:
    """The same consistency the rules model demands, said about the box the clinician changed."""

    def said(field: str) -> str:
        return f"{EDGE_BY_FIELD[field].label.lower()} ({with_unit(merged[field], now.decimals, now.unit)})"

    def blame(*fields: str) -> str:
        return next((f for f in fields if f in changed), fields[0])

    red_lo, amber_lo, amber_hi, red_hi = (merged[e.field] for e in EDGES)
    if red_lo is not None and amber_lo is not None and red_lo > amber_lo:
        field = blame("red_below", "amber_below")
        return (
            FieldProblem(
                field,
                f"Red at or below must not be above {said('amber_below')}: a low reading turns amber before red",
            )
            if field == "red_below"
            else FieldProblem(
                field,
                f"Amber at or below must not be below {said('red_below')}: a low reading turns amber before red",
            )
        )
    if red_hi is not None and amber_hi is not None and red_hi < amber_hi:
        field = blame("red_above", "amber_above")
        return (
            FieldProblem(
                field,
                f"Red at or above must not be below {said('amber_above')}: a high reading turns amber before red",
            )
            if field == "red_above"
            else FieldProblem(
                field,
                f"Amber at or above must not be above {said('red_above')}: a high reading turns amber before red",
            )
        )
    lows = [f for f in ("red_below", "amber_below") if merged[f] is not None]
    highs = [f for f in ("amber_above", "red_above") if merged[f] is not None]
    if lows and highs:
        low = max(lows, key=lambda f: merged[f] or 0.0)
        high = min(highs, key=lambda f: merged[f] or 0.0)
        if (merged[low] or 0.0) >= (merged[high] or 0.0):
            field = blame(low, high)
            other = high if field == low else low
            return FieldProblem(
                field,
                f"{EDGE_BY_FIELD[field].label} ({with_unit(merged[field], now.decimals, now.unit)}) overlaps "
                f"{said(other)}: no reading can be both too low and too high",
            )
    return None


def proposal(now: Limits, form: Mapping[str, str]) -> Proposal:
    """Read a posted form against the limits in force. A box that is not in the form, or
    holds what is in force, changes nothing."""
    problems: list[FieldProblem] = []
    merged = dict(now.values)
    changed: dict[str, float] = {}
    for edge in EDGES:
        if edge.field not in form:
            continue
        value, problem = _number(edge, now, form[edge.field].strip())
        if problem:
            problems.append(FieldProblem(edge.field, problem))
        elif value is not None and value != now.values[edge.field]:
            merged[edge.field] = changed[edge.field] = value
    persistence: int | None = None
    if "persistence" in form:
        text = form["persistence"].strip()
        if not (text.isdigit() and 1 <= int(text) <= MAX_PERSISTENCE):
            problems.append(
                FieldProblem(
                    "persistence",
                    f"Enter how many readings in a row as a whole number from 1 to {MAX_PERSISTENCE}",
                )
            )
        elif int(text) != now.persistence:
            persistence = int(text)
    if not problems:
        order = _order_problem(now, merged, set(changed))
        if order is not None:
            problems.append(order)
    if not problems and not changed and persistence is None:
        problems.append(FieldProblem(None, "Nothing was changed: change a limit, then save"))
    return Proposal(changed, persistence, problems)


def merged_changes(
    current: Mapping[str, Any], measure: Measure, edges: Mapping[str, float | None], persistence: int | None
) -> dict[str, Any]:
    """The override's changes with these edges set (None: removed, as ``apply_override``
    reads an explicit null) and every other key kept as it was."""
    changes: dict[str, Any] = {k: v for k, v in current.items()}
    thresholds = dict(changes.get("thresholds") or {})
    rule = dict(thresholds.get(measure.value) or {})
    for field, value in edges.items():
        edge = EDGE_BY_FIELD[field]
        band = dict(rule.get(edge.band) or {})
        band[edge.side] = value
        rule[edge.band] = band
    if persistence is not None:
        rule["persistence"] = persistence
    thresholds[measure.value] = rule
    changes["thresholds"] = thresholds
    return changes


_SECTION_NAMES = {
    "weight_gain": "weight gain",
    "baselines": "personal baselines",
    "missed_readings": "missed readings",
    "hub_silence": "hub silence",
    "irregular_pulse": "irregular pulse",
}


def _rule_lines(before: ThresholdRule | None, after: ThresholdRule | None, measure: Measure) -> list[str]:
    spec = MEASURES[measure]
    rule = after or before
    if rule is None:
        return []
    decimals, unit = rule.decimals, spec.unit.label
    lines = []
    for edge in EDGES:
        old = getattr(getattr(before, edge.band), edge.side) if before else None
        new = getattr(getattr(after, edge.band), edge.side) if after else None
        if old == new:
            continue
        if old is not None and new is not None:
            values = f"{old:.{decimals}f} → {with_unit(new, decimals, unit)}"
        else:
            values = f"{with_unit(old, decimals, unit)} → {with_unit(new, decimals, unit)}"
        lines.append(f"{spec.label} {edge.label.lower()}: {values}")
    if before and after and before.persistence != after.persistence:
        lines.append(
            f"{spec.label} readings in a row before alerting: {before.persistence} → {after.persistence}"
        )
    return lines


def changed_in_words(before: RuleSet, after: RuleSet) -> list[str]:
    """What differs between two rule sets, one line per limit: 'Systolic red at or above:
    180 → 170 mmHg'."""
    lines = []
    for measure in {**before.thresholds, **after.thresholds}:
        lines += _rule_lines(before.thresholds.get(measure), after.thresholds.get(measure), measure)
    old, new = before.model_dump(exclude={"thresholds"}), after.model_dump(exclude={"thresholds"})
    others = [_SECTION_NAMES.get(k, k.replace("_", " ")) for k in new if old.get(k) != new[k]]
    if others:
        lines.append(f"Other rules changed: {', '.join(others)}")
    return lines


@dataclass(frozen=True, slots=True)
class Version:
    version: int
    set_by: str
    set_at: Any
    reason: str
    lines: list[str]


def judged_on(conditions: Sequence[Condition | str]) -> str:
    """What a patient with no personal limits is judged on, in words: "the service
    defaults", or "the service defaults with the COPD profile"."""
    wanted = {Condition(c) for c in conditions}
    names = [p.name for p in load_profiles() if p.condition in wanted]
    if not names:
        return "the service defaults"
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f"the service defaults with the {listed} profile{'s' if len(names) > 1 else ''}"


def history_in_words(history: Sequence[Any], conditions: Sequence[Condition | str] = ()) -> list[Version]:
    """Each stored version (newest first, as ``override_history`` returns them) said as what
    it changed from the version before it, on the rules the patient has without a personal
    override: the defaults and their condition profiles (judged against the defaults alone,
    a COPD patient's override below the defaults' red was said to "no longer fit")."""
    base = rules_for(conditions)
    words = judged_on(conditions)
    out = []
    before = base
    for row in reversed(history):
        try:
            after = apply_override(base, row.changes)
        except RuleSetError:
            lines = [f"These changes no longer fit {words}: the patient is judged on {words}"]
            after = base
        else:
            lines = changed_in_words(before, after)
            if not row.changes:
                lines.insert(0, f"Returned to {words}")
            if not lines:
                lines = ["No change to the limits in force"]
        out.append(Version(row.id, row.set_by, row.set_at, row.reason, lines))
        before = after
    return out[::-1]
