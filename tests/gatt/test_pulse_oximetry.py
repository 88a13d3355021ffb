"""PLX Spot-Check 0x2A5E, PLX Continuous 0x2A5F and PLX Features 0x2A60.

Inputs constructed per GATT Specification Supplement §3.169 (PLX Spot-Check Measurement), §3.167 (PLX
Continuous Measurement) and §3.168 (PLX Features) unless stated otherwise.
"""

from __future__ import annotations

import struct
from datetime import datetime

import pytest

from gateway.gatt import decode
from gateway.gatt.date_time import GattDateTime
from gateway.gatt.errors import DecodeError
from gateway.gatt.ieee11073 import SFLOAT_SPECIAL_VALUES
from gateway.gatt.pulse_oximetry import (
    PlxContinuous,
    PlxDeviceSensorStatus,
    PlxFeatures,
    PlxMeasurementStatus,
    PlxSpotCheck,
    decode_plx_continuous,
    decode_plx_features,
    decode_plx_spot_check,
    encode_plx_continuous,
    encode_plx_features,
    encode_plx_spot_check,
)
from tests.gatt.helpers import assert_every_truncation_fails, assert_trailing_byte_fails, h

WHEN = datetime(2024, 2, 29, 23, 59, 58)
MEASUREMENT_STATUS = 0x4220  # ongoing, from storage, questionable
DEVICE_STATUS = 0x008021  # extended display update, low perfusion, sensor disconnected


def hand_spot(flags: int) -> bytes:
    """97 %, 64 bpm, 2024-02-29 23:59:58, statuses above, PAI 2.5 (0xF019)."""
    out = struct.pack("<BHH", flags, 97, 64)
    if flags & 0x01:
        out += struct.pack("<HBBBBB", 2024, 2, 29, 23, 59, 58)
    if flags & 0x02:
        out += struct.pack("<H", MEASUREMENT_STATUS)
    if flags & 0x04:
        out += DEVICE_STATUS.to_bytes(3, "little")
    if flags & 0x08:
        out += struct.pack("<H", 0xF019)
    return out


@pytest.mark.parametrize("flags", range(32))
def test_spot_check_every_flag_combination(flags: int) -> None:
    data = hand_spot(flags)
    assert (
        encode_plx_spot_check(
            97,
            64,
            timestamp=WHEN if flags & 0x01 else None,
            measurement_status=PlxMeasurementStatus.from_raw(MEASUREMENT_STATUS) if flags & 0x02 else None,
            device_sensor_status=DEVICE_STATUS if flags & 0x04 else None,
            pulse_amplitude_index=2.5 if flags & 0x08 else None,
            device_clock_not_set=bool(flags & 0x10),
        )
        == data
    )
    value = decode("2a5e", data)
    assert isinstance(value, PlxSpotCheck)
    assert (value.spo2_percent, value.pulse_rate_bpm) == (97, 64)
    assert value.timestamp == (GattDateTime(2024, 2, 29, 23, 59, 58) if flags & 0x01 else None)
    if flags & 0x01 and not flags & 0x10:
        assert value.measured_at == WHEN
    else:
        assert value.measured_at is None
    if flags & 0x02:
        assert value.measurement_status is not None
        assert value.measurement_status.measurement_ongoing
        assert value.measurement_status.data_from_measurement_storage
        assert value.measurement_status.questionable_measurement_detected
        assert not value.measurement_status.validated_data
    else:
        assert value.measurement_status is None
    if flags & 0x04:
        assert value.device_sensor_status is not None
        assert value.device_sensor_status.extended_display_update_ongoing
        assert value.device_sensor_status.low_perfusion_detected
        assert value.device_sensor_status.sensor_disconnected
        assert not value.device_sensor_status.poor_signal_detected
    else:
        assert value.device_sensor_status is None
    assert value.pulse_amplitude_index == (2.5 if flags & 0x08 else None)
    assert value.device_clock_not_set == bool(flags & 0x10)
    assert_every_truncation_fails(decode_plx_spot_check, data)
    assert_trailing_byte_fails(decode_plx_spot_check, data)


def hand_continuous(flags: int) -> bytes:
    """98/70 normal, 97/71 fast, 99/69 slow, statuses above, PAI 10.0 (0x000A)."""
    out = struct.pack("<BHH", flags, 98, 70)
    if flags & 0x01:
        out += struct.pack("<HH", 97, 71)
    if flags & 0x02:
        out += struct.pack("<HH", 99, 69)
    if flags & 0x04:
        out += struct.pack("<H", MEASUREMENT_STATUS)
    if flags & 0x08:
        out += DEVICE_STATUS.to_bytes(3, "little")
    if flags & 0x10:
        out += struct.pack("<H", 0x000A)
    return out


@pytest.mark.parametrize("flags", range(32))
def test_continuous_every_flag_combination(flags: int) -> None:
    data = hand_continuous(flags)
    assert (
        encode_plx_continuous(
            98,
            70,
            fast=(97, 71) if flags & 0x01 else None,
            slow=(99, 69) if flags & 0x02 else None,
            measurement_status=MEASUREMENT_STATUS if flags & 0x04 else None,
            device_sensor_status=PlxDeviceSensorStatus.from_raw(DEVICE_STATUS) if flags & 0x08 else None,
            pulse_amplitude_index=10 if flags & 0x10 else None,
            pai_decimals=0,
        )
        == data
    )
    value = decode("2a5f", data)
    assert isinstance(value, PlxContinuous)
    assert value == PlxContinuous(
        98.0,
        70.0,
        97.0 if flags & 0x01 else None,
        71.0 if flags & 0x01 else None,
        99.0 if flags & 0x02 else None,
        69.0 if flags & 0x02 else None,
        PlxMeasurementStatus.from_raw(MEASUREMENT_STATUS) if flags & 0x04 else None,
        PlxDeviceSensorStatus.from_raw(DEVICE_STATUS) if flags & 0x08 else None,
        10.0 if flags & 0x10 else None,
        has_fast=bool(flags & 0x01),
        has_slow=bool(flags & 0x02),
    )
    assert_every_truncation_fails(decode_plx_continuous, data)
    assert_trailing_byte_fails(decode_plx_continuous, data)


@pytest.mark.parametrize("special", sorted(SFLOAT_SPECIAL_VALUES))
@pytest.mark.parametrize(
    ("offset", "field"),
    [
        (1, "spo2_percent"),
        (3, "pulse_rate_bpm"),
        (5, "spo2_fast_percent"),
        (7, "pulse_rate_fast_bpm"),
        (9, "spo2_slow_percent"),
        (11, "pulse_rate_slow_bpm"),
        (18, "pulse_amplitude_index"),
    ],
)
def test_continuous_special_values_everywhere(special: int, offset: int, field: str) -> None:
    data = bytearray(hand_continuous(0x1F))
    data[offset : offset + 2] = special.to_bytes(2, "little")
    value = decode_plx_continuous(bytes(data))
    assert getattr(value, field) is None
    assert value.has_fast
    assert value.has_slow


@pytest.mark.parametrize("special", sorted(SFLOAT_SPECIAL_VALUES))
@pytest.mark.parametrize(
    ("offset", "field"), [(1, "spo2_percent"), (3, "pulse_rate_bpm"), (17, "pulse_amplitude_index")]
)
def test_spot_check_special_values_everywhere(special: int, offset: int, field: str) -> None:
    data = bytearray(hand_spot(0x0F))
    data[offset : offset + 2] = special.to_bytes(2, "little")
    assert getattr(decode_plx_spot_check(bytes(data)), field) is None


@pytest.mark.parametrize("rfu", [0x20, 0x40, 0x80])
def test_rfu_flag_bits_ignored(rfu: int) -> None:
    spot = hand_spot(0x0F)
    assert decode_plx_spot_check(bytes((spot[0] | rfu,)) + spot[1:]) == decode_plx_spot_check(spot)
    cont = hand_continuous(0x1F)
    assert decode_plx_continuous(bytes((cont[0] | rfu,)) + cont[1:]) == decode_plx_continuous(cont)


def test_status_rfu_bits_kept_in_raw_only() -> None:
    status = PlxMeasurementStatus.from_raw(0x001F)
    assert status.raw == 0x001F
    assert not any(getattr(status, name) for name in ("measurement_ongoing", "invalid_measurement_detected"))
    device = PlxDeviceSensorStatus.from_raw(0xFF0000)
    assert not device.extended_display_update_ongoing
    assert not device.sensor_disconnected


def test_status_bit_positions() -> None:
    # Source: gatt-and-devices.md, "PLX measurement status bits" and "Device & sensor status bits".
    assert PlxMeasurementStatus.from_raw(1 << 15).invalid_measurement_detected
    assert PlxMeasurementStatus.from_raw(1 << 8).fully_qualified_data
    assert PlxMeasurementStatus.from_flags(calibration_ongoing=True).raw == 1 << 12
    assert PlxDeviceSensorStatus.from_raw(1 << 11).sensor_unconnected_to_user
    assert PlxDeviceSensorStatus.from_flags(inadequate_signal_detected=True).raw == 1 << 3
    with pytest.raises(TypeError):
        PlxDeviceSensorStatus.from_flags(nonsense=True)


@pytest.mark.parametrize("raw", range(256))
def test_features_every_low_byte(raw: int) -> None:
    ms = 0x1FE0 if raw & 0x01 else None
    ds = 0x00FFFF if raw & 0x02 else None
    data = raw.to_bytes(2, "little")
    if ms is not None:
        data += ms.to_bytes(2, "little")
    if ds is not None:
        data += ds.to_bytes(3, "little")
    value = decode("2a60", data)
    assert isinstance(value, PlxFeatures)
    assert value.raw == raw
    assert value.spot_check_measurement_storage == bool(raw & 0x04)
    assert value.multiple_bonds == bool(raw & 0x80)
    assert (value.measurement_status_support is not None) == bool(raw & 0x01)
    assert (value.device_sensor_status_support is not None) == bool(raw & 0x02)
    assert (
        encode_plx_features(
            spot_check_measurement_storage=bool(raw & 0x04),
            spot_check_timestamp=bool(raw & 0x08),
            spo2pr_fast=bool(raw & 0x10),
            spo2pr_slow=bool(raw & 0x20),
            pulse_amplitude_index=bool(raw & 0x40),
            multiple_bonds=bool(raw & 0x80),
            measurement_status_support=ms,
            device_sensor_status_support=ds,
        )
        == data
    )
    assert_every_truncation_fails(decode_plx_features, data)
    assert_trailing_byte_fails(decode_plx_features, data)


def test_features_flagged_but_missing() -> None:
    with pytest.raises(DecodeError, match="measurement status support flagged"):
        decode_plx_features(h("01 00"))
    with pytest.raises(DecodeError, match="device and sensor status support flagged but only 2 bytes remain"):
        decode_plx_features(h("02 00 00 00"))
