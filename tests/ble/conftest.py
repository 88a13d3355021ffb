"""Fixtures for the BLE tests: one emulated BlueZ per test session, a fresh device adapter per device.

The stack (private dbus-daemon + bluezoo) is shared because it starts in ~0.5 s but every test
would pay for it; isolation comes from giving each emulated device an adapter (= address) no
other test used, so no BlueZ device object, bond or cached property leaks between tests.
``DBUS_SYSTEM_BUS_ADDRESS`` points at the private bus only inside BLE tests (monkeypatch) and
in the processes they start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.ble.devices.health import Slot
from tests.ble.stack import EmulatedBluez, dbus_daemon_path, start_emulated_bluez

#: Device adapters created up front (bluezoo cannot add adapters later); one per emulated device.
DEVICE_ADAPTERS = 20


@pytest.fixture(scope="session")
def emulated_bluez(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedBluez]:
    if dbus_daemon_path() is None:
        pytest.skip(
            "dbus-daemon not installed (apt-get install -y dbus): the emulated BlueZ needs a private bus"
        )
    stack = start_emulated_bluez(tmp_path_factory.mktemp("bluez"), DEVICE_ADAPTERS)
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def _slot_source(emulated_bluez: EmulatedBluez) -> Iterator[Slot]:
    names = [name for name in emulated_bluez.adapters if name != emulated_bluez.hub_adapter]
    return iter(Slot(name, emulated_bluez.adapters[name], emulated_bluez.hub_adapter) for name in names)


@pytest.fixture
def bluez(emulated_bluez: EmulatedBluez, monkeypatch: pytest.MonkeyPatch) -> EmulatedBluez:
    """The running stack, with this test (and its children) talking to it as the system bus."""
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", emulated_bluez.bus_address)
    return emulated_bluez


@pytest.fixture
def new_slot(bluez: EmulatedBluez, _slot_source: Iterator[Slot]) -> Callable[[], Slot]:
    """Hand out a device adapter no other test has used."""

    def take() -> Slot:
        slot = next(_slot_source, None)
        if slot is None:
            raise RuntimeError(f"all {DEVICE_ADAPTERS} emulated device adapters used; raise DEVICE_ADAPTERS")
        return slot

    return take
