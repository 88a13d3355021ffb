"""Weight Scale service (Weight Measurement 0x2A9D, Weight Scale Feature 0x2A9E) and Body Composition
Measurement 0x2A9C.

Everything is returned in kg and m whatever the scale displays, because clinical rules (weight-gain alerts
in heart failure) are written in kg. Imperial values are converted exactly (1 lb = 0.45359237 kg,
1 in = 0.0254 m) and rounded to 3 decimals for kg and 4 for m: finer than the scale's resolution, so
rounding only removes float noise. The transmitted unit system is kept in ``unit_system``.

0xFFFF in the weight or body-fat field is the spec's "measurement unsuccessful" and decodes to ``None``.
RFU flag bits are ignored; trailing bytes are an error (see ``_reader``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from gateway.gatt._reader import Reader
from gateway.gatt.date_time import GattDateTime, encode_date_time
from gateway.gatt.errors import DecodeError

__all__ = [
    "KG_PER_LB",
    "MEASUREMENT_UNSUCCESSFUL",
    "M_PER_INCH",
    "BodyComposition",
    "UnitSystem",
    "WeightMeasurement",
    "WeightScaleFeature",
    "decode_body_composition",
    "decode_weight_measurement",
    "decode_weight_scale_feature",
    "encode_body_composition",
    "encode_weight_measurement",
    "encode_weight_scale_feature",
]

KG_PER_LB: Final = 0.45359237
M_PER_INCH: Final = 0.0254
MEASUREMENT_UNSUCCESSFUL: Final = 0xFFFF

WEIGHT_FLAG_IMPERIAL: Final = 0x01
WEIGHT_FLAG_TIMESTAMP: Final = 0x02
WEIGHT_FLAG_USER_ID: Final = 0x04
WEIGHT_FLAG_BMI_HEIGHT: Final = 0x08


class UnitSystem(StrEnum):
    SI = "SI"
    IMPERIAL = "imperial"


def _mass_kg(raw: int, imperial: bool) -> float:
    return round(raw * 0.01 * KG_PER_LB, 3) if imperial else round(raw * 0.005, 3)


def _height_m(raw: int, imperial: bool) -> float:
    return round(raw * 0.1 * M_PER_INCH, 4) if imperial else round(raw * 0.001, 4)


def _user_id(raw: int) -> int | None:
    return None if raw == 0xFF else raw


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """One weighing. ``weight_kg`` is ``None`` when the scale reports the measurement unsuccessful."""

    weight_kg: float | None
    unit_system: UnitSystem
    timestamp: GattDateTime | None = None
    user_id: int | None = None  # None when absent or 0xFF "unknown user"
    bmi: float | None = None
    height_m: float | None = None

    @property
    def weight_lb(self) -> float | None:
        """Weight in pounds, rounded to the 0.01 lb resolution imperial scales send."""
        return None if self.weight_kg is None else round(self.weight_kg / KG_PER_LB, 2)

    @property
    def measured_at(self) -> datetime | None:
        return self.timestamp.value if self.timestamp is not None else None


def decode_weight_measurement(data: bytes) -> WeightMeasurement:
    """Weight Measurement 0x2A9D; flag bits 4–7 RFU."""
    reader = Reader(data, "0x2A9D", 3)
    flags = reader.u8("flags")
    imperial = bool(flags & WEIGHT_FLAG_IMPERIAL)
    raw_weight = reader.u16("weight")
    weight = None if raw_weight == MEASUREMENT_UNSUCCESSFUL else _mass_kg(raw_weight, imperial)
    timestamp = reader.date_time() if flags & WEIGHT_FLAG_TIMESTAMP else None
    user_id = _user_id(reader.u8("user id", flagged=True)) if flags & WEIGHT_FLAG_USER_ID else None
    bmi = height = None
    if flags & WEIGHT_FLAG_BMI_HEIGHT:
        bmi = round(reader.u16("BMI", flagged=True) * 0.1, 1)
        height = _height_m(reader.u16("height", flagged=True), imperial)
    reader.finish()
    return WeightMeasurement(
        weight, UnitSystem.IMPERIAL if imperial else UnitSystem.SI, timestamp, user_id, bmi, height
    )


def _raw_units(value: float, resolution: float, what: str) -> int:
    raw = round(value / resolution)
    if not 0 <= raw < 0xFFFF:
        raise ValueError(f"{what} {value} does not fit a u16 at resolution {resolution}")
    return raw


def encode_weight_measurement(
    weight: float | None,
    *,
    unit_system: UnitSystem = UnitSystem.SI,
    timestamp: datetime | GattDateTime | None = None,
    user_id: int | None = None,
    bmi: float | None = None,
    height: float | None = None,
) -> bytes:
    """Spec bytes for an emulated scale; ``weight`` in kg (SI) or lb (imperial), ``height`` in m or in.

    ``None`` weight encodes "measurement unsuccessful". BMI and height share one flag, so both or neither.
    """
    imperial = unit_system is UnitSystem.IMPERIAL
    flags = WEIGHT_FLAG_IMPERIAL if imperial else 0
    raw_weight = (
        MEASUREMENT_UNSUCCESSFUL
        if weight is None
        else _raw_units(weight, 0.01 if imperial else 0.005, "weight")
    )
    body = raw_weight.to_bytes(2, "little")
    if timestamp is not None:
        flags |= WEIGHT_FLAG_TIMESTAMP
        body += encode_date_time(timestamp)
    if user_id is not None:
        if not 0 <= user_id <= 0xFF:
            raise ValueError(f"user id out of range: {user_id}")
        flags |= WEIGHT_FLAG_USER_ID
        body += bytes((user_id,))
    if (bmi is None) != (height is None):
        raise ValueError("BMI and height are sent together: give both or neither")
    if bmi is not None and height is not None:
        flags |= WEIGHT_FLAG_BMI_HEIGHT
        body += _raw_units(bmi, 0.1, "BMI").to_bytes(2, "little")
        body += _raw_units(height, 0.1 if imperial else 0.001, "height").to_bytes(2, "little")
    return bytes((flags,)) + body


# Resolution codes of the Weight Scale Feature: (kg, lb) per weight code, (m, in) per height code.
WEIGHT_RESOLUTIONS: Final[dict[int, tuple[float, float]]] = {
    1: (0.5, 1.0),
    2: (0.2, 0.5),
    3: (0.1, 0.2),
    4: (0.05, 0.1),
    5: (0.02, 0.05),
    6: (0.01, 0.02),
    7: (0.005, 0.01),
}
HEIGHT_RESOLUTIONS: Final[dict[int, tuple[float, float]]] = {1: (0.01, 1.0), 2: (0.005, 0.5), 3: (0.001, 0.1)}


@dataclass(frozen=True, slots=True)
class WeightScaleFeature:
    """Scale capabilities. Resolutions are ``None`` when the scale does not specify them (code 0)."""

    timestamp_supported: bool
    multiple_users_supported: bool
    bmi_supported: bool
    weight_resolution_code: int
    height_resolution_code: int
    raw: int

    @property
    def weight_resolution_kg(self) -> float | None:
        entry = WEIGHT_RESOLUTIONS.get(self.weight_resolution_code)
        return entry[0] if entry else None

    @property
    def weight_resolution_lb(self) -> float | None:
        entry = WEIGHT_RESOLUTIONS.get(self.weight_resolution_code)
        return entry[1] if entry else None

    @property
    def height_resolution_m(self) -> float | None:
        entry = HEIGHT_RESOLUTIONS.get(self.height_resolution_code)
        return entry[0] if entry else None

    @property
    def height_resolution_in(self) -> float | None:
        entry = HEIGHT_RESOLUTIONS.get(self.height_resolution_code)
        return entry[1] if entry else None


def decode_weight_scale_feature(data: bytes) -> WeightScaleFeature:
    """Weight Scale Feature 0x2A9E (exactly 4 bytes); reserved resolution codes are errors, bits 10–31 RFU."""
    if len(data) != 4:
        raise DecodeError(f"0x2A9E: expected 4 bytes, got {len(data)}")
    raw = int.from_bytes(data, "little")
    weight_code = (raw >> 3) & 0x0F
    height_code = (raw >> 7) & 0x07
    if weight_code > 7:
        raise DecodeError(f"0x2A9E: reserved weight resolution code {weight_code}")
    if height_code > 3:
        raise DecodeError(f"0x2A9E: reserved height resolution code {height_code}")
    return WeightScaleFeature(bool(raw & 1), bool(raw & 2), bool(raw & 4), weight_code, height_code, raw)


def encode_weight_scale_feature(
    *,
    timestamp_supported: bool = False,
    multiple_users_supported: bool = False,
    bmi_supported: bool = False,
    weight_resolution_code: int = 0,
    height_resolution_code: int = 0,
) -> bytes:
    if not 0 <= weight_resolution_code <= 7 or not 0 <= height_resolution_code <= 3:
        raise ValueError("resolution code out of range")
    raw = (
        timestamp_supported
        | multiple_users_supported << 1
        | bmi_supported << 2
        | weight_resolution_code << 3
        | height_resolution_code << 7
    )
    return raw.to_bytes(4, "little")


BC_FLAG_IMPERIAL: Final = 0x0001
BC_FLAG_TIMESTAMP: Final = 0x0002
BC_FLAG_USER_ID: Final = 0x0004
BC_FLAG_BASAL_METABOLISM: Final = 0x0008
BC_FLAG_MUSCLE_PERCENTAGE: Final = 0x0010
BC_FLAG_MUSCLE_MASS: Final = 0x0020
BC_FLAG_FAT_FREE_MASS: Final = 0x0040
BC_FLAG_SOFT_LEAN_MASS: Final = 0x0080
BC_FLAG_BODY_WATER_MASS: Final = 0x0100
BC_FLAG_IMPEDANCE: Final = 0x0200
BC_FLAG_WEIGHT: Final = 0x0400
BC_FLAG_HEIGHT: Final = 0x0800
BC_FLAG_MULTIPLE_PACKET: Final = 0x1000


@dataclass(frozen=True, slots=True)
class BodyComposition:
    """Body Composition Measurement; every optional field is ``None`` when its flag is clear.

    ``multiple_packet`` means the scale split one measurement over several indications: the hub must
    merge them, this pure decoder only reports what this packet holds.
    """

    body_fat_percent: float | None
    unit_system: UnitSystem
    timestamp: GattDateTime | None = None
    user_id: int | None = None
    basal_metabolism_kj: int | None = None
    muscle_percent: float | None = None
    muscle_mass_kg: float | None = None
    fat_free_mass_kg: float | None = None
    soft_lean_mass_kg: float | None = None
    body_water_mass_kg: float | None = None
    impedance_ohm: float | None = None
    weight_kg: float | None = None
    height_m: float | None = None
    multiple_packet: bool = False

    @property
    def measurement_unsuccessful(self) -> bool:
        return self.body_fat_percent is None

    @property
    def measured_at(self) -> datetime | None:
        return self.timestamp.value if self.timestamp is not None else None


def decode_body_composition(data: bytes) -> BodyComposition:
    """Body Composition Measurement 0x2A9C; fields follow in flag-bit order, flag bits 13–15 RFU."""
    reader = Reader(data, "0x2A9C", 4)
    flags = reader.u16("flags")
    imperial = bool(flags & BC_FLAG_IMPERIAL)
    raw_fat = reader.u16("body fat percentage")
    body_fat = None if raw_fat == MEASUREMENT_UNSUCCESSFUL else round(raw_fat * 0.1, 1)
    timestamp = reader.date_time() if flags & BC_FLAG_TIMESTAMP else None
    user_id = _user_id(reader.u8("user id", flagged=True)) if flags & BC_FLAG_USER_ID else None

    def mass(flag: int, what: str) -> float | None:
        return _mass_kg(reader.u16(what, flagged=True), imperial) if flags & flag else None

    basal = reader.u16("basal metabolism", flagged=True) if flags & BC_FLAG_BASAL_METABOLISM else None
    muscle_pct = None
    if flags & BC_FLAG_MUSCLE_PERCENTAGE:
        muscle_pct = round(reader.u16("muscle percentage", flagged=True) * 0.1, 1)
    muscle_mass = mass(BC_FLAG_MUSCLE_MASS, "muscle mass")
    fat_free = mass(BC_FLAG_FAT_FREE_MASS, "fat free mass")
    soft_lean = mass(BC_FLAG_SOFT_LEAN_MASS, "soft lean mass")
    water = mass(BC_FLAG_BODY_WATER_MASS, "body water mass")
    impedance = None
    if flags & BC_FLAG_IMPEDANCE:
        impedance = round(reader.u16("impedance", flagged=True) * 0.1, 1)
    weight = mass(BC_FLAG_WEIGHT, "weight")
    height = _height_m(reader.u16("height", flagged=True), imperial) if flags & BC_FLAG_HEIGHT else None
    reader.finish()
    return BodyComposition(
        body_fat,
        UnitSystem.IMPERIAL if imperial else UnitSystem.SI,
        timestamp,
        user_id,
        basal,
        muscle_pct,
        muscle_mass,
        fat_free,
        soft_lean,
        water,
        impedance,
        weight,
        height,
        bool(flags & BC_FLAG_MULTIPLE_PACKET),
    )


def encode_body_composition(
    body_fat_percent: float | None,
    *,
    unit_system: UnitSystem = UnitSystem.SI,
    timestamp: datetime | GattDateTime | None = None,
    user_id: int | None = None,
    basal_metabolism_kj: int | None = None,
    muscle_percent: float | None = None,
    muscle_mass: float | None = None,
    fat_free_mass: float | None = None,
    soft_lean_mass: float | None = None,
    body_water_mass: float | None = None,
    impedance_ohm: float | None = None,
    weight: float | None = None,
    height: float | None = None,
    multiple_packet: bool = False,
) -> bytes:
    """Spec bytes for an emulated scale; masses in kg or lb and height in m or in, per ``unit_system``."""
    imperial = unit_system is UnitSystem.IMPERIAL
    mass_res = 0.01 if imperial else 0.005
    flags = (BC_FLAG_IMPERIAL if imperial else 0) | (BC_FLAG_MULTIPLE_PACKET if multiple_packet else 0)
    fat = (
        MEASUREMENT_UNSUCCESSFUL
        if body_fat_percent is None
        else _raw_units(body_fat_percent, 0.1, "body fat")
    )
    body = fat.to_bytes(2, "little")
    if timestamp is not None:
        flags |= BC_FLAG_TIMESTAMP
        body += encode_date_time(timestamp)
    if user_id is not None:
        flags |= BC_FLAG_USER_ID
        body += bytes((user_id,))
    optional: tuple[tuple[int, float | None, float, str], ...] = (
        (BC_FLAG_BASAL_METABOLISM, basal_metabolism_kj, 1.0, "basal metabolism"),
        (BC_FLAG_MUSCLE_PERCENTAGE, muscle_percent, 0.1, "muscle percentage"),
        (BC_FLAG_MUSCLE_MASS, muscle_mass, mass_res, "muscle mass"),
        (BC_FLAG_FAT_FREE_MASS, fat_free_mass, mass_res, "fat free mass"),
        (BC_FLAG_SOFT_LEAN_MASS, soft_lean_mass, mass_res, "soft lean mass"),
        (BC_FLAG_BODY_WATER_MASS, body_water_mass, mass_res, "body water mass"),
        (BC_FLAG_IMPEDANCE, impedance_ohm, 0.1, "impedance"),
        (BC_FLAG_WEIGHT, weight, mass_res, "weight"),
        (BC_FLAG_HEIGHT, height, 0.1 if imperial else 0.001, "height"),
    )
    for flag, value, resolution, what in optional:
        if value is not None:
            flags |= flag
            body += _raw_units(value, resolution, what).to_bytes(2, "little")
    return flags.to_bytes(2, "little") + body
