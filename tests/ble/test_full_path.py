"""The whole path with only the radio emulated: a technician pairs a cuff from the server →
its memory → ``carewatch hub run`` (a real process on bleak's BlueZ backend) → Mosquitto over
TLS → the ingest worker → InfluxDB and the alert store → the API; and the hub's telemetry
reaches the technicians' view."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common.mqtt import BrokerEndpoint
from common.wire.vocabulary import Measure, ReadingKind
from gateway.allowlist import Allowlist
from server.api.auth import Role, create_user
from server.hub_config import deliver, pair
from server.provisioning import add_hub, add_patient, assign_hub
from tests.ble.devices.health import Slot, StoredBloodPressure, and_ua_651ble
from tests.ble.stack import EmulatedBluez
from tests.ble.test_cli import HubProcess, _config, _local, hub_running
from tests.fixtures.server import Stack, wait_for

pytestmark = [pytest.mark.ble, pytest.mark.services]


def test_a_cuff_paired_from_the_office_reads_at_home_and_becomes_an_alert_for_the_team(
    bluez: EmulatedBluez,
    new_slot: Callable[[], Slot],
    tmp_path: Path,
    stack: Stack,
    server_endpoint: BrokerEndpoint,
) -> None:
    slot = new_slot()
    add_patient(stack.db, "p-ble-1", "Home patient", actor="test")
    add_hub(stack.db, "hub-ble-full", actor="test")
    assign_hub(stack.db, "hub-ble-full", "p-ble-1", actor="test", start=datetime.now(UTC) - timedelta(days=1))
    tech = create_user(stack.db, "tech-ble", Role.TECHNICIAN)
    config = _config(tmp_path, endpoint=stack.hub_endpoint("hub-ble-full"))
    # The technician pairs the cuff from the office before the hub is even on: the retained
    # configuration reaches the hub when it connects.
    pair(stack.db, "hub-ble-full", slot.address, model_id="and-ua-651ble", actor="tech-ble")
    deliver(stack.db, server_endpoint, "hub-ble-full")
    memory = [StoredBloodPressure(186, 104, 131, 88, _local(25))]

    def alerts() -> list[dict[str, object]]:
        r = stack.api.get("/api/v1/alerts", params={"patient_id": "p-ble-1"}, headers=stack.auth())
        return list(r.json())

    def hub_devices() -> list[dict[str, object]]:
        r = stack.api.get("/api/v1/hubs", headers={"Authorization": f"Bearer {tech}"})
        [hub] = [h for h in r.json() if h["id"] == "hub-ble-full"]
        return list((hub["telemetry"] or {}).get("devices", []))

    async def scenario() -> HubProcess:
        cuff = and_ua_651ble(slot, memory)
        await cuff.start()
        try:
            async with hub_running(config) as hub:
                await asyncio.wait_for(cuff.burst_done.wait(), 20)
                await asyncio.to_thread(wait_for, lambda: len(alerts()) == 1, 20, "the alert from the cuff")
                await asyncio.to_thread(
                    wait_for,
                    lambda: [d.get("battery_percent") for d in hub_devices()] == [87],
                    20,
                    "the hub's telemetry after the cuff's session",
                )
        finally:
            await cuff.close()
        return hub

    hub = asyncio.run(scenario())
    assert hub.returncode == 0, hub.output

    [stored] = stack.influx.query_readings("p-ble-1", ReadingKind.BLOOD_PRESSURE)
    assert (stored.values[Measure.SYSTOLIC], stored.values[Measure.DIASTOLIC]) == (186, 104)
    assert stored.device_model == "and-ua-651ble" and stored.hub_id == "hub-ble-full"
    [alert] = alerts()
    assert alert["severity"] == "red" and alert["status"] == "open"
    assert alert["evidence"] == [str(stored.reading_id)]
    # The hub reported its health on connecting to the broker, listing its paired cuff.
    # After the cuff's session the hub reported at once: its battery, from the cuff itself.
    [device] = hub_devices()
    assert (device["address"], device["battery_percent"], device["readings"]) == (slot.address, 87, 1)
    saved = Allowlist(tmp_path / "state" / "paired-devices.json").devices()
    assert [(d.address, d.model_id) for d in saved] == [(slot.address, "and-ua-651ble")]
