"""SFLOAT / FLOAT: signed exponent and mantissa, special values, exact decimal results, encoders."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.gatt.errors import DecodeError
from gateway.gatt.ieee11073 import (
    FLOAT_SPECIAL_VALUES,
    SFLOAT_SPECIAL_VALUES,
    decode_float,
    decode_float_bytes,
    decode_sfloat,
    decode_sfloat_bytes,
    encode_float,
    encode_float_raw,
    encode_sfloat,
    encode_sfloat_raw,
)


# Constructed per IEEE 11073-20601 / GATT Specification Supplement §2.2 (medfloat16): exponent bits 15–12
# and mantissa bits 11–0, both two's complement.
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0x0078, 120.0),  # real cuffs send 120 mmHg as 78 00
        (0xF065, 10.1),  # exponent 0xF = -1, not +15 and not 15-8
        (0x8001, 1e-8),  # most negative exponent
        (0x7001, 1e7),  # most positive exponent
        (0x0FFF, -1.0),  # mantissa sign-extended
        (0xFFFF, -0.1),
        (0x0803, -2045.0),
        (0x07FD, 2045.0),
        (0xF7FF, 204.7),  # special only with exponent 0
        (0x0000, 0.0),
        (0xE3E8, 10.0),  # 1000e-2
    ],
)
def test_sfloat_decode(raw: int, expected: float) -> None:
    assert decode_sfloat(raw) == expected


@pytest.mark.parametrize("raw", sorted(SFLOAT_SPECIAL_VALUES))
def test_sfloat_special_values_are_none(raw: int) -> None:
    # Source: gatt-and-devices.md, "Pitfalls": NaN, NRes, +INF, -INF, reserved.
    assert decode_sfloat(raw) is None
    assert decode_sfloat_bytes(raw.to_bytes(2, "little")) is None


@pytest.mark.parametrize("raw", sorted(FLOAT_SPECIAL_VALUES))
def test_float_special_values_are_none(raw: int) -> None:
    # Source: gatt-and-devices.md, "Pitfalls": FLOAT special values.
    assert decode_float(raw) is None
    assert decode_float_bytes(raw.to_bytes(4, "little")) is None


# Constructed per GATT Specification Supplement §2.2 (medfloat32): exponent in the top byte.
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0x00000001, 1.0),
        (0xFF00016E, 36.6),
        (0xFE000E4C, 36.6),  # 3660e-2
        (0xFFFFFFFF, -0.1),
        (0x7F000001, 1e127),
        (0x80000001, 1e-128),
        (0x007FFFFD, 8388605.0),
    ],
)
def test_float_decode(raw: int, expected: float) -> None:
    assert decode_float(raw) == expected


@pytest.mark.parametrize("length", [0, 1, 3])
def test_sfloat_bytes_wrong_length(length: int) -> None:
    with pytest.raises(DecodeError):
        decode_sfloat_bytes(bytes(length))


@pytest.mark.parametrize("length", [0, 3, 5])
def test_float_bytes_wrong_length(length: int) -> None:
    with pytest.raises(DecodeError):
        decode_float_bytes(bytes(length))


@pytest.mark.parametrize(
    ("value", "decimals", "raw"),
    [
        (120, 0, 0x0078),
        (10.1, 1, 0xF065),
        (17.6, 1, 0xF0B0),
        (-1, 0, 0x0FFF),
        (150000, 0, 0x25DC),  # 1500e2: trailing zeros shed exactly
        (0, 3, 0x0000),
        (10.15, 1, 0xF066),  # half-up
    ],
)
def test_encode_sfloat(value: float, decimals: int, raw: int) -> None:
    assert encode_sfloat_raw(value, decimals) == raw
    assert encode_sfloat(value, decimals) == raw.to_bytes(2, "little")


def test_encode_special() -> None:
    assert encode_sfloat_raw(None) == 0x07FF
    assert encode_sfloat_raw(math.nan) == 0x07FF
    assert encode_sfloat_raw(math.inf) == 0x07FE
    assert encode_sfloat_raw(-math.inf) == 0x0802
    assert encode_float_raw(None) == 0x007FFFFF
    assert encode_float_raw(math.inf) == 0x007FFFFE
    assert encode_float_raw(-math.inf) == 0x00800002
    assert encode_float(36.6, 1) == (0xFF00016E).to_bytes(4, "little")


@pytest.mark.parametrize(("value", "decimals"), [(2046, 0), (12345, 0), (1.23456, 5), (-204.6, 1)])
def test_encode_sfloat_rejects_lossy(value: float, decimals: int) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        encode_sfloat_raw(value, decimals)


def test_encode_never_produces_special_pattern() -> None:
    for exponent_decimals in range(-7, 9):
        for mantissa in (2045, -2045):
            raw = encode_sfloat_raw(mantissa * 10.0**-exponent_decimals, exponent_decimals)
            assert raw & 0x0FFF not in {0x7FF, 0x800, 0x7FE, 0x802, 0x801}


@settings(max_examples=300, deadline=None)
@given(st.integers(-2045, 2045), st.integers(-8, 7))
def test_sfloat_round_trip(mantissa: int, exponent: int) -> None:
    raw = ((exponent & 0xF) << 12) | (mantissa & 0xFFF)
    value = decode_sfloat(raw)
    assert value is not None
    again = decode_sfloat(encode_sfloat_raw(value, -exponent))
    assert again == value


@settings(max_examples=300, deadline=None)
@given(st.integers(-8388605, 8388605), st.integers(-20, 20))
def test_float_round_trip(mantissa: int, exponent: int) -> None:
    raw = ((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF)
    value = decode_float(raw)
    assert value is not None
    assert decode_float(encode_float_raw(value, -exponent)) == value


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 0xFFFF))
def test_sfloat_decodes_every_pattern(raw: int) -> None:
    value = decode_sfloat(raw)
    assert (value is None) == (raw in SFLOAT_SPECIAL_VALUES)
    if value is not None:
        # no binary noise: the repr has at most as many decimals as the exponent demands
        exponent = (raw >> 12) - 16 if raw >> 12 >= 8 else raw >> 12
        if -4 <= exponent < 0:
            assert len(repr(value).split(".")[1]) <= -exponent


def test_encode_sheds_only_exact_zeros() -> None:
    assert decode_sfloat(encode_sfloat_raw(1.5, 9)) == 1.5
