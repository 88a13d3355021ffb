"""PLX Spot-Check (0x2A5E), PLX Continuous (0x2A5F) and PLX Features (0x2A60) values published by
other projects, decoded through the model the shipped catalogue picks and through the hub's path.

Where the bytes come from (byte for byte):

* A ChoiceMMed finger oximeter read with nRF Connect: the Stack Overflow question "How to decode
  pulse oximeter output into readable" (question 71264072, stored as the mirror
  https://kiwix.lema.org/stackoverflow.com_en_all_2023-11/questions/71264072/...), which links the
  device's page (choicemmed.eu/product_center/253). Spot-check
  ``17-61-00-60-00-E1-07-01-01-01-22-13-20-00-20-00-00`` and continuous
  ``0c-62-00-4E-00-20-00-00-00-00``. The accepted answer reads SpO2 97 from the spot-check; its
  pulse of "98" comes from a BerryMed formula, and the SFLOAT in the pulse slot is 0x0060 = 96.
  The spot-check flags its clock as not set (flag 0x10) beside a timestamp of 2017-01-01.
* StanfordSpezi/SpeziBluetooth, Tests/SpeziBluetoothServicesTests/PLXTests.swift: five encoded
  values with the measurement each is asserted to equal. These are library test vectors, not
  captures; they are here because they use the SFLOAT exponents a real oximeter may send
  (``232, 243`` is 1000 x 10^-1 = 100 %) and every optional field.
"""

from __future__ import annotations

from common.wire.messages import TimeSource
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag
from gateway.gatt import decode
from gateway.gatt.date_time import GattDateTime
from gateway.gatt.pulse_oximetry import (
    PlxContinuous,
    PlxDeviceSensorStatus,
    PlxFeatures,
    PlxMeasurementStatus,
    PlxSpotCheck,
)
from gateway.measurements.refusals import RefusalReason
from tests.gatt.hub_path import local, model_for, one_reading, received_after, refusal

CHOICEMMED_SPOT = bytes.fromhex("17610060 00E10701 01012213 20002000 00")
CHOICEMMED_CONTINUOUS = bytes.fromhex("0c62004E002000000000")

SPEZI_CONTINUOUS_MINIMAL = bytes([0, 100, 0, 90, 0])
SPEZI_CONTINUOUS_SIMPLE = bytes([28, 95, 0, 90, 0, 32, 0, 0, 0, 0, 87, 240])
SPEZI_CONTINUOUS_FULL = bytes(
    [31, 222, 243, 202, 243, 202, 243, 90, 245, 212, 243, 178, 242, 32, 1, 0, 0, 0, 122, 227]
)
SPEZI_SPOT_CHECK = bytes([15, 172, 243, 190, 245, 232, 7, 11, 29, 23, 8, 57, 32, 64, 34, 0, 0, 102, 227])
SPEZI_FEATURES = bytes([163, 0, 64, 16, 128, 1, 0])


def test_the_choicemmed_spot_check_is_a_reading_stamped_by_the_hub() -> None:
    model = model_for(None, ["1822"])
    assert model.id == "generic-pulse-oximeter" and model.quirks == ()
    value = decode("2a5e", CHOICEMMED_SPOT, quirks=model.quirks)
    assert isinstance(value, PlxSpotCheck)
    assert (value.spo2_percent, value.pulse_rate_bpm) == (97, 96)
    assert value.timestamp == GattDateTime(2017, 1, 1, 1, 34, 19)
    assert value.device_clock_not_set
    assert value.measured_at is None  # the device says its 2017-01-01 is not a real date
    assert value.measurement_status == PlxMeasurementStatus.from_flags(measurement_ongoing=True)
    assert value.device_sensor_status == PlxDeviceSensorStatus.from_flags(low_perfusion_detected=True)
    assert value.pulse_amplitude_index is None

    received = local(2022, 2, 25, 10, 0, 0)
    reading = one_reading(model, "2a5e", CHOICEMMED_SPOT, received)
    assert reading.kind is ReadingKind.SPO2
    assert {m: reading.value(m) for m in reading.values} == {Measure.SPO2: 97, Measure.PULSE: 96}
    assert (reading.taken_at, reading.time_source) == (received, TimeSource.HUB)
    assert set(reading.flags) == {StatusFlag.LOW_PERFUSION, StatusFlag.DEVICE_CLOCK_UNSET}


def test_the_choicemmed_continuous_frame_is_live_data_not_a_reading() -> None:
    value = decode("2a5f", CHOICEMMED_CONTINUOUS)
    assert isinstance(value, PlxContinuous)
    assert (value.spo2_percent, value.pulse_rate_bpm) == (98, 78)
    assert not (value.has_fast or value.has_slow)
    assert value.measurement_status == PlxMeasurementStatus.from_flags(measurement_ongoing=True)
    assert value.device_sensor_status == PlxDeviceSensorStatus.from_flags()
    assert value.pulse_amplitude_index is None

    refused = refusal(model_for(None, ["1822"]), "2a5f", CHOICEMMED_CONTINUOUS, local(2022, 2, 25, 10, 0, 0))
    assert refused.reason is RefusalReason.NOT_A_READING  # a spot-check model takes its spot-checks


def test_the_spezi_continuous_vectors() -> None:
    minimal = decode("2a5f", SPEZI_CONTINUOUS_MINIMAL)
    assert minimal == PlxContinuous(100, 90)

    simple = decode("2a5f", SPEZI_CONTINUOUS_SIMPLE)
    assert isinstance(simple, PlxContinuous)
    assert (simple.spo2_percent, simple.pulse_rate_bpm, simple.pulse_amplitude_index) == (95, 90, 8.7)
    assert simple.measurement_status == PlxMeasurementStatus.from_flags(measurement_ongoing=True)
    assert simple.device_sensor_status == PlxDeviceSensorStatus.from_flags()

    full = decode("2a5f", SPEZI_CONTINUOUS_FULL)
    assert isinstance(full, PlxContinuous)
    assert (full.spo2_percent, full.pulse_rate_bpm) == (99, 97)
    assert (full.spo2_fast_percent, full.pulse_rate_fast_bpm) == (97, 137)
    assert (full.spo2_slow_percent, full.pulse_rate_slow_bpm) == (98, 69)
    assert full.measurement_status == PlxMeasurementStatus.from_flags(
        measurement_ongoing=True, fully_qualified_data=True
    )
    assert full.device_sensor_status == PlxDeviceSensorStatus.from_flags()
    assert full.pulse_amplitude_index == 8.9


def test_the_spezi_spot_check_vector_keeps_its_warnings() -> None:
    value = decode("2a5e", SPEZI_SPOT_CHECK)
    assert isinstance(value, PlxSpotCheck)
    assert (value.spo2_percent, value.pulse_rate_bpm, value.pulse_amplitude_index) == (94, 147, 8.7)
    assert value.timestamp == GattDateTime(2024, 11, 29, 23, 8, 57)
    assert value.measurement_status == PlxMeasurementStatus.from_flags(
        measurement_ongoing=True, questionable_measurement_detected=True
    )
    assert value.device_sensor_status == PlxDeviceSensorStatus.from_flags(
        equipment_malfunction_detected=True, low_perfusion_detected=True
    )

    taken = local(2024, 11, 29, 23, 8, 57)
    reading = one_reading(model_for(None, ["1822"]), "2a5e", SPEZI_SPOT_CHECK, received_after(taken))
    assert {m: reading.value(m) for m in reading.values} == {
        Measure.SPO2: 94,
        Measure.PULSE: 147,
        Measure.PERFUSION_INDEX: 8.7,
    }
    assert reading.taken_at == taken
    # Kept, but marked: the device itself doubted this one.
    assert set(reading.flags) == {StatusFlag.SIGNAL_QUESTIONABLE, StatusFlag.LOW_PERFUSION}


def test_the_spezi_features_vector() -> None:
    value = decode("2a60", SPEZI_FEATURES)
    assert isinstance(value, PlxFeatures)
    assert value.measurement_status_support_present and value.device_sensor_status_support_present
    assert value.spo2pr_slow and value.multiple_bonds
    assert not (value.spot_check_measurement_storage or value.spot_check_timestamp or value.spo2pr_fast)
    assert not value.pulse_amplitude_index
    assert value.measurement_status_support == PlxMeasurementStatus.from_flags(
        calibration_ongoing=True, early_estimated_data=True
    )
    assert value.device_sensor_status_support == PlxDeviceSensorStatus.from_flags(
        non_pulsatile_signal_detected=True, questionable_pulse_detected=True
    )
