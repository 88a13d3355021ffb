"""Named device quirks applied before the standard decoders."""

from __future__ import annotations

import struct
from datetime import datetime

import pytest

from gateway.gatt import decode, uuids
from gateway.gatt.blood_pressure import (
    BloodPressureMeasurement,
    BloodPressureStatus,
    PressureUnit,
    PulseRange,
    encode_blood_pressure_measurement,
)
from gateway.gatt.errors import DecodeError, UnknownQuirkError
from gateway.gatt.quirks import QUIRKS, apply_quirks, validate_quirk_names
from gateway.gatt.thermometer import TemperatureMeasurement
from tests.gatt.helpers import h

BEURER = "bp_pulse_status_big_endian_user_id_always"


def beurer_bytes(flags: int) -> bytes:
    """What the cuff sends (constructed from the deviation described in gatt-and-devices.md, "Pitfalls"):
    pulse and status big-endian, user-id byte present even when its flag is clear."""
    out = struct.pack("<BHHH", flags, 135, 85, 102)
    if flags & 0x02:
        out += struct.pack("<HBBBBB", 2024, 1, 2, 3, 4, 5)
    if flags & 0x04:
        out += struct.pack(">H", 72)
    out += bytes((2,))
    if flags & 0x10:
        out += struct.pack(">H", 0x0011)
    return out


@pytest.mark.parametrize("flags", range(32))
def test_beurer_every_flag_combination(flags: int) -> None:
    value = decode("2a35", beurer_bytes(flags), quirks=[BEURER])
    assert isinstance(value, BloodPressureMeasurement)
    assert value.systolic_mmhg == (round(135 * 7.50062, 1) if flags & 0x01 else 135)
    assert value.pulse_rate_bpm == (72 if flags & 0x04 else None)
    assert value.user_id == 2  # the always-present byte is the cuff's user button, flag or not
    assert value.status == (
        BloodPressureStatus(True, False, False, PulseRange.BELOW, False) if flags & 0x10 else None
    )
    spec = encode_blood_pressure_measurement(
        135,
        85,
        102,
        unit=PressureUnit.KPA if flags & 0x01 else PressureUnit.MMHG,
        timestamp=datetime(2024, 1, 2, 3, 4, 5) if flags & 0x02 else None,
        pulse_rate=72 if flags & 0x04 else None,
        user_id=2,
        status=0x0011 if flags & 0x10 else None,
    )
    assert apply_quirks(uuids.BLOOD_PRESSURE_MEASUREMENT, beurer_bytes(flags), [BEURER]) == spec


def test_beurer_keeps_the_user_id_so_two_people_sharing_the_cuff_stay_apart() -> None:
    for user in (1, 2):
        data = beurer_bytes(0x16)[:-3] + bytes((user,)) + beurer_bytes(0x16)[-2:]
        value = decode("2a35", data, quirks=[BEURER])
        assert isinstance(value, BloodPressureMeasurement)
        assert value.user_id == user
    unknown = beurer_bytes(0x16)[:-3] + b"\xff" + beurer_bytes(0x16)[-2:]
    value = decode("2a35", unknown, quirks=[BEURER])
    assert isinstance(value, BloodPressureMeasurement) and value.user_id is None


def zero_map_bytes(*, user: int = 2, mean: bytes = b"\x00\x00") -> bytes:
    """A standard-layout Blood Pressure Measurement whose MAP field is 0x0000, as a cuff that
    computes no mean sends it (the BM85 does, in its own layout: tests/gatt/test_bm85_captures.py).
    Not a capture: built from the layout (gatt-and-devices.md, "Layouts"), byte by byte: flags 0x1E,
    128/82 mmHg, a timestamp, pulse 66 bpm, user ``user``, status 0x0004 (irregular pulse)."""
    return (
        bytes((0x1E,))
        + struct.pack("<HH", 128, 82)
        + mean
        + struct.pack("<HBBBBB", 2024, 3, 9, 7, 45, 12)
        + struct.pack("<H", 66)
        + bytes((user,))
        + struct.pack("<H", 0x0004)
    )


def test_a_zero_mean_arterial_pressure_is_not_available() -> None:
    value = decode("2a35", zero_map_bytes(), quirks=["bp_map_zero_not_available"])
    assert isinstance(value, BloodPressureMeasurement)
    assert (value.systolic_mmhg, value.diastolic_mmhg) == (128, 82)
    assert value.mean_arterial_pressure_mmhg is None
    assert value.pulse_rate_bpm == 66
    assert value.user_id == 2
    assert value.status == BloodPressureStatus(irregular_pulse=True)
    # Without the quirk the same bytes read as a MAP of 0 mmHg: the defect the quirk exists for.
    literal = decode("2a35", zero_map_bytes())
    assert isinstance(literal, BloodPressureMeasurement) and literal.mean_arterial_pressure_mmhg == 0.0


def test_the_zero_map_quirk_keeps_a_real_mean_and_other_characteristics() -> None:
    value = decode("2a35", zero_map_bytes(mean=struct.pack("<H", 97)), quirks=["bp_map_zero_not_available"])
    assert isinstance(value, BloodPressureMeasurement) and value.mean_arterial_pressure_mmhg == 97
    quirk = QUIRKS["bp_map_zero_not_available"]
    cuff = zero_map_bytes()[:7]
    assert quirk(uuids.INTERMEDIATE_CUFF_PRESSURE, cuff) == cuff
    assert quirk(uuids.WEIGHT_MEASUREMENT, b"\x00\x00\x00\x00\x00\x00\x00") == b"\x00" * 7
    with pytest.raises(DecodeError, match="pressures"):
        quirk(uuids.BLOOD_PRESSURE_MEASUREMENT, cuff[:6])


def test_without_the_quirk_the_beurer_packet_is_rejected() -> None:
    with pytest.raises(DecodeError, match="trailing"):
        decode("2a35", beurer_bytes(0x04))


def test_beurer_truncated() -> None:
    data = beurer_bytes(0x16)
    for length in range(len(data)):
        with pytest.raises(DecodeError):
            decode("2a35", data[:length], quirks=[BEURER])


def test_beurer_leaves_other_characteristics_alone() -> None:
    data = h("00 64 00 5A 00")
    assert QUIRKS[BEURER](uuids.PLX_CONTINUOUS_MEASUREMENT, data) == data
    assert decode("2a36", beurer_bytes(0x04)[:9] + b"\x01", quirks=[BEURER]) is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(36.6, 36.6), (98.6, 37.0), (-0.5, -0.5), (float("nan"), None), (float("inf"), None)],
)
def test_ieee754_thermometer(value: float, expected: float | None) -> None:
    flags = 0x01 if value == 98.6 else 0x00
    data = bytes((flags | 0x04,)) + struct.pack("<f", value) + b"\x02"
    result = decode("2a1c", data, quirks=["temperature_ieee754_float32"])
    assert isinstance(result, TemperatureMeasurement)
    assert result.temperature_c == expected
    with pytest.raises(DecodeError):
        decode("2a1c", data[:4], quirks=["temperature_ieee754_float32"])


def test_unknown_quirk() -> None:
    with pytest.raises(UnknownQuirkError, match="no_such_quirk"):
        decode("2a35", beurer_bytes(0), quirks=["no_such_quirk"])
    with pytest.raises(UnknownQuirkError):
        validate_quirk_names([BEURER, "typo"])
    validate_quirk_names(QUIRKS)
