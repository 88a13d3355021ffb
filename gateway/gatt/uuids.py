"""Every service and characteristic UUID the hub knows, in one table.

UUIDs are kept as lower-case 128-bit strings because that is what bleak reports and what a device
catalogue (YAML) is easiest to compare against; ``normalize_uuid`` turns any accepted spelling into that
form so comparisons never depend on how somebody typed a UUID.
"""

from __future__ import annotations

import re
from typing import Final

from gateway.gatt.errors import DecodeError

__all__ = [
    "BATTERY_LEVEL",
    "BATTERY_SERVICE",
    "BERRYMED_NOTIFY",
    "BERRYMED_SERVICE",
    "BLOOD_PRESSURE_FEATURE",
    "BLOOD_PRESSURE_MEASUREMENT",
    "BLOOD_PRESSURE_SERVICE",
    "BLUETOOTH_BASE_UUID_SUFFIX",
    "BODY_COMPOSITION_FEATURE",
    "BODY_COMPOSITION_MEASUREMENT",
    "BODY_COMPOSITION_SERVICE",
    "CHARACTERISTIC_NAMES",
    "CLIENT_CHARACTERISTIC_CONFIGURATION",
    "CURRENT_TIME",
    "CURRENT_TIME_SERVICE",
    "DATE_TIME",
    "DEVICE_INFORMATION_SERVICE",
    "FIRMWARE_REVISION_STRING",
    "HARDWARE_REVISION_STRING",
    "HEALTH_THERMOMETER_SERVICE",
    "INTERMEDIATE_CUFF_PRESSURE",
    "INTERMEDIATE_TEMPERATURE",
    "MANUFACTURER_NAME_STRING",
    "MODEL_NUMBER_STRING",
    "PLX_CONTINUOUS_MEASUREMENT",
    "PLX_FEATURES",
    "PLX_SPOT_CHECK_MEASUREMENT",
    "PULSE_OXIMETER_SERVICE",
    "RECORD_ACCESS_CONTROL_POINT",
    "SERIAL_NUMBER_STRING",
    "SERVICE_NAMES",
    "SOFTWARE_REVISION_STRING",
    "TEMPERATURE_MEASUREMENT",
    "TEMPERATURE_TYPE",
    "WEIGHT_MEASUREMENT",
    "WEIGHT_SCALE_FEATURE",
    "WEIGHT_SCALE_SERVICE",
    "display_name",
    "normalize_uuid",
    "uuid16",
]

BLUETOOTH_BASE_UUID_SUFFIX: Final = "-0000-1000-8000-00805f9b34fb"


def uuid16(short: int) -> str:
    """Expand a SIG-assigned 16-bit UUID onto the Bluetooth base UUID."""
    if not 0 <= short <= 0xFFFF:
        raise ValueError(f"16-bit UUID out of range: {short:#x}")
    return f"{short:08x}{BLUETOOTH_BASE_UUID_SUFFIX}"


# --- services -------------------------------------------------------------------------------------------
HEALTH_THERMOMETER_SERVICE: Final = uuid16(0x1809)
DEVICE_INFORMATION_SERVICE: Final = uuid16(0x180A)
BATTERY_SERVICE: Final = uuid16(0x180F)
CURRENT_TIME_SERVICE: Final = uuid16(0x1805)
BLOOD_PRESSURE_SERVICE: Final = uuid16(0x1810)
BODY_COMPOSITION_SERVICE: Final = uuid16(0x181B)
WEIGHT_SCALE_SERVICE: Final = uuid16(0x181D)
PULSE_OXIMETER_SERVICE: Final = uuid16(0x1822)
BERRYMED_SERVICE: Final = "49535343-fe7d-4ae5-8fa9-9fafd205e455"

# --- characteristics ------------------------------------------------------------------------------------
DATE_TIME: Final = uuid16(0x2A08)
BATTERY_LEVEL: Final = uuid16(0x2A19)
TEMPERATURE_MEASUREMENT: Final = uuid16(0x2A1C)
TEMPERATURE_TYPE: Final = uuid16(0x2A1D)
INTERMEDIATE_TEMPERATURE: Final = uuid16(0x2A1E)
MODEL_NUMBER_STRING: Final = uuid16(0x2A24)
SERIAL_NUMBER_STRING: Final = uuid16(0x2A25)
FIRMWARE_REVISION_STRING: Final = uuid16(0x2A26)
HARDWARE_REVISION_STRING: Final = uuid16(0x2A27)
SOFTWARE_REVISION_STRING: Final = uuid16(0x2A28)
MANUFACTURER_NAME_STRING: Final = uuid16(0x2A29)
CURRENT_TIME: Final = uuid16(0x2A2B)
BLOOD_PRESSURE_MEASUREMENT: Final = uuid16(0x2A35)
INTERMEDIATE_CUFF_PRESSURE: Final = uuid16(0x2A36)
BLOOD_PRESSURE_FEATURE: Final = uuid16(0x2A49)
RECORD_ACCESS_CONTROL_POINT: Final = uuid16(0x2A52)
PLX_SPOT_CHECK_MEASUREMENT: Final = uuid16(0x2A5E)
PLX_CONTINUOUS_MEASUREMENT: Final = uuid16(0x2A5F)
PLX_FEATURES: Final = uuid16(0x2A60)
BODY_COMPOSITION_FEATURE: Final = uuid16(0x2A9B)
BODY_COMPOSITION_MEASUREMENT: Final = uuid16(0x2A9C)
WEIGHT_MEASUREMENT: Final = uuid16(0x2A9D)
WEIGHT_SCALE_FEATURE: Final = uuid16(0x2A9E)
BERRYMED_NOTIFY: Final = "49535343-1e4d-4bd9-ba61-23c647249616"

# --- descriptors ----------------------------------------------------------------------------------------
CLIENT_CHARACTERISTIC_CONFIGURATION: Final = uuid16(0x2902)

SERVICE_NAMES: Final[dict[str, str]] = {
    HEALTH_THERMOMETER_SERVICE: "Health Thermometer",
    DEVICE_INFORMATION_SERVICE: "Device Information",
    BATTERY_SERVICE: "Battery",
    CURRENT_TIME_SERVICE: "Current Time",
    BLOOD_PRESSURE_SERVICE: "Blood Pressure",
    BODY_COMPOSITION_SERVICE: "Body Composition",
    WEIGHT_SCALE_SERVICE: "Weight Scale",
    PULSE_OXIMETER_SERVICE: "Pulse Oximeter",
    BERRYMED_SERVICE: "BerryMed oximeter (proprietary)",
}

CHARACTERISTIC_NAMES: Final[dict[str, str]] = {
    DATE_TIME: "Date Time",
    BATTERY_LEVEL: "Battery Level",
    TEMPERATURE_MEASUREMENT: "Temperature Measurement",
    TEMPERATURE_TYPE: "Temperature Type",
    INTERMEDIATE_TEMPERATURE: "Intermediate Temperature",
    MODEL_NUMBER_STRING: "Model Number String",
    SERIAL_NUMBER_STRING: "Serial Number String",
    FIRMWARE_REVISION_STRING: "Firmware Revision String",
    HARDWARE_REVISION_STRING: "Hardware Revision String",
    SOFTWARE_REVISION_STRING: "Software Revision String",
    MANUFACTURER_NAME_STRING: "Manufacturer Name String",
    CURRENT_TIME: "Current Time",
    BLOOD_PRESSURE_MEASUREMENT: "Blood Pressure Measurement",
    INTERMEDIATE_CUFF_PRESSURE: "Intermediate Cuff Pressure",
    BLOOD_PRESSURE_FEATURE: "Blood Pressure Feature",
    RECORD_ACCESS_CONTROL_POINT: "Record Access Control Point",
    PLX_SPOT_CHECK_MEASUREMENT: "PLX Spot-Check Measurement",
    PLX_CONTINUOUS_MEASUREMENT: "PLX Continuous Measurement",
    PLX_FEATURES: "PLX Features",
    BODY_COMPOSITION_FEATURE: "Body Composition Feature",
    BODY_COMPOSITION_MEASUREMENT: "Body Composition Measurement",
    WEIGHT_MEASUREMENT: "Weight Measurement",
    WEIGHT_SCALE_FEATURE: "Weight Scale Feature",
    BERRYMED_NOTIFY: "BerryMed oximeter stream (proprietary)",
}

_FULL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX = re.compile(r"[0-9a-f]+")


def normalize_uuid(value: str) -> str:
    """Canonical lower-case 128-bit form of a UUID given as "2a35", "0x2A35", 32-bit or 128-bit.

    Raises ``DecodeError`` (not a bare ``ValueError``) because the UUID arrives together with the data
    and ``decode()`` promises a single exception class.
    """
    text = value.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if len(text) in (4, 8) and _HEX.fullmatch(text):
        return f"{int(text, 16):08x}{BLUETOOTH_BASE_UUID_SUFFIX}"
    if len(text) == 32 and _HEX.fullmatch(text):
        text = f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    if _FULL.fullmatch(text):
        return text
    raise DecodeError(f"not a Bluetooth UUID: {value!r}")


def display_name(uuid: str) -> str:
    """Short label for error messages: "0x2A35" for SIG UUIDs, the full UUID otherwise."""
    if uuid.endswith(BLUETOOTH_BASE_UUID_SUFFIX) and uuid.startswith("0000"):
        return f"0x{uuid[4:8].upper()}"
    return uuid
