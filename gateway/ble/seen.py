"""Reading ids the hub already handed to the outbox, remembered across connections and restarts.

Why, when the outbox and the server already deduplicate: the outbox forgets a reading once the
broker acknowledged it, and a cuff re-sends its whole memory whenever a transfer was cut short
(or, for some models, on every connection). Without this set each re-send would be published
again; the server would drop the copies, but only after they crossed a metered mobile link.
Bounded: only the newest ``capacity`` ids are kept, far more than any device's memory.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from pathlib import Path

DEFAULT_CAPACITY = 20_000

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    reading_id  TEXT NOT NULL UNIQUE
);
"""


class SeenReadings:
    """Backed by a small SQLite file; when the file cannot be used (a full card), by memory
    alone until it can, with one log line. Forgetting here costs a duplicate the server
    recognises, never a reading, so it must not stop a device session."""

    def __init__(self, path: Path, *, capacity: int = DEFAULT_CAPACITY) -> None:
        self.path = path
        self.capacity = capacity
        self._lock = threading.Lock()
        self._memory: set[str] = set()  # ids added while the file could not be written
        self._db: sqlite3.Connection | None = None
        self._failing = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as e:
            self._fail(e)
            self._db = None
        self._added = 0

    def _fail(self, e: BaseException) -> None:
        if not self._failing:
            log.error("seen-readings file %s unusable (%s); remembering in memory until it is", self.path, e)
        self._failing = True

    def __contains__(self, reading_id: object) -> bool:
        if not isinstance(reading_id, uuid.UUID):
            return False
        key = str(reading_id)
        with self._lock:
            if key in self._memory:
                return True
            if self._db is None:
                return False
            try:
                row = self._db.execute("SELECT 1 FROM seen WHERE reading_id = ?", (key,)).fetchone()
            except sqlite3.Error as e:
                self._fail(e)
                return False
        return row is not None

    def add(self, reading_id: uuid.UUID) -> bool:
        """Remember an id; False if it was already known."""
        key = str(reading_id)
        if reading_id in self:
            return False
        with self._lock:
            if self._db is not None:
                try:
                    cur = self._db.execute("INSERT OR IGNORE INTO seen (reading_id) VALUES (?)", (key,))
                    self._added += cur.rowcount
                    if self._added >= max(1, self.capacity // 10):
                        self._added = 0
                        self._db.execute(
                            "DELETE FROM seen WHERE seq <= (SELECT max(seq) FROM seen) - ?", (self.capacity,)
                        )
                    self._failing = False
                    return cur.rowcount == 1
                except sqlite3.Error as e:
                    self._fail(e)
            self._memory.add(key)
            return True

    def __len__(self) -> int:
        with self._lock:
            stored = 0
            if self._db is not None:
                try:
                    (stored,) = self._db.execute("SELECT count(*) FROM seen").fetchone()
                except sqlite3.Error as e:
                    self._fail(e)
        return int(stored) + len(self._memory)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
