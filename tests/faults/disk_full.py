"""The longest fault: a hub's disk full for ten minutes, then freed.

Ten real minutes, so the spill-over's retries run for as long as a patient's home would see
them (it once gave up after one). So as not to add ten minutes to the suite, the scenario
starts in the background as soon as the session begins (``starts_early``: see
tests/conftest.py) on services of its own, and its test runs last and collects the result.
``CAREWATCH_FAULT_DISK_FULL_S`` shortens the full period for a quick local run; CI runs the
full 600 s.

The disk is a real 3 MB tmpfs holding the hub's outbox, filled to the last byte, so SQLite
meets a genuine ENOSPC; the rescue directory (RAM on a hub) is elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.faults.harness import Counts, FaultStack, wait_until
from tests.fixtures.postgres import new_database
from tests.support.disk import fill

FULL_FOR_S = float(os.environ.get("CAREWATCH_FAULT_DISK_FULL_S", "600"))
READING_EVERY_S = 2.0


@dataclass
class DiskFullRun:
    root: Path
    database_url: str
    counts: Counts | None = None
    error: BaseException | None = None
    facts: dict[str, float] = field(default_factory=dict)
    thread: threading.Thread | None = None
    stack: FaultStack | None = None

    @property
    def disk(self) -> Path:
        return self.root / "disk"

    def start(self) -> None:
        self.thread = threading.Thread(target=self._guarded, name="disk-full scenario", daemon=True)
        self.thread.start()

    def wait(self) -> Counts:
        assert self.thread is not None
        self.thread.join(FULL_FOR_S + 600)
        if self.error is not None:
            raise self.error
        assert self.counts is not None, "the disk-full scenario did not finish"
        return self.counts

    def _guarded(self) -> None:
        try:
            self.counts = self._run()
        except BaseException as e:  # noqa: BLE001 - handed to the test that collects it
            self.error = e

    def _run(self) -> Counts:
        disk = self.disk
        disk.mkdir(parents=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], check=True)
        stack = self.stack = FaultStack(self.root / "stack", self.database_url)
        try:
            hub = stack.add_hub(1)
            stack.start_ingest()
            count = int(FULL_FOR_S / READING_EVERY_S) + 15
            stack.start_hub(
                hub, count=count, interval=READING_EVERY_S, state_dir=disk, rescue_dir=self.root / "run"
            )
            wait_until(lambda: len(hub.taken()) >= 10 and not hub.on_hub(), 60, "readings flowing")
            filler = fill(disk)
            full_at = time.monotonic()
            taken_before = len(hub.taken())
            restarted = False
            refilled: list[Path] = []
            while time.monotonic() - full_at < FULL_FOR_S:
                assert hub.process is not None and hub.process.running(), "the hub process died"
                if not restarted and time.monotonic() - full_at > FULL_FOR_S / 2:
                    # An upgrade or a reboot of the service with the card still full: what it
                    # holds goes to the rescue file, and it must start again regardless. The
                    # outbox's journal, cut back at a checkpoint, can give the card a little
                    # room, into which held readings then go; take that room back and restart
                    # only once the hub is holding readings again, so the rescue is exercised.
                    refilled.append(fill(disk, f"filler-{len(refilled) + 2}"))
                    wait_until(
                        lambda: _holding(hub.dir / "hub.log"), 120, "the hub holding readings in memory"
                    )
                    hub.process.stop()
                    self.facts["rescued at the restart"] = _rescued(self.root / "run")
                    stack.start_hub(
                        hub,
                        count=count,
                        interval=READING_EVERY_S,
                        state_dir=disk,
                        rescue_dir=self.root / "run",
                    )
                    restarted = True
                time.sleep(5)
            self.facts["taken while full"] = len(hub.taken()) - taken_before
            for f in [filler, *refilled]:
                f.unlink()
            stack.wait_delivered(count, timeout=300)
            wal = disk / hub.hub_id / "outbox.sqlite3-wal"
            self.facts["WAL bytes after"] = wal.stat().st_size if wal.exists() else 0
            self.facts["disk free bytes after"] = shutil.disk_usage(disk).free
            counts = stack.counts(f"hub disk full {FULL_FOR_S / 60:.3g} min, then freed")
            counts.notes.append(
                f"{self.facts['taken while full']:.0f} readings taken while full, the hub restarted "
                f"half way with {self.facts['rescued at the restart']:.0f} held (rescued, taken back); "
                f"WAL {self.facts['WAL bytes after'] / 1024:.0f} KiB after, "
                f"{self.facts['disk free bytes after'] / 1024:.0f} KiB free"
            )
            return counts
        finally:
            stack.close()
            subprocess.run(["umount", "--lazy", str(disk)], check=False)


def _holding(log: Path) -> bool:
    """The hub's last word on held readings is that it holds some (gateway.spill_over)."""
    said = [
        line
        for line in log.read_text(errors="replace").splitlines()
        if "reading(s) in memory" in line or "reading(s) now in the outbox" in line
    ]
    return bool(said) and "in memory" in said[-1]


def _rescued(run: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in run.glob("rescued-*.jsonl"))


@pytest.fixture(scope="session")
def disk_full_scenario(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[DiskFullRun]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    run = DiskFullRun(tmp_path_factory.mktemp("disk-full"), new_database(postgres_url))
    run.start()
    yield run
    if run.thread is not None:
        run.thread.join(5)
        if run.thread.is_alive():  # the session ended first (an interrupted run): clean up
            if run.stack is not None:
                run.stack.close()
            subprocess.run(["umount", "--lazy", str(run.disk)], check=False)
