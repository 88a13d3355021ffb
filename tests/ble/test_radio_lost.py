"""The radio goes away under a running ``carewatch hub run`` and comes back.

A real hub process on bleak's BlueZ backend, the real Mosquitto, and an emulated BlueZ of
its own (not the session's: this test kills it): bluetoothd (bluezoo) is killed with SIGKILL
as a crash would, then started again on the same bus; the hub's adapter is pulled out
(bluezoo removes its object) and put back, switched off and on. Each time the hub's
telemetry on the broker must carry the failed check within seconds, the process must stay
up, and once the radio is back the hub must scan again and a cuff's reading must reach the
broker. The delays are measured and printed (``-s`` shows them).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from common.mqtt import BrokerEndpoint
from common.wire.messages import HubCheck, HubTelemetry, ReadingBatch
from common.wire.topics import Channel, topic
from common.wire.vocabulary import Measure
from gateway.allowlist import Allowlist
from gateway.ble.hub import HubTuning
from gateway.diagnostics.scanning import ScanState
from tests.ble.devices.health import Slot, StoredBloodPressure, and_ua_651ble
from tests.ble.harness import running_hub
from tests.ble.stack import EmulatedBluez, start_emulated_bluez
from tests.ble.test_cli import _config, _local
from tests.fixtures.broker import Listener

pytestmark = [pytest.mark.ble, pytest.mark.services]

#: The loss must be on the broker well before the hub's next regular report (5 min).
REPORTED_WITHIN_S = 5.0
#: Once bluetoothd's adapters are back, the hub scans again without waiting out its back-off.
RESUMED_WITHIN_S = 10.0


@dataclass
class RadioHub:
    stack: EmulatedBluez
    slot: Slot
    hub_id: str
    process: subprocess.Popen[bytes]
    log: Path
    telemetry: Listener
    readings: Listener

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> None:
        assert self.process.poll() is None, self.output()

    def telemetry_until(
        self, wanted: Callable[[dict[str, HubCheck]], bool], timeout: float
    ) -> dict[str, HubCheck]:
        """The checks of the first telemetry on the broker (from now) that satisfies ``wanted``."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no telemetry with the expected checks within {timeout:.0f}s\n{self.output()}"
            try:
                _, payload, _ = self.telemetry.get(timeout=left)
            except Exception as e:  # queue.Empty: say what the hub logged instead
                raise AssertionError(f"no telemetry within {timeout:.0f}s\n{self.output()}") from e
            checks = {c.name.value: c for c in HubTelemetry.model_validate_json(payload).checks}
            if wanted(checks):
                return checks

    def drain(self) -> None:
        """Forget telemetry already received, so the next wait times only what follows."""
        while not self.telemetry.messages.empty():
            self.telemetry.messages.get_nowait()

    def cuff_reading_arrives(self, systolic: int, timeout: float = 30) -> None:
        """A cuff on the emulated radio with one stored reading; its reading must reach the broker."""

        async def scenario() -> None:
            cuff = and_ua_651ble(self.slot, [StoredBloodPressure(systolic, 88, 110, 72, _local(5))])
            await cuff.start()
            try:
                deadline = time.monotonic() + timeout
                while True:
                    left = deadline - time.monotonic()
                    assert left > 0, (
                        f"the cuff's reading {systolic} did not reach the broker\n{self.output()}"
                    )
                    _, payload, _ = await asyncio.to_thread(self.readings.get, left)
                    batch = ReadingBatch.model_validate_json(payload)
                    if any(r.values[Measure.SYSTOLIC].value == systolic for r in batch.readings):
                        return
            finally:
                await cuff.close()

        asyncio.run(scenario())


def ok(name: str) -> Callable[[dict[str, HubCheck]], bool]:
    return lambda checks: name in checks and checks[name].status.value == "ok"


def failed(name: str) -> Callable[[dict[str, HubCheck]], bool]:
    return lambda checks: name in checks and checks[name].status.value == "failed"


@pytest.fixture
def radio_hub(
    tmp_path: Path,
    hub_endpoint: Callable[[str], BrokerEndpoint],
    listen: Callable[[str], Listener],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[RadioHub]:
    """``hub run`` scanning on its own emulated BlueZ (hci0, and hci1 for one cuff); stopped
    with SIGTERM at the end, which must still be a clean stop (exit status 0)."""
    stack = start_emulated_bluez(tmp_path / "bus", 1)
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", stack.bus_address)
    hub_id = f"hub-radio-{request.node.name.split('_')[1]}"
    endpoint = hub_endpoint(hub_id)
    config = _config(tmp_path, endpoint=endpoint)
    slot = Slot("hci1", stack.adapters["hci1"], stack.hub_adapter)
    Allowlist(tmp_path / "state" / "paired-devices.json").add(slot.address, model_id="and-ua-651ble")
    telemetry = listen(topic(hub_id, Channel.TELEMETRY))
    readings = listen(topic(hub_id, Channel.READINGS))
    log = tmp_path / "hub.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "carewatch", "hub", "run", "-c", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    hub = RadioHub(stack, slot, hub_id, process, log, telemetry, readings)
    try:
        hub.telemetry_until(ok("scanning"), 30)
        yield hub
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()  # never left behind; the test fails on the status below
            code = process.wait(5)
        finally:
            stack.stop()
    assert code == 0, hub.output()
    assert "hub stopped" in hub.output()


def test_bluetoothd_killed_then_restarted_under_hub_run(radio_hub: RadioHub) -> None:
    hub = radio_hub
    hub.cuff_reading_arrives(131)  # the radio works before it breaks

    hub.drain()
    killed = time.monotonic()
    hub.stack.kill_bluetoothd()
    checks = hub.telemetry_until(failed("scanning"), 15)
    reported_s = time.monotonic() - killed
    assert checks["scanning"].summary.startswith("not scanning for devices since ")
    assert "Bluetooth stopped (bluetoothd left the system D-Bus)" in checks["scanning"].summary
    assert checks["scanning"].fix is not None and "scans again by itself" in checks["scanning"].fix
    assert checks["bluetoothd"].status.value == "failed"
    assert checks["bluetoothd"].summary == "bluetoothd is not running (no 'org.bluez' on the system D-Bus)"
    assert reported_s < REPORTED_WITHIN_S, reported_s

    time.sleep(5)  # several radio retries: the hub retries, it does not exit
    hub.alive()

    hub.drain()
    restarted = time.monotonic()
    hub.stack.start_bluetoothd()  # returns once its adapters are on the bus and powered
    adapters_back = time.monotonic()
    checks = hub.telemetry_until(ok("scanning"), 30)
    resumed_s = time.monotonic() - restarted
    assert {checks[n].status.value for n in ("dbus", "bluetoothd", "adapter", "scanning")} == {"ok"}
    assert resumed_s < RESUMED_WITHIN_S, resumed_s

    hub.cuff_reading_arrives(142)  # a new bluetoothd, no bond: the hub pairs again and reads
    hub.alive()
    output = hub.output()
    assert "radio lost on hci0: Bluetooth stopped (bluetoothd left the system D-Bus)" in output
    assert "radio usable again on hci0: scanning" in output
    print(
        f"\nbluetoothd killed: failed check on the broker after {reported_s:.2f} s; "
        f"started again: scanning reported on the broker {resumed_s:.2f} s after the new bluetoothd "
        f"was launched (its adapters were on the bus after {adapters_back - restarted:.2f} s)"
    )


async def _set_powered(bus_address: str, adapter: str, powered: bool) -> None:
    bus = await MessageBus(bus_address=bus_address, bus_type=BusType.SYSTEM).connect()
    try:
        reply = await bus.call(
            Message(
                destination="org.bluez",
                path=f"/org/bluez/{adapter}",
                interface="org.freedesktop.DBus.Properties",
                member="Set",
                signature="ssv",
                body=["org.bluez.Adapter1", "Powered", Variant("b", powered)],
            )
        )
        assert reply is not None and reply.message_type == MessageType.METHOD_RETURN, reply and reply.body
    finally:
        bus.disconnect()


def test_adapter_removed_and_switched_off_under_hub_run(radio_hub: RadioHub) -> None:
    hub = radio_hub
    hub.drain()
    removed = time.monotonic()
    asyncio.run(hub.stack.remove_adapter("hci0"))
    checks = hub.telemetry_until(failed("scanning"), 15)
    removed_s = time.monotonic() - removed
    assert "Bluetooth adapter hci0 was removed" in checks["scanning"].summary
    assert checks["adapter"].status.value == "failed"
    assert checks["adapter"].summary.startswith("Bluetooth adapter hci0 missing")
    assert removed_s < REPORTED_WITHIN_S, removed_s
    time.sleep(3)
    hub.alive()

    hub.drain()
    added = time.monotonic()
    asyncio.run(hub.stack.add_adapter("hci0"))
    hub.telemetry_until(ok("scanning"), 30)
    readded_s = time.monotonic() - added
    assert readded_s < RESUMED_WITHIN_S, readded_s
    hub.cuff_reading_arrives(127)

    hub.drain()
    off = time.monotonic()
    asyncio.run(_set_powered(hub.stack.bus_address, "hci0", False))
    checks = hub.telemetry_until(failed("scanning"), 15)
    off_s = time.monotonic() - off
    assert "Bluetooth adapter hci0 was switched off" in checks["scanning"].summary
    assert checks["adapter"].summary == "Bluetooth adapter hci0 is switched off"
    assert off_s < REPORTED_WITHIN_S, off_s

    hub.drain()
    on = time.monotonic()
    asyncio.run(_set_powered(hub.stack.bus_address, "hci0", True))
    hub.telemetry_until(ok("scanning"), 30)
    on_s = time.monotonic() - on
    assert on_s < RESUMED_WITHIN_S, on_s
    hub.cuff_reading_arrives(133)
    hub.alive()
    print(
        f"\nadapter removed: reported after {removed_s:.2f} s, scanning again {readded_s:.2f} s after it "
        f"was added; switched off: reported after {off_s:.2f} s, scanning again {on_s:.2f} s after power on"
    )


def test_a_scan_bluez_ended_is_started_again_after_the_grace(bluez: EmulatedBluez, tmp_path: Path) -> None:
    """Discovering false for longer than the grace while the hub means to scan: BlueZ ended the
    scan on its own (here another client stops discovery; bluezoo then stops it for everyone),
    and the hub, which was told nothing, starts it again."""

    async def discovering() -> bool:
        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        try:
            reply = await bus.call(
                Message(
                    destination="org.bluez",
                    path=bluez.adapter_path(bluez.hub_adapter),
                    interface="org.freedesktop.DBus.Properties",
                    member="Get",
                    signature="ss",
                    body=["org.bluez.Adapter1", "Discovering"],
                )
            )
            assert reply is not None and reply.message_type == MessageType.METHOD_RETURN
            return bool(reply.body[0].value)
        finally:
            bus.disconnect()

    async def stop_discovery() -> None:
        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        try:
            await bus.call(
                Message(
                    destination="org.bluez",
                    path=bluez.adapter_path(bluez.hub_adapter),
                    interface="org.bluez.Adapter1",
                    member="StopDiscovery",
                )
            )
        finally:
            bus.disconnect()

    async def scenario() -> None:
        tuning = HubTuning(idle_timeout=5.0, reconnect_delay=0.3, failure_backoff=0.5, discovering_grace=1.0)
        async with running_hub(tmp_path, bluez.hub_adapter, [], tuning=tuning) as running:
            hub = running.hub
            told: list[tuple[float, ScanState]] = []  # what the telemetry would be poked with
            hub.on_radio_change = lambda: told.append((time.monotonic(), hub.scan_state))
            assert hub.scan_state.scanning and await discovering()
            await stop_discovery()
            stopped = time.monotonic()
            while not (told and told[-1][1].scanning):
                assert time.monotonic() - stopped < 10, told
                await asyncio.sleep(0.02)
            (noticed, lost), (_, back) = told
            assert lost.reason is not None and not lost.scanning
            assert lost.reason.startswith("Bluetooth adapter hci0 stopped scanning (")
            assert 1.0 <= noticed - stopped < 2.0, noticed - stopped  # the grace, not sooner, not much later
            assert back.scanning and back.reason is None
            assert await discovering()

    asyncio.run(scenario())
