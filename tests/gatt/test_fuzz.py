"""Property: whatever bytes arrive, ``decode()`` returns or raises DecodeError, never anything else."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.gatt import DECODERS, decode, uuids
from gateway.gatt.errors import DecodeError
from gateway.gatt.quirks import QUIRKS

ONE_BYTE_FLAGS = {
    uuids.BLOOD_PRESSURE_MEASUREMENT: 0x1F,
    uuids.INTERMEDIATE_CUFF_PRESSURE: 0x1F,
    uuids.PLX_SPOT_CHECK_MEASUREMENT: 0x1F,
    uuids.PLX_CONTINUOUS_MEASUREMENT: 0x1F,
    uuids.WEIGHT_MEASUREMENT: 0x0F,
    uuids.TEMPERATURE_MEASUREMENT: 0x07,
    uuids.INTERMEDIATE_TEMPERATURE: 0x07,
}
PREFIXED = [(uuid, bytes((flags,))) for uuid, top in ONE_BYTE_FLAGS.items() for flags in range(top + 1)]
PREFIXED += [(uuids.PLX_FEATURES, bytes((flags, 0))) for flags in range(256)]
PREFIXED += [(uuids.RECORD_ACCESS_CONTROL_POINT, bytes((op, 0))) for op in range(8)]
PREFIXED += [(uuids.BERRYMED_NOTIFY, bytes((0x80 | low,))) for low in range(128)]

body_composition = st.integers(0, 0x1FFF).map(
    lambda f: (uuids.BODY_COMPOSITION_MEASUREMENT, f.to_bytes(2, "little"))
)
quirk_lists = st.lists(st.sampled_from(sorted(QUIRKS)), max_size=2)


def _check(uuid: str, data: bytes, quirks: list[str]) -> None:
    with contextlib.suppress(DecodeError):
        decode(uuid, data, quirks=quirks)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(DECODERS)), st.binary(max_size=48), quirk_lists)
def test_random_bytes(uuid: str, data: bytes, quirks: list[str]) -> None:
    _check(uuid, data, quirks)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.sampled_from(PREFIXED), body_composition), st.binary(max_size=40), quirk_lists)
def test_random_bytes_after_valid_flags(prefix: tuple[str, bytes], data: bytes, quirks: list[str]) -> None:
    uuid, head = prefix
    _check(uuid, head + data, quirks)


def test_exhaustive_short_inputs() -> None:
    """Every 0-, 1- and 2-byte value for every characteristic (fixed-size ones live here)."""
    for uuid in DECODERS:
        _check(uuid, b"", [])
        for first in range(256):
            _check(uuid, bytes((first,)), [])
            for second in range(0, 256, 7):
                _check(uuid, bytes((first, second)), [])
