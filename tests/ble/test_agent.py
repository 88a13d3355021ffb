"""The hub's pairing agent, registered with (emulated) BlueZ and asked over D-Bus as BlueZ asks it.

bluezoo pairs LE devices without consulting the agent (it only requires a NoInputNoOutput default
agent, which the cuff test exercises), so the agent's decisions are tested by calling it the way
BlueZ would for a Just Works request.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from gateway.allowlist import Allowlist
from gateway.ble.agent import AGENT_PATH, RegisteredAgent, address_from_device_path
from tests.ble.stack import EmulatedBluez

pytestmark = pytest.mark.ble

OURS = "00:09:1F:00:00:01"
NEIGHBOURS = "00:09:1F:00:00:02"


def test_address_from_device_path() -> None:
    assert address_from_device_path("/org/bluez/hci0/dev_00_09_1f_12_34_56") == "00:09:1F:12:34:56"
    assert address_from_device_path("/org/bluez/hci0") is None


def test_agent_approves_only_allowlisted_devices(bluez: EmulatedBluez, tmp_path: Path) -> None:
    allowlist = Allowlist(tmp_path / "paired-devices.json")
    allowlist.add(OURS)

    async def ask(bus: MessageBus, agent_name: str, member: str, address: str) -> Message:
        path = f"/org/bluez/{bluez.hub_adapter}/dev_{address.replace(':', '_')}"
        calls: dict[str, tuple[str, list[object]]] = {
            "RequestAuthorization": ("o", [path]),
            "RequestConfirmation": ("ou", [path, 123456]),
            "AuthorizeService": ("os", [path, "00001810-0000-1000-8000-00805f9b34fb"]),
        }
        signature, body = calls[member]
        return await bus.call(
            Message(
                destination=agent_name,
                path=AGENT_PATH,
                interface="org.bluez.Agent1",
                member=member,
                signature=signature,
                body=body,
            )
        )

    async def scenario() -> None:
        async with RegisteredAgent(allowlist) as registered:
            assert registered._bus is not None
            name = registered._bus.unique_name
            assert name is not None
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
            try:
                for member in ("RequestAuthorization", "RequestConfirmation", "AuthorizeService"):
                    ok = await ask(bus, name, member, OURS)
                    assert ok.message_type == MessageType.METHOD_RETURN, ok.body
                    no = await ask(bus, name, member, NEIGHBOURS)
                    assert no.message_type == MessageType.ERROR
                    assert no.error_name == "org.bluez.Error.Rejected"
                # A device paired while the hub runs is approved without a restart.
                allowlist_on_disk = Allowlist(allowlist.path)
                allowlist_on_disk.add(NEIGHBOURS)
                late = await ask(bus, name, "RequestAuthorization", NEIGHBOURS)
                assert late.message_type == MessageType.METHOD_RETURN
            finally:
                bus.disconnect()
            assert registered.agent.rejected == [NEIGHBOURS] * 3

    asyncio.run(scenario())
