"""Devices paired to this hub, by Bluetooth address, in a small JSON file in the hub's state dir.

Why an allowlist: in a block of flats several households' cuffs are in radio range. A hub that
took readings from every supported device it hears would file a neighbour's blood pressure in
this patient's record. Only devices a technician paired to this hub (``carewatch hub pair``)
are connected to; the pairing agent accepts only them too.

The running hub re-reads the file when it changes, so pairing a device needs no restart.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from common.wire import addresses
from gateway.atomic_file import write_json

log = logging.getLogger(__name__)

FORMAT_VERSION: Final = 1


class AllowlistError(ValueError):
    """The allowlist file is unreadable or malformed, or an address is not a Bluetooth address."""


def normalize_address(address: str) -> str:
    """``common.wire.addresses.normalize_address``, refusing with this module's error."""
    try:
        return addresses.normalize_address(address)
    except addresses.InvalidAddress as e:
        raise AllowlistError(str(e)) from None


@dataclass(frozen=True, slots=True)
class PairedDevice:
    address: str
    model_id: str | None = None
    added_at: str | None = None
    note: str | None = None


class Allowlist:
    """The paired-device file; cheap to query on every advertisement (``refresh`` stats, rarely reads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._devices: dict[str, PairedDevice] = {}
        self._mtime_ns: int | None = None
        self.refresh()

    def refresh(self) -> bool:
        """Re-read the file if it changed since the last read; True when it was re-read."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if mtime == self._mtime_ns and (mtime is not None or not self._devices):
            return False
        devices = self._read() if mtime is not None else {}
        with self._lock:
            self._devices = devices
            self._mtime_ns = mtime
        return True

    def _read(self) -> dict[str, PairedDevice]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except OSError as e:
            raise AllowlistError(f"cannot read the paired-device list {self.path}: {e}") from e
        except json.JSONDecodeError as e:
            raise AllowlistError(f"{self.path} is not valid JSON: {e}") from None
        entries = data.get("devices") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise AllowlistError(f"{self.path}: expected {{'devices': [...]}}")
        devices: dict[str, PairedDevice] = {}
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("address"), str):
                raise AllowlistError(f"{self.path}: every device needs an 'address' string: {entry!r}")
            address = normalize_address(entry["address"])
            devices[address] = PairedDevice(
                address, entry.get("model_id"), entry.get("added_at"), entry.get("note")
            )
        return devices

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str):
            return False
        with self._lock:
            return address.upper() in self._devices

    def get(self, address: str) -> PairedDevice | None:
        with self._lock:
            return self._devices.get(address.upper())

    def devices(self) -> list[PairedDevice]:
        with self._lock:
            return sorted(self._devices.values(), key=lambda d: d.address)

    def add(self, address: str, *, model_id: str | None = None, note: str | None = None) -> PairedDevice:
        """Add (or update) a device and write the file atomically."""
        self.refresh()
        device = PairedDevice(
            normalize_address(address), model_id, datetime.now(UTC).isoformat(timespec="seconds"), note
        )
        with self._lock:
            devices = {**self._devices, device.address: device}
        self._write(devices)
        return device

    def replace(self, wanted: list[tuple[str, str | None]], *, note: str) -> bool:
        """Make the list exactly ``wanted`` (address, model id), keeping when a device still
        listed was first added; True if anything changed. Used when the server's
        configuration, not a technician at the hub, says which devices are paired."""
        self.refresh()
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            old = dict(self._devices)
        devices: dict[str, PairedDevice] = {}
        for address, model_id in wanted:
            key = normalize_address(address)
            kept = old.get(key)
            if kept is not None and kept.model_id == model_id:
                devices[key] = kept
            else:
                devices[key] = PairedDevice(key, model_id, stamp, note)
        if devices == old:
            return False
        self._write(devices)
        return True

    def remove(self, address: str) -> bool:
        self.refresh()
        key = normalize_address(address)
        with self._lock:
            if key not in self._devices:
                return False
            devices = {k: v for k, v in self._devices.items() if k != key}
        self._write(devices)
        return True

    def _write(self, devices: dict[str, PairedDevice]) -> None:
        body = {
            "version": FORMAT_VERSION,
            "devices": [
                {k: v for k, v in vars_of(d).items() if v is not None}
                for d in sorted(devices.values(), key=lambda d: d.address)
            ],
        }
        write_json(self.path, body)
        with self._lock:
            self._devices = devices
            self._mtime_ns = self.path.stat().st_mtime_ns
        log.info("paired-device list %s now has %d device(s)", self.path, len(devices))


def vars_of(device: PairedDevice) -> dict[str, str | None]:
    return {
        "address": device.address,
        "model_id": device.model_id,
        "added_at": device.added_at,
        "note": device.note,
    }
