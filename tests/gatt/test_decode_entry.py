"""The single ``decode()`` entry point: UUID spellings, dispatch, unknown characteristics."""

from __future__ import annotations

import pytest

from gateway.gatt import DECODERS, decode, supported_characteristics, uuids
from gateway.gatt.errors import DecodeError
from gateway.gatt.pulse_oximetry import PlxContinuous
from tests.gatt.helpers import h

PLX = h("00 64 00 5A 00")  # gatt-and-devices.md, first 0x2A5F row


@pytest.mark.parametrize(
    "spelling",
    [
        "2a5f",
        "2A5F",
        "0x2a5f",
        "0X2A5F",
        " 2a5f ",
        "00002a5f",
        "00002a5f-0000-1000-8000-00805f9b34fb",
        "00002A5F-0000-1000-8000-00805F9B34FB",
        "{00002a5f-0000-1000-8000-00805f9b34fb}",
        "00002a5f00001000800000805f9b34fb",
    ],
)
def test_uuid_spellings(spelling: str) -> None:
    assert isinstance(decode(spelling, PLX), PlxContinuous)


def test_accepts_bytearray_and_memoryview() -> None:
    assert decode("2a5f", bytearray(PLX)) == decode("2a5f", memoryview(PLX))


@pytest.mark.parametrize("spelling", ["", "2a", "2a5", "zzzz", "0x", "00002a5f-0000-1000-8000", "2a5f2a5f2a"])
def test_bad_uuid(spelling: str) -> None:
    with pytest.raises(DecodeError, match="not a Bluetooth UUID"):
        decode(spelling, PLX)


@pytest.mark.parametrize("spelling", ["2a37", "180d", "6e400003-b5a3-f393-e0a9-e50e24dcca9e"])
def test_unknown_characteristic(spelling: str) -> None:
    with pytest.raises(DecodeError, match="no decoder"):
        decode(spelling, PLX)


def test_uuid_table() -> None:
    assert uuids.BLOOD_PRESSURE_MEASUREMENT == "00002a35-0000-1000-8000-00805f9b34fb"
    assert uuids.BERRYMED_SERVICE == "49535343-fe7d-4ae5-8fa9-9fafd205e455"
    assert uuids.display_name(uuids.BLOOD_PRESSURE_MEASUREMENT) == "0x2A35"
    assert uuids.display_name(uuids.BERRYMED_NOTIFY) == uuids.BERRYMED_NOTIFY
    assert set(DECODERS) <= set(uuids.CHARACTERISTIC_NAMES)
    assert supported_characteristics() == frozenset(DECODERS)
    with pytest.raises(ValueError, match="16-bit"):
        uuids.uuid16(0x10000)
