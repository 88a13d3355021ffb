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
from collections.abc import Sequence
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
