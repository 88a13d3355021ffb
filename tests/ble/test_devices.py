"""Oximeters, scale and thermometer on the emulated radio, through the real hub into a real outbox."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from common.wire.messages import TimeSource
from common.wire.vocabulary import Measure, ReadingKind
from gateway.gatt.pulse_oximetry import encode_plx_continuous
from tests.ble.devices.health import (
    BerryMedOximeter,
    ContinuousOximeter,
    Slot,
    StoredBloodPressure,
    and_ua_651ble,
    and_uc_352ble,
    generic_thermometer,
    spot_check_oximeter,
)
from tests.ble.harness import HOUSEHOLD_TZ, running_hub
from tests.ble.stack import EmulatedBluez

pytestmark = pytest.mark.ble


def _local(minutes_ago: int) -> datetime:
    return datetime.now(HOUSEHOLD_TZ).replace(tzinfo=None, microsecond=0) - timedelta(minutes=minutes_ago)


def _near(written: datetime | None, hub_times: list[datetime]) -> bool:
    local = [t.astimezone(HOUSEHOLD_TZ).replace(tzinfo=None) for t in hub_times]
    return written is not None and min(local) - timedelta(seconds=1) <= written <= max(local) + timedelta(
        seconds=1
    )


def test_spot_check_oximeter_sets_current_time_and_delivers_readings(
    bluez: EmulatedBluez, new_slot: Callable[[], Slot], tmp_path: Path
) -> None:
    slot = new_slot()
    taken = _local(10)

    async def scenario() -> None:
        oximeter = spot_check_oximeter(slot, [(94, 81, taken)])
        await oximeter.start()
        try:
            async with running_hub(tmp_path, bluez.hub_adapter, [slot.address]) as hub:
                await asyncio.wait_for(oximeter.burst_done.wait(), 15)
                (reading,) = await hub.wait_for_readings(1, 5)
                hub_times = list(hub.clock_reads)
                # What the hub's telemetry will say of this device once the session ends.
                for _ in range(150):
                    (device,) = hub.hub.device_telemetry()
                    if device.last_session_at is not None:
                        break
                    await asyncio.sleep(0.1)
        finally:
            await oximeter.close()

        assert device.address == slot.address and device.model == "generic-pulse-oximeter"
        assert (device.battery_percent, device.readings, device.last_error) == (87, 1, None)
        assert device.last_session_at is not None
        (written,) = oximeter.clock_writes()  # Current Time 0x2A2B
        assert _near(written, hub_times)
        assert reading.kind is ReadingKind.SPO2
        assert reading.values[Measure.SPO2].value == 94 and reading.values[Measure.SPO2].unit == "%"
        assert reading.values[Measure.PULSE].value == 81 and reading.values[Measure.PULSE].unit == "/min"
        assert reading.time_source is TimeSource.DEVICE
        assert reading.taken_at == taken.replace(tzinfo=HOUSEHOLD_TZ)
        assert reading.device.model == "generic-pulse-oximeter"
        assert (reading.device.serial, reading.device.firmware) == ("OX-77812", "2.3.1")
        assert reading.raw[0].uuid == "2a5e"
        assert base64.b64decode(reading.raw[0].data) == oximeter.sent[0]

    asyncio.run(scenario())


def test_continuous_oximeter_stream_becomes_one_spot_reading(
    bluez: EmulatedBluez, new_slot: Callable[[], Slot], tmp_path: Path
) -> None:
    slot = new_slot()
    # The finger goes in: two unsettled frames, then a steady 96-97 % / 72-73 bpm.
    frames = [(99, 110), (90, 95), *[(97, 72), (96, 73), (97, 72)] * 3]

    async def scenario() -> None:
        oximeter = ContinuousOximeter(slot, frames=frames, rate_hz=25)
        await oximeter.start()
        try:
            async with running_hub(tmp_path, bluez.hub_adapter, [slot.address]) as hub:
                await asyncio.wait_for(oximeter.burst_done.wait(), 15)
                await asyncio.sleep(0.3)
                readings = hub.readings()
        finally:
            await oximeter.close()

        (reading,) = readings
        assert reading.kind is ReadingKind.SPO2
        assert reading.value(Measure.SPO2) == 97  # low median of the first steady window
        assert reading.value(Measure.PULSE) == 72
        assert reading.time_source is TimeSource.HUB  # a stream has no device timestamp
        assert reading.device.model == "test-plx-continuous"
        assert reading.device.serial == "OX-90001"
        assert base64.b64decode(reading.raw[0].data) in {encode_plx_continuous(s, p) for s, p in frames}

    asyncio.run(scenario())


def test_scale_delivers_weight_in_kg(
    bluez: EmulatedBluez, new_slot: Callable[[], Slot], tmp_path: Path
) -> None:
    slot = new_slot()
    taken = [_local(60 * 24), _local(5)]

    async def scenario() -> None:
        scale = and_uc_352ble(slot, [(82.45, taken[0]), (81.9, taken[1])])
        await scale.start()
        try:
            async with running_hub(tmp_path, bluez.hub_adapter, [slot.address]) as hub:
                await asyncio.wait_for(scale.burst_done.wait(), 15)
                readings = await hub.wait_for_readings(2, 5)
                hub_times = list(hub.clock_reads)
        finally:
            await scale.close()

        (written,) = scale.clock_writes()  # Date Time 0x2A08, A&D style
        assert _near(written, hub_times)
        by_time = sorted(readings, key=lambda r: r.taken_at)
        assert [r.value(Measure.WEIGHT) for r in by_time] == [82.45, 81.9]
        assert all(r.values[Measure.WEIGHT].unit == "kg" for r in by_time)
        assert [r.taken_at for r in by_time] == [t.replace(tzinfo=HOUSEHOLD_TZ) for t in taken]
        assert {r.device.model for r in by_time} == {"and-uc-352ble"}
        assert {r.raw[0].uuid for r in by_time} == {"2a9d"}

    asyncio.run(scenario())


def test_thermometer_refusing_the_clock_still_delivers(
    bluez: EmulatedBluez, new_slot: Callable[[], Slot], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    slot = new_slot()
    taken = _local(2)

    async def scenario() -> None:
        thermometer = generic_thermometer(slot, [(37.8, taken)], refuse_clock=True)
        await thermometer.start()
        try:
            async with running_hub(tmp_path, bluez.hub_adapter, [slot.address]) as hub:
                await asyncio.wait_for(thermometer.burst_done.wait(), 15)
                (reading,) = await hub.wait_for_readings(1, 5)
                report = hub.hub.loops[slot.address].stats.last_report
        finally:
            await thermometer.close()

        assert thermometer.clock_writes() == []
        assert report is not None and report.clock_refused == 0x80 and report.clock_written is None
        assert "refused the clock write" in caplog.text and "0x80" in caplog.text
        assert reading.kind is ReadingKind.TEMPERATURE
        assert reading.values[Measure.TEMPERATURE].value == 37.8
        assert reading.values[Measure.TEMPERATURE].unit == "Cel"
        assert reading.device.model == "generic-thermometer"
        assert reading.device.firmware == "0.9.4"

    asyncio.run(scenario())


def test_supported_device_not_on_the_allowlist_is_ignored(
    bluez: EmulatedBluez, new_slot: Callable[[], Slot], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ours, neighbours = new_slot(), new_slot()
    caplog.set_level("DEBUG", logger="gateway.ble.scanner")

    async def scenario() -> None:
        our_scale = and_uc_352ble(ours, [(70.0, _local(1))])
        neighbour_cuff = and_ua_651ble(neighbours, [StoredBloodPressure(180, 110, 133, 90, _local(1))])
        await our_scale.start()
        await neighbour_cuff.start()
        try:
            async with running_hub(tmp_path, bluez.hub_adapter, [ours.address]) as hub:
                await asyncio.wait_for(our_scale.burst_done.wait(), 15)
                await asyncio.sleep(1.2)  # at least one more scan round with the neighbour advertising
                readings = hub.readings()
                loops = set(hub.hub.loops)
        finally:
            await our_scale.close()
            await neighbour_cuff.close()

        assert loops == {ours.address}
        assert [r.device.address for r in readings] == [ours.address]
        assert not neighbour_cuff.measurement.subscribed.is_set() and neighbour_cuff.sent == []
        assert f"ignoring and-ua-651ble {neighbours.address}" in caplog.text

    asyncio.run(scenario())


def test_berrymed_stream_becomes_one_spot_reading(
    bluez: EmulatedBluez, new_slot: Callable[[], Slot], tmp_path: Path
) -> None:
    slot = new_slot()

    async def scenario() -> None:
        # 100 frames/s, 5 per notification; the catalogue's 3 s steady window needs 300 frames.
        oximeter = BerryMedOximeter(slot, spo2=95, pulse=68, seconds=3.6)
        await oximeter.start()
        try:
            async with running_hub(tmp_path, bluez.hub_adapter, [slot.address]) as hub:
                await asyncio.wait_for(oximeter.burst_done.wait(), 15)
                await asyncio.sleep(0.2)
                readings = hub.readings()
        finally:
            await oximeter.close()

        (reading,) = readings
        assert reading.device.model == "berrymed-bci" and reading.device.serial == "BM-11223"
        assert (reading.value(Measure.SPO2), reading.value(Measure.PULSE)) == (95, 68)
        assert reading.raw[0].uuid == "49535343-1e4d-4bd9-ba61-23c647249616"

    asyncio.run(scenario())
