"""Reading ids the hub already handed to the outbox, remembered across connections and restarts.

Why, when the outbox and the server already deduplicate: the outbox forgets a reading once the
broker acknowledged it, and a cuff re-sends its whole memory whenever a transfer was cut short
(or, for some models, on every connection). Without this set each re-send would be published
again; the server would drop the copies, but only after they crossed a metered mobile link.
Bounded: only the newest ``capacity`` ids are kept, far more than any device's memory.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from pathlib import Path

DEFAULT_CAPACITY = 20_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    reading_id  TEXT NOT NULL UNIQUE
);
"""


class SeenReadingsUnavailable(RuntimeError):
    """The seen-readings file cannot be used; the hub would resend old readings without it."""


class SeenReadings:
    def __init__(self, path: Path, *, capacity: int = DEFAULT_CAPACITY) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.capacity = capacity
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as e:
            raise SeenReadingsUnavailable(f"cannot open {path}: {e}") from e
        self._added = 0

    def __contains__(self, reading_id: object) -> bool:
        if not isinstance(reading_id, uuid.UUID):
            return False
        with self._lock:
            row = self._db.execute("SELECT 1 FROM seen WHERE reading_id = ?", (str(reading_id),)).fetchone()
        return row is not None

    def add(self, reading_id: uuid.UUID) -> bool:
        """Remember an id; False if it was already known."""
        with self._lock:
            cur = self._db.execute("INSERT OR IGNORE INTO seen (reading_id) VALUES (?)", (str(reading_id),))
            self._added += cur.rowcount
            if self._added >= max(1, self.capacity // 10):
                self._added = 0
                self._db.execute(
                    "DELETE FROM seen WHERE seq <= (SELECT max(seq) FROM seen) - ?", (self.capacity,)
                )
        return cur.rowcount == 1

    def __len__(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM seen").fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()
