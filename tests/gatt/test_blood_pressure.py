"""Blood Pressure Measurement 0x2A35, Intermediate Cuff Pressure 0x2A36, Feature 0x2A49.

Inputs constructed per GATT Specification Supplement §3.31 (Blood Pressure Measurement), §3.124
(Intermediate Cuff Pressure) and §3.30 (Blood Pressure Feature) unless stated otherwise.
"""

from __future__ import annotations

import struct
from datetime import datetime

import pytest

from gateway.gatt import decode
from gateway.gatt.blood_pressure import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    BloodPressureStatus,
    IntermediateCuffPressure,
    PressureUnit,
    PulseRange,
    decode_blood_pressure_feature,
    decode_blood_pressure_measurement,
    decode_intermediate_cuff_pressure,
    encode_blood_pressure_feature,
    encode_blood_pressure_measurement,
    encode_intermediate_cuff_pressure,
)
from gateway.gatt.date_time import GattDateTime
from gateway.gatt.errors import DecodeError
from gateway.gatt.ieee11073 import SFLOAT_SPECIAL_VALUES
from tests.gatt.helpers import assert_every_truncation_fails, assert_trailing_byte_fails, h

WHEN = datetime(2024, 3, 5, 7, 8, 9)
ALL_FLAGS = range(32)


def hand_bytes(flags: int) -> bytes:
    """Independent of the encoder: 128/82/97 mmHg (or 17.1/10.9/12.9 kPa), 2024-03-05 07:08:09,
    pulse 72, user 3, status 0x000D (body movement, irregular pulse, pulse above range)."""
    if flags & 0x01:
        out = struct.pack("<BHHH", flags, 0xF0AB, 0xF06D, 0xF081)
    else:
        out = struct.pack("<BHHH", flags, 128, 82, 97)
    if flags & 0x02:
        out += struct.pack("<HBBBBB", 2024, 3, 5, 7, 8, 9)
    if flags & 0x04:
        out += struct.pack("<H", 72)
    if flags & 0x08:
        out += bytes((3,))
    if flags & 0x10:
        out += struct.pack("<H", 0x000D)
    return out


def expected(flags: int) -> BloodPressureMeasurement:
    kpa = bool(flags & 0x01)
    return BloodPressureMeasurement(
        systolic_mmhg=round(17.1 * 7.50062, 1) if kpa else 128.0,
        diastolic_mmhg=round(10.9 * 7.50062, 1) if kpa else 82.0,
        mean_arterial_pressure_mmhg=round(12.9 * 7.50062, 1) if kpa else 97.0,
        unit=PressureUnit.KPA if kpa else PressureUnit.MMHG,
        timestamp=GattDateTime(2024, 3, 5, 7, 8, 9) if flags & 0x02 else None,
        pulse_rate_bpm=72.0 if flags & 0x04 else None,
        user_id=3 if flags & 0x08 else None,
        status=BloodPressureStatus(True, False, True, PulseRange.ABOVE, False) if flags & 0x10 else None,
    )


def encoded(flags: int) -> bytes:
    kpa = bool(flags & 0x01)
    return encode_blood_pressure_measurement(
        *((17.1, 10.9, 12.9) if kpa else (128, 82, 97)),
        unit=PressureUnit.KPA if kpa else PressureUnit.MMHG,
        decimals=1 if kpa else 0,
        timestamp=WHEN if flags & 0x02 else None,
        pulse_rate=72 if flags & 0x04 else None,
        user_id=3 if flags & 0x08 else None,
        status=BloodPressureStatus(True, False, True, PulseRange.ABOVE, False) if flags & 0x10 else None,
    )


@pytest.mark.parametrize("flags", ALL_FLAGS)
def test_every_flag_combination(flags: int) -> None:
    data = hand_bytes(flags)
    assert encoded(flags) == data
    assert decode_blood_pressure_measurement(data) == expected(flags)
    assert decode("2a35", data) == expected(flags)


@pytest.mark.parametrize("flags", ALL_FLAGS)
def test_every_flag_combination_truncated_and_trailing(flags: int) -> None:
    data = hand_bytes(flags)
    assert_every_truncation_fails(decode_blood_pressure_measurement, data)
    assert_trailing_byte_fails(decode_blood_pressure_measurement, data)


@pytest.mark.parametrize("flags", ALL_FLAGS)
def test_intermediate_cuff_pressure_every_flag(flags: int) -> None:
    data = encode_intermediate_cuff_pressure(
        80,
        timestamp=WHEN if flags & 0x02 else None,
        pulse_rate=72 if flags & 0x04 else None,
        user_id=3 if flags & 0x08 else None,
        status=0x000D if flags & 0x10 else None,
    )
    value = decode("2a36", data)
    assert isinstance(value, IntermediateCuffPressure)
    assert value.cuff_pressure_mmhg == 80
    assert (value.pulse_rate_bpm is not None) == bool(flags & 0x04)
    assert data[3:7] == h("FF 07 FF 07")  # diastolic and MAP are NaN
    assert_every_truncation_fails(decode_intermediate_cuff_pressure, data)
    assert_trailing_byte_fails(decode_intermediate_cuff_pressure, data)


def test_intermediate_cuff_ignores_other_slots() -> None:
    # Several cuffs send 0 instead of NaN in the diastolic/MAP slots.
    value = decode_intermediate_cuff_pressure(h("00 50 00 00 00 00 00"))
    assert value == IntermediateCuffPressure(80.0, PressureUnit.MMHG)


@pytest.mark.parametrize("special", sorted(SFLOAT_SPECIAL_VALUES))
@pytest.mark.parametrize(
    ("position", "field"),
    [(1, "systolic_mmhg"), (3, "diastolic_mmhg"), (5, "mean_arterial_pressure_mmhg"), (7, "pulse_rate_bpm")],
)
@pytest.mark.parametrize("kpa", [False, True])
def test_special_values_in_every_sfloat_position(special: int, position: int, field: str, kpa: bool) -> None:
    data = bytearray(hand_bytes(0x04 | kpa))
    data[position : position + 2] = special.to_bytes(2, "little")
    value = decode_blood_pressure_measurement(bytes(data))
    assert getattr(value, field) is None
    others = {"systolic_mmhg", "diastolic_mmhg", "mean_arterial_pressure_mmhg", "pulse_rate_bpm"} - {field}
    assert all(getattr(value, other) is not None for other in others)


def test_special_value_in_intermediate_cuff_pressure() -> None:
    assert decode_intermediate_cuff_pressure(h("00 FF 07 FF 07 FF 07")).cuff_pressure_mmhg is None


def test_unknown_user_is_none() -> None:
    value = decode_blood_pressure_measurement(h("08 78 00 50 00 5D 00 FF"))
    assert value.user_id is None


@pytest.mark.parametrize("rfu", [0x20, 0x40, 0x80, 0xE0])
def test_rfu_flag_bits_are_ignored(rfu: int) -> None:
    data = hand_bytes(0x1E)
    value = decode_blood_pressure_measurement(bytes((data[0] | rfu,)) + data[1:])
    assert value == expected(0x1E)


def test_status_rfu_bits_ignored_and_a_reserved_range_keeps_the_reading() -> None:
    value = decode_blood_pressure_measurement(h("10 78 00 50 00 5D 00 E0 FF"))
    assert value.status == BloodPressureStatus(False, False, False, PulseRange.WITHIN, True)
    # Range value 3 is reserved: the range is unknown, the pressures are still the patient's.
    reserved = decode_blood_pressure_measurement(h("10 78 00 50 00 5D 00 18 00"))
    assert (reserved.systolic_mmhg, reserved.diastolic_mmhg) == (120, 80)
    assert reserved.status == BloodPressureStatus(pulse_range=PulseRange.RESERVED)


@pytest.mark.parametrize("raw", range(0, 0x40))
def test_status_round_trip(raw: int) -> None:
    assert BloodPressureStatus.from_raw(raw).raw == raw


def test_clock_unset_encoding() -> None:
    data = encode_blood_pressure_measurement(120, 80, 93, timestamp=WHEN, clock_unset=True)
    value = decode_blood_pressure_measurement(data)
    assert value.timestamp == GattDateTime(None, None, None, 7, 8, 9)
    assert value.measured_at is None


def test_bad_timestamp_is_an_error() -> None:
    with pytest.raises(DecodeError, match="reserved month"):
        decode_blood_pressure_measurement(h("02 78 00 50 00 5D 00 E8 07 0D 01 00 00 00"))


def test_flagged_but_missing_message() -> None:
    with pytest.raises(DecodeError, match=r"0x2A35: timestamp flagged but only 3 bytes remain"):
        decode_blood_pressure_measurement(h("02 78 00 50 00 5D 00 E8 07 01"))
    with pytest.raises(DecodeError, match="pulse rate flagged but only 1 byte remains"):
        decode_blood_pressure_measurement(h("04 78 00 50 00 5D 00 48"))


@pytest.mark.parametrize("raw", [0, 0x01FF, 0x0155, 0x00AA, 0xFFFF])
def test_feature(raw: int) -> None:
    data = raw.to_bytes(2, "little")
    value = decode("2a49", data)
    assert isinstance(value, BloodPressureFeature)
    assert value.raw == raw & 0x01FF  # bits 9–15 RFU
    assert encode_blood_pressure_feature(value) == (raw & 0x01FF).to_bytes(2, "little")
    assert value.body_movement_detection == bool(raw & 1)
    assert value.user_facing_time == bool(raw & 0x100)


def test_feature_lengths() -> None:
    assert_every_truncation_fails(decode_blood_pressure_feature, h("FF 01"))
    assert_trailing_byte_fails(decode_blood_pressure_feature, h("FF 01"))


def test_encoder_rejects_bad_user_id() -> None:
    with pytest.raises(ValueError, match="user id"):
        encode_blood_pressure_measurement(120, 80, 93, user_id=256)
