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
    assert value.user_id == (2 if flags & 0x08 else None)
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
        user_id=2 if flags & 0x08 else None,
        status=0x0011 if flags & 0x10 else None,
    )
    assert apply_quirks(uuids.BLOOD_PRESSURE_MEASUREMENT, beurer_bytes(flags), [BEURER]) == spec


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
