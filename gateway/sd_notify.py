"""Telling systemd how the hub is: ready once its parts are started, alive while its event
loop turns (the watchdog), stopping when asked. The unit is ``Type=notify`` with
``WatchdogSec``: a hub whose Bluetooth loop hangs stops pinging and systemd restarts it,
where ``Type=simple`` would have left it running and deaf.

The protocol is one datagram on the unix socket systemd names in ``NOTIFY_SOCKET`` (see
sd_notify(3)); a dozen lines, so no dependency on libsystemd or a Python binding, which a
hub's venv would have to build. Outside systemd (a technician running ``carewatch hub run``
by hand, the tests) there is no socket and every call does nothing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


def notify(state: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``READY=1``, ``WATCHDOG=1``, ``STATUS=...``); False when not
    under systemd or the socket is gone (never an error: the hub's job is the readings)."""
    address = (os.environ if env is None else env).get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(address)
            s.sendall(state.encode())
    except OSError:
        return False
    return True


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """How often to ping, in seconds (half systemd's timeout), or None when no watchdog is
    asked of this process (``WATCHDOG_PID`` names another one, e.g. a child)."""
    env = os.environ if env is None else env
    usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1e6 / 2
