"""Space held back on the hub's card for its outbox.

Something else filling the card (logs, a runaway process, a card far smaller than thought)
would leave the outbox unable to store a reading, or, after a restart, even to open: SQLite
must create its journal files first. So the hub keeps a file of zeros the size of a few
thousand readings. When the outbox cannot write for want of space, the reserve is released
(and the log and the hub's telemetry say so), and the outbox carries on; when the outbox has
emptied and there is room again, the reserve is taken back.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_RESERVE_BYTES = 8 * 1024 * 1024
_CHUNK = 1024 * 1024


class DiskReserve:
    def __init__(self, path: Path, size: int = DEFAULT_RESERVE_BYTES) -> None:
        self.path = path
        self.size = size
        self.released = False  # since this process started, the reserve was needed
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        try:
            return self.path.stat().st_size >= self.size
        except OSError:
            return False

    def ensure(self) -> bool:
        """Hold the reserve if it is not held and the card has room for it twice over (taking
        the last of the space would make the reserve the cause of a full card). True if held."""
        with self._lock:
            if self.held:
                return True
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if shutil.disk_usage(self.path.parent).free < 2 * self.size:
                    return False
                with self.path.open("wb") as f:
                    for _ in range(0, self.size, _CHUNK):
                        f.write(b"\0" * min(_CHUNK, self.size))
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:
                log.warning("cannot hold the disk reserve %s (%s); trying again later", self.path, e)
                self.path.unlink(missing_ok=True)
                return False
            if self.released:
                log.warning("disk reserve %s held again (%d MiB)", self.path, self.size >> 20)
            return True

    def release(self) -> bool:
        """Give the reserve's space to the outbox; True if there was any to give."""
        with self._lock:
            if not self.path.exists():
                return False
            try:
                self.path.unlink()
            except OSError as e:
                log.error("cannot release the disk reserve %s: %s", self.path, e)
                return False
            self.released = True
            log.critical(
                "the card is full: released the %d MiB disk reserve %s so the outbox can keep readings; "
                "free space on the card",
                self.size >> 20,
                self.path,
            )
            return True
