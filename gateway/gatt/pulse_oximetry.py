"""Pulse Oximeter service: PLX Spot-Check 0x2A5E, PLX Continuous 0x2A5F, PLX Features 0x2A60.

SpO2 (%) and pulse rate (bpm) are SFLOATs; special values (a finger just inserted, no signal yet) decode
to ``None``. Status words become named booleans so rules can say ``status.questionable_measurement_detected``
instead of bit arithmetic; ``raw`` keeps the wire value, with RFU bits, for diagnostics.

RFU flag bits are ignored and decoding continues; trailing bytes are an error (see ``_reader``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Final

from gateway.gatt._reader import Reader
from gateway.gatt.date_time import GattDateTime, encode_date_time
from gateway.gatt.ieee11073 import encode_sfloat

__all__ = [
    "PlxContinuous",
    "PlxDeviceSensorStatus",
    "PlxFeatures",
    "PlxMeasurementStatus",
    "PlxSpotCheck",
    "decode_plx_continuous",
    "decode_plx_features",
    "decode_plx_spot_check",
    "encode_plx_continuous",
    "encode_plx_features",
    "encode_plx_spot_check",
]

SPOT_FLAG_TIMESTAMP: Final = 0x01
SPOT_FLAG_MEASUREMENT_STATUS: Final = 0x02
SPOT_FLAG_DEVICE_SENSOR_STATUS: Final = 0x04
SPOT_FLAG_PAI: Final = 0x08
SPOT_FLAG_CLOCK_NOT_SET: Final = 0x10

CONT_FLAG_FAST: Final = 0x01
CONT_FLAG_SLOW: Final = 0x02
CONT_FLAG_MEASUREMENT_STATUS: Final = 0x04
CONT_FLAG_DEVICE_SENSOR_STATUS: Final = 0x08
CONT_FLAG_PAI: Final = 0x10


def _raw_from_names(
    cls: type[PlxMeasurementStatus | PlxDeviceSensorStatus], flags: dict[str, bool], first: int
) -> int:
    names = [f.name for f in fields(cls) if f.name != "raw"]
    unknown = set(flags) - set(names)
    if unknown:
        raise TypeError(f"unknown flags for {cls.__name__}: {sorted(unknown)}")
    return sum(1 << (first + i) for i, name in enumerate(names) if flags.get(name))


def _bits(raw: int, first: int, count: int) -> list[bool]:
    return [bool(raw >> bit & 1) for bit in range(first, first + count)]


@dataclass(frozen=True, slots=True)
class PlxMeasurementStatus:
    """Measurement Status u16; bits 0–4 are RFU."""

    measurement_ongoing: bool
    early_estimated_data: bool
    validated_data: bool
    fully_qualified_data: bool
    data_from_measurement_storage: bool
    data_for_demonstration: bool
    data_for_testing: bool
    calibration_ongoing: bool
    measurement_unavailable: bool
    questionable_measurement_detected: bool
    invalid_measurement_detected: bool
    raw: int

    @classmethod
    def from_raw(cls, raw: int) -> PlxMeasurementStatus:
        return cls(**dict(zip(_MEASUREMENT_STATUS_NAMES, _bits(raw, 5, 11), strict=True)), raw=raw)

    @classmethod
    def from_flags(cls, **flags: bool) -> PlxMeasurementStatus:
        """Build from names, e.g. ``PlxMeasurementStatus.from_flags(measurement_ongoing=True)``."""
        return cls.from_raw(_raw_from_names(cls, flags, 5))


@dataclass(frozen=True, slots=True)
class PlxDeviceSensorStatus:
    """Device and Sensor Status u24; bits 16–23 are RFU."""

    extended_display_update_ongoing: bool
    equipment_malfunction_detected: bool
    signal_processing_irregularity_detected: bool
    inadequate_signal_detected: bool
    poor_signal_detected: bool
    low_perfusion_detected: bool
    erratic_signal_detected: bool
    non_pulsatile_signal_detected: bool
    questionable_pulse_detected: bool
    signal_analysis_ongoing: bool
    sensor_interference_detected: bool
    sensor_unconnected_to_user: bool
    unknown_sensor_connected: bool
    sensor_displaced: bool
    sensor_malfunctioning: bool
    sensor_disconnected: bool
    raw: int

    @classmethod
    def from_raw(cls, raw: int) -> PlxDeviceSensorStatus:
        return cls(**dict(zip(_DEVICE_STATUS_NAMES, _bits(raw, 0, 16), strict=True)), raw=raw)

    @classmethod
    def from_flags(cls, **flags: bool) -> PlxDeviceSensorStatus:
        """Build from names, e.g. ``PlxDeviceSensorStatus.from_flags(low_perfusion_detected=True)``."""
        return cls.from_raw(_raw_from_names(cls, flags, 0))


_MEASUREMENT_STATUS_NAMES: Final = tuple(f.name for f in fields(PlxMeasurementStatus) if f.name != "raw")
_DEVICE_STATUS_NAMES: Final = tuple(f.name for f in fields(PlxDeviceSensorStatus) if f.name != "raw")


@dataclass(frozen=True, slots=True)
class PlxSpotCheck:
    """One stored or live spot-check reading (indicated)."""

    spo2_percent: float | None
    pulse_rate_bpm: float | None
    timestamp: GattDateTime | None = None
    measurement_status: PlxMeasurementStatus | None = None
    device_sensor_status: PlxDeviceSensorStatus | None = None
    pulse_amplitude_index: float | None = None
    device_clock_not_set: bool = False

    @property
    def measured_at(self) -> datetime | None:
        """Naive device-local time; ``None`` when absent, unset, or the device says its clock is not set."""
        if self.timestamp is None or self.device_clock_not_set:
            return None
        return self.timestamp.value


@dataclass(frozen=True, slots=True)
class PlxContinuous:
    """One continuous-measurement notification (normal, and optionally fast/slow averaged, values)."""

    spo2_percent: float | None
    pulse_rate_bpm: float | None
    spo2_fast_percent: float | None = None
    pulse_rate_fast_bpm: float | None = None
    spo2_slow_percent: float | None = None
    pulse_rate_slow_bpm: float | None = None
    measurement_status: PlxMeasurementStatus | None = None
    device_sensor_status: PlxDeviceSensorStatus | None = None
    pulse_amplitude_index: float | None = None
    has_fast: bool = False
    has_slow: bool = False


def decode_plx_spot_check(data: bytes) -> PlxSpotCheck:
    """PLX Spot-Check Measurement 0x2A5E; flag bits 5–7 RFU."""
    reader = Reader(data, "0x2A5E", 5)
    flags = reader.u8("flags")
    spo2 = reader.sfloat("SpO2")
    pulse = reader.sfloat("pulse rate")
    timestamp = reader.date_time() if flags & SPOT_FLAG_TIMESTAMP else None
    measurement_status = None
    if flags & SPOT_FLAG_MEASUREMENT_STATUS:
        measurement_status = PlxMeasurementStatus.from_raw(reader.u16("measurement status", flagged=True))
    device_status = None
    if flags & SPOT_FLAG_DEVICE_SENSOR_STATUS:
        device_status = PlxDeviceSensorStatus.from_raw(reader.u24("device and sensor status", flagged=True))
    pai = reader.sfloat("pulse amplitude index", flagged=True) if flags & SPOT_FLAG_PAI else None
    reader.finish()
    return PlxSpotCheck(
        spo2, pulse, timestamp, measurement_status, device_status, pai, bool(flags & SPOT_FLAG_CLOCK_NOT_SET)
    )


def decode_plx_continuous(data: bytes) -> PlxContinuous:
    """PLX Continuous Measurement 0x2A5F; flag bits 5–7 RFU."""
    reader = Reader(data, "0x2A5F", 5)
    flags = reader.u8("flags")
    spo2 = reader.sfloat("SpO2")
    pulse = reader.sfloat("pulse rate")
    spo2_fast = pulse_fast = spo2_slow = pulse_slow = None
    if flags & CONT_FLAG_FAST:
        spo2_fast = reader.sfloat("SpO2PR-Fast SpO2", flagged=True)
        pulse_fast = reader.sfloat("SpO2PR-Fast pulse rate", flagged=True)
    if flags & CONT_FLAG_SLOW:
        spo2_slow = reader.sfloat("SpO2PR-Slow SpO2", flagged=True)
        pulse_slow = reader.sfloat("SpO2PR-Slow pulse rate", flagged=True)
    measurement_status = None
    if flags & CONT_FLAG_MEASUREMENT_STATUS:
        measurement_status = PlxMeasurementStatus.from_raw(reader.u16("measurement status", flagged=True))
    device_status = None
    if flags & CONT_FLAG_DEVICE_SENSOR_STATUS:
        device_status = PlxDeviceSensorStatus.from_raw(reader.u24("device and sensor status", flagged=True))
    pai = reader.sfloat("pulse amplitude index", flagged=True) if flags & CONT_FLAG_PAI else None
    reader.finish()
    return PlxContinuous(
        spo2,
        pulse,
        spo2_fast,
        pulse_fast,
        spo2_slow,
        pulse_slow,
        measurement_status,
        device_status,
        pai,
        bool(flags & CONT_FLAG_FAST),
        bool(flags & CONT_FLAG_SLOW),
    )


def _status_bytes(status: PlxMeasurementStatus | int) -> bytes:
    raw = status.raw if isinstance(status, PlxMeasurementStatus) else status
    return raw.to_bytes(2, "little")


def _device_status_bytes(status: PlxDeviceSensorStatus | int) -> bytes:
    raw = status.raw if isinstance(status, PlxDeviceSensorStatus) else status
    return raw.to_bytes(3, "little")


def encode_plx_spot_check(
    spo2: float | None,
    pulse_rate: float | None,
    *,
    decimals: int = 0,
    timestamp: datetime | GattDateTime | None = None,
    measurement_status: PlxMeasurementStatus | int | None = None,
    device_sensor_status: PlxDeviceSensorStatus | int | None = None,
    pulse_amplitude_index: float | None = None,
    pai_decimals: int = 1,
    device_clock_not_set: bool = False,
) -> bytes:
    """Spec bytes for an emulated oximeter. ``None`` SpO2/pulse encode NaN; ``None`` optionals are omitted."""
    flags = SPOT_FLAG_CLOCK_NOT_SET if device_clock_not_set else 0
    body = encode_sfloat(spo2, decimals) + encode_sfloat(pulse_rate, decimals)
    if timestamp is not None:
        flags |= SPOT_FLAG_TIMESTAMP
        body += encode_date_time(timestamp)
    if measurement_status is not None:
        flags |= SPOT_FLAG_MEASUREMENT_STATUS
        body += _status_bytes(measurement_status)
    if device_sensor_status is not None:
        flags |= SPOT_FLAG_DEVICE_SENSOR_STATUS
        body += _device_status_bytes(device_sensor_status)
    if pulse_amplitude_index is not None:
        flags |= SPOT_FLAG_PAI
        body += encode_sfloat(pulse_amplitude_index, pai_decimals)
    return bytes((flags,)) + body


def encode_plx_continuous(
    spo2: float | None,
    pulse_rate: float | None,
    *,
    decimals: int = 0,
    fast: tuple[float | None, float | None] | None = None,
    slow: tuple[float | None, float | None] | None = None,
    measurement_status: PlxMeasurementStatus | int | None = None,
    device_sensor_status: PlxDeviceSensorStatus | int | None = None,
    pulse_amplitude_index: float | None = None,
    pai_decimals: int = 1,
) -> bytes:
    """Spec bytes; ``fast``/``slow`` are (SpO2, pulse rate) pairs included when given."""
    flags = 0
    body = encode_sfloat(spo2, decimals) + encode_sfloat(pulse_rate, decimals)
    if fast is not None:
        flags |= CONT_FLAG_FAST
        body += encode_sfloat(fast[0], decimals) + encode_sfloat(fast[1], decimals)
    if slow is not None:
        flags |= CONT_FLAG_SLOW
        body += encode_sfloat(slow[0], decimals) + encode_sfloat(slow[1], decimals)
    if measurement_status is not None:
        flags |= CONT_FLAG_MEASUREMENT_STATUS
        body += _status_bytes(measurement_status)
    if device_sensor_status is not None:
        flags |= CONT_FLAG_DEVICE_SENSOR_STATUS
        body += _device_status_bytes(device_sensor_status)
    if pulse_amplitude_index is not None:
        flags |= CONT_FLAG_PAI
        body += encode_sfloat(pulse_amplitude_index, pai_decimals)
    return bytes((flags,)) + body


@dataclass(frozen=True, slots=True)
class PlxFeatures:
    """What the oximeter supports; the hub uses it to decide whether to drive RACP (spot-check storage)
    and which status bits are meaningful. Feature bits 8–15 are RFU and ignored."""

    measurement_status_support_present: bool
    device_sensor_status_support_present: bool
    spot_check_measurement_storage: bool
    spot_check_timestamp: bool
    spo2pr_fast: bool
    spo2pr_slow: bool
    pulse_amplitude_index: bool
    multiple_bonds: bool
    raw: int
    measurement_status_support: PlxMeasurementStatus | None = None
    device_sensor_status_support: PlxDeviceSensorStatus | None = None


def decode_plx_features(data: bytes) -> PlxFeatures:
    """PLX Features 0x2A60 with its conditional support fields."""
    reader = Reader(data, "0x2A60", 2)
    raw = reader.u16("supported features")
    ms_support = None
    if raw & 0x01:
        ms_support = PlxMeasurementStatus.from_raw(reader.u16("measurement status support", flagged=True))
    ds_support = None
    if raw & 0x02:
        ds_support = PlxDeviceSensorStatus.from_raw(
            reader.u24("device and sensor status support", flagged=True)
        )
    reader.finish()
    return PlxFeatures(
        measurement_status_support_present=bool(raw & 0x01),
        device_sensor_status_support_present=bool(raw & 0x02),
        spot_check_measurement_storage=bool(raw & 0x04),
        spot_check_timestamp=bool(raw & 0x08),
        spo2pr_fast=bool(raw & 0x10),
        spo2pr_slow=bool(raw & 0x20),
        pulse_amplitude_index=bool(raw & 0x40),
        multiple_bonds=bool(raw & 0x80),
        raw=raw,
        measurement_status_support=ms_support,
        device_sensor_status_support=ds_support,
    )


def encode_plx_features(
    *,
    spot_check_measurement_storage: bool = False,
    spot_check_timestamp: bool = False,
    spo2pr_fast: bool = False,
    spo2pr_slow: bool = False,
    pulse_amplitude_index: bool = False,
    multiple_bonds: bool = False,
    measurement_status_support: PlxMeasurementStatus | int | None = None,
    device_sensor_status_support: PlxDeviceSensorStatus | int | None = None,
) -> bytes:
    """Features bytes for an emulated oximeter; support words are included when given."""
    raw = (
        (measurement_status_support is not None)
        | (device_sensor_status_support is not None) << 1
        | spot_check_measurement_storage << 2
        | spot_check_timestamp << 3
        | spo2pr_fast << 4
        | spo2pr_slow << 5
        | pulse_amplitude_index << 6
        | multiple_bonds << 7
    )
    body = raw.to_bytes(2, "little")
    if measurement_status_support is not None:
        body += _status_bytes(measurement_status_support)
    if device_sensor_status_support is not None:
        body += _device_status_bytes(device_sensor_status_support)
    return body
