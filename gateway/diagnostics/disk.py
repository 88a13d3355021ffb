"""Room for the outbox: every reading is written there before anything else happens to it.

Thresholds: below ``FAILED_BELOW`` the hub is living on its disk reserve (8 MiB by default)
or will be soon; below ``WARN_BELOW`` a few weeks of logs will fill the card.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Final

from common.wire.messages import HubCheck
from common.wire.vocabulary import HubCheckName
from gateway.diagnostics.results import failed, ok, warning

MIB: Final = 1024 * 1024
FAILED_BELOW: Final = 32 * MIB
WARN_BELOW: Final = 256 * MIB
DISK = HubCheckName.DISK
_FREE_SPACE_FIX: Final = (
    "Free space on the SD card (old logs: 'journalctl --vacuum-size=50M') or use a larger card."
)


def disk_check(state_dir: Path) -> HubCheck:
    existing = state_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing == state_dir and not os.access(state_dir, os.W_OK | os.X_OK):
        return failed(
            DISK,
            f"the hub cannot write to its state directory {state_dir}",
            f"Give the hub's user ownership of it: 'chown -R carewatch: {state_dir}'.",
        )
    try:
        free = shutil.disk_usage(existing).free
    except OSError as e:
        return failed(
            DISK, f"cannot read free space at {existing}: {e}", "Check that the SD card is mounted."
        )
    where = f"{free // MIB} MiB free for the outbox ({state_dir})"
    if free < FAILED_BELOW:
        return failed(DISK, f"disk nearly full: {where}", _FREE_SPACE_FIX)
    if free < WARN_BELOW:
        return warning(DISK, f"disk filling: {where}", _FREE_SPACE_FIX)
    if existing != state_dir:
        return ok(DISK, f"{where}; the directory is created at the hub's first start")
    return ok(DISK, where)
