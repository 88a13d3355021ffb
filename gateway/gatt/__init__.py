"""Pure decoders (and encoders) for the Bluetooth SIG health characteristics CareWatch supports.

``decode()`` is the single entry point the hub uses for every notification/indication: bytes in, a typed
frozen measurement object in canonical units out (mmHg, %, bpm, kg, m, °C), or ``DecodeError``. Nothing
in this package does I/O, so it runs unchanged in the hub, the simulator, the server and the tests.

Conventions shared by all decoders (documented once here):

* Timestamps are naive device-local wall-clock time; the caller attaches the household's time zone.
* IEEE-11073 special values and "measurement unsuccessful" markers decode to ``None``, never a number.
* Trailing bytes after a layout its flags fully determine are a ``DecodeError``; RFU flag/status bits are
  ignored and decoding continues; reserved enumerated values are a ``DecodeError``.
* Device deviations are fixed by named quirks (``quirks.QUIRKS``) applied before the standard decoder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from gateway.gatt import uuids
from gateway.gatt.berrymed import BerryMedFrames, decode_berrymed_frames
from gateway.gatt.blood_pressure import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    IntermediateCuffPressure,
    decode_blood_pressure_feature,
    decode_blood_pressure_measurement,
    decode_intermediate_cuff_pressure,
)
from gateway.gatt.date_time import CurrentTime, GattDateTime, decode_current_time, decode_date_time
from gateway.gatt.device_information import (
    DEVICE_INFORMATION_FIELDS,
    BatteryLevel,
    DeviceInformationString,
    decode_battery_level,
    decode_device_information_string,
)
from gateway.gatt.errors import DecodeError, UnknownQuirkError
from gateway.gatt.pulse_oximetry import (
    PlxContinuous,
    PlxFeatures,
    PlxSpotCheck,
    decode_plx_continuous,
    decode_plx_features,
    decode_plx_spot_check,
)
from gateway.gatt.quirks import apply_quirks
from gateway.gatt.racp import RacpNumberOfRecords, RacpResponse, decode_racp_response
from gateway.gatt.thermometer import (
    TemperatureMeasurement,
    TemperatureType,
    decode_intermediate_temperature,
    decode_temperature_measurement,
    decode_temperature_type,
)
from gateway.gatt.weight_scale import (
    BodyComposition,
    WeightMeasurement,
    WeightScaleFeature,
    decode_body_composition,
    decode_weight_measurement,
    decode_weight_scale_feature,
)

__all__ = [
    "DECODERS",
    "DecodeError",
    "Measurement",
    "UnknownQuirkError",
    "decode",
    "supported_characteristics",
]

Measurement = (
    BloodPressureMeasurement
    | IntermediateCuffPressure
    | BloodPressureFeature
    | PlxSpotCheck
    | PlxContinuous
    | PlxFeatures
    | WeightMeasurement
    | WeightScaleFeature
    | BodyComposition
    | TemperatureMeasurement
    | TemperatureType
    | GattDateTime
    | CurrentTime
    | RacpResponse
    | RacpNumberOfRecords
    | BatteryLevel
    | DeviceInformationString
    | BerryMedFrames
)

Decoder = Callable[[bytes], Measurement]


def _device_information(uuid: str) -> Decoder:
    return lambda data: decode_device_information_string(uuid, data)


DECODERS: Final[dict[str, Decoder]] = {
    uuids.BLOOD_PRESSURE_MEASUREMENT: decode_blood_pressure_measurement,
    uuids.INTERMEDIATE_CUFF_PRESSURE: decode_intermediate_cuff_pressure,
    uuids.BLOOD_PRESSURE_FEATURE: decode_blood_pressure_feature,
    uuids.PLX_SPOT_CHECK_MEASUREMENT: decode_plx_spot_check,
    uuids.PLX_CONTINUOUS_MEASUREMENT: decode_plx_continuous,
    uuids.PLX_FEATURES: decode_plx_features,
    uuids.WEIGHT_MEASUREMENT: decode_weight_measurement,
    uuids.WEIGHT_SCALE_FEATURE: decode_weight_scale_feature,
    uuids.BODY_COMPOSITION_MEASUREMENT: decode_body_composition,
    uuids.TEMPERATURE_MEASUREMENT: decode_temperature_measurement,
    uuids.INTERMEDIATE_TEMPERATURE: decode_intermediate_temperature,
    uuids.TEMPERATURE_TYPE: decode_temperature_type,
    uuids.DATE_TIME: decode_date_time,
    uuids.CURRENT_TIME: decode_current_time,
    uuids.RECORD_ACCESS_CONTROL_POINT: decode_racp_response,
    uuids.BATTERY_LEVEL: decode_battery_level,
    uuids.BERRYMED_NOTIFY: decode_berrymed_frames,
    **{uuid: _device_information(uuid) for uuid in DEVICE_INFORMATION_FIELDS},
}


def supported_characteristics() -> frozenset[str]:
    """Normalised UUIDs ``decode()`` accepts."""
    return frozenset(DECODERS)


def decode(
    characteristic_uuid: str, data: bytes | bytearray | memoryview, *, quirks: Sequence[str] = ()
) -> Measurement:
    """Decode one characteristic value.

    ``characteristic_uuid`` may be 16-bit ("2a35", "0x2A35") or 128-bit; ``quirks`` are names from
    ``quirks.QUIRKS`` applied in order before decoding. Raises ``DecodeError`` for malformed data or an
    unsupported UUID, and ``UnknownQuirkError`` for a quirk name that does not exist (a configuration
    fault, not a bad packet). For the BerryMed stream this decodes only whole, aligned frames; live
    streams should use ``berrymed.BerryMedStreamParser``.
    """
    uuid = uuids.normalize_uuid(characteristic_uuid)
    decoder = DECODERS.get(uuid)
    if decoder is None:
        raise DecodeError(f"{uuids.display_name(uuid)}: no decoder for this characteristic")
    payload = bytes(data)
    if quirks:
        payload = apply_quirks(uuid, payload, quirks)
    return decoder(payload)
