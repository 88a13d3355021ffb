"""Battery Level 0x2A19 and the Device Information strings (0x2A29, 0x2A24, 0x2A25, 0x2A27, 0x2A26,
0x2A28).

Strings are UTF-8 with trailing NULs stripped (many devices pad to a fixed buffer); invalid UTF-8 is an
error rather than a lossy replacement, because these strings identify devices in the catalogue and a
silently mangled serial number would match nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.gatt import uuids
from gateway.gatt.errors import DecodeError

__all__ = [
    "DEVICE_INFORMATION_FIELDS",
    "BatteryLevel",
    "DeviceInformationString",
    "decode_battery_level",
    "decode_device_information_string",
    "encode_battery_level",
]

DEVICE_INFORMATION_FIELDS: Final[dict[str, str]] = {
    uuids.MANUFACTURER_NAME_STRING: "manufacturer_name",
    uuids.MODEL_NUMBER_STRING: "model_number",
    uuids.SERIAL_NUMBER_STRING: "serial_number",
    uuids.HARDWARE_REVISION_STRING: "hardware_revision",
    uuids.FIRMWARE_REVISION_STRING: "firmware_revision",
    uuids.SOFTWARE_REVISION_STRING: "software_revision",
}


@dataclass(frozen=True, slots=True)
class BatteryLevel:
    percent: int


@dataclass(frozen=True, slots=True)
class DeviceInformationString:
    """One Device Information string; ``field`` is e.g. "serial_number" so the hub can file it directly."""

    characteristic_uuid: str
    field: str
    value: str


def decode_battery_level(data: bytes) -> BatteryLevel:
    """Battery Level 0x2A19: exactly one byte, 0–100; 101–255 are reserved."""
    if len(data) != 1:
        raise DecodeError(f"0x2A19: expected 1 byte, got {len(data)}")
    if data[0] > 100:
        raise DecodeError(f"0x2A19: battery level {data[0]} is above 100 %")
    return BatteryLevel(data[0])


def encode_battery_level(percent: int) -> bytes:
    if not 0 <= percent <= 100:
        raise ValueError(f"battery level out of range: {percent}")
    return bytes((percent,))


def decode_device_information_string(characteristic_uuid: str, data: bytes) -> DeviceInformationString:
    """Decode one of the six strings; ``characteristic_uuid`` must already be normalised."""
    field = DEVICE_INFORMATION_FIELDS.get(characteristic_uuid)
    context = uuids.display_name(characteristic_uuid)
    if field is None:
        raise DecodeError(f"{context}: not a Device Information string characteristic")
    try:
        text = bytes(data).rstrip(b"\x00").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"{context}: invalid UTF-8 at byte {exc.start}") from None
    return DeviceInformationString(characteristic_uuid, field, text)
