"""Listen to advertisements on the hub's adapter and say which ones the hub should act on.

Two questions per advertisement: is it a supported device (the catalogue), and is it *this
hub's* device (the allowlist)? A supported device that is not on the allowlist is logged at
debug level and otherwise ignored, since it most likely belongs to a neighbour.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from gateway.allowlist import Allowlist
from gateway.catalogue.matching import Catalogue
from gateway.catalogue.models import DeviceModel

log = logging.getLogger(__name__)

#: How often the same ignored (not allowlisted) device is mentioned in the debug log.
IGNORED_LOG_INTERVAL_S = 300.0


class ScannerError(RuntimeError):
    """The adapter could not scan (missing, powered off, or BlueZ not running)."""


@dataclass(frozen=True, slots=True)
class Sighting:
    """One advertisement of a supported device."""

    device: BLEDevice
    name: str | None
    rssi: int | None
    model: DeviceModel
    allowlisted: bool
    seen_at: float  # time.monotonic()

    @property
    def address(self) -> str:
        return self.device.address.upper()


class DeviceClassifier:
    """Catalogue + allowlist, without the radio (so it is tested without one)."""

    def __init__(self, catalogue: Catalogue, allowlist: Allowlist | None) -> None:
        self.catalogue = catalogue
        self.allowlist = allowlist
        self._ignored_logged: dict[str, float] = {}

    def classify(self, device: BLEDevice, adv: AdvertisementData) -> Sighting | None:
        """The sighting, or ``None`` for a device the catalogue does not know."""
        name = adv.local_name or device.name
        address = device.address.upper()
        paired = self.allowlist.get(address) if self.allowlist is not None else None
        model: DeviceModel | None = None
        # A model pinned at pairing time wins: the technician saw what the device is, and some
        # devices advertise differently (or not their services) once bonded.
        if paired is not None and paired.model_id and paired.model_id in self.catalogue:
            model = self.catalogue.get(paired.model_id)
        if model is None:
            model = self.catalogue.match(name, adv.service_uuids, adv.manufacturer_data)
        if model is None:
            return None
        sighting = Sighting(device, name, adv.rssi, model, paired is not None, time.monotonic())
        if not sighting.allowlisted:
            self._log_ignored(sighting)
        return sighting

    def _log_ignored(self, sighting: Sighting) -> None:
        now = time.monotonic()
        last = self._ignored_logged.get(sighting.address)
        if last is None or now - last >= IGNORED_LOG_INTERVAL_S:
            self._ignored_logged[sighting.address] = now
            log.debug(
                "ignoring %s %s (%s): supported but not paired to this hub",
                sighting.model.id,
                sighting.address,
                sighting.name or "no name",
            )


SightingCallback = Callable[[Sighting], None]


class DeviceScanner:
    """A long-running scan on one adapter, calling back for every supported device's advertisement."""

    def __init__(
        self,
        adapter: str,
        classifier: DeviceClassifier,
        on_sighting: SightingCallback,
        *,
        allowlist_refresh_s: float = 2.0,
    ) -> None:
        self.adapter = adapter
        self.classifier = classifier
        self.on_sighting = on_sighting
        self.allowlist_refresh_s = allowlist_refresh_s
        self._last_refresh = 0.0
        self._scanner: BleakScanner | None = None

    def _detected(self, device: BLEDevice, adv: AdvertisementData) -> None:
        allowlist = self.classifier.allowlist
        now = time.monotonic()
        if allowlist is not None and now - self._last_refresh >= self.allowlist_refresh_s:
            self._last_refresh = now
            try:
                if allowlist.refresh():
                    log.info("paired-device list changed: %d device(s)", len(allowlist.devices()))
            except ValueError as e:
                log.error("keeping the previous paired-device list: %s", e)
        sighting = self.classifier.classify(device, adv)
        if sighting is not None:
            self.on_sighting(sighting)

    async def start(self) -> None:
        self._scanner = BleakScanner(self._detected, bluez={"adapter": self.adapter})
        try:
            await self._scanner.start()
        except Exception as e:
            self._scanner = None
            raise ScannerError(f"cannot scan on adapter {self.adapter}: {e}") from e
        log.info("scanning on %s", self.adapter)

    async def stop(self) -> None:
        scanner, self._scanner = self._scanner, None
        if scanner is not None:
            try:
                await scanner.stop()
            except Exception as e:  # noqa: BLE001 - stopping must never mask the reason we stop
                log.debug("stopping the scan on %s: %s", self.adapter, e)


async def scan_once(
    adapter: str, classifier: DeviceClassifier, seconds: float, *, stop_on: str | None = None
) -> dict[str, Sighting]:
    """Every supported device heard within ``seconds`` (newest sighting per address); returns early
    once ``stop_on`` (an address) was heard."""
    found: dict[str, Sighting] = {}
    heard = asyncio.Event()

    def keep(sighting: Sighting) -> None:
        found[sighting.address] = sighting
        if stop_on is not None and sighting.address == stop_on.upper():
            heard.set()

    scanner = DeviceScanner(adapter, classifier, keep)
    await scanner.start()
    try:
        await asyncio.wait_for(heard.wait(), seconds)
    except TimeoutError:
        pass
    finally:
        await scanner.stop()
    return found


async def forget_bluez_state() -> None:
    """Make bleak read BlueZ's objects afresh before the next scan.

    bleak keeps one connection to the system bus per event loop, with a copy of every BlueZ
    object it has seen. A bluetoothd that died sent no ``InterfacesRemoved``, so that copy
    still holds the old adapter, devices and GATT objects, and the next session could look
    for services that are gone. bleak rebuilds its copy when its connection closes (as after
    a D-Bus restart); closing it here takes that same path. bleak offers no public call for
    it, hence the private attribute, looked up defensively: a bleak without it is left alone.
    """
    from bleak.backends.bluezdbus.manager import get_global_bluez_manager

    try:
        manager = await get_global_bluez_manager()
    except Exception as e:  # noqa: BLE001 - no bus or no bluetoothd now: nothing cached to forget
        log.debug("bleak's BlueZ state not reset: %s", e)
        return
    bus = getattr(manager, "_bus", None)
    if bus is not None and getattr(bus, "connected", False):
        bus.disconnect()
        log.info("bleak's copy of the BlueZ objects dropped; it is read again at the next scan")
