"""An emulated BLE peripheral built only from the standard BlueZ peripheral D-Bus API.

A device is a GATT application (``org.bluez.GattManager1.RegisterApplication``) plus an LE
advertisement (``org.bluez.LEAdvertisingManager1.RegisterAdvertisement``) on its own bluezoo
adapter, served with dbus-fast on its own bus connection, in the test's event loop. The hub
side never learns it is talking to an emulation: it goes through unmodified bleak.

Everything device-specific (which characteristics, what happens on subscribe or write) lives in
the subclasses in this package; this module only speaks D-Bus.
"""

# No "from __future__ import annotations": dbus-fast must see "-> None" as None (an empty reply).
import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated

from dbus_fast import BusType, DBusError, Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import (
    DBusBool,
    DBusBytes,
    DBusDict,
    DBusInt16,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
)
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

from gateway.gatt import uuids
from gateway.gatt.device_information import encode_battery_level

log = logging.getLogger(__name__)

BLUEZ = "org.bluez"
#: ATT "application error" range starts at 0x80; real BlueZ maps org.bluez.Error.Failed to it.
ATT_APPLICATION_ERROR = 0x80

WriteHandler = Callable[[bytes], None]
SubscribeHandler = Callable[[], None]
#: dbus-fast reads the D-Bus signature from the annotation; "as" has no ready-made alias.
DBusStrList = Annotated[list[str], DBusSignature("as")]


class PeripheralError(RuntimeError):
    """The emulated device could not register with (or talk to) the emulated BlueZ."""


@dataclass
class DeviceInformation:
    """Device Information 0x180A strings and Battery 0x180F level every emulated device exposes."""

    manufacturer: str
    model_number: str
    serial_number: str
    firmware_revision: str
    hardware_revision: str = "1.0"
    battery_percent: int = 87


class Characteristic(ServiceInterface):
    """org.bluez.GattCharacteristic1 of an emulated device."""

    def __init__(
        self,
        path: str,
        service_path: str,
        uuid: str,
        flags: Sequence[str],
        value: bytes = b"",
        *,
        on_write: WriteHandler | None = None,
        on_subscribe: SubscribeHandler | None = None,
        refuse_writes_with: int | None = None,
    ) -> None:
        super().__init__("org.bluez.GattCharacteristic1")
        self.path = path
        self.service_path = service_path
        self.uuid = uuids.normalize_uuid(uuid)
        self.flags = list(flags)
        self.value = value
        self.notifying = False
        self.confirmations = 0
        self.writes: list[bytes] = []
        self.on_write = on_write
        self.on_subscribe = on_subscribe
        self.refuse_writes_with = refuse_writes_with
        self.subscribed = asyncio.Event()

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> DBusObjectPath:
        return self.service_path

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> DBusStrList:
        return self.flags

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> DBusBytes:
        return self.value

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> DBusBool:
        return self.notifying

    @dbus_method()
    def ReadValue(self, options: DBusDict) -> DBusBytes:
        return self.value

    @dbus_method()
    def WriteValue(self, value: DBusBytes, options: DBusDict) -> None:
        if self.refuse_writes_with is not None:
            # How a BlueZ GATT server application refuses a write: org.bluez.Error.Failed becomes
            # the ATT application error 0x80 on air; the text names the code for the logs.
            raise DBusError("org.bluez.Error.Failed", f"ATT error 0x{self.refuse_writes_with:02X}")
        data = bytes(value)
        self.writes.append(data)
        self.value = data
        if self.on_write is not None:
            self.on_write(data)

    @dbus_method()
    def StartNotify(self) -> None:
        if self.notifying:
            return
        self.notifying = True
        self.emit_properties_changed({"Notifying": True})
        self.subscribed.set()
        if self.on_subscribe is not None:
            self.on_subscribe()

    @dbus_method()
    def StopNotify(self) -> None:
        # bleak waits for Notifying to turn False before stop_notify returns.
        self.notifying = False
        self.subscribed.clear()
        self.emit_properties_changed({"Notifying": False})

    @dbus_method()
    def Confirm(self) -> None:
        self.confirmations += 1

    def send(self, data: bytes) -> bool:
        """Notify or indicate ``data``; False (nothing sent) when the hub is not subscribed."""
        if not self.notifying:
            return False
        self.value = data
        self.emit_properties_changed({"Value": data})
        return True


class Service(ServiceInterface):
    def __init__(self, path: str, uuid: str) -> None:
        super().__init__("org.bluez.GattService1")
        self.path = path
        self.uuid = uuids.normalize_uuid(uuid)

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> DBusBool:
        return True


class Advertisement(ServiceInterface):
    """org.bluez.LEAdvertisement1. No ManufacturerData: bluezoo types it a{sv}, BlueZ a{qv}."""

    def __init__(self, local_name: str, service_uuids: Sequence[str]) -> None:
        super().__init__("org.bluez.LEAdvertisement1")
        self.local_name = local_name
        self.service_uuids = [uuids.normalize_uuid(u) for u in service_uuids]
        #: dBm; the emulated radio hears it at this less ``bluezoo_launcher.PATH_LOSS_DB``.
        self.tx_power = 0

    @dbus_method()
    def Release(self) -> None:
        pass

    @dbus_property(access=PropertyAccess.READ)
    def Type(self) -> DBusStr:
        return "peripheral"

    @dbus_property(access=PropertyAccess.READ)
    def ServiceUUIDs(self) -> DBusStrList:
        return self.service_uuids

    @dbus_property(access=PropertyAccess.READ)
    def LocalName(self) -> DBusStr:
        return self.local_name

    @dbus_property(access=PropertyAccess.READ)
    def Discoverable(self) -> DBusBool:
        return True

    @dbus_property(access=PropertyAccess.READ)
    def TxPower(self) -> DBusInt16:
        return self.tx_power


@dataclass
class _ServiceSpec:
    uuid: str
    characteristics: list[Characteristic] = field(default_factory=list)


class EmulatedPeripheral:
    """Base class: build services in ``__init__`` with ``add_service``/``add_characteristic``.

    Lifecycle: ``await start()`` (register + advertise), ``sleep()``/``wake()`` to stop and
    resume advertising like a cuff that powers down, ``disconnect_hub()`` to drop the link from
    the device's side, ``await close()`` at the end of a test.
    """

    def __init__(
        self,
        *,
        adapter: str,
        address: str,
        hub_adapter: str,
        local_name: str,
        advertised_services: Sequence[str],
        info: DeviceInformation,
    ) -> None:
        self.adapter = adapter
        self.address = address
        self.hub_adapter = hub_adapter
        self.local_name = local_name
        self.info = info
        self.app_path = f"/org/carewatch/emulated/{adapter}"
        self.advertisement = Advertisement(local_name, advertised_services)
        self._services: list[_ServiceSpec] = []
        self._bus: MessageBus | None = None
        self._advertising = False
        self._tasks: set[asyncio.Task[None]] = set()
        #: Set when the device has sent everything it had and hung up (tests wait on it).
        self.burst_done = asyncio.Event()
        self._add_standard_services()

    # -- building ------------------------------------------------------------------------------
    def add_service(self, uuid: str) -> None:
        self._services.append(_ServiceSpec(uuid))

    def add_characteristic(
        self,
        uuid: str,
        flags: Sequence[str],
        value: bytes = b"",
        *,
        on_write: WriteHandler | None = None,
        on_subscribe: SubscribeHandler | None = None,
        refuse_writes_with: int | None = None,
    ) -> Characteristic:
        index = len(self._services) - 1
        spec = self._services[index]
        service_path = f"{self.app_path}/service{index}"
        path = f"{service_path}/char{len(spec.characteristics)}"
        char = Characteristic(
            path,
            service_path,
            uuid,
            flags,
            value,
            on_write=on_write,
            on_subscribe=on_subscribe,
            refuse_writes_with=refuse_writes_with,
        )
        spec.characteristics.append(char)
        return char

    def _add_standard_services(self) -> None:
        info = self.info
        self.add_service(uuids.DEVICE_INFORMATION_SERVICE)
        for uuid, text in (
            (uuids.MANUFACTURER_NAME_STRING, info.manufacturer),
            (uuids.MODEL_NUMBER_STRING, info.model_number),
            (uuids.SERIAL_NUMBER_STRING, info.serial_number),
            (uuids.FIRMWARE_REVISION_STRING, info.firmware_revision),
            (uuids.HARDWARE_REVISION_STRING, info.hardware_revision),
        ):
            self.add_characteristic(uuid, ["read"], text.encode())
        self.add_service(uuids.BATTERY_SERVICE)
        # Bytes from the project's encoder, as everywhere in the emulated devices.
        self.battery = self.add_characteristic(
            uuids.BATTERY_LEVEL, ["read", "notify"], encode_battery_level(info.battery_percent)
        )

    def characteristic(self, uuid: str) -> Characteristic:
        wanted = uuids.normalize_uuid(uuid)
        for spec in self._services:
            for char in spec.characteristics:
                if char.uuid == wanted:
                    return char
        raise KeyError(uuid)

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def bus(self) -> MessageBus:
        if self._bus is None:
            raise PeripheralError(f"{self.local_name} is not started")
        return self._bus

    async def start(self) -> None:
        """Connect to the (emulated) system bus, export the GATT tree, register, advertise."""
        self._bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        for index, spec in enumerate(self._services):
            service_path = f"{self.app_path}/service{index}"
            self._bus.export(service_path, Service(service_path, spec.uuid))
            for char in spec.characteristics:
                self._bus.export(char.path, char)
        self._bus.export(f"{self.app_path}/adv", self.advertisement)
        await self._call(
            f"/org/bluez/{self.adapter}",
            "org.bluez.GattManager1",
            "RegisterApplication",
            "oa{sv}",
            [self.app_path, {}],
        )
        await self.wake()

    async def wake(self) -> None:
        """Start advertising (the patient pressed the button)."""
        if self._advertising:
            return
        await self._call(
            f"/org/bluez/{self.adapter}",
            "org.bluez.LEAdvertisingManager1",
            "RegisterAdvertisement",
            "oa{sv}",
            [f"{self.app_path}/adv", {}],
        )
        self._advertising = True

    async def sleep(self) -> None:
        """Stop advertising (the device powered down its radio)."""
        if not self._advertising:
            return
        await self._call(
            f"/org/bluez/{self.adapter}",
            "org.bluez.LEAdvertisingManager1",
            "UnregisterAdvertisement",
            "o",
            [f"{self.app_path}/adv"],
        )
        self._advertising = False

    async def disconnect_hub(self) -> None:
        """Drop the link from the device's side, as a cuff does after sending its memory.

        bluezoo's device-side object cannot end a link (its peer is a detached copy), so the
        emulation asks the emulated controller to end it through the hub adapter's view of
        this device — the same effect on air as the device hanging up.
        """
        path = f"/org/bluez/{self.hub_adapter}/dev_{self.address.replace(':', '_')}"
        await self._call(path, "org.bluez.Device1", "Disconnect", "", [])

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._bus is not None:
            self._bus.disconnect()
            await self._bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
            self._bus = None
        self._advertising = False

    def spawn(self, coro: Awaitable[None]) -> None:
        """Run a device behaviour (a burst, a stream) in the background, cancelled on close."""

        async def runner() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: behaviour failed", self.local_name)

        task = asyncio.get_running_loop().create_task(runner())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, path: str, interface: str, member: str, signature: str, body: list[object]) -> None:
        reply = await self.bus.call(
            Message(
                destination=BLUEZ,
                path=path,
                interface=interface,
                member=member,
                signature=signature,
                body=body,
            )
        )
        if reply.message_type == MessageType.ERROR:
            raise PeripheralError(
                f"{self.local_name}: {interface}.{member} failed: {reply.error_name} {reply.body}"
            )
