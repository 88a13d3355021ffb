"""Alert rules as data: the default rule set, per-patient overrides, and compiling both into
the per-patient arrays the vectorised engine reads.

Rules are data because clinicians, not programmers, decide them: the defaults live in a
readable YAML file with the source of every number, and a clinician's change for one
patient (a COPD patient's 88–92 % target) is a *partial* document of the same shape that
the server stores as JSON. An override is merged on top of the defaults and the *result*
is validated as a whole, so an override cannot leave a rule inconsistent (an amber edge
beyond its red edge) and a typo in a key is an error, not a silently ignored setting.

This module validates (pydantic) and, in ``load_ruleset`` only, reads a file (PyYAML):
the engine itself never sees either, it receives a ``RuleTable`` of NumPy arrays.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from alerts.rules.table import (
    DIRECTION_CODES,
    BaselineParams,
    HubSilenceParams,
    IrregularPulseParams,
    RuleTable,
    ScheduleParams,
    ThresholdParams,
    WeightGainDailyParams,
    WeightGainWindowParams,
)
from alerts.severity import Severity
from common.wire.vocabulary import Measure, ReadingKind

__all__ = [
    "DEFAULTS_PATH",
    "Band",
    "BaselineRule",
    "HubSilenceRule",
    "IrregularPulseRule",
    "PatientOverride",
    "RuleSet",
    "RuleSetError",
    "ScheduleRule",
    "ThresholdRule",
    "WeightGainDailyRule",
    "WeightGainRules",
    "WeightGainWindowRule",
    "apply_override",
    "compile_rules",
    "default_ruleset",
    "load_ruleset",
    "parse_ruleset",
]

DEFAULTS_PATH = Path(__file__).resolve().parent / "rules" / "defaults.yaml"

#: Persistence and day counts are small by nature; bounding them bounds the engine's loops.
MAX_PERSISTENCE = 10
MAX_CONSECUTIVE_DAYS = 7
MAX_LAST_N = 20

AlertSeverity = Literal["amber", "red"]
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


class RuleSetError(ValueError):
    """A rule set or override that does not validate; the message names the offending keys."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Model):
    """Inclusive edges; ``None`` means the band has no edge on that side."""

    at_or_below: float | None = None
    at_or_above: float | None = None


class ThresholdRule(_Model):
    source: str = ""
    enabled: bool = True
    decimals: int = Field(ge=0, le=2)
    persistence: int = Field(default=1, ge=1, le=MAX_PERSISTENCE)
    red: Band = Band()
    amber: Band = Band()

    @model_validator(mode="after")
    def _edges_consistent(self) -> Self:
        quantum = Decimal(1).scaleb(-self.decimals)
        for name, band in (("red", self.red), ("amber", self.amber)):
            for side in ("at_or_below", "at_or_above"):
                edge = getattr(band, side)
                if edge is None:
                    continue
                if not np.isfinite(edge):
                    raise ValueError(f"{name}.{side} must be a finite number, not {edge}")
                written = Decimal(repr(float(edge)))
                if written.quantize(quantum) != written:
                    # Readings are compared at the recording precision, so an edge between
                    # two recordable values would silently mean one of them.
                    raise ValueError(f"{name}.{side}={edge} has more than {self.decimals} decimal places")
        red_lo, red_hi = self.red.at_or_below, self.red.at_or_above
        amber_lo, amber_hi = self.amber.at_or_below, self.amber.at_or_above
        if red_lo is not None and amber_lo is not None and red_lo > amber_lo:
            raise ValueError(f"red.at_or_below ({red_lo}) must not be above amber.at_or_below ({amber_lo})")
        if red_hi is not None and amber_hi is not None and red_hi < amber_hi:
            raise ValueError(f"red.at_or_above ({red_hi}) must not be below amber.at_or_above ({amber_hi})")
        lows = [edge for edge in (red_lo, amber_lo) if edge is not None]
        highs = [edge for edge in (red_hi, amber_hi) if edge is not None]
        if lows and highs and max(lows) >= min(highs):
            raise ValueError("the low edges must be below the high edges: no value may be both low and high")
        return self


class WeightGainWindowRule(_Model):
    source: str = ""
    enabled: bool = True
    gain_kg: float = Field(gt=0, le=50)
    days: int = Field(ge=1, le=30)
    severity: AlertSeverity = "amber"


class WeightGainDailyRule(_Model):
    source: str = ""
    enabled: bool = False
    gain_kg: float = Field(gt=0, le=50)
    consecutive_days: int = Field(ge=1, le=MAX_CONSECUTIVE_DAYS)
    severity: AlertSeverity = "amber"


class WeightGainRules(_Model):
    window: WeightGainWindowRule
    daily: WeightGainDailyRule


class BaselineRule(_Model):
    source: str = ""
    enabled: bool = True
    days: int = Field(ge=1, le=90)
    min_readings: int = Field(ge=3, le=1000)
    amber_k: float = Field(gt=0, le=100)
    red_k: float | None = Field(default=None, gt=0, le=100)
    min_mad: float = Field(ge=0, le=1000)
    direction: Literal["up", "down", "both"] = "both"
    persistence: int = Field(default=1, ge=1, le=MAX_PERSISTENCE)

    @model_validator(mode="after")
    def _red_beyond_amber(self) -> Self:
        if self.red_k is not None and self.red_k <= self.amber_k:
            raise ValueError(f"red_k ({self.red_k}) must be greater than amber_k ({self.amber_k})")
        return self


def _seconds_of_day(hhmm: str) -> int:
    match = _HHMM.match(hhmm)
    if match is None:
        raise ValueError(f"{hhmm!r} is not a 24-hour HH:MM time")
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60


class ScheduleRule(_Model):
    """A reading expected every day in [window_start, due_by), local time; windows do not
    cross midnight (a night-time reading belongs to a schedule of its own)."""

    enabled: bool = True
    window_start: str = "00:00"
    due_by: str
    severity: AlertSeverity = "amber"

    @model_validator(mode="after")
    def _window_order(self) -> Self:
        if self.window_start_s >= self.due_by_s:
            raise ValueError(f"window_start {self.window_start} must be before due_by {self.due_by}")
        return self

    @property
    def window_start_s(self) -> int:
        return _seconds_of_day(self.window_start)

    @property
    def due_by_s(self) -> int:
        return _seconds_of_day(self.due_by)


class HubSilenceRule(_Model):
    enabled: bool = True
    max_hours: float = Field(gt=0, le=24 * 30)
    severity: AlertSeverity = "amber"

    @property
    def max_silence_s(self) -> int:
        return round(self.max_hours * 3600)


class IrregularPulseRule(_Model):
    source: str = ""
    enabled: bool = True
    last_n: int = Field(ge=1, le=MAX_LAST_N)
    min_flagged: int = Field(ge=1, le=MAX_LAST_N)
    severity: AlertSeverity = "amber"

    @model_validator(mode="after")
    def _count_fits(self) -> Self:
        if self.min_flagged > self.last_n:
            raise ValueError(f"min_flagged ({self.min_flagged}) cannot exceed last_n ({self.last_n})")
        return self


class RuleSet(_Model):
    version: Literal[1]
    thresholds: dict[Measure, ThresholdRule] = {}
    weight_gain: WeightGainRules
    baselines: dict[Measure, BaselineRule] = {}
    missed_readings: dict[ReadingKind, ScheduleRule] = {}
    hub_silence: HubSilenceRule
    irregular_pulse: IrregularPulseRule


class PatientOverride(_Model):
    """One patient's rule changes, as the server stores them (``model_dump_json``).

    ``changes`` is a partial rule set of the same shape as ``defaults.yaml``: only the keys
    given change; an explicit ``null`` removes an edge (``{"red": {"at_or_above": null}}``).
    """

    changes: dict[str, Any] = {}
    reason: str = ""
    set_by: str | None = None


def _merged(base: Any, changes: Any) -> Any:
    if isinstance(base, dict) and isinstance(changes, dict):
        out = dict(base)
        for key, value in changes.items():
            out[key] = _merged(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(changes)


def _validated(document: Mapping[str, Any], what: str) -> RuleSet:
    try:
        return RuleSet.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or '(top level)'}: {problem['msg']}"
            for problem in error.errors()
        )
        raise RuleSetError(f"invalid {what}: {problems}") from None


def apply_override(defaults: RuleSet, override: PatientOverride | Mapping[str, Any]) -> RuleSet:
    """The patient's effective rules: ``defaults`` with the override's changes merged on top."""
    changes = override.changes if isinstance(override, PatientOverride) else dict(override)
    document = _merged(defaults.model_dump(mode="json"), changes)
    return _validated(document, "rule override")


def parse_ruleset(document: Mapping[str, Any]) -> RuleSet:
    """Validate an already-parsed rule document (e.g. from YAML or JSON)."""
    return _validated(document, "rule set")


def load_ruleset(path: Path | str = DEFAULTS_PATH) -> RuleSet:
    """Read and validate a YAML rule file: the only function here that does I/O."""
    import yaml  # imported here so that the pure modules never pull in a parser

    source = Path(path)
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise RuleSetError(f"{source}: not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise RuleSetError(f"{source}: expected a mapping at the top level")
    try:
        return parse_ruleset(document)
    except RuleSetError as error:
        raise RuleSetError(f"{source}: {error}") from None


@cache
def default_ruleset() -> RuleSet:
    return load_ruleset(DEFAULTS_PATH)


# -- compiling to arrays ----------------------------------------------------------------------

_SEVERITY = {"amber": int(Severity.AMBER), "red": int(Severity.RED)}


def _edge(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _threshold_fields(rule: ThresholdRule | None) -> dict[str, Any]:
    if rule is None:
        return {
            "enabled": False,
            "decimals": 0,
            "persistence": 1,
            "red_low": np.nan,
            "amber_low": np.nan,
            "amber_high": np.nan,
            "red_high": np.nan,
        }
    return {
        "enabled": rule.enabled,
        "decimals": rule.decimals,
        "persistence": rule.persistence,
        "red_low": _edge(rule.red.at_or_below),
        "amber_low": _edge(rule.amber.at_or_below),
        "amber_high": _edge(rule.amber.at_or_above),
        "red_high": _edge(rule.red.at_or_above),
    }


def _window_fields(rule: WeightGainWindowRule) -> dict[str, Any]:
    return {
        "enabled": rule.enabled,
        "window_s": rule.days * 86400,
        "gain_kg": rule.gain_kg,
        "severity": _SEVERITY[rule.severity],
    }


def _daily_fields(rule: WeightGainDailyRule) -> dict[str, Any]:
    return {
        "enabled": rule.enabled,
        "gain_kg": rule.gain_kg,
        "consecutive_days": rule.consecutive_days,
        "severity": _SEVERITY[rule.severity],
    }


def _baseline_fields(rule: BaselineRule | None) -> dict[str, Any]:
    if rule is None:
        return {
            "enabled": False,
            "window_s": 86400,
            "min_readings": 3,
            "amber_k": 1.0,
            "red_k": np.nan,
            "min_mad": 0.0,
            "direction": 0,
            "persistence": 1,
        }
    return {
        "enabled": rule.enabled,
        "window_s": rule.days * 86400,
        "min_readings": rule.min_readings,
        "amber_k": rule.amber_k,
        "red_k": _edge(rule.red_k),
        "min_mad": rule.min_mad,
        "direction": DIRECTION_CODES[rule.direction],
        "persistence": rule.persistence,
    }


def _schedule_fields(rule: ScheduleRule | None) -> dict[str, Any]:
    if rule is None:
        return {"enabled": False, "window_start_s": 0, "due_by_s": 1, "severity": int(Severity.AMBER)}
    return {
        "enabled": rule.enabled,
        "window_start_s": rule.window_start_s,
        "due_by_s": rule.due_by_s,
        "severity": _SEVERITY[rule.severity],
    }


def _hub_fields(rule: HubSilenceRule) -> dict[str, Any]:
    return {
        "enabled": rule.enabled,
        "max_silence_s": rule.max_silence_s,
        "severity": _SEVERITY[rule.severity],
    }


def _irregular_fields(rule: IrregularPulseRule) -> dict[str, Any]:
    return {
        "enabled": rule.enabled,
        "last_n": rule.last_n,
        "min_flagged": rule.min_flagged,
        "severity": _SEVERITY[rule.severity],
    }


_DTYPES: dict[str, type[np.generic]] = {
    "enabled": np.bool_,
    "decimals": np.int64,
    "persistence": np.int64,
    "window_s": np.int64,
    "min_readings": np.int64,
    "consecutive_days": np.int64,
    "direction": np.int8,
    "severity": np.int8,
    "window_start_s": np.int64,
    "due_by_s": np.int64,
    "max_silence_s": np.int64,
    "last_n": np.int64,
    "min_flagged": np.int64,
}


def _columns(
    per_patient: Sequence[dict[str, Any]], default: dict[str, Any], overridden: Sequence[int], n_patients: int
) -> dict[str, Any]:
    """Broadcast the default and write only the overridden patients, so that compiling a
    10,000-patient caseload with a handful of overrides costs a handful of assignments."""
    arrays: dict[str, Any] = {}
    for name, value in default.items():
        dtype = _DTYPES.get(name, np.float64)
        column = np.full(n_patients, value, dtype=dtype)
        for patient, fields in zip(overridden, per_patient, strict=True):
            column[patient] = fields[name]
        column.flags.writeable = False
        arrays[name] = column
    return arrays


def compile_rules(
    defaults: RuleSet, n_patients: int, overrides: Mapping[int, RuleSet] | None = None
) -> RuleTable:
    """Per-patient parameter arrays for the engine.

    ``overrides`` maps a patient index (0 ≤ index < n_patients) to that patient's *effective*
    rule set (``apply_override(defaults, stored_override)``). A measure or kind that only some
    patients' rules mention becomes a rule that is disabled for everybody else.
    """
    overrides = dict(overrides or {})
    if any(not 0 <= patient < n_patients for patient in overrides):
        raise ValueError(f"override patient indices must be in [0, {n_patients})")
    patients = sorted(overrides)
    effective = [overrides[patient] for patient in patients]
    everyone = [defaults, *effective]

    def ordered(keys: set[Any], order: Sequence[Any]) -> list[Any]:
        return [key for key in order if key in keys]

    threshold_measures = ordered({m for rs in everyone for m in rs.thresholds}, list(Measure))
    baseline_measures = ordered({m for rs in everyone for m in rs.baselines}, list(Measure))
    schedule_kinds = ordered({k for rs in everyone for k in rs.missed_readings}, list(ReadingKind))

    thresholds = tuple(
        ThresholdParams(
            measure=measure,
            **_columns(
                [_threshold_fields(rs.thresholds.get(measure)) for rs in effective],
                _threshold_fields(defaults.thresholds.get(measure)),
                patients,
                n_patients,
            ),
        )
        for measure in threshold_measures
    )
    baselines = tuple(
        BaselineParams(
            measure=measure,
            **_columns(
                [_baseline_fields(rs.baselines.get(measure)) for rs in effective],
                _baseline_fields(defaults.baselines.get(measure)),
                patients,
                n_patients,
            ),
        )
        for measure in baseline_measures
    )
    schedules = tuple(
        ScheduleParams(
            kind=kind,
            **_columns(
                [_schedule_fields(rs.missed_readings.get(kind)) for rs in effective],
                _schedule_fields(defaults.missed_readings.get(kind)),
                patients,
                n_patients,
            ),
        )
        for kind in schedule_kinds
    )
    return RuleTable(
        n_patients=n_patients,
        thresholds=thresholds,
        weight_gain_window=WeightGainWindowParams(
            **_columns(
                [_window_fields(rs.weight_gain.window) for rs in effective],
                _window_fields(defaults.weight_gain.window),
                patients,
                n_patients,
            )
        ),
        weight_gain_daily=WeightGainDailyParams(
            **_columns(
                [_daily_fields(rs.weight_gain.daily) for rs in effective],
                _daily_fields(defaults.weight_gain.daily),
                patients,
                n_patients,
            )
        ),
        baselines=baselines,
        schedules=schedules,
        hub_silence=HubSilenceParams(
            **_columns(
                [_hub_fields(rs.hub_silence) for rs in effective],
                _hub_fields(defaults.hub_silence),
                patients,
                n_patients,
            )
        ),
        irregular_pulse=IrregularPulseParams(
            **_columns(
                [_irregular_fields(rs.irregular_pulse) for rs in effective],
                _irregular_fields(defaults.irregular_pulse),
                patients,
                n_patients,
            )
        ),
    )
