"""Shared helpers for the rule tests (no tests here): run the engine and the oracle on the
same readings and insist they agree, so every unit test checks both implementations."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from alerts.columns import KINDS, NEVER, ReadingColumns
from alerts.engine import evaluate
from alerts.reference import rules as oracle
from alerts.ruleset.compiling import compile_rules
from alerts.ruleset.loading import apply_override, default_ruleset
from alerts.ruleset.models import RuleSet
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag

DAY = 86400
HOUR = 3600
#: A UTC midnight (2024-03-04), so that day arithmetic in tests reads naturally.
T0 = 1_709_510_400

KIND_OF = {
    Measure.SYSTOLIC: ReadingKind.BLOOD_PRESSURE,
    Measure.DIASTOLIC: ReadingKind.BLOOD_PRESSURE,
    Measure.PULSE: ReadingKind.PULSE,
    Measure.SPO2: ReadingKind.SPO2,
    Measure.WEIGHT: ReadingKind.WEIGHT,
    Measure.TEMPERATURE: ReadingKind.TEMPERATURE,
    Measure.RESPIRATION_RATE: ReadingKind.RESPIRATION_RATE,
}

#: Every rule off: unit tests switch on the one they test.
ALL_OFF: dict[str, Any] = {
    "thresholds": {m.value: {"enabled": False} for m in default_ruleset().thresholds},
    "weight_gain": {"window": {"enabled": False}, "week": {"enabled": False}, "daily": {"enabled": False}},
    "averages": {m.value: {"enabled": False} for m in default_ruleset().averages},
    "baselines": {m.value: {"enabled": False} for m in default_ruleset().baselines},
    "missed_readings": {k.value: {"enabled": False} for k in default_ruleset().missed_readings},
    "hub_silence": {"enabled": False},
    "irregular_pulse": {"enabled": False},
    "news2": {"enabled": False},
}


def merge(*changes: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for change in changes:
        out = _merge(out, dict(change))
    return out


def _merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def only(changes: Mapping[str, Any]) -> RuleSet:
    """Defaults with every rule off except what ``changes`` switches on."""
    return apply_override(default_ruleset(), merge(ALL_OFF, changes))


Row = tuple[int, int, Measure, float] | tuple[int, int, Measure, float, frozenset[StatusFlag]]


def reading(row: Row, kind: ReadingKind | None = None) -> oracle.Reading:
    patient, time, measure, value = row[:4]
    flags = row[4] if len(row) > 4 else frozenset()
    return oracle.Reading(patient, time, kind or KIND_OF[measure], measure, float(value), frozenset(flags))


def columns(readings: Sequence[oracle.Reading]) -> ReadingColumns:
    return ReadingColumns.from_rows(
        (r.patient, r.time, r.kind, r.measure, r.value, r.flags) for r in readings
    )


def as_tuples(findings: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Comparable tuples; values compared exactly (NaN never appears in a finding)."""
    return sorted(dataclasses.astuple(finding) for finding in findings)


def run_both(
    rulesets: Sequence[RuleSet],
    batch: Sequence[oracle.Reading],
    history: Sequence[oracle.Reading] = (),
    *,
    tick: int | None = None,
    utc_offset_s: Sequence[int] | None = None,
    last_reading: Mapping[tuple[int, ReadingKind], int] | None = None,
    last_hub_contact: Mapping[int, int] | None = None,
    retakes: bool = False,
) -> list[oracle.Finding]:
    """Both implementations on the same input; returns the oracle's findings once they agree
    (without the retake requests, which are not alerts, unless ``retakes``)."""
    n = len(rulesets)
    defaults = default_ruleset()
    table = compile_rules(defaults, n, {p: rs for p, rs in enumerate(rulesets) if rs is not defaults})
    last = None
    if last_reading:
        last = np.full((n, len(KINDS)), NEVER, dtype=np.int64)
        for (patient, kind), when in last_reading.items():
            last[patient, KINDS.index(kind)] = when
    contact = None
    if last_hub_contact:
        contact = np.full(n, NEVER, dtype=np.int64)
        for patient, when in last_hub_contact.items():
            contact[patient] = when
    engine = evaluate(
        table,
        columns(batch),
        columns(history) if history else None,
        tick=tick,
        utc_offset_s=np.asarray(utc_offset_s if utc_offset_s is not None else 0, dtype=np.int64),
        last_reading=last,
        last_hub_contact=contact,
    ).records()
    reference = oracle.evaluate(
        rulesets,
        batch,
        history,
        tick=tick,
        utc_offset_s=utc_offset_s,
        last_reading=last_reading,
        last_hub_contact=last_hub_contact,
    )
    assert as_tuples(engine) == as_tuples(reference)
    if retakes:
        return reference
    return [finding for finding in reference if finding.rule_id != "quality.retake"]


def single(
    ruleset: RuleSet, batch: Sequence[Row], history: Sequence[Row] = (), **kwargs: Any
) -> list[oracle.Finding]:
    """One patient (index 0) under ``ruleset``; rows are (patient, time, measure, value[, flags])."""
    n = 1 + max((row[0] for row in [*batch, *history]), default=0)
    return run_both([ruleset] * n, [reading(r) for r in batch], [reading(r) for r in history], **kwargs)
