"""The radio's three layers, checked bottom up: the system D-Bus, bluetoothd on it
(``org.bluez``), then the hub's adapter (present, powered, not blocked by rfkill); and, on
top, whether anything scans on that adapter (``scanning``).

Bottom up because each layer's failure looks like the next one's from above: bleak reports a
missing D-Bus socket as "[Errno 2] No such file or directory" and a missing bluetoothd as a
raw D-Bus error. Asking each layer in turn names the one that is really broken; the layers
above it are reported ``skipped``, not failed, so the technician fixes one thing at a time.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Final

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from common.wire.messages import HubCheck
from common.wire.vocabulary import HubCheckName
from gateway.diagnostics.results import failed, ok, skipped
from gateway.diagnostics.scanning import SCANNING, adapter_scanning_check

DEFAULT_SYSTEM_BUS: Final = "unix:path=/var/run/dbus/system_bus_socket"
DEFAULT_RFKILL_DIR: Final = Path("/sys/class/rfkill")
CALL_TIMEOUT_S: Final = 3.0

DBUS, BLUETOOTHD, ADAPTER = HubCheckName.DBUS, HubCheckName.BLUETOOTHD, HubCheckName.ADAPTER
RADIO_LAYERS: Final = (DBUS, BLUETOOTHD, ADAPTER)


def system_bus_address() -> str:
    """Where bleak (and so the hub) looks for the system bus."""
    return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or DEFAULT_SYSTEM_BUS


def _socket_of(address: str) -> str:
    for part in address.split(";")[0].split(":", 1)[-1].split(","):
        key, _, value = part.partition("=")
        if key in ("path", "abstract"):
            return value
    return address


async def call(bus: MessageBus, message: Message) -> Message:
    """A method call with the checks' time limit: a hung bluetoothd must not hang the caller
    (the doctor, the telemetry thread, the hub's radio watch)."""
    reply = await asyncio.wait_for(bus.call(message), CALL_TIMEOUT_S)
    assert reply is not None  # a method call (not NO_REPLY_EXPECTED) always gets one
    return reply


def bus_daemon_call(member: str, argument: str) -> Message:
    """A call to the bus itself (``org.freedesktop.DBus``) with one string argument:
    ``NameHasOwner``, ``AddMatch``."""
    return Message(
        destination="org.freedesktop.DBus",
        path="/org/freedesktop/DBus",
        interface="org.freedesktop.DBus",
        member=member,
        signature="s",
        body=[argument],
    )


async def bluetoothd_running(bus: MessageBus) -> bool:
    """Whether bluetoothd holds its name on the bus: the first question of both the doctor
    and the radio watch."""
    reply = await call(bus, bus_daemon_call("NameHasOwner", "org.bluez"))
    return reply.message_type == MessageType.METHOD_RETURN and bool(reply.body[0])


async def bluetooth_checks(adapter: str, *, rfkill_dir: Path = DEFAULT_RFKILL_DIR) -> list[HubCheck]:
    """The D-Bus, bluetoothd, adapter and scanning checks, in that order; scanning as the
    adapter shows it (``Discovering``), which is all a process other than the hub can see."""
    address = system_bus_address()
    try:
        bus = await asyncio.wait_for(
            MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect(), CALL_TIMEOUT_S
        )
    except (OSError, TimeoutError, ValueError, EOFError) as e:
        socket = _socket_of(address)
        found = (
            f"no system D-Bus socket at {socket}"
            if isinstance(e, FileNotFoundError)
            else f"cannot connect to the system D-Bus at {socket} ({type(e).__name__}: {e})"
        )
        return [
            failed(
                DBUS,
                found,
                "Start the system message bus: 'systemctl start dbus' (Debian package 'dbus'); "
                "Bluetooth cannot work without it.",
            ),
            skipped(BLUETOOTHD, "the system D-Bus is not reachable"),
            skipped(ADAPTER, "the system D-Bus is not reachable"),
            skipped(SCANNING, "the system D-Bus is not reachable"),
        ]
    try:
        checks = [ok(DBUS, f"system D-Bus reachable at {_socket_of(address)}")]
        try:
            checks += await _bluez_checks(bus, adapter, rfkill_dir)
        except TimeoutError:
            checks += [
                failed(
                    BLUETOOTHD,
                    f"no answer on the system D-Bus within {CALL_TIMEOUT_S:.0f}s",
                    "Restart the Bluetooth service: 'systemctl restart bluetooth', then run this again.",
                ),
                skipped(ADAPTER, "bluetoothd does not answer"),
                skipped(SCANNING, "bluetoothd does not answer"),
            ]
        return checks
    finally:
        bus.disconnect()


async def _bluez_checks(bus: MessageBus, adapter: str, rfkill_dir: Path) -> list[HubCheck]:
    if not await bluetoothd_running(bus):
        return [
            failed(
                BLUETOOTHD,
                "bluetoothd is not running (no 'org.bluez' on the system D-Bus)",
                "Start the Bluetooth service: 'systemctl enable --now bluetooth' (Debian package 'bluez').",
            ),
            skipped(ADAPTER, "bluetoothd is not running"),
            skipped(SCANNING, "bluetoothd is not running"),
        ]
    objects = await call(
        bus,
        Message(
            destination="org.bluez",
            path="/",
            interface="org.freedesktop.DBus.ObjectManager",
            member="GetManagedObjects",
        ),
    )
    if objects.message_type != MessageType.METHOD_RETURN:
        return [
            failed(
                BLUETOOTHD,
                f"bluetoothd does not answer: {objects.error_name} {objects.body}",
                "Restart the Bluetooth service: 'systemctl restart bluetooth', then run this again.",
            ),
            skipped(ADAPTER, "bluetoothd does not answer"),
            skipped(SCANNING, "bluetoothd does not answer"),
        ]
    checks = [ok(BLUETOOTHD, "bluetoothd is running")]
    managed: dict[str, dict[str, dict[str, object]]] = objects.body[0]
    adapters = sorted(
        path.rsplit("/", 1)[-1] for path, interfaces in managed.items() if "org.bluez.Adapter1" in interfaces
    )
    props = managed.get(f"/org/bluez/{adapter}", {}).get("org.bluez.Adapter1")
    blocked = rfkill_blocked(rfkill_dir)
    if props is None:
        others = f"; the adapters present are {', '.join(adapters)}" if adapters else ""
        fix = (
            f"Set 'adapter' in hub.toml to one of {', '.join(adapters)}."
            if adapters
            else "Plug in the Bluetooth adapter (or enable the Pi's built-in one: remove "
            "'dtoverlay=disable-bt' from /boot/firmware/config.txt), then restart bluetooth."
        )
        if blocked:
            fix = f"Bluetooth is blocked by rfkill ({blocked}): 'rfkill unblock bluetooth', then restart bluetooth."
        return [
            *checks,
            failed(ADAPTER, f"Bluetooth adapter {adapter} missing{others}", fix),
            adapter_scanning_check(adapter, None, f"Bluetooth adapter {adapter} missing"),
        ]
    if blocked:
        return [
            *checks,
            failed(
                ADAPTER,
                f"Bluetooth adapter {adapter} is blocked by rfkill ({blocked})",
                "Run 'rfkill unblock bluetooth'"
                + (" and turn the hardware radio switch on." if "hard" in blocked else "."),
            ),
            adapter_scanning_check(adapter, None, f"Bluetooth adapter {adapter} is blocked"),
        ]
    powered = getattr(props.get("Powered"), "value", False)
    if not powered:
        return [
            *checks,
            failed(
                ADAPTER,
                f"Bluetooth adapter {adapter} is switched off",
                "Run 'bluetoothctl power on', and set AutoEnable=true in /etc/bluetooth/main.conf so it "
                "stays on after a restart.",
            ),
            adapter_scanning_check(adapter, None, f"Bluetooth adapter {adapter} is switched off"),
        ]
    address = getattr(props.get("Address"), "value", "?")
    discovering = bool(getattr(props.get("Discovering"), "value", False))
    return [
        *checks,
        ok(ADAPTER, f"Bluetooth adapter {adapter} ({address}) present and powered"),
        adapter_scanning_check(adapter, discovering, None),
    ]


def rfkill_blocked(rfkill_dir: Path = DEFAULT_RFKILL_DIR) -> str | None:
    """ "soft", "hard" or "soft and hard" if a Bluetooth radio is blocked; None if not, or if
    the kernel exposes no rfkill switches (no class directory: nothing can block it)."""
    found: set[str] = set()
    try:
        entries = list(rfkill_dir.iterdir())
    except OSError:
        return None
    for entry in entries:
        try:
            if (entry / "type").read_text().strip() != "bluetooth":
                continue
            for kind in ("soft", "hard"):
                if (entry / kind).read_text().strip() == "1":
                    found.add(kind)
        except OSError:
            continue
    if not found:
        return None
    return " and ".join(sorted(found, reverse=True))


async def radio_failure(adapter: str) -> HubCheck | None:
    """The first failing radio layer (D-Bus, bluetoothd, adapter), or None when they look fine.
    Not scanning is no layer of the radio: it is what a broken layer causes."""
    for check in await bluetooth_checks(adapter):
        if check.name in RADIO_LAYERS and check.fix is not None:
            return check
    return None


async def explain_radio_failure(adapter: str) -> str | None:
    """The first failing radio layer as "what is wrong: what to do", or None when the radio
    layers look fine (then the original error is the best explanation there is)."""
    check = await radio_failure(adapter)
    return f"{check.summary}. {check.fix}" if check is not None else None
