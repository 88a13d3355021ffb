"""Bounds-checked little-endian cursor shared by the decoders.

Centralising the checks is what lets every decoder promise "only DecodeError": a short packet can never
surface as an ``IndexError`` or ``struct.error``, and every message says which field was missing.
"""

from __future__ import annotations

from gateway.gatt.date_time import DATE_TIME_LENGTH, GattDateTime, parse_date_time
from gateway.gatt.errors import DecodeError
from gateway.gatt.ieee11073 import decode_float, decode_sfloat


def _bytes_remain(count: int) -> str:
    return "1 byte remains" if count == 1 else f"{count} bytes remain"


class Reader:
    """Cursor over one characteristic value; ``context`` (e.g. "0x2A35") prefixes every error."""

    __slots__ = ("context", "data", "pos")

    def __init__(self, data: bytes, context: str, minimum: int) -> None:
        if len(data) < minimum:
            raise DecodeError(f"{context}: {len(data)} bytes is shorter than the {minimum}-byte minimum")
        self.data = data
        self.context = context
        self.pos = 0

    def _take(self, size: int, what: str, flagged: bool) -> int:
        start = self.pos
        remaining = len(self.data) - start
        if remaining < size:
            if flagged:
                raise DecodeError(f"{self.context}: {what} flagged but only {_bytes_remain(remaining)}")
            raise DecodeError(
                f"{self.context}: {what} needs {size} bytes but only {_bytes_remain(remaining)}"
            )
        self.pos = start + size
        return start

    def u8(self, what: str, flagged: bool = False) -> int:
        return self.data[self._take(1, what, flagged)]

    def u16(self, what: str, flagged: bool = False) -> int:
        at = self._take(2, what, flagged)
        return self.data[at] | self.data[at + 1] << 8

    def u24(self, what: str, flagged: bool = False) -> int:
        at = self._take(3, what, flagged)
        return int.from_bytes(self.data[at : at + 3], "little")

    def u32(self, what: str, flagged: bool = False) -> int:
        at = self._take(4, what, flagged)
        return int.from_bytes(self.data[at : at + 4], "little")

    def sfloat(self, what: str, flagged: bool = False) -> float | None:
        return decode_sfloat(self.u16(what, flagged))

    def float32(self, what: str, flagged: bool = False) -> float | None:
        return decode_float(self.u32(what, flagged))

    def date_time(self, what: str = "timestamp", flagged: bool = True) -> GattDateTime:
        return parse_date_time(self.data, self._take(DATE_TIME_LENGTH, what, flagged), self.context)

    def finish(self) -> None:
        """Reject trailing bytes: every layout here is fully determined by its flags, so extra bytes mean
        the device sends something we do not understand (typically an undeclared field needing a quirk)."""
        extra = len(self.data) - self.pos
        if extra:
            raise DecodeError(
                f"{self.context}: {extra} unexpected trailing byte{'s' if extra != 1 else ''} "
                f"after {self.pos} bytes of a layout its flags fully determine"
            )
