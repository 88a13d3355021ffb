"""Clock trust and plausibility: the hub's two judgements about a reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from common.wire.messages import DeviceIdentity, TimeSource
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag
from gateway.reading_builder import build_reading, choose_time

NOW = datetime(2026, 2, 3, 9, 15, tzinfo=UTC)
CUFF = DeviceIdentity(address="00:09:1F:00:00:01", model="and-ua-651ble")


def test_a_plausible_device_clock_is_trusted() -> None:
    assert choose_time(NOW - timedelta(hours=3), NOW) == (NOW - timedelta(hours=3), TimeSource.DEVICE, [])


def test_an_unset_device_clock_falls_back_to_the_hub_and_says_so() -> None:
    assert choose_time(NOW, NOW, device_clock_unset=True) == (
        NOW,
        TimeSource.HUB,
        [StatusFlag.DEVICE_CLOCK_UNSET],
    )


def test_a_device_without_a_clock_gets_hub_time_and_no_complaint() -> None:
    assert choose_time(None, NOW) == (NOW, TimeSource.HUB, [])


def test_a_device_clock_in_the_future_or_years_behind_is_not_trusted() -> None:
    for measured in (NOW + timedelta(minutes=6), NOW - timedelta(days=91), datetime(2000, 1, 1, tzinfo=UTC)):
        assert choose_time(measured, NOW) == (NOW, TimeSource.HUB, [StatusFlag.DEVICE_CLOCK_SKEWED])
    assert choose_time(NOW + timedelta(minutes=4), NOW)[1] is TimeSource.DEVICE


def test_implausible_values_are_flagged_and_kept() -> None:
    r = build_reading(
        kind=ReadingKind.SPO2, values={Measure.SPO2: 101.0}, device=CUFF, received_at=NOW, measured_at=NOW
    )
    assert r.value(Measure.SPO2) == 101.0
    assert StatusFlag.IMPLAUSIBLE in r.flags
    low = build_reading(
        kind=ReadingKind.BLOOD_PRESSURE,
        values={Measure.SYSTOLIC: 35.0, Measure.DIASTOLIC: 30.0},
        device=CUFF,
        received_at=NOW,
    )
    assert low.flags == [StatusFlag.IMPLAUSIBLE]
    ok = build_reading(kind=ReadingKind.WEIGHT, values={Measure.WEIGHT: 70.0}, device=CUFF, received_at=NOW)
    assert StatusFlag.IMPLAUSIBLE not in ok.flags


def test_raw_bytes_travel_as_base64() -> None:
    raw = bytes.fromhex("1E8A005800780000000411142939 3C0001 2700".replace(" ", ""))
    r = build_reading(
        kind=ReadingKind.BLOOD_PRESSURE,
        values={Measure.SYSTOLIC: 138.0, Measure.DIASTOLIC: 88.0},
        device=CUFF,
        received_at=NOW,
        raw=[("2a35", raw)],
    )
    assert r.raw[0].payload() == raw
