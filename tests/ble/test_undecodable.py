"""A cuff on the emulated radio sends a measurement the hub cannot decode (one trailing byte):
the hub keeps it rather than dropping it. In process: the outbox holds it as an undecoded
packet and the hub's telemetry counts it. Whole path: ``carewatch hub run`` (real processes)
takes it while the broker is down, holds it in its outbox across a restart with the broker
still down, and once the broker is back it crosses Mosquitto to the real ingest, which keeps it
as a dead letter ``undecodable_packet`` with its bytes and the decoder's error; the technicians'
hub page shows it, and the good reading beside it is stored as ever."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from common.wire.undecoded import UndecodedPacket
from common.wire.vocabulary import Measure, ReadingKind
from devstack.mosquitto import LocalMosquitto
from gateway.allowlist import Allowlist
from gateway.outbox import Outbox
from server.api.auth import Role, create_user
from server.app import create_app
from server.ingest.processor import IngestProcessor
from server.ingest.worker import IngestWorker
from server.provisioning import add_hub, add_patient, assign_hub
from server.settings import MqttSettings, ServerSettings
from server.store.database import Database
from server.store.influx.store import InfluxStore
from server.store.models import DeadLetter
from tests.ble.devices.health import Slot, StoredBloodPressure, and_ua_651ble
from tests.ble.harness import running_hub
from tests.ble.stack import EmulatedBluez
from tests.ble.test_cli import HubProcess, _config, _local, hub_running
from tests.fixtures.browser import signed_in_client
from tests.fixtures.server import wait_for

pytestmark = pytest.mark.ble

GOOD = StoredBloodPressure(152, 96, 115, 81, _local(20))
#: The next reading in the cuff's memory, with one byte more than its flags announce.
BAD = StoredBloodPressure(149, 93, 112, 79, _local(10)).encode() + b"\x00"


def test_the_hub_keeps_a_packet_it_cannot_decode_and_counts_it_for_the_technician(
    bluez: EmulatedBluez, new_slot: Callable[[], Slot], tmp_path: Path
) -> None:
    slot = new_slot()

    async def scenario() -> tuple[list[float], list[UndecodedPacket], int | None]:
        cuff = and_ua_651ble(slot, [GOOD])
        cuff.memory.append(BAD)
        await cuff.start()
        try:
            async with running_hub(tmp_path, bluez.hub_adapter, [slot.address]) as hub:
                await asyncio.wait_for(cuff.burst_done.wait(), 20)
                for _ in range(100):  # the session ends a moment after the cuff hangs up
                    [device] = hub.hub.device_telemetry()
                    if device.undecodable:
                        break
                    await asyncio.sleep(0.1)
                readings = [r.values[Measure.SYSTOLIC].value for r in hub.readings()]
                return readings, hub.undecoded(), device.undecodable
        finally:
            await cuff.close()

    readings, undecoded, counted = asyncio.run(scenario())
    assert readings == [152]
    [packet] = undecoded
    assert packet.payload() == BAD and packet.characteristic == "2a35"
    assert packet.device.address == slot.address and packet.device.model == "and-ua-651ble"
    assert "1 unexpected trailing byte" in packet.error
    assert abs(packet.received_at - datetime.now(UTC)) < timedelta(minutes=1)  # the hub's clock
    assert counted == 1


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalMosquitto]:
    mosq = LocalMosquitto(tmp_path / "broker")
    mosq.start()
    yield mosq
    mosq.stop()


@pytest.mark.services
def test_a_packet_the_hub_cannot_decode_survives_a_restart_without_the_broker_and_becomes_a_dead_letter(
    bluez: EmulatedBluez,
    new_slot: Callable[[], Slot],
    tmp_path: Path,
    own_broker: LocalMosquitto,
    database: Database,
    influx_store: InfluxStore,
) -> None:
    slot, hub_id = new_slot(), "hub-ble-undecodable"
    add_patient(database, "p-ble-undec", "Home patient", actor="test")
    add_hub(database, hub_id, actor="test")
    assign_hub(database, hub_id, "p-ble-undec", actor="test", start=datetime.now(UTC) - timedelta(days=1))
    config = _config(tmp_path, endpoint=own_broker.add_hub(hub_id))
    Allowlist(tmp_path / "state" / "paired-devices.json").add(slot.address, model_id="and-ua-651ble")
    outbox_path = tmp_path / "state" / "outbox.sqlite3"
    ingest = own_broker.add_ingest("carewatch-ingest-ble-undecodable")
    own_broker.kill()  # down before the patient takes the reading

    def held() -> tuple[int, int]:
        box = Outbox(outbox_path)
        try:
            return len(box.due(100, now=2e9)), len(box.due_undecoded(100, now=2e9))
        finally:
            box.close()

    async def first_run() -> HubProcess:
        cuff = and_ua_651ble(slot, [GOOD])
        cuff.memory.append(BAD)
        await cuff.start()
        try:
            async with hub_running(config) as hub:
                await asyncio.wait_for(cuff.burst_done.wait(), 20)
                await asyncio.sleep(1)  # the session ends and the sink has stored both
        finally:
            await cuff.close()
        return hub

    first = asyncio.run(first_run())
    assert first.returncode == 0, first.output
    assert "kept as undecoded packet" in first.output
    assert held() == (1, 1)  # on the card, across the stop

    workers: list[IngestWorker] = []

    def broker_and_ingest_back() -> None:
        own_broker.start()
        worker = IngestWorker(ingest, IngestProcessor(database, influx_store))
        workers.append(worker)
        worker.start()
        assert worker.subscribed.wait(10)

    async def second_run() -> HubProcess:
        async with hub_running(config) as hub:
            await asyncio.sleep(3)  # restarted, the broker still down: nothing leaves
            assert await asyncio.to_thread(held) == (1, 1)
            await asyncio.to_thread(broker_and_ingest_back)
            await asyncio.to_thread(
                wait_for, lambda: held() == (0, 0), 90, "the receipts for the reading and the packet"
            )
        return hub

    try:
        second = asyncio.run(second_run())
    finally:
        for worker in workers:
            worker.stop()
    assert second.returncode == 0, second.output

    [stored] = influx_store.query_readings("p-ble-undec", ReadingKind.BLOOD_PRESSURE)
    assert stored.values[Measure.SYSTOLIC] == 152
    with database.session() as s:
        [letter] = s.scalars(select(DeadLetter).where(DeadLetter.hub_id == hub_id)).all()
        letter_id, code, reason, payload = letter.id, letter.reason_code, letter.reason, letter.payload
    assert code == "undecodable_packet"
    kept = json.loads(payload)["undecoded"]
    assert bytes.fromhex(kept["data_hex"]) == BAD
    assert "1 unexpected trailing byte" in kept["error"] and kept["device"]["address"] == slot.address
    assert BAD.hex() in reason and kept["error"] in reason

    settings = ServerSettings(
        database_url=database.url,
        influx=influx_store.config,
        mqtt=MqttSettings(port=own_broker.port, ca_file=own_broker.ca_cert),
    )
    token = create_user(database, "tech-ble-undec", Role.TECHNICIAN)
    with TestClient(create_app(settings, database, influx_store)) as api:
        page = signed_in_client(api.app, token).get(f"/hubs/{hub_id}").text
    assert f"1 kept as dead letters. Latest, #{letter_id}" in page
    assert "1 unexpected trailing byte" in page and BAD.hex() in page
