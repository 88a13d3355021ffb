"""Battery Level 0x2A19 and Device Information strings, per GATT Specification Supplement §3.27 and
§3.x (utf8s string characteristics)."""

from __future__ import annotations

import pytest

from gateway.gatt import decode, uuids
from gateway.gatt.device_information import (
    DEVICE_INFORMATION_FIELDS,
    BatteryLevel,
    DeviceInformationString,
    decode_battery_level,
    decode_device_information_string,
    encode_battery_level,
)
from gateway.gatt.errors import DecodeError


@pytest.mark.parametrize("level", [0, 1, 57, 100])
def test_battery_level(level: int) -> None:
    assert decode("2a19", encode_battery_level(level)) == BatteryLevel(level)


@pytest.mark.parametrize("data", [b"", b"\x65", b"\xff", b"\x10\x00"])
def test_battery_level_invalid(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_battery_level(data)


@pytest.mark.parametrize(
    ("short", "field"),
    [
        ("2a29", "manufacturer_name"),
        ("2a24", "model_number"),
        ("2a25", "serial_number"),
        ("2a27", "hardware_revision"),
        ("2a26", "firmware_revision"),
        ("2a28", "software_revision"),
    ],
)
def test_strings(short: str, field: str) -> None:
    uuid = uuids.normalize_uuid(short)
    assert DEVICE_INFORMATION_FIELDS[uuid] == field
    value = decode(short, "Blutdruck-Messgerät 3\x00\x00".encode())
    assert value == DeviceInformationString(uuid, field, "Blutdruck-Messgerät 3")
    assert decode(short, b"") == DeviceInformationString(uuid, field, "")
    assert decode(short, b"A\x00B\x00") == DeviceInformationString(uuid, field, "A\x00B")
    with pytest.raises(DecodeError, match="invalid UTF-8"):
        decode(short, b"\xff\xfe")


def test_string_for_wrong_uuid() -> None:
    with pytest.raises(DecodeError):
        decode_device_information_string(uuids.BATTERY_LEVEL, b"x")
