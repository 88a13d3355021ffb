"""Writing a small state file so that a power cut leaves the old file or the new one, never
half of one: write a temporary file beside it, fsync, rename over. A hub's SD card loses
power whenever someone pulls the plug."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_json(path: Path, body: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(body, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
