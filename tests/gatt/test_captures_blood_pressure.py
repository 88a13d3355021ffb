"""Blood Pressure Measurements (0x2A35) other open-source projects recorded from real cuffs, decoded
through the model the shipped catalogue picks and through the hub's path to a reading.

Where the bytes come from (byte for byte; the expected values are the ones each source gives):

* boso medicus CE6674, two failed measurements: derdilla/blood-pressure-monitor-fl issue #80
  ("Support Bluetooth LE blood pressure monitor devices"), comment by andreassch of 2024-06-23, app
  log lines "BleReadCubit data received". The cuff displayed "Err" (the arm moved) and "Err CUF" (cuff
  too loose); it sent NaN (0x07FF) for every pressure and the pulse, with an all-clear status word.
  That app read 0x07FF as 2047 mmHg and stored it as a reading.
* The sample reading of derdilla/blood-pressure-monitor-fl,
  app/test/features/bluetooth/logic/characteristics/ble_measurement_data_test.dart, test "decodes
  sample data": 124/86 mmHg, MAP 97, pulse 51, 2024-06-15 17:17:27. The test does not name the cuff;
  its layout (flags 0x16, 18 bytes) and month are those of the boso captures above.
* An Omron cuff: BloodPressureMeasurementKtTest.kt of an Android project in package
  eu.schk.bluetooth_connectivity (its parser lives in the package's ``omron`` module), found in the
  public code index without its repository name: 130/87 mmHg, pulse 71, 14 April 13:06, user 1
  (the year, 0x07E8 = 2024, is in the bytes; the test does not assert it).
* Beurer BM85: tests/gatt/test_bm85_captures.py (four captures, with the quirks they need).
"""

from __future__ import annotations

import pytest

from common.wire.messages import TimeSource
from common.wire.vocabulary import Measure, ReadingKind
from gateway.gatt import decode
from gateway.gatt.blood_pressure import BloodPressureMeasurement, BloodPressureStatus, PressureUnit
from gateway.gatt.date_time import GattDateTime
from gateway.measurements.refusals import RefusalReason
from tests.gatt.hub_path import local, model_for, one_reading, received_after, refusal

BOSO_ERR = {
    # name: (bytes, device time (h, m, s) on 2024-06-23)
    "Err: arm moved": ([22, 255, 7, 255, 7, 255, 7, 232, 7, 6, 23, 14, 35, 10, 255, 7, 0, 0], (14, 35, 10)),
    "Err CUF: cuff too loose": ([22, 255, 7, 255, 7, 255, 7, 232, 7, 6, 23, 14, 47, 59, 255, 7, 0, 0], (14, 47, 59)),
}  # fmt: skip
BPMFL_SAMPLE = bytes([22, 124, 0, 86, 0, 97, 0, 232, 7, 6, 15, 17, 17, 27, 51, 0, 0, 0])
# The Kotlin source writes the signed bytes -126 (130) and -24 (232).
OMRON = bytes([30, 130, 0, 87, 0, 101, 0, 232, 7, 4, 14, 13, 6, 15, 71, 0, 1, 0, 0])


@pytest.mark.parametrize("name", BOSO_ERR)
def test_a_boso_error_decodes_to_no_numbers_at_all(name: str) -> None:
    data, (hour, minute, second) = BOSO_ERR[name]
    model = model_for("boso medicus CE6674 ", ["00001810-0000-1000-8000-00805f9b34fb"])
    assert model.id == "generic-blood-pressure" and model.quirks == ()
    value = decode("2a35", bytes(data), quirks=model.quirks)
    assert isinstance(value, BloodPressureMeasurement)
    pressures = (value.systolic_mmhg, value.diastolic_mmhg, value.mean_arterial_pressure_mmhg)
    assert pressures == (None, None, None)  # NaN: "not available", never 2047 mmHg
    assert value.pulse_rate_bpm is None
    assert value.timestamp == GattDateTime(2024, 6, 23, hour, minute, second)
    assert value.status == BloodPressureStatus()  # the cuff flags nothing: the NaNs are the only sign


@pytest.mark.parametrize("name", BOSO_ERR)
def test_the_hub_refuses_a_boso_error_with_its_reason_and_never_stores_2047_mmhg(name: str) -> None:
    data, (hour, minute, second) = BOSO_ERR[name]
    model = model_for("boso medicus CE6674 ", ["1810"])
    received = received_after(local(2024, 6, 23, hour, minute, second))
    refused = refusal(model, "2a35", bytes(data), received)
    assert refused.reason is RefusalReason.MISSING_REQUIRED
    assert "systolic" in refused.detail and "not available" in refused.detail


def test_the_sample_reading_reaches_the_hub_as_the_cuff_displayed_it() -> None:
    model = model_for("boso medicus CE6674 ", ["1810"])
    value = decode("2a35", BPMFL_SAMPLE, quirks=model.quirks)
    assert isinstance(value, BloodPressureMeasurement)
    assert (value.systolic_mmhg, value.diastolic_mmhg, value.mean_arterial_pressure_mmhg) == (124, 86, 97)
    assert value.unit is PressureUnit.MMHG
    assert value.pulse_rate_bpm == 51
    assert value.user_id is None
    assert value.status == BloodPressureStatus()

    taken = local(2024, 6, 15, 17, 17, 27)
    reading = one_reading(model, "2a35", BPMFL_SAMPLE, received_after(taken))
    assert reading.kind is ReadingKind.BLOOD_PRESSURE
    assert {m: reading.value(m) for m in reading.values} == {
        Measure.SYSTOLIC: 124,
        Measure.DIASTOLIC: 86,
        Measure.MEAN_ARTERIAL: 97,
        Measure.PULSE: 51,
    }
    assert (reading.taken_at, reading.time_source, reading.flags) == (taken, TimeSource.DEVICE, [])


@pytest.mark.parametrize(
    "model_id",
    [
        "omron-hem-7322t",  # an Omron cuff advertising BLEsmart_... and Omron's company id
        "generic-blood-pressure",  # the same cuff if its advertisement lacked them
    ],
)
def test_the_omron_capture_keeps_its_user_slot(model_id: str) -> None:
    model = (
        model_for("BLEsmart_00000116", ["1810"], [0x020E])
        if model_id.startswith("omron")
        else model_for(None, ["1810"])
    )
    assert model.id == model_id
    value = decode("2a35", OMRON, quirks=model.quirks)
    assert isinstance(value, BloodPressureMeasurement)
    assert (value.systolic_mmhg, value.diastolic_mmhg, value.mean_arterial_pressure_mmhg) == (130, 87, 101)
    assert value.pulse_rate_bpm == 71
    assert value.user_id == 1
    assert value.measured_at is not None
    assert (value.measured_at.month, value.measured_at.day) == (4, 14)
    assert (value.measured_at.hour, value.measured_at.minute) == (13, 6)
    assert value.status == BloodPressureStatus()

    taken = local(2024, 4, 14, 13, 6, 15)
    reading = one_reading(model, "2a35", OMRON, received_after(taken))
    assert (reading.value(Measure.SYSTOLIC), reading.value(Measure.DIASTOLIC)) == (130, 87)
    assert reading.value(Measure.PULSE) == 71
    assert reading.device.user_index == 1  # a second person on the same cuff stays apart
    assert reading.taken_at == taken
