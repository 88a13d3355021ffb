"""A full disk on the hub loses no reading: the outbox refuses with a named error, the
readings wait in memory, and they reach the outbox in order once space is back.

The disk is a real, tiny tmpfs mounted by the test (root only, as CI runs), filled to the
last byte, so SQLite meets a genuine ENOSPC.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.wire.vocabulary import Measure
from gateway.disk_reserve import DiskReserve
from gateway.mqtt.telemetry import HubHealth
from gateway.outbox import Outbox, OutboxUnavailable
from gateway.spill_over import SpillOver
from server.hub_attention import HubState, attention
from tests.fixtures.server import wait_for
from tests.support.disk import fill
from tests.support.readings import hub_weight


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "--lazy", str(mnt)], check=False)


def test_readings_survive_a_full_disk_and_arrive_in_order(tiny_disk: Path) -> None:
    outbox = Outbox(tiny_disk / "outbox.sqlite3")
    notified: list[int] = []
    spill = SpillOver(outbox, lambda: notified.append(1), retry_s=3600)
    first = hub_weight(80.0)
    spill(first)
    filler = fill(tiny_disk)
    later = [hub_weight(80.1 + i / 10) for i in range(20)]
    with pytest.raises(OutboxUnavailable, match="full"):
        outbox.put(later[0])
    for r in later:
        spill(r)
    assert len(spill.held) == 20
    assert outbox.depth() == 1
    # The hub's telemetry tells the technician, and the server's overview says it plainly.
    health = HubHealth("hub-0042", outbox, software="carewatch-hub", spill=spill).snapshot()
    assert (health.outbox_depth, health.held_in_memory, health.disk_free_bytes) == (1, 20, 0)
    state = HubState("online", health.at, health, health.at)
    assert attention(state, health.at) == [
        "20 reading(s) held in memory: the outbox cannot store them (disk full or failing)",
        "disk nearly full: 0 MB free",
    ]

    filler.unlink()  # the technician frees space (or the log rotation does)
    assert spill.flush() == 0
    assert [p.reading for p in outbox.due(100)] == [first, *later]
    assert notified
    spill.close()
    outbox.close()


def test_the_spill_over_keeps_retrying_until_the_disk_is_freed(tiny_disk: Path) -> None:
    """It once gave up after one failed timed retry, so a long full disk lost readings."""
    outbox = Outbox(tiny_disk / "outbox.sqlite3")
    spill = SpillOver(outbox, lambda: None, retry_s=0.2)
    spill.start()
    filler = fill(tiny_disk)
    readings = [hub_weight(80.0 + i / 10) for i in range(5)]
    for r in readings:
        spill(r)
    time.sleep(1.5)  # several retries fail
    assert len(spill.held) == 5
    filler.unlink()
    wait_for(lambda: not spill.held, 10, "the held readings to reach the outbox")
    assert [p.reading for p in outbox.due(100)] == readings
    spill.close()
    outbox.close()


def test_readings_held_when_the_hub_stops_are_rescued_and_taken_back(tiny_disk: Path, tmp_path: Path) -> None:
    """They once vanished without a log line. The rescue file lives on another filesystem
    (the runtime directory, RAM on a hub) and comes back into the outbox at the next start."""
    rescue = tmp_path / "run"
    outbox = Outbox(tiny_disk / "outbox.sqlite3")
    spill = SpillOver(outbox, lambda: None, retry_s=3600, rescue_dirs=[tiny_disk / "rescue", rescue])
    filler = fill(tiny_disk)
    readings = [hub_weight(81.0 + i / 10) for i in range(6)]
    for r in readings:
        spill(r)
    spill.close()  # the hub stops with the disk still full
    assert spill.rescued == 6
    outbox.close()
    filler.unlink()

    again = Outbox(tiny_disk / "outbox.sqlite3")
    respawned = SpillOver(again, lambda: None, rescue_dirs=[tiny_disk / "rescue", rescue])
    assert respawned.recover() == 6
    assert [p.reading for p in again.due(100)] == readings
    assert not list(rescue.iterdir())  # taken back, so not recovered twice
    again.close()


def test_a_hub_restarted_on_a_full_card_runs_and_stores_once_the_card_is_freed(tiny_disk: Path) -> None:
    """It could not start at all: SQLite must create its journal files to open the outbox,
    so the process crash-looped and no device was listened to."""
    first = Outbox(tiny_disk / "outbox.sqlite3")
    first.put(hub_weight(79.0))
    first.close()  # the hub stops (an upgrade, a reboot)...
    filler = fill(tiny_disk)  # ...and the card fills meanwhile
    outbox = Outbox(tiny_disk / "outbox.sqlite3", lazy=True)  # starts regardless
    spill = SpillOver(outbox, lambda: None, retry_s=0.2)
    spill.start()
    later = [hub_weight(79.5), hub_weight(80.0)]
    for r in later:
        spill(r)  # the devices' readings are held
    with pytest.raises(OutboxUnavailable):
        outbox.depth()
    filler.unlink()
    wait_for(lambda: not spill.held, 10, "the held readings to reach the outbox")
    assert [p.reading.value(Measure.WEIGHT) for p in outbox.due(10)] == [79.0, 79.5, 80.0]
    spill.close()
    outbox.close()


def test_the_disk_reserve_gives_the_outbox_room_on_a_full_card(tiny_disk: Path) -> None:
    reserve = DiskReserve(tiny_disk / "disk-reserve", 256 * 1024)
    assert reserve.ensure()
    outbox = Outbox(tiny_disk / "outbox.sqlite3", lazy=True, on_full=reserve.release, on_room=reserve.ensure)
    fill(tiny_disk)
    assert outbox.put(hub_weight(81.0))  # the reserve went, the reading is stored
    assert reserve.released and not reserve.held
    assert outbox.depth() == 1
    outbox.close()
