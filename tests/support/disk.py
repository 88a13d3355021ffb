"""A real full disk for tests: a small tmpfs (root only, as CI runs) filled to the last byte,
so SQLite meets a genuine ENOSPC."""

from __future__ import annotations

import contextlib
from pathlib import Path


def fill(disk: Path, name: str = "filler") -> Path:
    """Fill ``disk`` to the last byte; returns the filler file (unlink it to free the space)."""
    filler = disk / name
    with contextlib.suppress(OSError), filler.open("wb") as f:
        while True:
            f.write(b"\0" * 4096)
            f.flush()
    return filler
