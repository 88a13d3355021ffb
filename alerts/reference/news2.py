"""NEWS2 for one reading, transcribed line by line from RCP chart 1, as the oracle for ``alerts.news2``.

It shares nothing with the vectorised module (no tables, no enum, no NumPy) so that the
property tests compare two independent readings of the chart. The decisions are the same and
are explained in ``alerts.news2``: values are rounded to the chart's recording precision (whole
numbers; tenths of a degree for temperature) with ``decimal.ROUND_HALF_UP`` applied to the
decimal the value was written as (``repr``), None or NaN means not measured, infinities are
scored like any other out-of-range value, unknown oxygen counts as air on SpO2 scale 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

WHOLE = Decimal("1")
TENTH = Decimal("0.1")

ALERT_WORDS = ("A", "ALERT")
NOT_ALERT_WORDS = (
    "C",
    "V",
    "P",
    "U",
    "CONFUSION",
    "CONFUSED",
    "NEW CONFUSION",
    "VOICE",
    "PAIN",
    "UNRESPONSIVE",
)


@dataclass(frozen=True)
class ReferenceResult:
    """Sub-scores keyed by parameter name; None marks a parameter that was not measured."""

    subscores: dict[str, int | None]
    total: int
    any_single_3: bool
    response: str  # the name of the band: ZERO, LOW, LOW_MEDIUM, MEDIUM or HIGH


def as_recorded(value: float | None, quantum: Decimal) -> Decimal | None:
    """The value as a nurse would write it on the chart, or None when nothing was measured."""
    if value is None:
        return None
    value = float(value)  # repr of a NumPy scalar is not a number
    if math.isnan(value):
        return None
    if math.isinf(value):
        return Decimal(value)  # quantize refuses infinities; they need no rounding anyway
    with localcontext() as context:
        context.prec = 1000  # enough digits to quantize even 1e308 without InvalidOperation
        return Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP)


def respiration_rate_points(rate: Decimal) -> int:
    if rate <= 8:
        return 3
    if rate <= 11:
        return 1
    if rate <= 20:
        return 0
    if rate <= 24:
        return 2
    return 3


def spo2_scale_1_points(saturation: Decimal) -> int:
    if saturation <= 91:
        return 3
    if saturation <= 93:
        return 2
    if saturation <= 95:
        return 1
    return 0


def spo2_scale_2_points(saturation: Decimal, on_oxygen: bool) -> int:
    if saturation <= 83:
        return 3
    if saturation <= 85:
        return 2
    if saturation <= 87:
        return 1
    if saturation <= 92:
        return 0
    if not on_oxygen:
        return 0
    if saturation <= 94:
        return 1
    if saturation <= 96:
        return 2
    return 3


def systolic_points(pressure: Decimal) -> int:
    if pressure <= 90:
        return 3
    if pressure <= 100:
        return 2
    if pressure <= 110:
        return 1
    if pressure <= 219:
        return 0
    return 3


def pulse_points(rate: Decimal) -> int:
    if rate <= 40:
        return 3
    if rate <= 50:
        return 1
    if rate <= 90:
        return 0
    if rate <= 110:
        return 1
    if rate <= 130:
        return 2
    return 3


def temperature_points(temperature: Decimal) -> int:
    if temperature <= Decimal("35.0"):
        return 3
    if temperature <= Decimal("36.0"):
        return 1
    if temperature <= Decimal("38.0"):
        return 0
    if temperature <= Decimal("39.0"):
        return 1
    return 2


def consciousness_points(level: str | float | None) -> int | None:
    if level is None:
        return None
    if isinstance(level, float):
        if math.isnan(level):
            return None
        raise ValueError(f"not a consciousness level: {level!r}")
    words = " ".join(level.upper().split())
    if words == "":
        return None
    if words in ALERT_WORDS:
        return 0
    if words in NOT_ALERT_WORDS:
        return 3
    raise ValueError(f"not a consciousness level: {level!r}")


def oxygen_known(on_oxygen: bool | float | None) -> bool | None:
    if on_oxygen is None:
        return None
    if isinstance(on_oxygen, float) and math.isnan(on_oxygen):
        return None
    if on_oxygen in (True, 1):
        return True
    if on_oxygen in (False, 0):
        return False
    raise ValueError(f"not an oxygen flag: {on_oxygen!r}")


def score_reading(
    *,
    respiration_rate: float | None = None,
    spo2: float | None = None,
    spo2_scale: int = 1,
    on_oxygen: bool | float | None = None,
    systolic: float | None = None,
    pulse: float | None = None,
    consciousness: str | float | None = None,
    temperature: float | None = None,
) -> ReferenceResult:
    """Score one reading; every argument is a single value."""
    if spo2_scale not in (1, 2) or isinstance(spo2_scale, bool):
        raise ValueError(f"spo2_scale must be 1 or 2, not {spo2_scale!r}")
    oxygen = oxygen_known(on_oxygen)
    subscores: dict[str, int | None] = {}

    rate = as_recorded(respiration_rate, WHOLE)
    subscores["respiration_rate"] = None if rate is None else respiration_rate_points(rate)

    saturation = as_recorded(spo2, WHOLE)
    if saturation is None:
        subscores["spo2"] = None
    elif spo2_scale == 1:
        subscores["spo2"] = spo2_scale_1_points(saturation)
    else:
        subscores["spo2"] = spo2_scale_2_points(saturation, on_oxygen=oxygen is True)

    if oxygen is None:
        subscores["air_or_oxygen"] = None
    elif oxygen:
        subscores["air_or_oxygen"] = 2
    else:
        subscores["air_or_oxygen"] = 0

    pressure = as_recorded(systolic, WHOLE)
    subscores["systolic"] = None if pressure is None else systolic_points(pressure)

    heart_rate = as_recorded(pulse, WHOLE)
    subscores["pulse"] = None if heart_rate is None else pulse_points(heart_rate)

    subscores["consciousness"] = consciousness_points(consciousness)

    degrees = as_recorded(temperature, TENTH)
    subscores["temperature"] = None if degrees is None else temperature_points(degrees)

    total = 0
    any_single_3 = False
    for points in subscores.values():
        if points is not None:
            total += points
            if points == 3:
                any_single_3 = True

    if total == 0:
        response = "ZERO"
    elif total >= 7:
        response = "HIGH"
    elif total >= 5:
        response = "MEDIUM"
    elif any_single_3:
        response = "LOW_MEDIUM"
    else:
        response = "LOW"
    return ReferenceResult(subscores, total, any_single_3, response)
