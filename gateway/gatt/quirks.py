"""Device deviations from the GATT specification, as named byte transforms.

A quirk rewrites a non-conforming characteristic value into spec form *before* the standard decoder
sees it, so the decoders stay spec-exact and every deviation is listed in one place with a name the
device catalogue (YAML) can refer to. A quirk receives the normalised 128-bit characteristic UUID and
must return the data unchanged for characteristics it does not concern, so a device entry can list its
quirks once for all of its characteristics.

Quirks raise ``DecodeError`` when the data does not even have the deviant shape they expect.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Final

from gateway.gatt import uuids
from gateway.gatt.errors import DecodeError, UnknownQuirkError
from gateway.gatt.ieee11073 import (
    FLOAT_NAN,
    FLOAT_NEGATIVE_INFINITY,
    FLOAT_POSITIVE_INFINITY,
    SFLOAT_NAN,
    encode_float_raw,
)

__all__ = [
    "QUIRKS",
    "Quirk",
    "apply_quirks",
    "bp_map_zero_not_available",
    "bp_pulse_status_big_endian_user_id_always",
    "temperature_ieee754_float32",
    "validate_quirk_names",
]

Quirk = Callable[[str, bytes], bytes]

_BP_CHARACTERISTICS: Final = frozenset({uuids.BLOOD_PRESSURE_MEASUREMENT, uuids.INTERMEDIATE_CUFF_PRESSURE})
_BP_FLAG_USER_ID: Final = 0x08
_TEMPERATURE_CHARACTERISTICS: Final = frozenset(
    {uuids.TEMPERATURE_MEASUREMENT, uuids.INTERMEDIATE_TEMPERATURE}
)


def _need(data: bytes, end: int, context: str, quirk: str, what: str) -> None:
    if len(data) < end:
        raise DecodeError(f"{context} (quirk {quirk}): {what} missing, data is only {len(data)} bytes")


def bp_pulse_status_big_endian_user_id_always(characteristic_uuid: str, data: bytes) -> bytes:
    """The Beurer BM85 (captures of a real one: tests/gatt/test_bm85_captures.py) sends pulse rate
    and measurement status big-endian and always includes the user-id byte, even with its flag
    clear. Swap the two fields back and keep the user id, declaring it in the flags: it is the
    cuff's user (0 or 1 in the captures, its two user buttons), the only way to tell apart two
    people who share one cuff, and 0xFF still decodes as "unknown user". Trailing bytes are passed
    on for the decoder to reject."""
    if characteristic_uuid not in _BP_CHARACTERISTICS:
        return data
    name = "bp_pulse_status_big_endian_user_id_always"
    context = uuids.display_name(characteristic_uuid)
    _need(data, 7, context, name, "pressures")
    flags = data[0]
    out = bytearray(data[:7])
    pos = 7
    if flags & 0x02:
        _need(data, pos + 7, context, name, "timestamp")
        out += data[pos : pos + 7]
        pos += 7
    if flags & 0x04:
        _need(data, pos + 2, context, name, "pulse rate")
        out += bytes((data[pos + 1], data[pos]))
        pos += 2
    _need(data, pos + 1, context, name, "always-present user id")
    out.append(data[pos])
    out[0] |= _BP_FLAG_USER_ID
    pos += 1
    if flags & 0x10:
        _need(data, pos + 2, context, name, "measurement status")
        out += bytes((data[pos + 1], data[pos]))
        pos += 2
    out += data[pos:]
    return bytes(out)


def bp_map_zero_not_available(characteristic_uuid: str, data: bytes) -> bytes:
    """Some Beurer cuffs (the BM85 among them, seen in its captures) do not compute a mean arterial
    pressure and send its SFLOAT as 0x0000 instead of the spec's NaN (0x07FF). Read literally that is 0 mmHg, a pressure no
    living patient has, which a chart or a rule would take for a value. Rewrite it to NaN, so the
    decoder reports "not available". Only the MAP slot (bytes 5-6) of Blood Pressure Measurement is
    touched; Intermediate Cuff Pressure ignores that slot anyway."""
    if characteristic_uuid != uuids.BLOOD_PRESSURE_MEASUREMENT:
        return data
    _need(data, 7, uuids.display_name(characteristic_uuid), "bp_map_zero_not_available", "pressures")
    if data[5:7] != b"\x00\x00":
        return data
    return data[:5] + SFLOAT_NAN.to_bytes(2, "little") + data[7:]


def _float32_to_ieee11073(raw: bytes) -> int:
    (value,) = struct.unpack("<f", raw)
    if math.isnan(value):
        return FLOAT_NAN
    if math.isinf(value):
        return FLOAT_POSITIVE_INFINITY if value > 0 else FLOAT_NEGATIVE_INFINITY
    # The shortest decimal that maps back to the same float32 is what the device meant (36.6, not
    # 36.59999847); six significant digits always fit the 24-bit mantissa.
    text = f"{value:.6g}"
    for digits in range(1, 7):
        candidate = f"{value:.{digits}g}"
        if struct.pack("<f", float(candidate)) == raw:
            text = candidate
            break
    exponent = Decimal(text).as_tuple().exponent
    assert isinstance(exponent, int)  # finite by construction
    return encode_float_raw(float(text), -exponent)


def temperature_ieee754_float32(characteristic_uuid: str, data: bytes) -> bytes:
    """Some cheap thermometers put an IEEE-754 float32 where the spec has an IEEE-11073 FLOAT; re-encode
    it as FLOAT. Only the 4-byte temperature slot is touched, so flags, timestamp and type are kept.

    There is deliberately no SFLOAT counterpart: a 16-bit slot cannot hold a float32 without changing
    the layout, and no device doing that is known."""
    if characteristic_uuid not in _TEMPERATURE_CHARACTERISTICS:
        return data
    _need(data, 5, uuids.display_name(characteristic_uuid), "temperature_ieee754_float32", "temperature")
    return data[:1] + _float32_to_ieee11073(bytes(data[1:5])).to_bytes(4, "little") + data[5:]


QUIRKS: Final[dict[str, Quirk]] = {
    "bp_map_zero_not_available": bp_map_zero_not_available,
    "bp_pulse_status_big_endian_user_id_always": bp_pulse_status_big_endian_user_id_always,
    "temperature_ieee754_float32": temperature_ieee754_float32,
}


def validate_quirk_names(names: Iterable[str]) -> None:
    """Call when loading the device catalogue so a typo fails at start-up, not per packet."""
    unknown = [name for name in names if name not in QUIRKS]
    if unknown:
        raise UnknownQuirkError(f"unknown quirk(s) {unknown}; known: {sorted(QUIRKS)}")


def apply_quirks(characteristic_uuid: str, data: bytes, names: Sequence[str]) -> bytes:
    """Apply the named quirks in order; ``characteristic_uuid`` must be normalised (see ``uuids``)."""
    validate_quirk_names(names)
    for name in names:
        data = QUIRKS[name](characteristic_uuid, data)
    return data
