"""Blood Pressure service: Measurement 0x2A35, Intermediate Cuff Pressure 0x2A36, Feature 0x2A49.

Pressures are returned in mmHg whatever the cuff displayed, because clinical thresholds are written in
mmHg; kPa values are converted with ×7.50062 and rounded to 0.1 mmHg (finer than any cuff resolves, so
the rounding removes float noise without losing information). The transmitted unit is kept in ``unit``.

Flag bits 5–7 are RFU: ignored, decoding continues, because a newer spec revision may define them and the
fields we know still sit where they did. Trailing bytes are an error (see ``_reader.Reader.finish``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Final

from gateway.gatt._reader import Reader
from gateway.gatt.date_time import GattDateTime, encode_date_time
from gateway.gatt.errors import DecodeError
from gateway.gatt.ieee11073 import encode_sfloat

__all__ = [
    "KPA_TO_MMHG",
    "USER_ID_UNKNOWN",
    "BloodPressureFeature",
    "BloodPressureMeasurement",
    "BloodPressureStatus",
    "IntermediateCuffPressure",
    "PressureUnit",
    "PulseRange",
    "decode_blood_pressure_feature",
    "decode_blood_pressure_measurement",
    "decode_intermediate_cuff_pressure",
    "encode_blood_pressure_feature",
    "encode_blood_pressure_measurement",
    "encode_intermediate_cuff_pressure",
]

KPA_TO_MMHG: Final = 7.50062
USER_ID_UNKNOWN: Final = 0xFF

FLAG_KPA: Final = 0x01
FLAG_TIMESTAMP: Final = 0x02
FLAG_PULSE_RATE: Final = 0x04
FLAG_USER_ID: Final = 0x08
FLAG_STATUS: Final = 0x10


class PressureUnit(StrEnum):
    MMHG = "mmHg"
    KPA = "kPa"


class PulseRange(IntEnum):
    """Measurement status bits 3–4. Value 3 is reserved for future use: a cuff sending it has said
    nothing we can read about the pulse range, which is no reason to lose its pressures, so it
    decodes as RESERVED (no range flag) rather than refusing the reading."""

    WITHIN = 0
    ABOVE = 1
    BELOW = 2
    RESERVED = 3


@dataclass(frozen=True, slots=True)
class BloodPressureStatus:
    """Measurement status u16 as named flags; bits 6–15 are RFU and ignored."""

    body_movement: bool = False
    cuff_too_loose: bool = False
    irregular_pulse: bool = False
    pulse_range: PulseRange = PulseRange.WITHIN
    improper_position: bool = False

    @classmethod
    def from_raw(cls, raw: int) -> BloodPressureStatus:
        return cls(
            bool(raw & 0x01),
            bool(raw & 0x02),
            bool(raw & 0x04),
            PulseRange((raw >> 3) & 0x03),
            bool(raw & 0x20),
        )

    @property
    def raw(self) -> int:
        return (
            self.body_movement
            | self.cuff_too_loose << 1
            | self.irregular_pulse << 2
            | int(self.pulse_range) << 3
            | self.improper_position << 5
        )


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """One cuff reading. ``None`` pressures/pulse mean the cuff flagged them "not available"."""

    systolic_mmhg: float | None
    diastolic_mmhg: float | None
    mean_arterial_pressure_mmhg: float | None
    unit: PressureUnit
    timestamp: GattDateTime | None = None
    pulse_rate_bpm: float | None = None
    user_id: int | None = None  # None when absent or 0xFF "unknown user"
    status: BloodPressureStatus | None = None

    @property
    def measured_at(self) -> datetime | None:
        """Naive device-local time, ``None`` when absent or the clock is unset."""
        return self.timestamp.value if self.timestamp is not None else None


@dataclass(frozen=True, slots=True)
class IntermediateCuffPressure:
    """Live cuff pressure while inflating; the diastolic and MAP slots are ignored (spec says NaN,
    several cuffs send 0) because they carry no meaning here."""

    cuff_pressure_mmhg: float | None
    unit: PressureUnit
    timestamp: GattDateTime | None = None
    pulse_rate_bpm: float | None = None
    user_id: int | None = None
    status: BloodPressureStatus | None = None


def _to_mmhg(value: float | None, kpa: bool) -> float | None:
    if value is None or not kpa:
        return value
    return round(value * KPA_TO_MMHG, 1)


def _decode(
    data: bytes, context: str
) -> tuple[
    float | None,
    float | None,
    float | None,
    PressureUnit,
    GattDateTime | None,
    float | None,
    int | None,
    BloodPressureStatus | None,
]:
    reader = Reader(data, context, 7)
    flags = reader.u8("flags")
    kpa = bool(flags & FLAG_KPA)
    systolic = _to_mmhg(reader.sfloat("systolic"), kpa)
    diastolic = _to_mmhg(reader.sfloat("diastolic"), kpa)
    mean = _to_mmhg(reader.sfloat("mean arterial pressure"), kpa)
    timestamp = reader.date_time() if flags & FLAG_TIMESTAMP else None
    pulse = reader.sfloat("pulse rate", flagged=True) if flags & FLAG_PULSE_RATE else None
    user_id: int | None = None
    if flags & FLAG_USER_ID:
        user_id = reader.u8("user id", flagged=True)
        if user_id == USER_ID_UNKNOWN:
            user_id = None
    status = None
    if flags & FLAG_STATUS:
        status = BloodPressureStatus.from_raw(reader.u16("measurement status", flagged=True))
    reader.finish()
    unit = PressureUnit.KPA if kpa else PressureUnit.MMHG
    return systolic, diastolic, mean, unit, timestamp, pulse, user_id, status


def decode_blood_pressure_measurement(data: bytes) -> BloodPressureMeasurement:
    """Blood Pressure Measurement 0x2A35."""
    return BloodPressureMeasurement(*_decode(data, "0x2A35"))


def decode_intermediate_cuff_pressure(data: bytes) -> IntermediateCuffPressure:
    """Intermediate Cuff Pressure 0x2A36 (same layout; current pressure in the systolic slot)."""
    systolic, _, _, unit, timestamp, pulse, user_id, status = _decode(data, "0x2A36")
    return IntermediateCuffPressure(systolic, unit, timestamp, pulse, user_id, status)


def encode_blood_pressure_measurement(
    systolic: float | None,
    diastolic: float | None,
    mean_arterial_pressure: float | None,
    *,
    unit: PressureUnit = PressureUnit.MMHG,
    decimals: int = 0,
    timestamp: datetime | GattDateTime | None = None,
    pulse_rate: float | None = None,
    user_id: int | None = None,
    status: BloodPressureStatus | int | None = None,
    clock_unset: bool = False,
    pulse_decimals: int = 0,
) -> bytes:
    """Spec bytes as an emulated cuff would send them; pressures in ``unit`` with ``decimals`` places,
    pulse in bpm with ``pulse_decimals`` places.

    A ``None`` pressure encodes NaN; a ``None`` optional field is omitted (pass ``math.nan`` for a present
    but unavailable pulse, 0xFF for an unknown user). ``clock_unset`` sends a timestamp with year, month
    and day 0, which is how a cuff whose clock was never set reports.
    """
    flags = FLAG_KPA if unit is PressureUnit.KPA else 0
    body = encode_sfloat(systolic, decimals) + encode_sfloat(diastolic, decimals)
    body += encode_sfloat(mean_arterial_pressure, decimals)
    if timestamp is not None or clock_unset:
        flags |= FLAG_TIMESTAMP
        if clock_unset:
            base = GattDateTime.from_datetime(timestamp) if isinstance(timestamp, datetime) else timestamp
            hms = (base.hours, base.minutes, base.seconds) if base is not None else (0, 0, 0)
            body += encode_date_time(GattDateTime(None, None, None, *hms))
        else:
            body += encode_date_time(timestamp)
    if pulse_rate is not None:
        flags |= FLAG_PULSE_RATE
        body += encode_sfloat(pulse_rate, pulse_decimals)
    if user_id is not None:
        if not 0 <= user_id <= 0xFF:
            raise ValueError(f"user id out of range: {user_id}")
        flags |= FLAG_USER_ID
        body += bytes((user_id,))
    if status is not None:
        flags |= FLAG_STATUS
        raw = status.raw if isinstance(status, BloodPressureStatus) else status
        body += raw.to_bytes(2, "little")
    return bytes((flags,)) + body


def encode_intermediate_cuff_pressure(
    cuff_pressure: float | None,
    *,
    unit: PressureUnit = PressureUnit.MMHG,
    decimals: int = 0,
    timestamp: datetime | GattDateTime | None = None,
    pulse_rate: float | None = None,
    user_id: int | None = None,
    status: BloodPressureStatus | int | None = None,
    pulse_decimals: int = 0,
) -> bytes:
    """Intermediate Cuff Pressure bytes: the pressure in the systolic slot, NaN in the others."""
    return encode_blood_pressure_measurement(
        cuff_pressure,
        None,
        None,
        unit=unit,
        decimals=decimals,
        timestamp=timestamp,
        pulse_rate=pulse_rate,
        user_id=user_id,
        status=status,
        pulse_decimals=pulse_decimals,
    )


@dataclass(frozen=True, slots=True)
class BloodPressureFeature:
    """What the cuff can detect; tells the hub which status flags are meaningful (an unset flag on a cuff
    without that feature is "unknown", not "fine"). Bits 9–15 are RFU and ignored."""

    body_movement_detection: bool
    cuff_fit_detection: bool
    irregular_pulse_detection: bool
    pulse_rate_range_detection: bool
    measurement_position_detection: bool
    multiple_bonds: bool
    e2e_crc: bool
    user_data_service: bool
    user_facing_time: bool

    @classmethod
    def from_raw(cls, raw: int) -> BloodPressureFeature:
        return cls(*(bool(raw >> bit & 1) for bit in range(9)))

    @property
    def raw(self) -> int:
        bits = (
            self.body_movement_detection,
            self.cuff_fit_detection,
            self.irregular_pulse_detection,
            self.pulse_rate_range_detection,
            self.measurement_position_detection,
            self.multiple_bonds,
            self.e2e_crc,
            self.user_data_service,
            self.user_facing_time,
        )
        return sum(1 << bit for bit, on in enumerate(bits) if on)


def decode_blood_pressure_feature(data: bytes) -> BloodPressureFeature:
    """Blood Pressure Feature 0x2A49 (exactly 2 bytes)."""
    if len(data) != 2:
        raise DecodeError(f"0x2A49: expected 2 bytes, got {len(data)}")
    return BloodPressureFeature.from_raw(data[0] | data[1] << 8)


def encode_blood_pressure_feature(feature: BloodPressureFeature) -> bytes:
    return feature.raw.to_bytes(2, "little")
