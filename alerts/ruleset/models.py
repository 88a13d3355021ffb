"""What a valid rule set is: the pydantic models of ``defaults.yaml`` and of a patient's
override, each checking its own consistency.

An override is merged on top of the defaults and the *result* is validated as a whole
(:mod:`alerts.ruleset.loading`), so an override cannot leave a rule inconsistent (an amber
edge beyond its red edge) and a typo in a key is an error, not a silently ignored setting.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.wire.vocabulary import Measure, ReadingKind

__all__ = [
    "MAX_CONSECUTIVE_DAYS",
    "MAX_LAST_N",
    "MAX_PERSISTENCE",
    "AlertSeverity",
    "AverageRule",
    "Band",
    "BaselineRule",
    "HubSilenceRule",
    "IrregularPulseRule",
    "News2Rule",
    "PatientOverride",
    "QualityRule",
    "RuleSet",
    "RuleSetError",
    "ScheduleRule",
    "ThresholdRule",
    "WeightGainDailyRule",
    "WeightGainRules",
    "WeightGainWindowRule",
]

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
    week: WeightGainWindowRule
    daily: WeightGainDailyRule


class AverageRule(_Model):
    """Bands on the average of the readings over the last ``days`` (NICE NG136 judges home
    BP on the average of several days' readings, not on one reading)."""

    source: str = ""
    enabled: bool = True
    decimals: int = Field(ge=0, le=2)
    days: int = Field(ge=1, le=30)
    min_readings: int = Field(ge=1, le=100)
    red: Band = Band()
    amber: Band = Band()

    @model_validator(mode="after")
    def _edges_consistent(self) -> Self:
        ThresholdRule(decimals=self.decimals, red=self.red, amber=self.amber)
        return self


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
    #: A deviation of at least this many units always counts as amber, however noisy the
    #: patient: the clinical change guidance names (BTS: a 3 % fall in saturation).
    clinical_change: float | None = Field(default=None, gt=0, le=1000)

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
    #: Consecutive scheduled days without a reading before the team is alerted (the hub
    #: reminds the patient on the first; see gateway/feedback).
    days: int = Field(default=1, ge=1, le=MAX_CONSECUTIVE_DAYS)
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


class QualityRule(_Model):
    """What an unconfirmed (quality-flagged) reading needs before it raises, and when the hub
    should ask the patient to take the reading again."""

    source: str = ""
    enabled: bool = True  # off: flagged readings are judged like clean ones, and no retakes
    confirm_within_hours: float = Field(gt=0, le=24 * 7)
    retake_after_minutes: int = Field(ge=1, le=120)
    retake_out_of_range: bool = True

    @property
    def confirm_within_s(self) -> int:
        return round(self.confirm_within_hours * 3600)


class News2Rule(_Model):
    """NEWS2 on what is measured at home; see ``alerts.rules.news2_home``."""

    source: str = ""
    enabled: bool = True
    window_minutes: int = Field(ge=1, le=24 * 60)
    spo2_scale: Literal[1, 2] = 1
    min_parameters: int = Field(ge=1, le=5)
    amber_at: int = Field(ge=1, le=20)
    red_at: int | None = Field(default=None, ge=1, le=20)
    single_parameter_3: AlertSeverity | None = None

    @model_validator(mode="after")
    def _red_above_amber(self) -> Self:
        if self.red_at is not None and self.red_at <= self.amber_at:
            raise ValueError(f"red_at ({self.red_at}) must be greater than amber_at ({self.amber_at})")
        return self


class RuleSet(_Model):
    version: Literal[1]
    thresholds: dict[Measure, ThresholdRule] = {}
    weight_gain: WeightGainRules
    baselines: dict[Measure, BaselineRule] = {}
    averages: dict[Measure, AverageRule] = {}
    missed_readings: dict[ReadingKind, ScheduleRule] = {}
    hub_silence: HubSilenceRule
    irregular_pulse: IrregularPulseRule
    news2: News2Rule
    quality: QualityRule


class PatientOverride(_Model):
    """One patient's rule changes, as the server stores them (``model_dump_json``).

    ``changes`` is a partial rule set of the same shape as ``defaults.yaml``: only the keys
    given change; an explicit ``null`` removes an edge (``{"red": {"at_or_above": null}}``).
    """

    changes: dict[str, Any] = {}
    reason: str = ""
    set_by: str | None = None
