"""``carewatch hub scan | pair | run`` as a technician runs them: real processes on the emulated radio."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from common.mqtt import BrokerEndpoint
from common.wire.messages import Reading, ReadingBatch
from common.wire.topics import Channel, subscription
from common.wire.vocabulary import Measure
from gateway.allowlist import Allowlist
from tests.ble.devices.health import Slot, StoredBloodPressure, and_ua_651ble, and_uc_352ble
from tests.ble.harness import HOUSEHOLD_TZ
from tests.ble.stack import EmulatedBluez
from tests.fixtures.broker import Listener

pytestmark = pytest.mark.ble


def _config(tmp_path: Path, *, endpoint: BrokerEndpoint | None = None) -> Path:
    password = tmp_path / "mqtt-password"
    password.write_text(endpoint.password if endpoint else "unused")
    password.chmod(0o600)
    ca = endpoint.ca_file if endpoint else tmp_path / "ca.crt"
    config = tmp_path / "hub.toml"
    config.write_text(
        f"""hub_id = "{endpoint.username if endpoint else "hub-ble-cli"}"
state_dir = "{tmp_path / "state"}"
adapter = "hci0"
timezone = "Europe/London"

[broker]
host = "localhost"
port = {endpoint.port if endpoint else 1}
ca_file = "{ca}"
password_file = "{password}"
"""
    )
    return config


async def _carewatch(*args: str, timeout: float = 30) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "carewatch",
        "hub",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


@dataclass
class HubProcess:
    returncode: int | None = None
    output: str = ""


@contextlib.asynccontextmanager
async def hub_running(config: Path) -> AsyncIterator[HubProcess]:
    """``carewatch hub run -c config`` as a real process; SIGTERM and its output on exit."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "carewatch",
        "hub",
        "run",
        "-c",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    hub = HubProcess()
    try:
        yield hub
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 15)
        hub.returncode, hub.output = proc.returncode, out.decode()


def _local(minutes_ago: int) -> datetime:
    return datetime.now(HOUSEHOLD_TZ).replace(tzinfo=None, microsecond=0) - timedelta(minutes=minutes_ago)


def test_scan_lists_supported_devices_then_pair_allowlists_the_recognised_model(
    bluez: EmulatedBluez, new_slot: Callable[[], Slot], tmp_path: Path
) -> None:
    cuff_slot, scale_slot = new_slot(), new_slot()
    config = _config(tmp_path)
    Allowlist(tmp_path / "state" / "paired-devices.json").add(scale_slot.address, model_id="and-uc-352ble")

    async def scenario() -> None:
        cuff = and_ua_651ble(cuff_slot, [])
        scale = and_uc_352ble(scale_slot, [])
        await cuff.start()
        await scale.start()
        try:
            code, scanned = await _carewatch("scan", "-c", str(config), "--seconds", "1.5")
            assert code == 0, scanned
            lines = {line.split()[0]: line.split() for line in scanned.splitlines() if line[:2] == "00"}
            assert lines[cuff_slot.address][1:4] == [
                "-70",
                "no",
                "and-ua-651ble",
            ]  # the launcher: TxPower 0 - 70 dB
            assert lines[scale_slot.address][2:4] == ["yes", "and-uc-352ble"]

            code, paired = await _carewatch(
                "pair", cuff_slot.address.lower(), "-c", str(config), "--seconds", "5"
            )
            assert code == 0, paired
            assert "found A&D Medical UA-651BLE (and-ua-651ble)" in paired
            code, refused = await _carewatch(
                "pair", "00:AA:BB:CC:EE:FF", "-c", str(config), "--seconds", "1.2"
            )
            assert code == 1 and "was not heard as a supported device" in refused
        finally:
            await cuff.close()
            await scale.close()

    asyncio.run(scenario())
    saved = json.loads((tmp_path / "state" / "paired-devices.json").read_text())
    assert {d["address"]: d["model_id"] for d in saved["devices"]} == {
        cuff_slot.address: "and-ua-651ble",
        scale_slot.address: "and-uc-352ble",
    }


@pytest.mark.services
def test_hub_run_delivers_a_cuffs_memory_to_the_broker_and_stops_cleanly_on_sigterm(
    bluez: EmulatedBluez,
    new_slot: Callable[[], Slot],
    tmp_path: Path,
    hub_endpoint: Callable[[str], BrokerEndpoint],
    listen: Callable[[str], Listener],
) -> None:
    slot = new_slot()
    endpoint = hub_endpoint("hub-ble-run")
    config = _config(tmp_path, endpoint=endpoint)
    Allowlist(tmp_path / "state" / "paired-devices.json").add(slot.address, model_id="and-ua-651ble")
    listener = listen(subscription(Channel.READINGS))
    memory = [
        StoredBloodPressure(141, 91, 108, 77, _local(30)),
        StoredBloodPressure(139, 89, 106, 75, _local(20)),
    ]

    async def delivered(count: int) -> list[Reading]:
        received: list[Reading] = []
        while len(received) < count:
            topic, payload, _ = await asyncio.to_thread(listener.get, 10)
            if topic.endswith("/readings"):
                received += ReadingBatch.model_validate_json(payload).readings
        return received

    async def scenario() -> tuple[HubProcess, list[Reading]]:
        cuff = and_ua_651ble(slot, memory)
        await cuff.start()
        try:
            async with hub_running(config) as hub:
                await asyncio.wait_for(cuff.burst_done.wait(), 20)
                received = await delivered(2)
        finally:
            await cuff.close()
        return hub, received

    hub, received = asyncio.run(scenario())
    assert hub.returncode == 0, hub.output
    assert "hub stopped" in hub.output
    assert sorted(r.values[Measure.SYSTOLIC].value for r in received) == [139, 141]
    assert {r.device.address for r in received} == {slot.address}
