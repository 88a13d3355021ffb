"""Notice, while the hub runs, that its radio went away, and that it came back.

A scan that BlueZ dropped says nothing to the program that started it: when bluetoothd is
restarted (an upgrade, a crash, a technician's ``systemctl restart bluetooth``), when a USB
adapter is pulled out or switched off, bleak keeps its callbacks and simply hears nothing
again. For a hub that means days of lost readings with every process "running". So the
hub watches the system bus itself, on its own connection (dbus-fast, as bleak does):

* ``NameOwnerChanged`` for ``org.bluez``: bluetoothd left the bus, or a new one took it;
* ``InterfacesRemoved`` / ``InterfacesAdded`` of the hub's adapter object;
* the adapter's ``Powered`` going false (or true again), and ``Discovering`` staying false for
  longer than ``discovering_grace_s`` while the hub means to scan (BlueZ can end a discovery
  session on its own, e.g. when the controller resets);
* and a cheap poll every ``poll_s`` (is ``org.bluez`` owned, the adapter there and powered,
  discovering) as a safety net for a signal missed while the watch's own connection was down.

It only reports: ``on_lost(reason)`` for anything that stops the hub hearing its devices,
``on_back()`` for anything that may have mended it. Both may come more than once for the same
event (a signal, then the poll); the hub (``gateway.ble.hub.BleHub``) acts on the changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Final

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from gateway.diagnostics.bluetooth import bluetoothd_running, bus_daemon_call, call, system_bus_address

log = logging.getLogger(__name__)

BLUEZ: Final = "org.bluez"
ADAPTER_INTERFACE: Final = "org.bluez.Adapter1"
DEFAULT_POLL_S: Final = 10.0
DEFAULT_DISCOVERING_GRACE_S: Final = 30.0
CALL_TIMEOUT_S: Final = 3.0

LostCallback = Callable[[str], None]
BackCallback = Callable[[], None]


class RadioWatch:
    """``await run()`` for as long as the hub runs; ``stop()`` ends it."""

    def __init__(
        self,
        adapter: str,
        *,
        on_lost: LostCallback,
        on_back: BackCallback,
        poll_s: float = DEFAULT_POLL_S,
        discovering_grace_s: float = DEFAULT_DISCOVERING_GRACE_S,
    ) -> None:
        self.adapter = adapter
        self.adapter_path = f"/org/bluez/{adapter}"
        self.on_lost = on_lost
        self.on_back = on_back
        self.poll_s = poll_s
        self.discovering_grace_s = discovering_grace_s
        self._scanning_wanted = False
        self._discovering: bool | None = None
        self._not_discovering_since: float | None = None
        self._bus: MessageBus | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._bus_was_down = False

    # -- what the hub tells the watch ------------------------------------------------------------

    def expect_scanning(self, wanted: bool) -> None:
        """The hub started (True) or ended (False) its scan: only a wanted scan is missed."""
        self._scanning_wanted = wanted
        if wanted and self._discovering is not True:
            self._not_discovering_since = time.monotonic()
        else:
            self._not_discovering_since = None
        self._wake.set()

    def stop(self) -> None:
        """End ``run`` at its next wake, which is now (or after a call in flight, 3 s at most)."""
        self._stopping = True
        self._wake.set()

    # -- the loop ----------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while not self._stopping:
                await self._poll_once()
                # asyncio.wait, not wait_for: Python 3.11's wait_for swallows a cancellation that
                # arrives as the event is set, and the watch would then outlive the hub.
                woken = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait({woken}, timeout=self._next_wait())
                finally:
                    woken.cancel()
                self._wake.clear()
        finally:
            self._drop_bus()

    def _next_wait(self) -> float:
        wait = self.poll_s
        if self._scanning_wanted and self._not_discovering_since is not None:
            due = self._not_discovering_since + self.discovering_grace_s - time.monotonic()
            wait = min(wait, max(0.05, due + 0.05))
        return wait

    async def _poll_once(self) -> None:
        try:
            bus = await self._connected_bus()
            await self._poll(bus)
        except (OSError, EOFError, TimeoutError, ValueError) as e:
            self._drop_bus()
            if not self._bus_was_down:
                log.warning("radio watch: the system D-Bus is not reachable (%s: %s)", type(e).__name__, e)
            self._bus_was_down = True
            self.on_lost(f"the system D-Bus is not reachable ({type(e).__name__})")

    async def _connected_bus(self) -> MessageBus:
        if self._bus is not None and self._bus.connected:
            return self._bus
        self._drop_bus()
        bus = await asyncio.wait_for(
            MessageBus(bus_address=system_bus_address(), bus_type=BusType.SYSTEM).connect(), CALL_TIMEOUT_S
        )
        try:
            bus.add_message_handler(self._on_message)
            for rule in (
                "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                f"member='NameOwnerChanged',arg0='{BLUEZ}'",
                f"type='signal',sender='{BLUEZ}',interface='org.freedesktop.DBus.ObjectManager'",
                f"type='signal',sender='{BLUEZ}',interface='org.freedesktop.DBus.Properties',"
                f"member='PropertiesChanged',path='{self.adapter_path}'",
            ):
                await call(bus, bus_daemon_call("AddMatch", rule))
        except BaseException:
            bus.disconnect()
            raise
        self._bus = bus
        if self._bus_was_down:
            log.info("radio watch: the system D-Bus is reachable again")
            self._bus_was_down = False
        asyncio.get_running_loop().create_task(self._wake_when_gone(bus))
        return bus

    async def _wake_when_gone(self, bus: MessageBus) -> None:
        with contextlib.suppress(Exception):
            await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
        self._wake.set()

    def _drop_bus(self) -> None:
        bus, self._bus = self._bus, None
        if bus is not None:
            with contextlib.suppress(Exception):
                bus.disconnect()

    async def _poll(self, bus: MessageBus) -> None:
        if not await bluetoothd_running(bus):
            self._discovered(None)
            self.on_lost("Bluetooth stopped (bluetoothd is not running)")
            return
        props = await call(
            bus,
            Message(
                destination=BLUEZ,
                path=self.adapter_path,
                interface="org.freedesktop.DBus.Properties",
                member="GetAll",
                signature="s",
                body=[ADAPTER_INTERFACE],
            ),
        )
        if props.message_type != MessageType.METHOD_RETURN:
            self._discovered(None)
            self.on_lost(f"Bluetooth adapter {self.adapter} is missing")
            return
        values: dict[str, Any] = {name: variant.value for name, variant in props.body[0].items()}
        if not values.get("Powered", False):
            self._discovered(None)
            self.on_lost(f"Bluetooth adapter {self.adapter} is switched off")
            return
        self._discovered(bool(values.get("Discovering", False)))
        if self._missed_scan():
            return
        self.on_back()

    def _discovered(self, discovering: bool | None) -> None:
        self._discovering = discovering
        if discovering:
            self._not_discovering_since = None
        elif self._scanning_wanted and self._not_discovering_since is None:
            self._not_discovering_since = time.monotonic()

    def _missed_scan(self) -> bool:
        """Whether the hub's scan has been off for longer than the grace (then it says so)."""
        since = self._not_discovering_since
        if not self._scanning_wanted or since is None:
            return False
        off_for = time.monotonic() - since
        if off_for < self.discovering_grace_s:
            return False
        self.on_lost(f"Bluetooth adapter {self.adapter} stopped scanning ({off_for:.0f} s without a scan)")
        return True

    # -- signals -----------------------------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        if message.message_type != MessageType.SIGNAL:
            return
        try:
            self._on_signal(message)
        except Exception:  # a malformed signal must not end the watch; the poll still runs
            log.exception("radio watch: could not read %s.%s", message.interface, message.member)

    def _on_signal(self, message: Message) -> None:
        member, body = message.member, message.body
        if member == "NameOwnerChanged" and body and body[0] == BLUEZ:
            if body[2]:
                log.info("radio watch: bluetoothd is on the system D-Bus again")
                self.on_back()
            else:
                self._discovered(None)
                self.on_lost("Bluetooth stopped (bluetoothd left the system D-Bus)")
        elif member == "InterfacesRemoved" and body[0] == self.adapter_path and ADAPTER_INTERFACE in body[1]:
            self._discovered(None)
            self.on_lost(f"Bluetooth adapter {self.adapter} was removed")
        elif member == "InterfacesAdded" and body[0] == self.adapter_path and ADAPTER_INTERFACE in body[1]:
            log.info("radio watch: Bluetooth adapter %s is back", self.adapter)
            self.on_back()
        elif (
            member == "PropertiesChanged"
            and message.path == self.adapter_path
            and body[0] == ADAPTER_INTERFACE
        ):
            changed: dict[str, Any] = {name: variant.value for name, variant in body[1].items()}
            if "Powered" in changed:
                if changed["Powered"]:
                    self.on_back()
                else:
                    self._discovered(None)
                    self.on_lost(f"Bluetooth adapter {self.adapter} was switched off")
            if "Discovering" in changed:
                self._discovered(bool(changed["Discovering"]))
                self._wake.set()  # the grace for a missing scan starts (or ends) now
