"""Health Thermometer: Temperature Measurement 0x2A1C, Intermediate Temperature 0x2A1E (same layout),
Temperature Type 0x2A1D.

Temperatures are returned in °C; Fahrenheit readings are converted and rounded to 0.01 °C (thermometers
resolve 0.1 °F ≈ 0.06 °C, so two decimals keep all information without float noise). Reserved temperature
type codes (0, 10–255) are errors; RFU flag bits 3–7 are ignored; trailing bytes are an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Final

from gateway.gatt._reader import Reader
from gateway.gatt.date_time import GattDateTime, encode_date_time
from gateway.gatt.errors import DecodeError
from gateway.gatt.ieee11073 import encode_float

__all__ = [
    "TemperatureMeasurement",
    "TemperatureType",
    "TemperatureUnit",
    "decode_intermediate_temperature",
    "decode_temperature_measurement",
    "decode_temperature_type",
    "encode_temperature_measurement",
]

FLAG_FAHRENHEIT: Final = 0x01
FLAG_TIMESTAMP: Final = 0x02
FLAG_TYPE: Final = 0x04


class TemperatureUnit(StrEnum):
    CELSIUS = "°C"
    FAHRENHEIT = "°F"


class TemperatureType(IntEnum):
    """Measurement site; matters clinically (a rectal 38.0 is not an axillary 38.0)."""

    ARMPIT = 1
    BODY = 2
    EAR = 3
    FINGER = 4
    GASTROINTESTINAL_TRACT = 5
    MOUTH = 6
    RECTUM = 7
    TOE = 8
    TYMPANUM = 9

    @property
    def label(self) -> str:
        return _TYPE_LABELS[self]


_TYPE_LABELS: Final = {
    TemperatureType.ARMPIT: "Armpit",
    TemperatureType.BODY: "Body (general)",
    TemperatureType.EAR: "Ear (usually earlobe)",
    TemperatureType.FINGER: "Finger",
    TemperatureType.GASTROINTESTINAL_TRACT: "Gastro-intestinal Tract",
    TemperatureType.MOUTH: "Mouth",
    TemperatureType.RECTUM: "Rectum",
    TemperatureType.TOE: "Toe",
    TemperatureType.TYMPANUM: "Tympanum (ear drum)",
}


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    """One temperature; ``temperature_c`` is ``None`` when the device sent a special FLOAT value."""

    temperature_c: float | None
    unit: TemperatureUnit
    timestamp: GattDateTime | None = None
    temperature_type: TemperatureType | None = None

    @property
    def temperature_type_name(self) -> str | None:
        return self.temperature_type.label if self.temperature_type is not None else None

    @property
    def measured_at(self) -> datetime | None:
        return self.timestamp.value if self.timestamp is not None else None


_KNOWN_TYPES: Final = frozenset(int(t) for t in TemperatureType)


def _temperature_type(code: int, context: str) -> TemperatureType:
    try:
        return TemperatureType(code)
    except ValueError:
        raise DecodeError(f"{context}: reserved temperature type {code}") from None


def _decode(data: bytes, context: str) -> TemperatureMeasurement:
    reader = Reader(data, context, 5)
    flags = reader.u8("flags")
    value = reader.float32("temperature")
    fahrenheit = bool(flags & FLAG_FAHRENHEIT)
    if fahrenheit and value is not None:
        value = round((value - 32.0) * 5.0 / 9.0, 2)
    timestamp = reader.date_time() if flags & FLAG_TIMESTAMP else None
    temperature_type = None
    if flags & FLAG_TYPE:
        # A site code reserved for future use leaves the site unknown; the temperature stands.
        code = reader.u8("temperature type", flagged=True)
        temperature_type = TemperatureType(code) if code in _KNOWN_TYPES else None
    reader.finish()
    unit = TemperatureUnit.FAHRENHEIT if fahrenheit else TemperatureUnit.CELSIUS
    return TemperatureMeasurement(value, unit, timestamp, temperature_type)


def decode_temperature_measurement(data: bytes) -> TemperatureMeasurement:
    """Temperature Measurement 0x2A1C."""
    return _decode(data, "0x2A1C")


def decode_intermediate_temperature(data: bytes) -> TemperatureMeasurement:
    """Intermediate Temperature 0x2A1E (same layout, sent while the reading settles)."""
    return _decode(data, "0x2A1E")


def decode_temperature_type(data: bytes) -> TemperatureType:
    """Temperature Type 0x2A1D (exactly 1 byte): the fixed site of a thermometer that omits it per reading."""
    if len(data) != 1:
        raise DecodeError(f"0x2A1D: expected 1 byte, got {len(data)}")
    return _temperature_type(data[0], "0x2A1D")


def encode_temperature_measurement(
    temperature: float | None,
    *,
    unit: TemperatureUnit = TemperatureUnit.CELSIUS,
    decimals: int = 1,
    timestamp: datetime | GattDateTime | None = None,
    temperature_type: TemperatureType | int | None = None,
) -> bytes:
    """Spec bytes for an emulated thermometer; ``temperature`` in ``unit``, ``None`` encodes NaN."""
    flags = FLAG_FAHRENHEIT if unit is TemperatureUnit.FAHRENHEIT else 0
    body = encode_float(temperature, decimals)
    if timestamp is not None:
        flags |= FLAG_TIMESTAMP
        body += encode_date_time(timestamp)
    if temperature_type is not None:
        flags |= FLAG_TYPE
        body += bytes((int(temperature_type),))
    return bytes((flags,)) + body
