"""Validated rule sets into the per-patient parameter arrays of the engine's ``RuleTable``.

The engine reads one column per parameter, one entry per patient: the defaults broadcast,
and only the patients with an override written over them, so a personal rule costs nothing
at evaluation time and little at compile time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from alerts.rules.table import (
    DIRECTION_CODES,
    AverageParams,
    BaselineParams,
    HubSilenceParams,
    IrregularPulseParams,
    News2Params,
    QualityParams,
    RuleTable,
    ScheduleParams,
    ThresholdParams,
    WeightGainDailyParams,
    WeightGainWindowParams,
)
from alerts.ruleset.models import (
    AverageRule,
    BaselineRule,
    HubSilenceRule,
    IrregularPulseRule,
    News2Rule,
    QualityRule,
    RuleSet,
    ScheduleRule,
    ThresholdRule,
    WeightGainDailyRule,
    WeightGainWindowRule,
)
from alerts.severity import Severity
from common.wire.vocabulary import Measure, ReadingKind

__all__ = ["compile_rules"]

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
            "clinical_change": np.nan,
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
        "clinical_change": _edge(rule.clinical_change),
    }


def _average_fields(rule: AverageRule | None) -> dict[str, Any]:
    if rule is None:
        return {
            "enabled": False,
            "decimals": 0,
            "window_s": 86400,
            "min_readings": 1,
            "red_low": np.nan,
            "amber_low": np.nan,
            "amber_high": np.nan,
            "red_high": np.nan,
        }
    return {
        "enabled": rule.enabled,
        "decimals": rule.decimals,
        "window_s": rule.days * 86400,
        "min_readings": rule.min_readings,
        "red_low": _edge(rule.red.at_or_below),
        "amber_low": _edge(rule.amber.at_or_below),
        "amber_high": _edge(rule.amber.at_or_above),
        "red_high": _edge(rule.red.at_or_above),
    }


def _schedule_fields(rule: ScheduleRule | None) -> dict[str, Any]:
    if rule is None:
        return {
            "enabled": False,
            "window_start_s": 0,
            "due_by_s": 1,
            "days": 1,
            "severity": int(Severity.AMBER),
        }
    return {
        "enabled": rule.enabled,
        "window_start_s": rule.window_start_s,
        "due_by_s": rule.due_by_s,
        "days": rule.days,
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


def _news2_fields(rule: News2Rule) -> dict[str, Any]:
    return {
        "enabled": rule.enabled,
        "window_s": rule.window_minutes * 60,
        "scale_2": rule.spo2_scale == 2,
        "min_parameters": rule.min_parameters,
        "amber_at": float(rule.amber_at),
        "red_at": _edge(rule.red_at),
        "single_3": 0 if rule.single_parameter_3 is None else _SEVERITY[rule.single_parameter_3],
    }


def _quality_fields(rule: QualityRule) -> dict[str, Any]:
    return {
        "enabled": rule.enabled,
        "confirm_s": rule.confirm_within_s,
        "retake_after_s": rule.retake_after_minutes * 60,
        "retake_out_of_range": rule.retake_out_of_range,
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
    "scale_2": np.bool_,
    "days": np.int64,
    "min_parameters": np.int64,
    "single_3": np.int8,
    "confirm_s": np.int64,
    "retake_after_s": np.int64,
    "retake_out_of_range": np.bool_,
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

    def columns(
        fields: Callable[[Any], dict[str, Any]], pick: Callable[[RuleSet], Any], key: Any = None
    ) -> dict[str, Any]:
        """One rule's parameter columns: ``fields`` of what ``pick`` finds in each rule set
        (its entry for ``key``, for the rules kept per measure or kind; None where absent)."""

        def rule(rs: RuleSet) -> Any:
            found = pick(rs)
            return found if key is None else found.get(key)

        return _columns([fields(rule(rs)) for rs in effective], fields(rule(defaults)), patients, n_patients)

    threshold_measures = ordered({m for rs in everyone for m in rs.thresholds}, list(Measure))
    baseline_measures = ordered({m for rs in everyone for m in rs.baselines}, list(Measure))
    average_measures = ordered({m for rs in everyone for m in rs.averages}, list(Measure))
    schedule_kinds = ordered({k for rs in everyone for k in rs.missed_readings}, list(ReadingKind))
    return RuleTable(
        n_patients=n_patients,
        thresholds=tuple(
            ThresholdParams(measure=m, **columns(_threshold_fields, lambda rs: rs.thresholds, m))
            for m in threshold_measures
        ),
        weight_gain_window=WeightGainWindowParams(
            **columns(_window_fields, lambda rs: rs.weight_gain.window)
        ),
        weight_gain_week=WeightGainWindowParams(**columns(_window_fields, lambda rs: rs.weight_gain.week)),
        weight_gain_daily=WeightGainDailyParams(**columns(_daily_fields, lambda rs: rs.weight_gain.daily)),
        baselines=tuple(
            BaselineParams(measure=m, **columns(_baseline_fields, lambda rs: rs.baselines, m))
            for m in baseline_measures
        ),
        averages=tuple(
            AverageParams(measure=m, **columns(_average_fields, lambda rs: rs.averages, m))
            for m in average_measures
        ),
        schedules=tuple(
            ScheduleParams(kind=k, **columns(_schedule_fields, lambda rs: rs.missed_readings, k))
            for k in schedule_kinds
        ),
        hub_silence=HubSilenceParams(**columns(_hub_fields, lambda rs: rs.hub_silence)),
        irregular_pulse=IrregularPulseParams(**columns(_irregular_fields, lambda rs: rs.irregular_pulse)),
        news2=News2Params(**columns(_news2_fields, lambda rs: rs.news2)),
        quality=QualityParams(**columns(_quality_fields, lambda rs: rs.quality)),
    )
