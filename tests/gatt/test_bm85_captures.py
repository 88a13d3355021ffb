"""Blood Pressure Measurements captured from a real Beurer BM85, decoded through the model the
shipped catalogue picks for a cuff advertising "BM85".

Where the bytes come from: the test data of the open-source blood-pressure-monitor-fl app
(github.com/derdilla/blood-pressure-monitor-fl,
app/test/features/bluetooth/logic/characteristics/ble_measurement_data_test.dart, "Recorded from
a Beurer BM85"), byte for byte; the expected values are the ones that project reads from them.
What they show: flags 0x56 (timestamp, pulse, status; the user-id flag clear, reserved bit 6 set),
the MAP SFLOAT 0x0000, pulse and status big-endian, and a user-id byte that is always there.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from gateway.catalogue.loader import load_catalogue
from gateway.catalogue.models import DeviceModel
from gateway.gatt import decode
from gateway.gatt.blood_pressure import BloodPressureMeasurement, BloodPressureStatus
from gateway.gatt.errors import DecodeError

# name: (bytes, systolic, diastolic, pulse, user, minute of 2026-08-11, irregular pulse)
CAPTURES: dict[str, tuple[list[int], int, int, int, int, tuple[int, int], bool]] = {
    "first user": ([86, 106, 0, 71, 0, 0, 0, 234, 7, 8, 11, 18, 31, 0, 0, 63, 0, 0, 0], 106, 71, 63, 0, (18, 31), False),
    "second user": ([86, 113, 0, 73, 0, 0, 0, 234, 7, 8, 11, 20, 56, 0, 0, 65, 1, 0, 0], 113, 73, 65, 1, (20, 56), False),
    "second user, status bit 6": (
        [86, 119, 0, 70, 0, 0, 0, 234, 7, 8, 11, 20, 57, 0, 0, 87, 1, 0, 64], 119, 70, 87, 1, (20, 57), False
    ),
    "irregular pulse": ([86, 118, 0, 80, 0, 0, 0, 234, 7, 8, 11, 20, 27, 0, 0, 60, 0, 0, 4], 118, 80, 60, 0, (20, 27), True),
}  # fmt: skip


@pytest.fixture(scope="module")
def bm85() -> DeviceModel:
    model = load_catalogue().match("BM85", ["1810"], {})
    assert model is not None and model.id == "beurer-bm85"
    return model


@pytest.mark.parametrize("name", CAPTURES)
def test_each_bm85_capture_decodes_to_what_the_cuff_displayed(bm85: DeviceModel, name: str) -> None:
    data, systolic, diastolic, pulse, user, (hour, minute), irregular = CAPTURES[name]
    value = decode("2a35", bytes(data), quirks=list(bm85.quirks))
    assert isinstance(value, BloodPressureMeasurement)
    assert (value.systolic_mmhg, value.diastolic_mmhg, value.pulse_rate_bpm) == (systolic, diastolic, pulse)
    assert value.mean_arterial_pressure_mmhg is None  # 0x0000: not computed, never "0 mmHg"
    assert value.user_id == user  # two people sharing the cuff stay apart
    assert value.measured_at == datetime(2026, 8, 11, hour, minute)
    assert value.status == BloodPressureStatus(irregular_pulse=irregular)


@pytest.mark.parametrize("name", CAPTURES)
def test_the_standard_layout_refuses_a_bm85_capture_instead_of_misreading_it(name: str) -> None:
    """Without the quirk the user byte is one too many: refused (and kept, by the hub), not a
    pulse of 16,128 bpm."""
    with pytest.raises(DecodeError, match="trailing"):
        decode("2a35", bytes(CAPTURES[name][0]))


def test_another_beurer_bm_model_gets_the_standard_profile() -> None:
    """No capture shows another BM model's layout, so none gets the BM85's byte swap: a
    spec-conformant BM57 reading must not have its pulse and status reversed."""
    model = load_catalogue().match("BM57", ["1810"], {})
    assert model is not None and model.id == "generic-blood-pressure" and model.quirks == ()
    spec = bytes([0x1E, 128, 0, 82, 0, 97, 0, 234, 7, 8, 11, 9, 0, 0, 72, 0, 1, 0x04, 0])
    value = decode("2a35", spec, quirks=list(model.quirks))
    assert isinstance(value, BloodPressureMeasurement)
    assert (value.pulse_rate_bpm, value.user_id) == (72, 1)
    assert value.status == BloodPressureStatus(irregular_pulse=True)
