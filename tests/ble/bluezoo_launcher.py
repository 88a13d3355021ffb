"""Run bluezoo 1.0.2 (an emulated BlueZ on D-Bus) with the fixes CareWatch's BLE tests need.

Started as a subprocess by ``tests/ble/conftest.py``; arguments are bluezoo's own
(``--auto-enable --scan-interval 1 -a ADDR -a ADDR ...``). bluezoo is unmodified on disk: the
fixes below wrap two of its methods at start-up, so upgrading bluezoo shows at once whether
they are still needed.

1. Reconnecting to a peripheral failed with EEXIST: bluezoo exported the GATT "link" objects
   of a connection under the device path and never removed them on disconnect, so the next
   connection tried to export the same paths again. A hub reconnects to the same cuff every
   day, so the fix drops the links (and clears ServicesResolved) on disconnect.
2. A new scan did not re-announce a device the adapter already knew: bluezoo only re-syncs
   properties that changed, so bleak never saw a second advertisement. Real BlueZ sends fresh
   RSSI/advertisement updates; the hub's per-device loop waits for exactly that, so the fix
   replaces a known, unconnected, unpaired device object with the freshly scanned one; a known
   paired device keeps its object (and bond) and gets an RSSI update, as BlueZ sends for every
   advertising report of a bonded device.
3. A dropped link never reached the peripheral's GATT application: real BlueZ calls
   StopNotify on the application's characteristic when its last subscriber disconnects;
   bluezoo did not, so the application still said Notifying and bluezoo routed the next
   connection's StartNotify to AcquireNotify. The fix calls StopNotify as BlueZ does.
4. Every scanned device had an RSSI of 0 dBm: bluezoo has no radio to measure. The fix gives
   each the power its advertisement says it transmits (``TxPower``, 0 if it says none) less a
   path loss of ``PATH_LOSS_DB``, as a device a few metres away would be heard, so a test sets
   a device's signal through its advertisement and finds it in the hub's telemetry.
"""

from __future__ import annotations

import logging
from typing import Any

import bluezoo.adapter
import bluezoo.bluezoo
import bluezoo.device
import bluezoo.gatt

logger = logging.getLogger("bluezoo.carewatch-fixes")

#: What the emulated air takes from a transmitter's power (dB): a device a few metres away.
PATH_LOSS_DB = 70

_original_disconnect = bluezoo.device.Device.disconnect
_original_add_device = bluezoo.adapter.Adapter.add_device


async def _stop_notify_of_dropped_subscribers(links: list[Any]) -> None:
    for link in links:
        if not isinstance(link, bluezoo.gatt.GattCharacteristicClientLink):
            continue
        client = link.client
        if client.NotifyAcquired.get() is None and client.Notifying.get(False):
            link.client_props_changed_subscription.unsubscribe()
            try:
                await client.StopNotify()
            except Exception:  # noqa: BLE001 - the application may be gone already
                logger.debug("StopNotify on %s failed after disconnect", client.get_object_path())


async def _disconnect_dropping_links(self: Any, uuid: str | None = None) -> None:
    await _original_disconnect(self, uuid)
    await _stop_notify_of_dropped_subscribers(list(self.services.values()))
    for link in reversed(list(self.services.values())):
        self.peer_adapter.mock.remove_object(link)
    self.services.clear()
    if self.services_resolved:
        await self.ServicesResolved.set_async(False)
    if self.peer is not None and self.peer.services_resolved:
        await self.peer.ServicesResolved.set_async(False)


async def _add_device_reannouncing(self: Any, device: Any) -> None:
    device.attach_to_adapter(self)
    device.rssi = (device.tx_power or 0) - PATH_LOSS_DB
    known = self.devices.get(device.get_object_path())
    if known is not None and known is not device and not known.connected:
        if not known.paired:
            await self.del_device(known)
        else:
            # Alternate between the value and one dB less: BlueZ signals RSSI only when it changed.
            known.rssi = device.rssi - 1 if known.rssi == device.rssi else device.rssi
            known.properties_changed.emit(("org.bluez.Device1", {"RSSI": ("n", known.rssi)}, []))
            return
    await _original_add_device(self, device)


def install_fixes() -> None:
    bluezoo.device.Device.disconnect = _disconnect_dropping_links
    bluezoo.adapter.Adapter.add_device = _add_device_reannouncing


if __name__ == "__main__":
    install_fixes()
    bluezoo.bluezoo.main()
