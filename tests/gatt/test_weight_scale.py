"""Weight Measurement 0x2A9D, Weight Scale Feature 0x2A9E, Body Composition Measurement 0x2A9C.

Inputs constructed per GATT Specification Supplement §3.252 (Weight Measurement), §3.253 (Weight Scale
Feature) and §3.34 (Body Composition Measurement) unless stated otherwise.
"""

from __future__ import annotations

import struct
from datetime import datetime

import pytest

from gateway.gatt import decode
from gateway.gatt.date_time import GattDateTime
from gateway.gatt.errors import DecodeError
from gateway.gatt.weight_scale import (
    KG_PER_LB,
    BodyComposition,
    UnitSystem,
    WeightMeasurement,
    WeightScaleFeature,
    decode_body_composition,
    decode_weight_measurement,
    decode_weight_scale_feature,
    encode_body_composition,
    encode_weight_measurement,
    encode_weight_scale_feature,
)
from tests.gatt.helpers import assert_every_truncation_fails, assert_trailing_byte_fails, h

WHEN = datetime(2023, 12, 25, 14, 30, 45)
STAMP = GattDateTime(2023, 12, 25, 14, 30, 45)


def hand_weight(flags: int) -> bytes:
    """SI: 82.35 kg, BMI 26.9, 1.750 m; imperial: 181.55 lb, BMI 26.9, 68.9 in; user 2."""
    imperial = flags & 0x01
    out = struct.pack("<BH", flags, 18155 if imperial else 16470)
    if flags & 0x02:
        out += struct.pack("<HBBBBB", 2023, 12, 25, 14, 30, 45)
    if flags & 0x04:
        out += bytes((2,))
    if flags & 0x08:
        out += struct.pack("<HH", 269, 689 if imperial else 1750)
    return out


@pytest.mark.parametrize("flags", range(16))
def test_weight_every_flag_combination(flags: int) -> None:
    imperial = bool(flags & 0x01)
    data = hand_weight(flags)
    assert (
        encode_weight_measurement(
            181.55 if imperial else 82.35,
            unit_system=UnitSystem.IMPERIAL if imperial else UnitSystem.SI,
            timestamp=WHEN if flags & 0x02 else None,
            user_id=2 if flags & 0x04 else None,
            bmi=26.9 if flags & 0x08 else None,
            height=(68.9 if imperial else 1.75) if flags & 0x08 else None,
        )
        == data
    )
    value = decode("2a9d", data)
    assert value == WeightMeasurement(
        round(181.55 * KG_PER_LB, 3) if imperial else 82.35,
        UnitSystem.IMPERIAL if imperial else UnitSystem.SI,
        STAMP if flags & 0x02 else None,
        2 if flags & 0x04 else None,
        26.9 if flags & 0x08 else None,
        (round(68.9 * 0.0254, 4) if imperial else 1.75) if flags & 0x08 else None,
    )
    assert_every_truncation_fails(decode_weight_measurement, data)
    assert_trailing_byte_fails(decode_weight_measurement, data)


def test_weight_unsuccessful_and_unknown_user() -> None:
    value = decode_weight_measurement(h("04 FF FF FF"))
    assert value.weight_kg is None
    assert value.weight_lb is None
    assert value.user_id is None
    assert encode_weight_measurement(None) == h("00 FF FF")


@pytest.mark.parametrize("rfu", [0x10, 0x80, 0xF0])
def test_weight_rfu_flags_ignored(rfu: int) -> None:
    data = hand_weight(0x0F)
    assert decode_weight_measurement(bytes((data[0] | rfu,)) + data[1:]) == decode_weight_measurement(data)


def test_weight_encoder_validation() -> None:
    with pytest.raises(ValueError, match="both or neither"):
        encode_weight_measurement(70, bmi=22.0)
    with pytest.raises(ValueError, match="does not fit"):
        encode_weight_measurement(400)  # 80000 × 0.005 kg exceeds a u16


@pytest.mark.parametrize("weight_code", range(16))
@pytest.mark.parametrize("height_code", range(8))
def test_weight_scale_feature(weight_code: int, height_code: int) -> None:
    raw = 0x05 | weight_code << 3 | height_code << 7 | 0xFFFFFC00  # RFU bits set
    data = raw.to_bytes(4, "little")
    if weight_code > 7 or height_code > 3:
        with pytest.raises(DecodeError, match="reserved"):
            decode("2a9e", data)
        return
    value = decode("2a9e", data)
    assert isinstance(value, WeightScaleFeature)
    assert value.timestamp_supported
    assert not value.multiple_users_supported
    assert value.bmi_supported
    assert (value.weight_resolution_kg is None) == (weight_code == 0)
    assert (value.height_resolution_m is None) == (height_code == 0)
    assert encode_weight_scale_feature(
        timestamp_supported=True,
        bmi_supported=True,
        weight_resolution_code=weight_code,
        height_resolution_code=height_code,
    ) == (raw & 0x3FF).to_bytes(4, "little")
    assert_every_truncation_fails(decode_weight_scale_feature, data)
    assert_trailing_byte_fails(decode_weight_scale_feature, data)


def test_weight_scale_feature_resolutions() -> None:
    value = decode_weight_scale_feature(
        encode_weight_scale_feature(weight_resolution_code=7, height_resolution_code=3)
    )
    assert (value.weight_resolution_kg, value.weight_resolution_lb) == (0.005, 0.01)
    assert (value.height_resolution_m, value.height_resolution_in) == (0.001, 0.1)


# Body composition: field values per flag bit (SI raw, imperial raw, expected SI, expected imperial).
BC_FIELDS: list[tuple[int, str, int, int, float, float]] = [
    (0x0008, "basal_metabolism_kj", 7000, 7000, 7000, 7000),
    (0x0010, "muscle_percent", 412, 412, 41.2, 41.2),
    (0x0020, "muscle_mass_kg", 6000, 6614, 30.0, round(66.14 * KG_PER_LB, 3)),
    (0x0040, "fat_free_mass_kg", 11000, 12125, 55.0, round(121.25 * KG_PER_LB, 3)),
    (0x0080, "soft_lean_mass_kg", 10000, 11023, 50.0, round(110.23 * KG_PER_LB, 3)),
    (0x0100, "body_water_mass_kg", 8000, 8818, 40.0, round(88.18 * KG_PER_LB, 3)),
    (0x0200, "impedance_ohm", 5123, 5123, 512.3, 512.3),
    (0x0400, "weight_kg", 14000, 15432, 70.0, round(154.32 * KG_PER_LB, 3)),
    (0x0800, "height_m", 1750, 689, 1.75, round(68.9 * 0.0254, 4)),
]


def hand_body_composition(flags: int) -> bytes:
    imperial = flags & 0x0001
    out = struct.pack("<HH", flags, 215)
    if flags & 0x0002:
        out += struct.pack("<HBBBBB", 2023, 12, 25, 14, 30, 45)
    if flags & 0x0004:
        out += bytes((4,))
    for bit, _, si_raw, imp_raw, _, _ in BC_FIELDS:
        if flags & bit:
            out += struct.pack("<H", imp_raw if imperial else si_raw)
    return out


@pytest.mark.parametrize("high_bits", range(32))
def test_body_composition_every_flag_combination(high_bits: int) -> None:
    """All 2**13 defined flag combinations: bits 8–12 parametrised, bits 0–7 looped."""
    for low in range(256):
        flags = high_bits << 8 | low
        imperial = bool(flags & 0x0001)
        data = hand_body_composition(flags)
        value = decode_body_composition(data)
        assert value.body_fat_percent == 21.5
        assert value.unit_system is (UnitSystem.IMPERIAL if imperial else UnitSystem.SI)
        assert value.timestamp == (STAMP if flags & 0x0002 else None)
        assert value.user_id == (4 if flags & 0x0004 else None)
        assert value.multiple_packet == bool(flags & 0x1000)
        for bit, name, _, _, si_value, imp_value in BC_FIELDS:
            expected = (imp_value if imperial else si_value) if flags & bit else None
            assert getattr(value, name) == expected, (hex(flags), name)
        if low in (0x00, 0xFF, 0xA5) or high_bits in (0, 31):
            assert_every_truncation_fails(decode_body_composition, data)
            assert_trailing_byte_fails(decode_body_composition, data)
    assert decode("2a9c", hand_body_composition(high_bits << 8)) == decode_body_composition(
        hand_body_composition(high_bits << 8)
    )


@pytest.mark.parametrize("flags", [0x0000, 0x0FFE, 0x0FFF, 0x1003])
def test_body_composition_encoder_round_trip(flags: int) -> None:
    imperial = bool(flags & 0x0001)
    names = {
        "basal_metabolism_kj": "basal_metabolism_kj",
        "muscle_percent": "muscle_percent",
        "muscle_mass_kg": "muscle_mass",
        "fat_free_mass_kg": "fat_free_mass",
        "soft_lean_mass_kg": "soft_lean_mass",
        "body_water_mass_kg": "body_water_mass",
        "impedance_ohm": "impedance_ohm",
        "weight_kg": "weight",
        "height_m": "height",
    }
    units = {"muscle_percent": 0.1, "impedance_ohm": 0.1, "basal_metabolism_kj": 1.0}
    kwargs: dict[str, float] = {}
    for bit, name, si_raw, imp_raw, _, _ in BC_FIELDS:
        if flags & bit:
            raw = imp_raw if imperial else si_raw
            resolution = units.get(name) or (
                (0.1 if imperial else 0.001) if name == "height_m" else (0.01 if imperial else 0.005)
            )
            kwargs[names[name]] = raw * resolution
    data = encode_body_composition(
        21.5,
        unit_system=UnitSystem.IMPERIAL if imperial else UnitSystem.SI,
        timestamp=WHEN if flags & 0x0002 else None,
        user_id=4 if flags & 0x0004 else None,
        multiple_packet=bool(flags & 0x1000),
        **kwargs,  # type: ignore[arg-type]
    )
    assert data == hand_body_composition(flags)


def test_body_composition_unsuccessful_and_rfu() -> None:
    value = decode("2a9c", h("00 E0 FF FF"))  # RFU flag bits 13–15 set, body fat 0xFFFF
    assert isinstance(value, BodyComposition)
    assert value.body_fat_percent is None
    assert value.measurement_unsuccessful
    assert encode_body_composition(None) == h("00 00 FF FF")


def test_body_composition_flagged_but_missing() -> None:
    with pytest.raises(DecodeError, match="0x2A9C: impedance flagged but only 1 byte remains"):
        decode_body_composition(h("00 02 D7 00 01"))
