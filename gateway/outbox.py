"""The hub's durable outbox: a reading is on disk before anything else happens to it.

A reading leaves the outbox only when the broker has acknowledged (PUBACK, success) the
batch that carried it. Power cuts, broker outages and weeks offline therefore lose
nothing: the SQLite file (WAL, ``synchronous=FULL``) is the queue. Delivery is
at-least-once; the server deduplicates on ``reading_id``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gateway.wire.messages import Reading

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    reading_id   TEXT NOT NULL UNIQUE,
    body         TEXT NOT NULL,
    enqueued_at  TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);
"""


class OutboxUnavailable(RuntimeError):
    """The outbox file cannot be written (disk full, read-only, corrupt): readings are at risk."""


@dataclass(frozen=True, slots=True)
class PendingReading:
    seq: int
    reading: Reading
    attempts: int


class Outbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as e:
            raise OutboxUnavailable(f"cannot open outbox {path}: {e}") from e

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, reading: Reading) -> bool:
        """Store a reading durably; False if this reading id is already queued."""
        body = reading.model_dump_json(exclude_none=True)
        now = datetime.now(UTC).isoformat()
        try:
            with self._lock:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO outbox (reading_id, body, enqueued_at) VALUES (?, ?, ?)",
                    (str(reading.reading_id), body, now),
                )
        except sqlite3.Error as e:
            raise OutboxUnavailable(f"cannot store reading {reading.reading_id} in {self.path}: {e}") from e
        return cur.rowcount == 1

    def oldest(self, limit: int) -> list[PendingReading]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, body, attempts FROM outbox ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [
            PendingReading(seq, Reading.model_validate_json(body), attempts) for seq, body, attempts in rows
        ]

    def remove(self, seqs: Sequence[int]) -> None:
        """Forget readings the broker acknowledged."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
            self._db.execute("COMMIT")

    def record_failure(self, seqs: Sequence[int], error: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
                [(error[:500], s) for s in seqs],
            )
            self._db.execute("COMMIT")

    def depth(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM outbox").fetchone()
        return int(n)

    def backlog(self) -> tuple[int, datetime | None]:
        """How many readings wait, and when the oldest of them was stored (for telemetry)."""
        try:
            with self._lock:
                n, oldest = self._db.execute("SELECT count(*), min(enqueued_at) FROM outbox").fetchone()
        except sqlite3.Error as e:
            raise OutboxUnavailable(f"cannot read outbox {self.path}: {e}") from e
        return int(n), datetime.fromisoformat(oldest) if oldest else None


class SpillOver:
    """Hands readings to the outbox; when the outbox cannot take them (disk full, card
    failing) it holds them in memory and keeps retrying, oldest first.

    By the time the hub has a reading, the device has usually been told it was received and
    may have forgotten it (an A&D cuff deletes what it sent), so refusing it here would lose
    it for good. Memory is bounded; past the bound the oldest held reading is dropped with
    an error in the log naming its id, the one place a reading can still be lost, and only
    after the disk has been failing for thousands of readings.
    """

    def __init__(
        self, outbox: Outbox, notify: Callable[[], None], *, limit: int = 10_000, retry_s: float = 30.0
    ):
        self.outbox = outbox
        self.notify = notify
        self.limit = limit
        self.retry_s = retry_s
        self.held: deque[Reading] = deque()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def __call__(self, reading: Reading) -> None:
        with self._lock:
            self.held.append(reading)
            if len(self.held) > self.limit:
                lost = self.held.popleft()
                log.error("outbox unwritable and memory full: reading %s dropped", lost.reading_id)
        self.flush()

    def flush(self) -> int:
        """Move held readings into the outbox; returns how many are still held."""
        moved = 0
        with self._lock:
            while self.held:
                try:
                    self.outbox.put(self.held[0])
                except OutboxUnavailable as e:
                    log.error(
                        "%s; holding %d reading(s) in memory, retrying in %.0fs",
                        e,
                        len(self.held),
                        self.retry_s,
                    )
                    self._schedule()
                    break
                self.held.popleft()
                moved += 1
            left = len(self.held)
        if moved:
            self.notify()
        return left

    def _schedule(self) -> None:
        if self._timer is None or not self._timer.is_alive():
            self._timer = threading.Timer(self.retry_s, self.flush)
            self._timer.daemon = True
            self._timer.start()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
