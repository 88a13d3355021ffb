"""Is the hub listening for its devices? A radio whose layers are all fine (D-Bus, bluetoothd,
a powered adapter) still hears nothing unless something keeps a scan running on it, and the
hub's devices wake for only a minute after a measurement: a hub that stopped scanning loses
exactly the readings it exists for, while every other check stays green.

Two views, because only the hub process knows what it means to do:

* ``hub_scanning_check``: the running hub's own account (``gateway.ble.hub.BleHub``): it means
  to scan all the time, so not scanning is a failure, said with when and why it stopped.
* ``adapter_scanning_check``: ``carewatch hub doctor`` in a shell, which cannot tell whether
  the hub should be running (a hub not enrolled yet is not meant to): the adapter's own
  ``Discovering`` property, and a warning when nothing scans on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from common.wire.messages import HubCheck
from common.wire.vocabulary import HubCheckName
from gateway.diagnostics.results import failed, ok, skipped, warning

SCANNING: Final = HubCheckName.SCANNING
_SELF_HEALING_FIX: Final = (
    "Nothing to do if it is brief: the hub scans again by itself as soon as Bluetooth is back. "
    "If it lasts more than a few minutes, restart Bluetooth ('systemctl restart bluetooth') and "
    "look at 'journalctl -u carewatch-hub'."
)


@dataclass(frozen=True, slots=True)
class ScanState:
    """What the running hub says of its scan: whether it scans, since when, and why not."""

    adapter: str
    scanning: bool
    since: datetime  # aware: when it started scanning, or stopped (or started trying)
    reason: str | None = None  # why it is not scanning, in plain words; None while it starts


def hub_scanning_check(state: ScanState) -> HubCheck:
    since = f"{state.since:%Y-%m-%d %H:%M:%S} UTC"
    if state.scanning:
        return ok(SCANNING, f"scanning for devices on {state.adapter} since {since}")
    if state.reason is None:
        return warning(
            SCANNING,
            f"not scanning yet on {state.adapter}: the hub is starting its radio (since {since})",
            "Wait a minute; if this stays, look at 'journalctl -u carewatch-hub'.",
        )
    return failed(SCANNING, f"not scanning for devices since {since}: {state.reason}", _SELF_HEALING_FIX)


def adapter_scanning_check(adapter: str, discovering: bool | None, radio_broken: str | None) -> HubCheck:
    """``discovering``: the adapter's ``Discovering`` property; ``radio_broken``: why the radio's
    layers failed (then there is nothing to ask), or None."""
    if radio_broken is not None:
        return skipped(SCANNING, radio_broken)
    if discovering:
        return ok(SCANNING, f"Bluetooth adapter {adapter} is scanning for devices")
    return warning(
        SCANNING,
        f"Bluetooth adapter {adapter} is not scanning: the hub is not running, or is restarting its radio",
        "Start the hub ('systemctl start carewatch-hub'); if it is running, see why it does not scan in "
        "'journalctl -u carewatch-hub'.",
    )
