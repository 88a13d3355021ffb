"""Shared assertions for the GATT decoder tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.gatt.errors import DecodeError


def h(text: str) -> bytes:
    """Hex with optional spaces, as written in the reference tables."""
    return bytes.fromhex(text)


def assert_every_truncation_fails(decoder: Callable[[bytes], object], data: bytes) -> None:
    """Every strict prefix of a valid value must be rejected with DecodeError, never anything else."""
    for length in range(len(data)):
        with pytest.raises(DecodeError):
            decoder(data[:length])


def assert_trailing_byte_fails(decoder: Callable[[bytes], object], data: bytes) -> None:
    with pytest.raises(DecodeError, match=r"trailing|expected"):
        decoder(data + b"\x00")
