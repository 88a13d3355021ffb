"""Date Time 0x2A08 and Current Time 0x2A2B."""

from __future__ import annotations

from datetime import datetime

import pytest

from gateway.gatt import decode
from gateway.gatt.date_time import (
    AdjustReason,
    CurrentTime,
    GattDateTime,
    decode_current_time,
    decode_date_time,
    encode_current_time,
    encode_date_time,
)
from gateway.gatt.errors import DecodeError
from tests.gatt.helpers import assert_every_truncation_fails, h


def test_date_time_round_trip() -> None:
    # Constructed per GATT Specification Supplement §3.70 (Date Time): year u16, month, day, h, m, s.
    data = h("E7 07 0C 19 0E 1E 2D")
    value = decode_date_time(data)
    assert value.value == datetime(2023, 12, 25, 14, 30, 45)
    assert not value.clock_unset
    assert encode_date_time(value) == data
    assert encode_date_time(datetime(2023, 12, 25, 14, 30, 45)) == data
    assert decode("2a08", data) == value


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        ("00 00 00 00 00 00 00", (None, None, None)),
        ("00 00 04 11 14 29 3B", (None, 4, 17)),
        ("E7 07 00 11 00 00 00", (2023, None, 17)),
        ("E7 07 04 00 00 00 00", (2023, 4, None)),
    ],
)
def test_unknown_parts_mean_clock_unset(raw: str, parts: tuple[int | None, int | None, int | None]) -> None:
    # Constructed per GATT Specification Supplement §3.70: 0 = not known for year, month and day.
    value = decode_date_time(h(raw))
    assert (value.year, value.month, value.day) == parts
    assert value.clock_unset
    assert value.value is None


def test_encode_none_is_unset_clock() -> None:
    assert encode_date_time(None) == bytes(7)


@pytest.mark.parametrize(
    "raw",
    [
        "E7 07 0D 01 00 00 00",  # month 13
        "E7 07 01 20 00 00 00",  # day 32
        "E7 07 01 01 18 00 00",  # hour 24
        "E7 07 01 01 00 3C 00",  # minute 60
        "E7 07 01 01 00 00 3C",  # second 60
        "E8 03 01 01 00 00 00",  # year 1000 (reserved, below 1582)
        "10 27 01 01 00 00 00",  # year 10000
        "E7 07 02 1E 00 00 00",  # 30 February
    ],
)
def test_reserved_or_impossible_dates(raw: str) -> None:
    with pytest.raises(DecodeError):
        decode_date_time(h(raw))


def test_date_time_lengths() -> None:
    assert_every_truncation_fails(decode_date_time, h("E7 07 0C 19 0E 1E 2D"))
    with pytest.raises(DecodeError):
        decode_date_time(h("E7 07 0C 19 0E 1E 2D 00"))


def test_current_time_round_trip() -> None:
    # Constructed per GATT Specification Supplement §3.62 (Current Time): Day Date Time + fractions256
    # + adjust reason. 2023-12-25 is a Monday (1).
    when = datetime(2023, 12, 25, 14, 30, 45, 500_000)
    data = encode_current_time(when, adjust_reason=AdjustReason(manual_time_update=True, change_of_dst=True))
    assert data == h("E7 07 0C 19 0E 1E 2D 01 80 09")
    value = decode_current_time(data)
    assert value == CurrentTime(
        GattDateTime(2023, 12, 25, 14, 30, 45), 1, 128, AdjustReason(True, False, False, True)
    )
    assert value.value == when
    assert decode("0x2A2B", data) == value


def test_current_time_sunday_and_unknown_day() -> None:
    sunday = datetime(2024, 1, 7, 8, 0, 0)
    assert encode_current_time(sunday)[7] == 7
    value = decode_current_time(h("E8 07 01 07 08 00 00 00 00 F0"))  # RFU adjust bits ignored
    assert value.day_of_week is None
    assert value.adjust_reason == AdjustReason()


def test_current_time_malformed() -> None:
    assert_every_truncation_fails(decode_current_time, h("E7 07 0C 19 0E 1E 2D 01 80 09"))
    with pytest.raises(DecodeError, match="day of week"):
        decode_current_time(h("E7 07 0C 19 0E 1E 2D 08 00 00"))
    with pytest.raises(DecodeError):
        decode_current_time(h("E7 07 0C 19 0E 1E 2D 01 80 09 00"))
    with pytest.raises(DecodeError):
        decode_current_time(h("00 00 00 00 18 00 00 01 00 00"))


def test_current_time_unset_clock() -> None:
    value = decode_current_time(bytes(10))
    assert value.date_time.clock_unset
    assert value.value is None
