"""IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit) medical number formats.

Both are ``mantissa * 10**exponent`` with two's-complement signed fields; the exponent is signed too,
which several public parsers get wrong (0xF must read as -1, not +15, and there is no bias).

Special values (NaN, NRes, ±INF, reserved) mean "the device has no number for this field" and decode to
``None`` so a missing value can never be mistaken for a reading. Following the standard, a value is
special only as the whole 16/32-bit pattern (exponent 0); ``0xF7FF`` is an ordinary 204.7. The encoders
never produce a mantissa in the special range with any exponent, so their output stays unambiguous even
for readers that test the mantissa alone.

Decoded values are the nearest double to the exact decimal ``mantissa * 10**exponent`` (true division of
integers is correctly rounded in Python), so 0xF065 is ``10.1`` and not ``10.100000000000001``.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final

from gateway.gatt.errors import DecodeError

__all__ = [
    "FLOAT_MANTISSA_MAX",
    "FLOAT_NAN",
    "FLOAT_NEGATIVE_INFINITY",
    "FLOAT_NRES",
    "FLOAT_POSITIVE_INFINITY",
    "FLOAT_RESERVED",
    "FLOAT_SPECIAL_VALUES",
    "SFLOAT_MANTISSA_MAX",
    "SFLOAT_NAN",
    "SFLOAT_NEGATIVE_INFINITY",
    "SFLOAT_NRES",
    "SFLOAT_POSITIVE_INFINITY",
    "SFLOAT_RESERVED",
    "SFLOAT_SPECIAL_VALUES",
    "decode_float",
    "decode_float_bytes",
    "decode_sfloat",
    "decode_sfloat_bytes",
    "encode_float",
    "encode_float_raw",
    "encode_sfloat",
    "encode_sfloat_raw",
]

SFLOAT_NAN: Final = 0x07FF
SFLOAT_NRES: Final = 0x0800
SFLOAT_POSITIVE_INFINITY: Final = 0x07FE
SFLOAT_NEGATIVE_INFINITY: Final = 0x0802
SFLOAT_RESERVED: Final = 0x0801
SFLOAT_SPECIAL_VALUES: Final = frozenset(
    {SFLOAT_NAN, SFLOAT_NRES, SFLOAT_POSITIVE_INFINITY, SFLOAT_NEGATIVE_INFINITY, SFLOAT_RESERVED}
)
#: Largest magnitude an encoder emits; ±2046..2048 collide with the special patterns.
SFLOAT_MANTISSA_MAX: Final = 2045

FLOAT_NAN: Final = 0x007FFFFF
FLOAT_NRES: Final = 0x00800000
FLOAT_POSITIVE_INFINITY: Final = 0x007FFFFE
FLOAT_NEGATIVE_INFINITY: Final = 0x00800002
FLOAT_RESERVED: Final = 0x00800001
FLOAT_SPECIAL_VALUES: Final = frozenset(
    {FLOAT_NAN, FLOAT_NRES, FLOAT_POSITIVE_INFINITY, FLOAT_NEGATIVE_INFINITY, FLOAT_RESERVED}
)
FLOAT_MANTISSA_MAX: Final = 0x7FFFFD


def _scale(mantissa: int, exponent: int) -> float:
    if exponent >= 0:
        return float(mantissa * int(10**exponent))
    return mantissa / int(10**-exponent)


def decode_sfloat(raw: int) -> float | None:
    """Value of a 16-bit SFLOAT given as an unsigned int; ``None`` for the special values."""
    if raw in SFLOAT_SPECIAL_VALUES:
        return None
    mantissa = raw & 0x0FFF
    if mantissa >= 0x0800:
        mantissa -= 0x1000
    exponent = (raw >> 12) & 0x0F
    if exponent >= 0x08:
        exponent -= 0x10
    return _scale(mantissa, exponent)


def decode_float(raw: int) -> float | None:
    """Value of a 32-bit FLOAT given as an unsigned int; ``None`` for the special values."""
    if raw in FLOAT_SPECIAL_VALUES:
        return None
    mantissa = raw & 0x00FFFFFF
    if mantissa >= 0x00800000:
        mantissa -= 0x01000000
    exponent = (raw >> 24) & 0xFF
    if exponent >= 0x80:
        exponent -= 0x100
    return _scale(mantissa, exponent)


def decode_sfloat_bytes(data: bytes) -> float | None:
    """Decode exactly two little-endian bytes."""
    if len(data) != 2:
        raise DecodeError(f"SFLOAT: expected 2 bytes, got {len(data)}")
    return decode_sfloat(data[0] | data[1] << 8)


def decode_float_bytes(data: bytes) -> float | None:
    """Decode exactly four little-endian bytes."""
    if len(data) != 4:
        raise DecodeError(f"FLOAT: expected 4 bytes, got {len(data)}")
    return decode_float(int.from_bytes(data, "little"))


def _mantissa_exponent(
    value: float, decimals: int, mantissa_max: int, exponent_min: int, exponent_max: int, kind: str
) -> tuple[int, int]:
    try:
        scaled = Decimal(repr(float(value))).scaleb(decimals)
        mantissa = int(scaled.to_integral_value(rounding=ROUND_HALF_UP))
    except (InvalidOperation, OverflowError) as exc:  # pragma: no cover - finite floats always convert
        raise ValueError(f"{kind}: cannot encode {value!r}") from exc
    exponent = -decimals
    if mantissa == 0:
        return 0, 0
    # Shed trailing zeros only while that is exact: silently dropping precision would falsify a reading.
    while (abs(mantissa) > mantissa_max or exponent < exponent_min) and mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    while exponent > exponent_max and abs(mantissa) * 10 <= mantissa_max:
        mantissa *= 10
        exponent -= 1
    if abs(mantissa) > mantissa_max or not exponent_min <= exponent <= exponent_max:
        raise ValueError(f"{kind}: {value!r} with {decimals} decimals does not fit")
    return mantissa, exponent


def _special(value: float | None, nan: int, pos_inf: int, neg_inf: int) -> int | None:
    if value is None or math.isnan(value):
        return nan
    if math.isinf(value):
        return pos_inf if value > 0 else neg_inf
    return None


def encode_sfloat_raw(value: float | None, decimals: int = 0) -> int:
    """16-bit SFLOAT pattern for ``value`` rounded half-up to ``decimals`` decimal places.

    ``None`` or NaN encode NaN and infinities encode ±INF, so simulators can emit "not available".
    Raises ``ValueError`` when the value cannot be represented without losing digits.
    """
    special = _special(value, SFLOAT_NAN, SFLOAT_POSITIVE_INFINITY, SFLOAT_NEGATIVE_INFINITY)
    if special is not None:
        return special
    assert value is not None
    mantissa, exponent = _mantissa_exponent(value, decimals, SFLOAT_MANTISSA_MAX, -8, 7, "SFLOAT")
    return ((exponent & 0x0F) << 12) | (mantissa & 0x0FFF)


def encode_float_raw(value: float | None, decimals: int = 0) -> int:
    """32-bit FLOAT pattern; same conventions as ``encode_sfloat_raw``."""
    special = _special(value, FLOAT_NAN, FLOAT_POSITIVE_INFINITY, FLOAT_NEGATIVE_INFINITY)
    if special is not None:
        return special
    assert value is not None
    mantissa, exponent = _mantissa_exponent(value, decimals, FLOAT_MANTISSA_MAX, -128, 127, "FLOAT")
    return ((exponent & 0xFF) << 24) | (mantissa & 0x00FFFFFF)


def encode_sfloat(value: float | None, decimals: int = 0) -> bytes:
    """Two little-endian bytes, ready to splice into a characteristic value."""
    return encode_sfloat_raw(value, decimals).to_bytes(2, "little")


def encode_float(value: float | None, decimals: int = 0) -> bytes:
    """Four little-endian bytes, ready to splice into a characteristic value."""
    return encode_float_raw(value, decimals).to_bytes(4, "little")
