"""Per-patient rule parameters as NumPy columns: what the engine reads instead of rule objects.

Every parameter is an array indexed by patient, so a rule looks its parameters up for a
whole batch with one fancy index (``params.gain_kg[patient_of_row]``) and a per-patient
override costs nothing at evaluation time. Built by
``alerts.ruleset.compiling.compile_rules``; kept free of pydantic so that the engine's
import graph stays NumPy-only.

Conventions: an absent band edge or absent red multiplier is NaN (every comparison with
NaN is False, so an absent edge never fires); times and durations are whole seconds;
severities are ``alerts.severity.Severity`` values as int8.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt

from common.wire.vocabulary import Measure, ReadingKind

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Int8Array = npt.NDArray[np.int8]
FloatArray = npt.NDArray[np.float64]

#: Baseline direction codes: which side of the baseline counts as a deviation.
DIRECTION_CODES: Final[Mapping[str, int]] = MappingProxyType({"both": 0, "up": 1, "down": -1})

WEIGHT_GAIN_WINDOW_ID: Final = "trend.weight_gain"
WEIGHT_GAIN_DAILY_ID: Final = "trend.weight_gain_daily"
WEIGHT_GAIN_WEEK_ID: Final = "trend.weight_gain_week"
HUB_SILENCE_ID: Final = "hub.silent"
IRREGULAR_PULSE_ID: Final = "device.irregular_pulse"
NEWS2_ID: Final = "news2.home"
RETAKE_ID: Final = "quality.retake"


def threshold_rule_id(measure: Measure) -> str:
    return f"threshold.{measure.value}"


def baseline_rule_id(measure: Measure) -> str:
    return f"baseline.{measure.value}"


def average_rule_id(measure: Measure) -> str:
    return f"average.{measure.value}"


def missed_rule_id(kind: ReadingKind) -> str:
    return f"missed.{kind.value}"


@dataclass(frozen=True, slots=True)
class ThresholdParams:
    measure: Measure
    enabled: BoolArray
    decimals: IntArray
    persistence: IntArray
    red_low: FloatArray
    amber_low: FloatArray
    amber_high: FloatArray
    red_high: FloatArray

    @property
    def rule_id(self) -> str:
        return threshold_rule_id(self.measure)


@dataclass(frozen=True, slots=True)
class WeightGainWindowParams:
    enabled: BoolArray
    window_s: IntArray
    gain_kg: FloatArray
    severity: Int8Array


@dataclass(frozen=True, slots=True)
class WeightGainDailyParams:
    enabled: BoolArray
    gain_kg: FloatArray
    consecutive_days: IntArray
    severity: Int8Array


@dataclass(frozen=True, slots=True)
class BaselineParams:
    measure: Measure
    enabled: BoolArray
    window_s: IntArray
    min_readings: IntArray
    amber_k: FloatArray
    red_k: FloatArray
    min_mad: FloatArray
    direction: Int8Array
    persistence: IntArray
    clinical_change: FloatArray  # NaN: none

    @property
    def rule_id(self) -> str:
        return baseline_rule_id(self.measure)


@dataclass(frozen=True, slots=True)
class AverageParams:
    measure: Measure
    enabled: BoolArray
    decimals: IntArray
    window_s: IntArray
    min_readings: IntArray
    red_low: FloatArray
    amber_low: FloatArray
    amber_high: FloatArray
    red_high: FloatArray

    @property
    def rule_id(self) -> str:
        return average_rule_id(self.measure)


@dataclass(frozen=True, slots=True)
class ScheduleParams:
    kind: ReadingKind
    enabled: BoolArray
    window_start_s: IntArray
    due_by_s: IntArray
    days: IntArray
    severity: Int8Array

    @property
    def rule_id(self) -> str:
        return missed_rule_id(self.kind)


@dataclass(frozen=True, slots=True)
class HubSilenceParams:
    enabled: BoolArray
    max_silence_s: IntArray
    severity: Int8Array


@dataclass(frozen=True, slots=True)
class IrregularPulseParams:
    enabled: BoolArray
    last_n: IntArray
    min_flagged: IntArray
    severity: Int8Array


@dataclass(frozen=True, slots=True)
class News2Params:
    enabled: BoolArray
    window_s: IntArray
    scale_2: BoolArray
    min_parameters: IntArray
    amber_at: FloatArray
    red_at: FloatArray  # NaN: no red band
    single_3: Int8Array  # severity a single parameter scoring 3 raises, 0 for none


@dataclass(frozen=True, slots=True)
class QualityParams:
    enabled: BoolArray
    confirm_s: IntArray
    retake_after_s: IntArray
    retake_out_of_range: BoolArray


@dataclass(frozen=True, slots=True)
class RuleTable:
    n_patients: int
    thresholds: tuple[ThresholdParams, ...]
    weight_gain_window: WeightGainWindowParams
    weight_gain_week: WeightGainWindowParams
    weight_gain_daily: WeightGainDailyParams
    baselines: tuple[BaselineParams, ...]
    averages: tuple[AverageParams, ...]
    schedules: tuple[ScheduleParams, ...]
    hub_silence: HubSilenceParams
    irregular_pulse: IrregularPulseParams
    news2: News2Params
    quality: QualityParams

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """Every rule's id, in the order findings are reported within a patient."""
        return (
            *(params.rule_id for params in self.thresholds),
            WEIGHT_GAIN_WINDOW_ID,
            WEIGHT_GAIN_WEEK_ID,
            WEIGHT_GAIN_DAILY_ID,
            *(params.rule_id for params in self.baselines),
            *(params.rule_id for params in self.averages),
            *(params.rule_id for params in self.schedules),
            HUB_SILENCE_ID,
            IRREGULAR_PULSE_ID,
            NEWS2_ID,
            RETAKE_ID,
        )
