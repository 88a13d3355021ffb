"""``carewatch hub run`` with a broken radio keeps running and keeps telling the server why.

A real hub process, the real Mosquitto: the hub starts with its system D-Bus missing (the
socket it is configured to use does not exist), publishes its status and telemetry whose
checks say so, retries the radio with back-off instead of exiting; then the emulated BlueZ
comes up on that very socket and the hub starts scanning without a restart, and says so.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from common.mqtt import BrokerEndpoint
from common.wire.messages import HubTelemetry
from common.wire.topics import Channel, topic
from tests.ble.stack import start_emulated_bluez
from tests.ble.test_doctor import write_config
from tests.fixtures.broker import Listener

pytestmark = pytest.mark.ble


def next_telemetry(
    listener: Listener, until: Callable[[dict[str, str]], bool], timeout: float
) -> HubTelemetry:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "no telemetry with the expected checks"
        _, payload, _ = listener.get(timeout=left)
        telemetry = HubTelemetry.model_validate_json(payload)
        if until({c.name.value: c.status.value for c in telemetry.checks}):
            return telemetry


def test_hub_run_survives_a_missing_dbus_and_picks_the_radio_up_when_it_appears(
    tmp_path: Path,
    hub_endpoint: Callable[[str], BrokerEndpoint],
    listen: Callable[[str], Listener],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = hub_endpoint("hub-radio-down")
    config = write_config(tmp_path, endpoint=endpoint)
    bus_dir = tmp_path / "bus"
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={bus_dir / 'bus.sock'}")
    telemetry = listen(topic(endpoint.username, Channel.TELEMETRY))
    status = listen(topic(endpoint.username, Channel.STATUS))
    log = tmp_path / "hub.log"
    with log.open("wb") as out:
        hub = subprocess.Popen(
            [sys.executable, "-m", "carewatch", "hub", "run", "-c", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    stack = None
    try:
        broken = next_telemetry(telemetry, lambda c: c.get("dbus") == "failed", 30)
        (dbus,) = [c for c in broken.checks if c.name.value == "dbus"]
        assert dbus.summary == f"no system D-Bus socket at {bus_dir / 'bus.sock'}"
        assert [c.status.value for c in broken.checks if c.name.value in ("bluetoothd", "adapter")] == [
            "skipped",
            "skipped",
        ]
        assert json.loads(status.get(timeout=10)[1])["state"] == "online"
        time.sleep(3)  # past the first radio retry (2 s): the hub is still there
        assert hub.poll() is None, log.read_text()

        stack = start_emulated_bluez(bus_dir, 0)  # hci0 only, on the socket the hub was told to use
        healed = next_telemetry(telemetry, lambda c: c.get("adapter") == "ok", 45)
        assert {
            c.status.value for c in healed.checks if c.name.value in ("dbus", "bluetoothd", "adapter")
        } == {"ok"}
        deadline = time.monotonic() + 10
        while "radio usable again on hci0" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert hub.poll() is None
    finally:
        hub.send_signal(signal.SIGTERM)
        code = hub.wait(15)
        if stack is not None:
            stack.stop()
    output = log.read_text()
    assert code == 0, output
    assert f"radio not usable: no system D-Bus socket at {bus_dir / 'bus.sock'}" in output
    assert output.count("radio not usable") >= 2, output
