"""Every test vector of /work/shared/reference/gatt-and-devices.md ("Vectors" table), verbatim."""

from __future__ import annotations

import pytest

from gateway.gatt import decode
from gateway.gatt.berrymed import BerryMedFrames
from gateway.gatt.blood_pressure import BloodPressureMeasurement, PressureUnit, PulseRange
from gateway.gatt.errors import DecodeError
from gateway.gatt.ieee11073 import decode_float_bytes, decode_sfloat_bytes
from gateway.gatt.pulse_oximetry import PlxContinuous, PlxFeatures
from gateway.gatt.racp import (
    RacpNumberOfRecords,
    RacpResponse,
    RacpResponseCode,
    report_all_records,
    report_number_of_all_records,
    report_records_from_sequence,
)
from gateway.gatt.weight_scale import UnitSystem, WeightMeasurement
from tests.gatt.helpers import h


# Source: gatt-and-devices.md, rows "SFLOAT" and "FLOAT".
@pytest.mark.parametrize(("raw", "expected"), [("65 F0", 10.1), ("8A 00", 138.0), ("B0 F0", 17.6)])
def test_sfloat_vectors(raw: str, expected: float) -> None:
    assert decode_sfloat_bytes(h(raw)) == expected


def test_float_vector() -> None:
    # Source: gatt-and-devices.md, row "FLOAT 01 00 00 00 → 1.0".
    assert decode_float_bytes(h("01 00 00 00")) == 1.0


def test_bp_vector_full() -> None:
    # Source: gatt-and-devices.md, first 0x2A35 row (all optional fields, year 0).
    m = decode("2a35", h("1E 8A 00 58 00 78 00 00 00 04 11 14 29 3B 3C 00 01 27 00"))
    assert isinstance(m, BloodPressureMeasurement)
    assert (m.systolic_mmhg, m.diastolic_mmhg, m.mean_arterial_pressure_mmhg) == (138, 88, 120)
    assert m.unit is PressureUnit.MMHG
    assert m.timestamp is not None
    assert m.timestamp.clock_unset
    assert m.measured_at is None
    assert (m.timestamp.year, m.timestamp.month, m.timestamp.day) == (None, 4, 17)
    assert (m.timestamp.hours, m.timestamp.minutes, m.timestamp.seconds) == (20, 41, 59)
    assert m.pulse_rate_bpm == 60
    assert m.user_id == 1
    assert m.status is not None
    assert m.status.raw == 0x0027
    assert m.status.body_movement
    assert m.status.cuff_too_loose
    assert m.status.irregular_pulse
    assert m.status.pulse_range is PulseRange.WITHIN
    assert m.status.improper_position


def test_bp_vector_kpa() -> None:
    # Source: gatt-and-devices.md, second 0x2A35 row (kPa 18.9/11/15.9).
    m = decode("2A35", h("15 BD F0 0B 00 9F F0 3C 00 12 00"))
    assert isinstance(m, BloodPressureMeasurement)
    assert m.unit is PressureUnit.KPA
    assert m.systolic_mmhg == round(18.9 * 7.50062, 1) == 141.8
    assert m.diastolic_mmhg == round(11 * 7.50062, 1) == 82.5
    assert m.mean_arterial_pressure_mmhg == round(15.9 * 7.50062, 1) == 119.3
    assert m.timestamp is None
    assert m.pulse_rate_bpm == 60
    assert m.user_id is None
    assert m.status is not None
    assert m.status.raw == 0x0012
    assert m.status.cuff_too_loose
    assert not m.status.body_movement
    assert m.status.pulse_range is PulseRange.BELOW


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        # Source: gatt-and-devices.md, third 0x2A35 row: shorter than 7 bytes.
        ("01 02 03 04 05 06", "shorter than the 7-byte minimum"),
        # Source: gatt-and-devices.md, fourth 0x2A35 row: timestamp flagged but missing.
        ("03 02 03 04 05 06 07", "timestamp flagged but only 0 bytes remain"),
    ],
)
def test_bp_invalid_vectors(raw: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode("2a35", h(raw))


def test_plx_continuous_vectors() -> None:
    # Source: gatt-and-devices.md, both 0x2A5F rows.
    m = decode("2a5f", h("00 64 00 5A 00"))
    assert isinstance(m, PlxContinuous)
    assert (m.spo2_percent, m.pulse_rate_bpm) == (100, 90)
    assert m.measurement_status is None
    assert m.device_sensor_status is None
    assert m.pulse_amplitude_index is None

    m = decode("2a5f", h("1C 5F 00 5A 00 20 00 00 00 00 57 F0"))
    assert isinstance(m, PlxContinuous)
    assert (m.spo2_percent, m.pulse_rate_bpm) == (95, 90)
    assert m.measurement_status is not None
    assert m.measurement_status.raw == 0x0020
    assert m.measurement_status.measurement_ongoing
    assert m.device_sensor_status is not None
    assert m.device_sensor_status.raw == 0
    assert m.pulse_amplitude_index == 8.7


def test_plx_features_vector() -> None:
    # Source: gatt-and-devices.md, 0x2A60 row.
    m = decode("2a60", h("A3 00 40 10 80 01 00"))
    assert isinstance(m, PlxFeatures)
    assert m.raw == 0x00A3
    assert m.measurement_status_support is not None
    assert m.measurement_status_support.raw == 0x1040
    assert m.device_sensor_status_support is not None
    assert m.device_sensor_status_support.raw == 0x000180


def test_weight_vectors() -> None:
    # Source: gatt-and-devices.md, the three 0x2A9D rows.
    m = decode("2a9d", h("00 B0 36"))
    assert isinstance(m, WeightMeasurement)
    assert m.weight_kg == 70.0
    assert m.unit_system is UnitSystem.SI

    m = decode("2a9d", h("01 54 3D"))
    assert isinstance(m, WeightMeasurement)
    assert m.unit_system is UnitSystem.IMPERIAL
    assert m.weight_lb == 157.0
    assert m.weight_kg == round(157 * 0.45359237, 3)

    m = decode("2a9d", h("02 B0 36 E7 07 0C 19 0E 1E 2D"))
    assert isinstance(m, WeightMeasurement)
    assert m.weight_kg == 70.0
    assert m.measured_at is not None
    assert m.measured_at.isoformat() == "2023-12-25T14:30:45"


def test_racp_request_vectors() -> None:
    # Source: gatt-and-devices.md, "0x2A52 request" row.
    assert report_all_records() == h("01 01")
    assert report_number_of_all_records() == h("04 01")
    assert report_records_from_sequence(10) == h("01 03 01 0A 00")


def test_racp_response_vectors() -> None:
    # Source: gatt-and-devices.md, "0x2A52 response" row.
    assert decode("2a52", h("06 00 01 01")) == RacpResponse(1, RacpResponseCode.SUCCESS)
    assert decode("2a52", h("06 00 01 06")) == RacpResponse(1, RacpResponseCode.NO_RECORDS_FOUND)
    assert decode("2a52", h("05 00 02 01")) == RacpNumberOfRecords(258)


def test_berrymed_vector() -> None:
    # Source: gatt-and-devices.md, "BerryMed frame" row.
    m = decode("49535343-1E4D-4BD9-BA61-23C647249616", h("85 32 05 48 61"))
    assert isinstance(m, BerryMedFrames)
    (frame,) = m.frames
    assert frame.pleth == 50
    assert not frame.no_finger
    assert frame.pulse_rate_bpm == 72
    assert frame.spo2_percent == 97
