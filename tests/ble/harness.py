"""The real hub (``gateway.ble.hub.BleHub``) wired to a real ``Outbox`` in a temp dir, for the tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from common.wire.messages import Reading
from common.wire.undecoded import UndecodedPacket
from gateway.allowlist import Allowlist
from gateway.ble.hub import BleHub, HubTuning
from gateway.ble.seen import SeenReadings
from gateway.ble.session import ReadingSink
from gateway.catalogue.loader import load_catalogue, parse_model
from gateway.catalogue.matching import Catalogue
from gateway.outbox import Outbox

HOUSEHOLD_TZ: tzinfo = ZoneInfo("Europe/London")

#: The catalogue ships no plx_continuous model yet; the test adds one the way a YAML file would.
CONTINUOUS_OXIMETER_MODEL = {
    "id": "test-plx-continuous",
    "manufacturer": "Acme Oximetry",
    "model": "CT-200 (test model)",
    "match": {"names": ["^PO-Continuous"], "service_uuids": ["1822"]},
    "profile": "plx_continuous",
    "characteristics": [{"uuid": "2a5f", "subscribe": "notify"}],
    "bonding": "none",
    "clock": "none",
    "stored_readings": "none",
    "mode": "continuous",
    "kinds": ["spo2"],
    "frame_rate_hz": 1,
}


def hub_catalogue() -> Catalogue:
    """The shipped catalogue, plus the test continuous oximeter model."""
    shipped = load_catalogue()
    return Catalogue([*shipped.models, parse_model(CONTINUOUS_OXIMETER_MODEL, "tests/ble/harness.py")])


@dataclass
class RunningHub:
    hub: BleHub
    outbox: Outbox
    seen: SeenReadings
    allowlist: Allowlist
    clock_reads: list[datetime]

    def readings(self) -> list[Reading]:
        return [p.reading for p in self.outbox.due(1000)]

    def undecoded(self) -> list[UndecodedPacket]:
        return [p.packet for p in self.outbox.due_undecoded(1000)]

    async def wait_for_readings(self, count: int, timeout: float) -> list[Reading]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.readings()
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        return self.readings()


@contextlib.asynccontextmanager
async def running_hub(
    state_dir: Path,
    adapter: str,
    allowlisted: Iterable[str],
    *,
    catalogue: Catalogue | None = None,
    tuning: HubTuning | None = None,
) -> AsyncIterator[RunningHub]:
    """The hub scanning on ``adapter`` with these devices paired; stopped (and waited for) on exit."""
    outbox = Outbox(state_dir / "outbox.sqlite3")
    seen = SeenReadings(state_dir / "seen.sqlite3")
    allowlist = Allowlist(state_dir / "paired-devices.json")
    for address in allowlisted:
        allowlist.add(address)
    clock_reads: list[datetime] = []

    def now() -> datetime:
        value = datetime.now(UTC)
        clock_reads.append(value)
        return value

    sink: ReadingSink = outbox.put
    hub = BleHub(
        catalogue=catalogue or hub_catalogue(),
        allowlist=allowlist,
        seen=seen,
        sink=sink,
        tz=HOUSEHOLD_TZ,
        adapter=adapter,
        now=now,
        tuning=tuning or HubTuning(idle_timeout=5.0, reconnect_delay=0.3, failure_backoff=0.5),
    )
    task = asyncio.get_running_loop().create_task(hub.run())
    try:
        await asyncio.wait_for(hub.started.wait(), 10)
        yield RunningHub(hub, outbox, seen, allowlist, clock_reads)
    finally:
        hub.stop()
        await asyncio.wait_for(task, 15)
        seen.close()
        outbox.close()
