"""Temperature Measurement 0x2A1C, Intermediate Temperature 0x2A1E, Temperature Type 0x2A1D.

Inputs constructed per GATT Specification Supplement §3.216 (Temperature Measurement) and §3.218
(Temperature Type) unless stated otherwise.
"""

from __future__ import annotations

import struct
from datetime import datetime

import pytest

from gateway.gatt import decode
from gateway.gatt.date_time import GattDateTime
from gateway.gatt.errors import DecodeError
from gateway.gatt.ieee11073 import FLOAT_SPECIAL_VALUES
from gateway.gatt.thermometer import (
    TemperatureMeasurement,
    TemperatureType,
    TemperatureUnit,
    decode_intermediate_temperature,
    decode_temperature_measurement,
    decode_temperature_type,
    encode_temperature_measurement,
)
from tests.gatt.helpers import assert_every_truncation_fails, assert_trailing_byte_fails, h

WHEN = datetime(2024, 6, 1, 6, 30, 0)


def hand_temperature(flags: int) -> bytes:
    """37.2 °C (0xFF000174) or 98.9 °F (0xFF0003DD); 2024-06-01 06:30:00; type 6 (mouth)."""
    out = struct.pack("<BI", flags, 0xFF0003DD if flags & 0x01 else 0xFF000174)
    if flags & 0x02:
        out += struct.pack("<HBBBBB", 2024, 6, 1, 6, 30, 0)
    if flags & 0x04:
        out += bytes((6,))
    return out


@pytest.mark.parametrize("flags", range(8))
def test_every_flag_combination(flags: int) -> None:
    fahrenheit = bool(flags & 0x01)
    data = hand_temperature(flags)
    assert (
        encode_temperature_measurement(
            98.9 if fahrenheit else 37.2,
            unit=TemperatureUnit.FAHRENHEIT if fahrenheit else TemperatureUnit.CELSIUS,
            timestamp=WHEN if flags & 0x02 else None,
            temperature_type=TemperatureType.MOUTH if flags & 0x04 else None,
        )
        == data
    )
    expected = TemperatureMeasurement(
        round((98.9 - 32) * 5 / 9, 2) if fahrenheit else 37.2,
        TemperatureUnit.FAHRENHEIT if fahrenheit else TemperatureUnit.CELSIUS,
        GattDateTime(2024, 6, 1, 6, 30, 0) if flags & 0x02 else None,
        TemperatureType.MOUTH if flags & 0x04 else None,
    )
    assert decode("2a1c", data) == expected
    assert decode("2a1e", data) == expected
    assert_every_truncation_fails(decode_temperature_measurement, data)
    assert_trailing_byte_fails(decode_temperature_measurement, data)
    assert_every_truncation_fails(decode_intermediate_temperature, data)


def test_fahrenheit_conversion_rounding() -> None:
    value = decode_temperature_measurement(hand_temperature(0x01))
    assert value.temperature_c == 37.17
    assert value.measured_at is None


def test_type_name() -> None:
    value = decode_temperature_measurement(hand_temperature(0x06))
    assert value.temperature_type_name == "Mouth"
    assert value.measured_at == WHEN


@pytest.mark.parametrize("special", sorted(FLOAT_SPECIAL_VALUES))
@pytest.mark.parametrize("flags", [0x00, 0x01])
def test_special_values(special: int, flags: int) -> None:
    data = bytes((flags,)) + special.to_bytes(4, "little")
    assert decode_temperature_measurement(data).temperature_c is None


@pytest.mark.parametrize("code", [0, 10, 255])
def test_reserved_type(code: int) -> None:
    """A reserved site code in a measurement leaves the site unknown and keeps the temperature;
    the Temperature Type characteristic alone, which carries nothing else, is refused."""
    kept = decode_temperature_measurement(hand_temperature(0x04)[:-1] + bytes((code,)))
    assert kept.temperature_type is None
    assert kept.temperature_c == decode_temperature_measurement(hand_temperature(0x04)).temperature_c
    with pytest.raises(DecodeError):
        decode_temperature_type(bytes((code,)))


def test_temperature_type_characteristic() -> None:
    for member in TemperatureType:
        assert decode("2a1d", bytes((member,))) is member
    assert_every_truncation_fails(decode_temperature_type, h("01"))
    assert_trailing_byte_fails(decode_temperature_type, h("01"))


def test_rfu_flags_ignored() -> None:
    data = hand_temperature(0x07)
    assert decode_temperature_measurement(
        bytes((data[0] | 0xF8,)) + data[1:]
    ) == decode_temperature_measurement(data)
