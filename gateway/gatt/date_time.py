"""Date Time (0x2A08) and Current Time (0x2A2B).

All datetimes here are *naive* and mean the device's local wall-clock time: GATT carries no time zone
and a device clock may be unset or wrong. The caller (the hub) knows the household's zone and attaches it,
and decides whether to trust the device clock at all.

Reserved field values (month 13, hour 24, year 1..1581, day of week 8, ...) and impossible calendar dates
(30 February) raise ``DecodeError``: a device producing them is broken or sends a layout we misread, and a
quirk in the device catalogue is the place to fix that, not a guess here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from gateway.gatt.errors import DecodeError

__all__ = [
    "CURRENT_TIME_LENGTH",
    "DATE_TIME_LENGTH",
    "AdjustReason",
    "CurrentTime",
    "GattDateTime",
    "decode_current_time",
    "decode_date_time",
    "encode_current_time",
    "encode_date_time",
    "parse_date_time",
]

DATE_TIME_LENGTH: Final = 7
CURRENT_TIME_LENGTH: Final = 10


@dataclass(frozen=True, slots=True)
class GattDateTime:
    """A device timestamp as sent. ``None`` year/month/day mean the device does not know them.

    The components are kept (not just a ``datetime``) because a cuff with an unset clock still reports a
    useful time of day, and support staff want to see what the device actually said.
    """

    year: int | None
    month: int | None
    day: int | None
    hours: int
    minutes: int
    seconds: int

    @property
    def clock_unset(self) -> bool:
        """True when any date part is unknown, i.e. the device's clock was never set."""
        return self.year is None or self.month is None or self.day is None

    @property
    def value(self) -> datetime | None:
        """Naive device-local datetime, or ``None`` when the clock is unset."""
        if self.year is None or self.month is None or self.day is None:
            return None
        return datetime(self.year, self.month, self.day, self.hours, self.minutes, self.seconds)

    @classmethod
    def from_datetime(cls, value: datetime) -> GattDateTime:
        """Wall-clock fields of ``value``; an aware datetime must already be in device-local time."""
        return cls(value.year, value.month, value.day, value.hour, value.minute, value.second)


def parse_date_time(data: bytes, offset: int, context: str) -> GattDateTime:
    """Decode the 7-byte Date Time structure at ``offset``; the caller has checked the length."""
    year = data[offset] | data[offset + 1] << 8
    month, day, hours, minutes, seconds = data[offset + 2 : offset + 7]
    if year != 0 and not 1582 <= year <= 9999:
        raise DecodeError(f"{context}: reserved year {year}")
    if month > 12:
        raise DecodeError(f"{context}: reserved month {month}")
    if day > 31:
        raise DecodeError(f"{context}: reserved day {day}")
    if hours > 23 or minutes > 59 or seconds > 59:
        raise DecodeError(f"{context}: invalid time of day {hours:02}:{minutes:02}:{seconds:02}")
    result = GattDateTime(year or None, month or None, day or None, hours, minutes, seconds)
    if not result.clock_unset:
        try:
            result.value  # noqa: B018 - validates the calendar date
        except ValueError:
            raise DecodeError(f"{context}: impossible date {year:04}-{month:02}-{day:02}") from None
    return result


def decode_date_time(data: bytes) -> GattDateTime:
    """Date Time 0x2A08 characteristic value (exactly 7 bytes)."""
    if len(data) != DATE_TIME_LENGTH:
        raise DecodeError(f"0x2A08: expected {DATE_TIME_LENGTH} bytes, got {len(data)}")
    return parse_date_time(data, 0, "0x2A08")


def encode_date_time(value: datetime | GattDateTime | None) -> bytes:
    """7 bytes; ``None`` encodes "date unknown" at 00:00:00 (what a device with an unset clock sends)."""
    if value is None:
        return bytes(DATE_TIME_LENGTH)
    if isinstance(value, datetime):
        value = GattDateTime.from_datetime(value)
    year = value.year or 0
    if year != 0 and not 1582 <= year <= 9999:
        raise ValueError(f"Date Time cannot carry year {year}")
    return year.to_bytes(2, "little") + bytes(
        (value.month or 0, value.day or 0, value.hours, value.minutes, value.seconds)
    )


@dataclass(frozen=True, slots=True)
class AdjustReason:
    """Why the clock was last changed; lets a device tell a DST jump from a user fiddling with it."""

    manual_time_update: bool = False
    external_reference_time_update: bool = False
    change_of_time_zone: bool = False
    change_of_dst: bool = False

    @classmethod
    def from_raw(cls, raw: int) -> AdjustReason:
        """Bits 4–7 are RFU and ignored."""
        return cls(bool(raw & 0x01), bool(raw & 0x02), bool(raw & 0x04), bool(raw & 0x08))

    @property
    def raw(self) -> int:
        """The wire byte."""
        return (
            self.manual_time_update
            | self.external_reference_time_update << 1
            | self.change_of_time_zone << 2
            | self.change_of_dst << 3
        )


@dataclass(frozen=True, slots=True)
class CurrentTime:
    """Current Time 0x2A2B: the hub reads it to detect clock drift and writes it to set the clock."""

    date_time: GattDateTime
    day_of_week: int | None  # 1 = Monday … 7 = Sunday; None = unknown
    fractions256: int
    adjust_reason: AdjustReason

    @property
    def value(self) -> datetime | None:
        """Naive device-local datetime including the 1/256 s fraction, ``None`` when the clock is unset."""
        base = self.date_time.value
        if base is None:
            return None
        return base.replace(microsecond=self.fractions256 * 1_000_000 // 256)


def decode_current_time(data: bytes) -> CurrentTime:
    """Current Time 0x2A2B (exactly 10 bytes).

    The day of week is not cross-checked against the date: devices get it wrong and it carries no
    information the date does not.
    """
    if len(data) != CURRENT_TIME_LENGTH:
        raise DecodeError(f"0x2A2B: expected {CURRENT_TIME_LENGTH} bytes, got {len(data)}")
    date_time = parse_date_time(data, 0, "0x2A2B")
    day_of_week = data[7]
    if day_of_week > 7:
        raise DecodeError(f"0x2A2B: reserved day of week {day_of_week}")
    return CurrentTime(date_time, day_of_week or None, data[8], AdjustReason.from_raw(data[9]))


def encode_current_time(
    value: datetime, *, adjust_reason: AdjustReason | None = None, fractions256: int | None = None
) -> bytes:
    """10 bytes the hub writes to set a device clock; ``value`` must already be device-local time.

    ``fractions256`` defaults to the datetime's microseconds so a precise hub clock is passed on.
    """
    if fractions256 is None:
        fractions256 = value.microsecond * 256 // 1_000_000
    if not 0 <= fractions256 <= 255:
        raise ValueError(f"fractions256 out of range: {fractions256}")
    reason = adjust_reason if adjust_reason is not None else AdjustReason()
    return encode_date_time(value) + bytes((value.isoweekday(), fractions256, reason.raw))
