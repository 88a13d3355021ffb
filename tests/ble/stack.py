"""A private D-Bus daemon with bluezoo on it: the emulated Bluetooth radio for the BLE tests.

Real processes, started and stopped by PID: ``dbus-daemon --session`` on a socket in a temp
directory (never the machine's system bus) and ``bluezoo_launcher.py`` owning ``org.bluez``
on it. bluezoo models one peripheral per adapter (it reports only an adapter's first LE
advertisement and merges every GATT application registered on it into one device), so each
emulated device gets its own adapter: hci0 is the hub's, hci1… are the devices'.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

LAUNCHER = Path(__file__).with_name("bluezoo_launcher.py")
HUB_ADDRESS = "00:11:22:33:44:55"
SCAN_INTERVAL_S = 1


class EmulatedBluezError(RuntimeError):
    """The private bus or bluezoo did not come up; the message carries their output."""


@dataclass
class EmulatedBluez:
    """Handles of a running stack; ``adapters`` maps adapter name ("hci1") to its address."""

    bus_address: str
    directory: Path
    adapters: dict[str, str]
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)
    _bluezoo_args: list[str] = field(default_factory=list, repr=False)

    @property
    def hub_adapter(self) -> str:
        return "hci0"

    @property
    def hub_address(self) -> str:
        return self.adapters["hci0"]

    def adapter_path(self, name: str) -> str:
        return f"/org/bluez/{name}"

    @property
    def bluetoothd(self) -> subprocess.Popen[bytes]:
        """The emulated bluetoothd (bluezoo): always the newest process started."""
        return self._processes[-1]

    def kill_bluetoothd(self) -> None:
        """SIGKILL, as a crash: bluezoo sends nothing on the way out (no InterfacesRemoved),
        exactly what a crashed bluetoothd leaves behind; the bus notes only its name gone."""
        proc = self.bluetoothd
        proc.kill()
        proc.wait(timeout=5)

    def start_bluetoothd(self, timeout: float = 10) -> None:
        """A new bluezoo on the same bus, the same adapters, none of the old objects or bonds
        (as a real bluetoothd restarted, minus the bonds it would read back from disk)."""
        _start_bluezoo(self, timeout)

    async def remove_adapter(self, name: str) -> None:
        """Take an adapter away (a USB dongle pulled out): BlueZ removes its object."""
        await self._zoo("RemoveAdapter", "y", [int(name.removeprefix("hci"))])

    async def add_adapter(self, name: str) -> None:
        """Put it back (plugged in again): a new object, powered (bluezoo's --auto-enable)."""
        await self._zoo("AddAdapter", "ys", [int(name.removeprefix("hci")), self.adapters[name]])

    async def _zoo(self, member: str, signature: str, body: list[object]) -> None:
        bus = await MessageBus(bus_address=self.bus_address, bus_type=BusType.SYSTEM).connect()
        try:
            reply = await bus.call(
                Message(
                    destination="org.bluez",
                    path="/org/bluezoo",
                    interface="org.bluezoo.Manager1",
                    member=member,
                    signature=signature,
                    body=body,
                )
            )
            if reply is None or reply.message_type != MessageType.METHOD_RETURN:
                raise EmulatedBluezError(f"bluezoo {member}{tuple(body)}: {reply and reply.body}")
        finally:
            bus.disconnect()

    def stop(self) -> None:
        """Stop bluezoo, then the bus, by PID (never by name: other test runs share the machine)."""
        for proc in reversed(self._processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=3)
        self._processes.clear()


def dbus_daemon_path() -> str | None:
    return shutil.which("dbus-daemon")


def device_addresses(count: int) -> list[str]:
    """Stable, obviously fake addresses: 00:AA:BB:CC:DD:01, …:02, …"""
    return [f"00:AA:BB:CC:DD:{i:02X}" for i in range(1, count + 1)]


def _wait_for(predicate: object, timeout: float, what: str, log: Path) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    output = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise EmulatedBluezError(f"{what} not ready after {timeout:.0f}s\n{output}")


async def _adapters_present(bus_address: str, names: list[str]) -> bool:
    bus = await MessageBus(bus_address=bus_address, bus_type=BusType.SYSTEM).connect()
    try:
        reply = await bus.call(
            Message(
                destination="org.bluez",
                path="/",
                interface="org.freedesktop.DBus.ObjectManager",
                member="GetManagedObjects",
            )
        )
        if reply.message_type != MessageType.METHOD_RETURN:
            return False
        objects: dict[str, dict[str, dict[str, object]]] = reply.body[0]
        for name in names:
            adapter = objects.get(f"/org/bluez/{name}", {}).get("org.bluez.Adapter1")
            if adapter is None or not getattr(adapter.get("Powered"), "value", False):
                return False
        return True
    finally:
        bus.disconnect()


def start_emulated_bluez(directory: Path, device_count: int) -> EmulatedBluez:
    """Start dbus-daemon and bluezoo with hci0 for the hub and ``device_count`` device adapters."""
    daemon = dbus_daemon_path()
    if daemon is None:
        raise EmulatedBluezError("dbus-daemon is not installed (Debian package 'dbus')")
    directory.mkdir(parents=True, exist_ok=True)
    socket = directory / "bus.sock"
    bus_address = f"unix:path={socket}"
    addresses = [HUB_ADDRESS, *device_addresses(device_count)]
    adapters = {f"hci{i}": address for i, address in enumerate(addresses)}
    stack = EmulatedBluez(bus_address, directory, adapters)
    bus_log = directory / "dbus-daemon.log"
    try:
        with bus_log.open("wb") as out:
            stack._processes.append(
                subprocess.Popen(
                    [daemon, "--session", "--nofork", f"--address={bus_address}"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        _wait_for(socket.exists, 5, "dbus-daemon", bus_log)
        stack._bluezoo_args = [
            sys.executable,
            str(LAUNCHER),
            "--auto-enable",
            f"--scan-interval={SCAN_INTERVAL_S}",
        ]
        for address in addresses:
            stack._bluezoo_args += ["-a", address]
        _start_bluezoo(stack, 10)
    except BaseException:
        stack.stop()
        raise
    return stack


def _start_bluezoo(stack: EmulatedBluez, timeout: float) -> None:
    """bluezoo on the stack's bus, appended to its processes; returns once every adapter is
    there and powered."""
    zoo_log = stack.directory / "bluezoo.log"
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": stack.bus_address}
    with zoo_log.open("ab") as out:
        proc = subprocess.Popen(stack._bluezoo_args, env=env, stdout=out, stderr=subprocess.STDOUT)
    stack._processes.append(proc)
    names = list(stack.adapters)

    def ready() -> bool:
        if proc.poll() is not None:
            raise EmulatedBluezError(f"bluezoo exited:\n{zoo_log.read_text(errors='replace')[-3000:]}")
        try:
            return asyncio.run(_adapters_present(stack.bus_address, names))
        except Exception:  # noqa: BLE001 - not up yet: connection refused or name not owned
            return False

    _wait_for(ready, timeout, "bluezoo", zoo_log)


async def hub_view_of(hub_adapter: str, address: str) -> dict[str, object]:
    """The hub adapter's org.bluez.Device1 properties of a device (plain values), e.g. ``Paired``."""
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        reply = await bus.call(
            Message(
                destination="org.bluez",
                path=f"/org/bluez/{hub_adapter}/dev_{address.replace(':', '_')}",
                interface="org.freedesktop.DBus.Properties",
                member="GetAll",
                signature="s",
                body=["org.bluez.Device1"],
            )
        )
        if reply.message_type != MessageType.METHOD_RETURN:
            raise EmulatedBluezError(f"no device {address} on {hub_adapter}: {reply.body}")
        return {name: variant.value for name, variant in reply.body[0].items()}
    finally:
        bus.disconnect()
