"""Between a device session and the outbox: a reading the outbox cannot take (disk full, card
failing) is held, retried, and rescued, never refused.

By the time the hub has a reading, the device has usually been told it was received and may
have forgotten it (an A&D cuff deletes what it sent), so refusing it here would lose it for
good.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from common.supervision import Supervisor
from common.wire.messages import Reading
from common.wire.undecoded import UndecodedPacket
from gateway.outbox import Kept, Outbox, OutboxUnavailable

log = logging.getLogger(__name__)


class SpillOver:
    """Hands readings to the outbox; when the outbox cannot take them (disk full, card
    failing) it holds them in memory and keeps retrying, oldest first, for as long as it takes.

    By the time the hub has a reading, the device has usually been told it was received and
    may have forgotten it (an A&D cuff deletes what it sent), so refusing it here would lose
    it for good. What memory holds is written to a *rescue file* (on another filesystem: the
    runtime directory is RAM, which a full SD card does not touch) when the hub stops or
    when memory is at its bound, and taken back into the outbox when the hub starts again.
    A packet the hub could not decode (``UndecodedPacket``) is held and rescued the same way.
    """

    def __init__(
        self,
        outbox: Outbox,
        notify: Callable[[], None],
        *,
        limit: int = 10_000,
        retry_s: float = 30.0,
        rescue_dirs: Sequence[Path] = (),
        supervisor: Supervisor | None = None,
    ):
        self.outbox = outbox
        self.notify = notify
        self.limit = limit
        self.retry_s = retry_s
        self.rescue_dirs = list(rescue_dirs)
        self.held: deque[Kept] = deque()
        self.rescued = 0  # readings written to a rescue file by this process
        self._recovered_files: list[tuple[Path, int]] = []  # taken back, not yet all stored
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = (supervisor or Supervisor()).thread("outbox-spill-over", self._run)
        self._started = False

    def start(self) -> None:
        self._thread.start()
        self._started = True

    def __call__(self, item: Kept) -> None:
        with self._lock:
            self.held.append(item)
            overflow = [self.held.popleft() for _ in range(len(self.held) - self.limit)]
        if overflow:
            self._rescue(overflow, why="memory bound reached")
        self.flush()

    def flush(self) -> int:
        """Move held readings into the outbox, oldest first, all in one transaction; returns
        how many are still held."""
        moved = 0
        with self._lock:
            if self.held:
                try:
                    self.outbox.put_many(list(self.held))
                except OutboxUnavailable as e:
                    log.error(
                        "%s; holding %d reading(s) in memory, retrying every %.0fs",
                        e,
                        len(self.held),
                        self.retry_s,
                    )
                    self._wake.set()
                else:
                    moved = len(self.held)
                    self.held.clear()
                    self._forget_recovered_files()
            left = len(self.held)
        if moved:
            log.info("%d held reading(s) now in the outbox; %d still held", moved, left)
            self.notify()
        return left

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.wait(self.retry_s):
                return
            self.flush()
            with self._lock:  # a reading held meanwhile set the flag: keep it set
                if not self.held:
                    self._wake.clear()

    def close(self) -> None:
        """Stop retrying; a last flush, then whatever is still held goes to a rescue file,
        and failing that into the log by id: the one way left to find it."""
        self._stop.set()
        self._wake.set()
        if self._started:
            self._thread.join(5)
        if self.flush():
            with self._lock:
                left = list(self.held)
                self.held.clear()
            self._rescue(left, why="hub stopping with the outbox unwritable")

    # -- rescue files ----------------------------------------------------------------------
    def _rescue_file(self, d: Path) -> Path:
        return d / f"rescued-{self.outbox.path.stem}.jsonl"

    def _rescue(self, readings: list[Kept], *, why: str) -> None:
        lines = "".join(r.model_dump_json(exclude_none=True) + "\n" for r in readings).encode()
        for d in self.rescue_dirs:
            path = self._rescue_file(d)
            try:
                d.mkdir(parents=True, exist_ok=True)
                fd = _open_append(path)
                try:
                    _write_all(fd, lines)
                finally:
                    os.close(fd)
            except OSError as e:
                log.error("cannot write rescue file %s: %s", path, e)
                continue
            self.rescued += len(readings)
            log.error(
                "%s: %d reading(s) written to %s, taken back at the next start", why, len(readings), path
            )
            return
        for r in readings:
            log.critical(
                "%s and no rescue file could be written: %s %s LOST: %s",
                why,
                "reading" if isinstance(r, Reading) else "undecoded packet",
                r.reading_id if isinstance(r, Reading) else r.packet_id,
                r.model_dump_json(),
            )

    def recover(self) -> int:
        """Take readings from rescue files (a previous run's) back: held, then stored as soon
        as the outbox can take them (at once, usually; the card may still be full). A file is
        removed only once everything in it is in the outbox, so a hub stopped again before
        that recovers it again (the outbox ignores a reading id it already has). Returns how
        many were recovered."""
        recovered = 0
        for d in self.rescue_dirs:
            path = self._rescue_file(d)
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue
            except OSError as e:
                log.error("cannot read rescue file %s: %s", path, e)
                continue
            readings: list[Kept] = []
            unreadable = 0
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    readings.append(_kept(line))
                except ValidationError as e:
                    unreadable += 1
                    log.error("rescue file %s line %d unreadable: %s", path, n, e)
            with self._lock:
                self.held.extendleft(reversed(readings))  # older than anything taken since
                self._recovered_files.append((path, unreadable))
            recovered += len(readings)
            log.warning("recovered %d reading(s) from rescue file %s", len(readings), path)
        if recovered:
            self.flush()
        return recovered

    def _forget_recovered_files(self) -> None:
        """Everything recovered is in the outbox now (call with the lock held)."""
        for path, unreadable in self._recovered_files:
            try:
                if unreadable:  # kept aside whole, as the outbox keeps rows it cannot read
                    path.rename(path.with_suffix(".unreadable"))
                else:
                    path.unlink()
            except OSError as e:
                log.warning("rescue file %s already stored, but not removed: %s", path, e)
        self._recovered_files.clear()


def _kept(line: str) -> Kept:
    """A rescue file's line: a reading, or else an undecoded packet (each model refuses the
    other's fields, so a line is never taken for the wrong one)."""
    try:
        return Reading.model_validate_json(line)
    except ValidationError as as_reading:
        try:
            return UndecodedPacket.model_validate_json(line)
        except ValidationError:
            raise as_reading from None


def _open_append(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)
