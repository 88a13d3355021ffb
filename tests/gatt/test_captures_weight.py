"""Weight Measurements (0x2A9D) and Body Composition Measurements (0x2A9C) other open-source projects
recorded from real scales, decoded through the model the shipped catalogue picks and through the
hub's path to a reading.

Where the bytes come from (byte for byte; the expected values are the ones each source gives):

* Beurer SIG scales, KristianP26/ble-scale-sync tests/scales/beurer-bf720.test.ts, sig-wss.test.ts
  and standard-gatt.test.ts:
  - "#168 openScale HCI snoop": 0x2A9D ``0e783eea07050c12353601ee002607`` = 79.96 kg on 2026-05-12
    18:53:54 for user 1 (BMI and height flagged too), and its 0x2A9C ``9803c200df1a9701cc2fca21a811`` =
    body fat 19.4 %, muscle 40.7 %, impedance 452 ohm, water mass 43.25 kg, no weight field;
  - "BF788 real capture (#229)": 0x2A9D ``0e205cea07070e1729200140018007`` = 117.92 kg on 2026-07-14
    23:41:32, user 1, BMI 32.0, height 192.0 cm; its 0x2A9C ``9803f300962389014042fa2f550f`` = fat
    24.3 %, muscle 39.3 %, soft lean 84.8 kg, water 61.41 kg, 392.5 ohm; and the "zeroed stub"
    ``9803000096230000000000000000`` the scale pairs with its back-filled history ("every composition
    field is 0, only BMR varies").
* StanfordSpezi/SpeziKt, core/bluetooth/src/test/java/edu/stanford/spezikt/core/bluetooth/
  WeightDataConverterTest.kt: ``[6, 32, 18, 0, 0, 0, 0, 0, 0, 0, 1]`` "23,2 kg user 1" and
  ``[6, 16, 14, 0, ...]`` "18.0 kg"; both carry a timestamp of all zeros (a scale whose clock was
  never set).
"""

from __future__ import annotations

import pytest

from common.wire.messages import TimeSource
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag
from gateway.gatt import decode
from gateway.gatt.weight_scale import BodyComposition, UnitSystem, WeightMeasurement
from gateway.measurements.refusals import RefusalReason
from tests.gatt.hub_path import local, model_for, one_reading, received_after, refusal

# name: (bytes, kg, device time, user, BMI, height m)
BEURER_WEIGHT = {
    "#168 snoop": ("0e783eea07050c12353601ee002607", 79.96, (2026, 5, 12, 18, 53, 54), 1, 23.8, 1.83),
    "BF788 #229": ("0e205cea07070e1729200140018007", 117.92, (2026, 7, 14, 23, 41, 32), 1, 32.0, 1.92),
}
# name: (bytes, kg) - user 1, clock unset
SPEZI_WEIGHT = {"23,2 kg user 1": ([6, 32, 18, 0, 0, 0, 0, 0, 0, 0, 1], 23.2), "18.0 kg": ([6, 16, 14, 0, 0, 0, 0, 0, 0, 0, 1], 18.0)}  # fmt: skip
# name: (bytes, fat %, basal metabolism kJ, muscle %, soft lean kg, water kg, impedance ohm)
BEURER_COMPOSITION = {
    "#168 snoop": ("9803c200df1a9701cc2fca21a811", 19.4, 6879, 40.7, 61.18, 43.25, 452.0),
    "BF788 #229": ("9803f300962389014042fa2f550f", 24.3, 9110, 39.3, 84.8, 61.41, 392.5),
    "BF788 zeroed stub": ("9803000096230000000000000000", 0.0, 9110, 0.0, 0.0, 0.0, 0.0),
}


@pytest.mark.parametrize("name", BEURER_WEIGHT)
def test_a_beurer_weighing_reaches_the_hub_with_its_time_and_user(name: str) -> None:
    hex_bytes, kg, when, user, bmi, height = BEURER_WEIGHT[name]
    data = bytes.fromhex(hex_bytes)
    model = model_for("BF788", ["181d", "181b"])
    assert model.id == "generic-weight-scale" and model.quirks == ()
    value = decode("2a9d", data, quirks=model.quirks)
    assert isinstance(value, WeightMeasurement)
    assert value.weight_kg == kg
    assert value.unit_system is UnitSystem.SI
    assert value.measured_at is not None and value.measured_at.timetuple()[:6] == when
    assert (value.user_id, value.bmi, value.height_m) == (user, bmi, height)

    taken = local(*when)
    reading = one_reading(model, "2a9d", data, received_after(taken))
    assert reading.kind is ReadingKind.WEIGHT
    assert {m: reading.value(m) for m in reading.values} == {
        Measure.WEIGHT: kg,
        Measure.BMI: bmi,
        Measure.HEIGHT: height,
    }
    assert (reading.taken_at, reading.time_source) == (taken, TimeSource.DEVICE)
    assert reading.device.user_index == user


@pytest.mark.parametrize("name", SPEZI_WEIGHT)
def test_a_weighing_from_a_scale_whose_clock_was_never_set_is_stamped_by_the_hub(name: str) -> None:
    data, kg = SPEZI_WEIGHT[name]
    model = model_for(None, ["181d"])
    value = decode("2a9d", bytes(data), quirks=model.quirks)
    assert isinstance(value, WeightMeasurement)
    assert (value.weight_kg, value.user_id) == (kg, 1)
    assert value.timestamp is not None and value.timestamp.clock_unset
    assert value.measured_at is None  # never "year 0", never a made-up date

    received = local(2026, 12, 4, 8, 30, 0)
    reading = one_reading(model, "2a9d", bytes(data), received)
    assert reading.value(Measure.WEIGHT) == kg
    assert (reading.taken_at, reading.time_source) == (received, TimeSource.HUB)
    assert StatusFlag.DEVICE_CLOCK_UNSET in reading.flags


@pytest.mark.parametrize("name", BEURER_COMPOSITION)
def test_a_beurer_body_composition_decodes_field_by_field(name: str) -> None:
    hex_bytes, fat, basal, muscle, soft_lean, water, impedance = BEURER_COMPOSITION[name]
    value = decode("2a9c", bytes.fromhex(hex_bytes))
    assert isinstance(value, BodyComposition)
    assert value.body_fat_percent == fat
    assert value.basal_metabolism_kj == basal
    assert value.muscle_percent == muscle
    assert value.soft_lean_mass_kg == soft_lean
    assert value.body_water_mass_kg == water
    assert value.impedance_ohm == impedance
    # Flags 0x0398: nothing else is present, in particular no weight and no timestamp.
    assert (value.weight_kg, value.timestamp, value.user_id, value.muscle_mass_kg) == (None, None, None, None)
    assert not value.multiple_packet


@pytest.mark.parametrize("name", BEURER_COMPOSITION)
def test_the_hub_keeps_body_composition_out_of_the_readings(name: str) -> None:
    """CareWatch reads weight, not body composition: a 0x2A9C that arrives anyway is refused with
    its reason and kept. That is also what keeps the BF788's zeroed stub, which reads literally as
    0.0 % body fat, from ever being shown as a value."""
    model = model_for("BF788", ["181d", "181b"])
    refused = refusal(
        model, "2a9c", bytes.fromhex(BEURER_COMPOSITION[name][0]), local(2026, 7, 14, 23, 42, 0)
    )
    assert refused.reason is RefusalReason.NOT_A_READING
    assert "BodyComposition" in refused.detail
