"""Is the hub's clock synchronised? A hub stamps a reading with its own clock when the
device's clock is unset or skewed, and the server refuses a reading stamped more than five
minutes ahead of it, so a Pi (no real-time clock) that booted without network can mislabel
or lose readings' times.

Sources, most direct first:

1. systemd-timesyncd's flag file (``clock_sync_flag`` in hub.toml, default
   ``/run/systemd/timesync/synchronized``): timesyncd creates it when it has synchronised
   the clock. Present: synchronised. Absent while its directory exists (timesyncd runs):
   not synchronised yet.
2. ``timedatectl show -p NTPSynchronized --value`` (the kernel's view, whatever the NTP
   client is: chrony, ntpd, timesyncd).
3. Neither can tell: a warning that says so, never a guess.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from common.wire.messages import HubCheck
from common.wire.vocabulary import HubCheckName
from gateway.diagnostics.results import failed, ok, warning

DEFAULT_SYNC_FLAG: Final = Path("/run/systemd/timesync/synchronized")
CLOCK = HubCheckName.CLOCK
_UNSYNCED_FIX: Final = (
    "Check the hub's network connection and that an NTP client runs ('timedatectl set-ntp true'); "
    "readings timed by the hub may be refused until the clock is right."
)


def clock_check(sync_flag: Path = DEFAULT_SYNC_FLAG) -> HubCheck:
    if sync_flag.exists():
        since = datetime.fromtimestamp(sync_flag.stat().st_mtime, UTC)
        return ok(CLOCK, f"clock synchronised (systemd-timesyncd, since {since:%Y-%m-%d %H:%M} UTC)")
    if sync_flag.parent.is_dir():
        return failed(
            CLOCK, "clock not synchronised (systemd-timesyncd has not reached a time server)", _UNSYNCED_FIX
        )
    answer = _timedatectl()
    if answer == "yes":
        return ok(CLOCK, "clock synchronised (timedatectl: NTPSynchronized=yes)")
    if answer == "no":
        return failed(CLOCK, "clock not synchronised (timedatectl: NTPSynchronized=no)", _UNSYNCED_FIX)
    return warning(
        CLOCK,
        f"cannot tell whether the clock is synchronised ({answer})",
        "Install and enable an NTP client ('apt-get install systemd-timesyncd'), or set clock_sync_flag in "
        "hub.toml to the file your NTP client keeps.",
    )


def _timedatectl() -> str:
    try:
        done = subprocess.run(
            ["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"timedatectl unavailable: {e}"
    value = done.stdout.strip()
    if done.returncode == 0 and value in ("yes", "no"):
        return value
    reason = (done.stderr or done.stdout).strip().splitlines()
    return f"timedatectl: {reason[0] if reason else f'exit status {done.returncode}'}"
