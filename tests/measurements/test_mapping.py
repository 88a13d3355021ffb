"""to_readings: one decoded spot measurement → wire readings, or a Refusal.

Bytes come from the vector table in /work/shared/reference/gatt-and-devices.md ("doc vector") or are
built with the spec encoders of gateway.gatt ("encoder"), whose own tests pin them to the spec.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from common.wire.messages import Reading, TimeSource
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag
from gateway.gatt import Measurement, decode, uuids
from gateway.gatt.blood_pressure import (
    BloodPressureStatus,
    PulseRange,
    encode_blood_pressure_measurement,
    encode_intermediate_cuff_pressure,
)
from gateway.gatt.pulse_oximetry import PlxDeviceSensorStatus, PlxMeasurementStatus, encode_plx_spot_check
from gateway.gatt.thermometer import TemperatureType, TemperatureUnit, encode_temperature_measurement
from gateway.gatt.weight_scale import UnitSystem, encode_weight_measurement
from gateway.measurements.mapping import to_readings
from gateway.measurements.refusals import Refusal, RefusalReason
from gateway.measurements.wire_ids import READING_ID_NAMESPACE, reading_id_for, wire_uuid
from tests.measurements.helpers import ADDRESS, LONDON, RECEIVED, h, identity


def mapped(
    characteristic: str,
    data: bytes,
    *,
    received_at: datetime = RECEIVED,
    address: str = ADDRESS,
    flags: tuple[StatusFlag, ...] = (),
) -> list[Reading] | Refusal:
    measurement: Measurement = decode(characteristic, data)
    return to_readings(
        measurement,
        characteristic_uuid=characteristic,
        raw=data,
        device=identity(address=address),
        received_at=received_at,
        tz=LONDON,
        flags=flags,
    )


def one(
    characteristic: str,
    data: bytes,
    *,
    received_at: datetime = RECEIVED,
    address: str = ADDRESS,
    flags: tuple[StatusFlag, ...] = (),
) -> Reading:
    result = mapped(characteristic, data, received_at=received_at, address=address, flags=flags)
    assert isinstance(result, list), result
    assert len(result) == 1
    return result[0]


def refused(characteristic: str, data: bytes) -> Refusal:
    result = mapped(characteristic, data)
    assert isinstance(result, Refusal), result
    assert result.raw == data  # the hub keeps the raw packet
    assert result.characteristic_uuid == uuids.normalize_uuid(characteristic)
    return result


def values(reading: Reading) -> dict[str, float]:
    return {str(m): q.value for m, q in reading.values.items()}


# --- blood pressure -----------------------------------------------------------------------------------

DOC_BP_FULL = h("1E 8A 00 58 00 78 00 00 00 04 11 14 29 3B 3C 00 01 27 00")  # doc vector
DOC_BP_KPA = h("15 BD F0 0B 00 9F F0 3C 00 12 00")  # doc vector


def test_bp_doc_vector_with_unset_clock() -> None:
    reading = one("2a35", DOC_BP_FULL)
    assert reading.kind is ReadingKind.BLOOD_PRESSURE
    assert values(reading) == {"systolic": 138, "diastolic": 88, "mean_arterial": 120, "pulse": 60}
    assert reading.values[Measure.SYSTOLIC].unit == "mm[Hg]"
    assert reading.values[Measure.PULSE].unit == "/min"
    assert reading.flags == [
        "body_movement",
        "cuff_loose",
        "irregular_pulse",
        "improper_position",
        "device_clock_unset",
    ]
    assert (reading.time_source, reading.taken_at, reading.measured_at) == (TimeSource.HUB, RECEIVED, None)
    assert reading.device.user_index == 1
    assert [(r.uuid, r.payload()) for r in reading.raw] == [("2a35", DOC_BP_FULL)]


def test_bp_doc_vector_in_kpa_is_sent_in_mmhg() -> None:
    reading = one("2a35", DOC_BP_KPA)
    assert values(reading) == {"systolic": 141.8, "diastolic": 82.5, "mean_arterial": 119.3, "pulse": 60}
    assert reading.flags == ["cuff_loose", "pulse_below_range"]  # no timestamp sent: nothing to flag
    assert reading.device.user_index is None


def test_bp_device_time_gets_the_household_zone() -> None:
    local = datetime(2024, 7, 1, 9, 55, 0)  # naive device wall clock, London summer time = 08:55 UTC
    data = encode_blood_pressure_measurement(
        128, 79, 95, timestamp=local, pulse_rate=64, status=BloodPressureStatus(pulse_range=PulseRange.ABOVE)
    )  # encoder
    reading = one("2a35", data)
    assert reading.time_source is TimeSource.DEVICE
    assert reading.measured_at == local.replace(tzinfo=LONDON)
    assert reading.taken_at == datetime(2024, 7, 1, 8, 55, tzinfo=UTC)
    assert reading.flags == ["pulse_above_range"]


def test_bp_skewed_device_clock_is_not_trusted() -> None:
    data = encode_blood_pressure_measurement(128, 79, 95, timestamp=datetime(2031, 1, 1, 12, 0))  # encoder
    reading = one("2a35", data)
    assert reading.time_source is TimeSource.HUB
    assert StatusFlag.DEVICE_CLOCK_SKEWED in reading.flags
    assert reading.measured_at is not None  # what the device said is kept for support


def test_bp_special_values_are_absent_not_numbers() -> None:
    data = encode_blood_pressure_measurement(
        131, 85, None, pulse_rate=math.nan
    )  # encoder: NaN MAP, NaN pulse
    reading = one("2a35", data)
    assert values(reading) == {"systolic": 131, "diastolic": 85}


@pytest.mark.parametrize(
    ("systolic", "diastolic", "missing"), [(None, 80, "systolic"), (120, None, "diastolic")]
)
def test_bp_missing_required_measure_is_refused(
    systolic: float | None, diastolic: float | None, missing: str
) -> None:
    data = encode_blood_pressure_measurement(systolic, diastolic, 95, pulse_rate=70)  # encoder
    refusal = refused("2a35", data)
    assert refusal.reason is RefusalReason.MISSING_REQUIRED
    assert missing in refusal.detail
    assert data.hex(" ") in str(refusal)


def test_implausible_value_is_kept_and_flagged() -> None:
    reading = one("2a35", encode_blood_pressure_measurement(420, 80, 190))  # encoder
    assert reading.value(Measure.SYSTOLIC) == 420
    assert StatusFlag.IMPLAUSIBLE in reading.flags


def test_intermediate_cuff_pressure_is_not_a_reading() -> None:
    refusal = refused("2a36", encode_intermediate_cuff_pressure(87))  # encoder
    assert refusal.reason is RefusalReason.NOT_A_READING


def test_caller_flags_are_added() -> None:
    reading = one("2a35", DOC_BP_KPA, flags=(StatusFlag.FROM_STORAGE,))
    assert reading.flags[0] == "cuff_loose"
    assert "from_storage" in reading.flags


# --- pulse oximetry spot-check -----------------------------------------------------------------------


def test_plx_spot_check_with_status_and_pai() -> None:
    local = datetime(2024, 7, 1, 9, 30, 5)
    data = encode_plx_spot_check(
        97,
        72,
        timestamp=local,
        measurement_status=PlxMeasurementStatus.from_flags(data_from_measurement_storage=True),
        device_sensor_status=PlxDeviceSensorStatus.from_flags(low_perfusion_detected=True),
        pulse_amplitude_index=2.4,
    )  # encoder
    reading = one("2a5e", data)
    assert reading.kind is ReadingKind.SPO2
    assert values(reading) == {"spo2": 97, "pulse": 72, "perfusion_index": 2.4}
    assert reading.values[Measure.SPO2].unit == "%"
    assert reading.flags == ["from_storage", "low_perfusion"]
    assert reading.measured_at == local.replace(tzinfo=LONDON)
    assert reading.time_source is TimeSource.DEVICE


def test_plx_clock_not_set_flag_means_hub_time() -> None:
    data = encode_plx_spot_check(
        97, 72, timestamp=datetime(2000, 1, 1, 0, 5), device_clock_not_set=True
    )  # encoder
    reading = one("2a5e", data)
    assert reading.time_source is TimeSource.HUB
    assert StatusFlag.DEVICE_CLOCK_UNSET in reading.flags


@pytest.mark.parametrize(
    "status",
    [
        {"questionable_measurement_detected": True},
        {"early_estimated_data": True},
    ],
)
def test_plx_questionable_is_kept_and_flagged(status: dict[str, bool]) -> None:
    data = encode_plx_spot_check(
        95, 80, measurement_status=PlxMeasurementStatus.from_flags(**status)
    )  # encoder
    assert StatusFlag.SIGNAL_QUESTIONABLE in one("2a5e", data).flags


def test_plx_signal_problems_are_flagged() -> None:
    data = encode_plx_spot_check(
        95, 80, device_sensor_status=PlxDeviceSensorStatus.from_flags(poor_signal_detected=True)
    )  # encoder
    assert one("2a5e", data).flags == ["signal_questionable"]


@pytest.mark.parametrize(
    ("measurement", "device"),
    [
        ({"data_for_demonstration": True}, {}),
        ({"data_for_testing": True}, {}),
        ({"invalid_measurement_detected": True}, {}),
        ({"measurement_unavailable": True}, {}),
        ({}, {"sensor_disconnected": True}),
        ({}, {"sensor_unconnected_to_user": True}),
    ],
)
def test_plx_device_rejected_data_is_refused(measurement: dict[str, bool], device: dict[str, bool]) -> None:
    data = encode_plx_spot_check(
        98,
        70,
        measurement_status=PlxMeasurementStatus.from_flags(**measurement) if measurement else None,
        device_sensor_status=PlxDeviceSensorStatus.from_flags(**device) if device else None,
    )  # encoder
    refusal = refused("2a5e", data)
    assert refusal.reason is RefusalReason.DEVICE_REJECTED
    assert next(iter(measurement or device)) in refusal.detail


def test_plx_special_values() -> None:
    assert values(one("2a5e", encode_plx_spot_check(96, None))) == {"spo2": 96}  # encoder: NaN pulse
    refusal = refused("2a5e", encode_plx_spot_check(None, 70))  # encoder: NaN SpO2
    assert refusal.reason is RefusalReason.MISSING_REQUIRED
    assert "spo2" in refusal.detail


def test_plx_continuous_frame_is_not_a_reading_by_itself() -> None:
    refusal = refused("2a5f", h("00 64 00 5A 00"))  # doc vector
    assert refusal.reason is RefusalReason.NOT_A_READING
    assert "ContinuousSpotAggregator" in refusal.detail


# --- weight -------------------------------------------------------------------------------------------


def test_weight_doc_vectors() -> None:
    assert values(one("2a9d", h("00 B0 36"))) == {"weight": 70.0}  # doc vector
    assert values(one("2a9d", h("01 54 3D"))) == {"weight": round(157 * 0.45359237, 3)}  # doc vector, lb → kg
    stamped = one("2a9d", h("02 B0 36 E7 07 0C 19 0E 1E 2D"), received_at=datetime(2024, 1, 2, tzinfo=UTC))
    assert stamped.measured_at == datetime(2023, 12, 25, 14, 30, 45, tzinfo=LONDON)  # doc vector
    assert stamped.time_source is TimeSource.DEVICE
    assert stamped.values[Measure.WEIGHT].unit == "kg"


def test_weight_with_bmi_height_and_user() -> None:
    data = encode_weight_measurement(82.5, user_id=3, bmi=26.9, height=1.751)  # encoder
    reading = one("2a9d", data)
    assert values(reading) == {"weight": 82.5, "bmi": 26.9, "height": 1.751}
    assert reading.device.user_index == 3


def test_weight_imperial_height_is_sent_in_metres() -> None:
    data = encode_weight_measurement(180, unit_system=UnitSystem.IMPERIAL, bmi=24.4, height=71.0)  # encoder
    reading = one("2a9d", data)
    assert reading.value(Measure.HEIGHT) == round(71.0 * 0.0254, 4)


def test_weight_unsuccessful_is_refused() -> None:
    refusal = refused("2a9d", encode_weight_measurement(None))  # encoder: 0xFFFF
    assert refusal.reason is RefusalReason.MISSING_REQUIRED
    assert "weight" in refusal.detail


# --- thermometer --------------------------------------------------------------------------------------


def test_temperature_celsius_and_fahrenheit() -> None:
    local = datetime(2024, 7, 1, 8, 15)
    data = encode_temperature_measurement(
        37.2, timestamp=local, temperature_type=TemperatureType.EAR
    )  # encoder
    reading = one("2a1c", data)
    assert reading.kind is ReadingKind.TEMPERATURE
    assert values(reading) == {"temperature": 37.2}
    assert reading.values[Measure.TEMPERATURE].unit == "Cel"
    assert reading.measured_at == local.replace(tzinfo=LONDON)
    fahrenheit = encode_temperature_measurement(100.4, unit=TemperatureUnit.FAHRENHEIT)  # encoder
    assert values(one("2a1c", fahrenheit)) == {"temperature": 38.0}


def test_temperature_nan_is_refused() -> None:
    assert refused("2a1c", encode_temperature_measurement(None)).reason is RefusalReason.MISSING_REQUIRED


# --- not measurements ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("characteristic", "data"),
    [
        ("2a49", h("1F 00")),  # BP feature
        ("2a60", h("A3 00 40 10 80 01 00")),  # doc vector: PLX features
        ("2a52", h("06 00 01 01")),  # doc vector: RACP success
        ("2a19", h("64")),  # battery
    ],
)
def test_other_characteristics_are_not_readings(characteristic: str, data: bytes) -> None:
    assert refused(characteristic, data).reason is RefusalReason.NOT_A_READING


# --- reading ids ---------------------------------------------------------------------------------------


def test_timestamped_reading_id_is_deterministic() -> None:
    data = encode_blood_pressure_measurement(128, 79, 95, timestamp=datetime(2024, 7, 1, 9, 55))  # encoder
    first = one("2a35", data)
    replay = one("2a35", data, received_at=RECEIVED + timedelta(hours=6))  # re-sent after a reconnect
    assert first.reading_id == replay.reading_id
    assert first.reading_id.version == 5
    assert first.reading_id == uuid.uuid5(
        READING_ID_NAMESPACE, f"{ADDRESS}|{uuids.BLOOD_PRESSURE_MEASUREMENT}|{data.hex()}"
    )
    assert one("2a35", data, address="C0:FF:EE:00:12:35").reading_id != first.reading_id
    other = encode_blood_pressure_measurement(128, 79, 95, timestamp=datetime(2024, 7, 1, 9, 56))  # encoder
    assert one("2a35", other).reading_id != first.reading_id


def test_unset_clock_timestamp_still_counts_as_device_timestamp() -> None:
    assert one("2a35", DOC_BP_FULL).reading_id == one("2a35", DOC_BP_FULL).reading_id


def test_untimestamped_readings_get_fresh_ids() -> None:
    """Two weighings of exactly 70.00 kg are two readings, not one replayed."""
    first, second = one("2a9d", h("00 B0 36")), one("2a9d", h("00 B0 36"))
    assert first.reading_id != second.reading_id
    assert first.reading_id.version == 4


def test_reading_id_for_and_wire_uuid() -> None:
    raw = b"\x00\xb0\x36"
    assert reading_id_for(ADDRESS, "0x2A9D", raw, device_timestamped=True) == reading_id_for(
        ADDRESS, uuids.WEIGHT_MEASUREMENT, raw, device_timestamped=True
    )
    assert wire_uuid("0x2A9D") == "2a9d"
    assert wire_uuid(uuids.BERRYMED_NOTIFY) == uuids.BERRYMED_NOTIFY
