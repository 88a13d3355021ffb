"""A BlueZ pairing agent for a headless hub: "Just Works", and only for this hub's devices.

Why an agent at all: BlueZ refuses to pair without one, and a Raspberry Pi beside a patient has
no screen or keyboard. The agent registers as ``NoInputNoOutput`` (so BlueZ uses Just Works,
which is what cuffs, scales and oximeters support) and approves a request only when the device
is on the hub's allowlist: a neighbour's device that tries to pair with the hub is rejected.
"""

# No "from __future__ import annotations": dbus-fast must see "-> None" as None (an empty reply).

import logging
from types import TracebackType

from dbus_fast import BusType, DBusError, Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusObjectPath, DBusStr, DBusUInt16, DBusUInt32
from dbus_fast.service import ServiceInterface, dbus_method

from gateway.allowlist import Allowlist

log = logging.getLogger(__name__)

AGENT_PATH = "/org/carewatch/hub/agent"
CAPABILITY = "NoInputNoOutput"
REJECTED = "org.bluez.Error.Rejected"


class AgentError(RuntimeError):
    """BlueZ did not accept the pairing agent (no BlueZ, or another default agent is in charge)."""


def address_from_device_path(path: str) -> str | None:
    """``/org/bluez/hci0/dev_00_09_1F_12_34_56`` → ``00:09:1F:12:34:56``."""
    leaf = path.rsplit("/", 1)[-1]
    if not leaf.startswith("dev_"):
        return None
    return leaf[4:].replace("_", ":").upper()


class PairingAgent(ServiceInterface):
    """org.bluez.Agent1: approves allowlisted devices, rejects everything else."""

    def __init__(self, allowlist: Allowlist) -> None:
        super().__init__("org.bluez.Agent1")
        self.allowlist = allowlist
        self.approved: list[str] = []
        self.rejected: list[str] = []

    def _decide(self, device: str, what: str) -> None:
        address = address_from_device_path(device)
        try:
            self.allowlist.refresh()
        except ValueError as e:
            log.error("pairing agent: keeping the previous paired-device list: %s", e)
        if address is not None and address in self.allowlist:
            self.approved.append(address)
            log.info("pairing agent: approved %s for %s", what, address)
            return
        self.rejected.append(address or device)
        log.warning("pairing agent: rejected %s for %s: not on this hub's paired-device list", what, device)
        raise DBusError(REJECTED, f"{address or device} is not paired to this hub")

    @dbus_method()
    def Release(self) -> None:
        log.info("pairing agent released by BlueZ")

    @dbus_method()
    def RequestPinCode(self, device: DBusObjectPath) -> DBusStr:
        # Legacy PIN pairing needs a human to type a code the hub cannot know.
        self._decide(device, "a PIN code")
        raise DBusError(REJECTED, "this hub cannot enter PIN codes")

    @dbus_method()
    def DisplayPinCode(self, device: DBusObjectPath, pincode: DBusStr) -> None:
        self._decide(device, "displaying a PIN code")

    @dbus_method()
    def RequestPasskey(self, device: DBusObjectPath) -> DBusUInt32:
        self._decide(device, "a passkey")
        raise DBusError(REJECTED, "this hub cannot enter passkeys")

    @dbus_method()
    def DisplayPasskey(self, device: DBusObjectPath, passkey: DBusUInt32, entered: DBusUInt16) -> None:
        self._decide(device, "displaying a passkey")

    @dbus_method()
    def RequestConfirmation(self, device: DBusObjectPath, passkey: DBusUInt32) -> None:
        self._decide(device, "numeric comparison")

    @dbus_method()
    def RequestAuthorization(self, device: DBusObjectPath) -> None:
        self._decide(device, "Just Works pairing")

    @dbus_method()
    def AuthorizeService(self, device: DBusObjectPath, uuid: DBusStr) -> None:
        self._decide(device, f"service {uuid}")

    @dbus_method()
    def Cancel(self) -> None:
        log.info("pairing agent: BlueZ cancelled a pairing request")


class RegisteredAgent:
    """``async with RegisteredAgent(allowlist):`` — the agent is BlueZ's default while inside."""

    def __init__(self, allowlist: Allowlist, *, path: str = AGENT_PATH) -> None:
        self.agent = PairingAgent(allowlist)
        self.path = path
        self._bus: MessageBus | None = None

    async def _call(self, member: str, signature: str, body: list[object]) -> None:
        assert self._bus is not None
        reply = await self._bus.call(
            Message(
                destination="org.bluez",
                path="/org/bluez",
                interface="org.bluez.AgentManager1",
                member=member,
                signature=signature,
                body=body,
            )
        )
        if reply.message_type == MessageType.ERROR:
            raise AgentError(f"BlueZ refused {member}: {reply.error_name}: {reply.body}")

    async def __aenter__(self) -> "RegisteredAgent":
        try:
            self._bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        except (OSError, ValueError) as e:
            raise AgentError(f"cannot reach the system D-Bus for the pairing agent: {e}") from e
        self._bus.export(self.path, self.agent)
        try:
            await self._call("RegisterAgent", "os", [self.path, CAPABILITY])
            await self._call("RequestDefaultAgent", "o", [self.path])
        except BaseException:
            self._bus.disconnect()
            self._bus = None
            raise
        log.info("pairing agent registered (%s, allowlisted devices only)", CAPABILITY)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        bus, self._bus = self._bus, None
        if bus is None:
            return
        self._bus = bus
        try:
            await self._call("UnregisterAgent", "o", [self.path])
        except AgentError as e:
            log.debug("unregistering the pairing agent: %s", e)
        finally:
            self._bus = None
            bus.disconnect()
