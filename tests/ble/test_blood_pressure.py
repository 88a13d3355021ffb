"""A&D-style cuff on the emulated radio: bond, clock, burst of stored readings, hang-up, re-send."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from common.wire.messages import TimeSource
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag
from gateway.gatt.blood_pressure import BloodPressureStatus
from tests.ble.devices.health import Slot, StoredBloodPressure, and_ua_651ble
from tests.ble.harness import HOUSEHOLD_TZ, running_hub
from tests.ble.stack import EmulatedBluez, hub_view_of

pytestmark = pytest.mark.ble


def _memory(count: int) -> list[StoredBloodPressure]:
    base = datetime.now(HOUSEHOLD_TZ).replace(tzinfo=None, microsecond=0) - timedelta(hours=count)
    return [
        StoredBloodPressure(128 + i, 82 + i, 97 + i, 70 + i, base + timedelta(hours=i)) for i in range(count)
    ]


def test_cuff_bonds_sets_clock_and_delivers_its_stored_readings(
    bluez: EmulatedBluez, new_slot: Callable[[], Slot], tmp_path: Path
) -> None:
    slot = new_slot()
    memory = _memory(2)
    memory[1] = StoredBloodPressure(
        151, 95, 114, 88, memory[1].taken_at, BloodPressureStatus(irregular_pulse=True)
    )

    async def scenario() -> None:
        cuff = and_ua_651ble(slot, memory)
        await cuff.start()
        try:
            async with running_hub(tmp_path, bluez.hub_adapter, [slot.address]) as hub:
                await asyncio.wait_for(cuff.burst_done.wait(), 15)
                readings = await hub.wait_for_readings(2, 5)
                report = hub.hub.loops[slot.address].stats.last_report
                hub_times = list(hub.clock_reads)
            bonded = await hub_view_of(bluez.hub_adapter, slot.address)
        finally:
            await cuff.close()

        assert len(readings) == 2
        # Paired through the hub's NoInputNoOutput agent (bluezoo pairs only with such an agent). Not
        # "Bonded": bluezoo 1.0.2's Bonded setter writes a misspelt attribute, so it always reads False.
        assert bonded["Paired"] is True
        # The clock was written with the hub's time, in the household's zone (Date Time 0x2A08).
        (written,) = cuff.clock_writes()
        assert written is not None
        hub_local = [t.astimezone(HOUSEHOLD_TZ).replace(tzinfo=None, microsecond=0) for t in hub_times]
        assert min(hub_local) - timedelta(seconds=1) <= written <= max(hub_local) + timedelta(seconds=1)
        assert report is not None and report.paired and report.ended_by == "device"

        first, second = sorted(readings, key=lambda r: r.taken_at)
        assert first.kind is ReadingKind.BLOOD_PRESSURE
        assert first.value(Measure.SYSTOLIC) == 128
        assert first.value(Measure.DIASTOLIC) == 82
        assert first.value(Measure.MEAN_ARTERIAL) == 97
        assert first.value(Measure.PULSE) == 70
        assert {m: q.unit for m, q in first.values.items()} == {
            Measure.SYSTOLIC: "mm[Hg]",
            Measure.DIASTOLIC: "mm[Hg]",
            Measure.MEAN_ARTERIAL: "mm[Hg]",
            Measure.PULSE: "/min",
        }
        assert first.time_source is TimeSource.DEVICE
        assert first.measured_at == memory[0].taken_at.replace(tzinfo=HOUSEHOLD_TZ)
        assert first.flags == []
        assert second.value(Measure.SYSTOLIC) == 151
        assert StatusFlag.IRREGULAR_PULSE.value in second.flags
        for reading, stored in ((first, memory[0]), (second, memory[1])):
            device = reading.device
            assert device.address == slot.address
            assert device.model == "and-ua-651ble"
            assert device.manufacturer == "A&D Medical"
            assert device.serial == "5140012345"
            assert device.firmware == "1.07"
            (raw,) = reading.raw
            assert raw.uuid == "2a35"
            assert base64.b64decode(raw.data) == stored.encode()

    asyncio.run(scenario())


def test_burst_cut_mid_way_is_resent_without_duplicates_or_loss(
    bluez: EmulatedBluez, new_slot: Callable[[], Slot], tmp_path: Path
) -> None:
    slot = new_slot()
    memory = _memory(4)

    async def scenario() -> None:
        cuff = and_ua_651ble(slot, memory, interrupt_after=2)
        await cuff.start()
        try:
            async with running_hub(tmp_path, bluez.hub_adapter, [slot.address]) as hub:
                await asyncio.wait_for(cuff.burst_done.wait(), 20)
                readings = await hub.wait_for_readings(4, 5)
                await asyncio.sleep(0.3)
                readings = hub.readings()
                stats = hub.hub.loops[slot.address].stats
        finally:
            await cuff.close()

        assert len(cuff.sent) == 6  # two readings went twice: the cut burst, then the whole memory
        assert len(readings) == 4
        assert len({r.reading_id for r in readings}) == 4
        assert sorted(r.values[Measure.SYSTOLIC].value for r in readings) == [128, 129, 130, 131]
        assert stats.sessions == 2
        assert [r.duplicates for r in stats.reports] == [0, 2]

    asyncio.run(scenario())
