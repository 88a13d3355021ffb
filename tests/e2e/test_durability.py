"""Nothing is lost when a part is down: the broker, InfluxDB, or the ingest worker.

Each test starts its own broker or database (never the shared session ones) so it can stop
and kill them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.mqtt import BrokerEndpoint
from common.wire.vocabulary import Measure, ReadingKind
from devstack.influxdb import LocalInfluxDB
from devstack.mosquitto import LocalMosquitto
from gateway.simulator import SimulatedHub
from server.ingest.processor import IngestProcessor
from server.ingest.worker import IngestWorker
from server.provisioning import add_hub, add_patient, assign_hub
from server.store.database import Database
from server.store.influx.config import InfluxConfig
from server.store.influx.store import InfluxStore
from tests.fixtures.server import wait_for

BP = {Measure.SYSTOLIC: 185.0, Measure.DIASTOLIC: 100.0}


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalMosquitto]:
    mosq = LocalMosquitto(tmp_path / "broker")
    mosq.start()
    yield mosq
    mosq.stop()


def endpoint(mosq: LocalMosquitto, hub_id: str) -> BrokerEndpoint:
    return mosq.add_hub(hub_id)


def provision(db: Database, patient_id: str, hub_id: str) -> None:
    add_patient(db, patient_id, patient_id, actor="test")
    add_hub(db, hub_id, actor="test")
    assign_hub(db, hub_id, patient_id, actor="test")


def start_worker(ep: BrokerEndpoint, db: Database, store: InfluxStore) -> IngestWorker:
    worker = IngestWorker(ep, IngestProcessor(db, store))
    worker.start()
    assert worker.subscribed.wait(10)
    return worker


def test_readings_taken_while_the_broker_is_down_wait_in_the_outbox(
    own_broker: LocalMosquitto, database: Database, influx_store: InfluxStore, tmp_path: Path
) -> None:
    provision(database, "p-dur-broker", "hub-dur-broker")
    hub_ep = endpoint(own_broker, "hub-dur-broker")
    worker = start_worker(own_broker.add_ingest(), database, influx_store)
    hub = SimulatedHub("hub-dur-broker", hub_ep, tmp_path / "hubs")
    hub.start()
    try:
        own_broker.kill()  # a crash, not a clean shutdown
        for sys in (150, 160, 170):
            hub.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: sys, Measure.DIASTOLIC: 90})
        assert not hub.wait_delivered(timeout=2)
        assert hub.outbox.depth() == 3
        own_broker.start()
        assert hub.wait_delivered(timeout=60), "outbox did not drain after the broker came back"
        wait_for(lambda: influx_store.count_points("p-dur-broker") == 3, 60, "three points in InfluxDB")
    finally:
        hub.stop()
        worker.stop()


def test_while_influxdb_is_down_the_message_stays_unacknowledged_and_is_stored_later(
    own_broker: LocalMosquitto, database: Database, tmp_path: Path
) -> None:
    influx = LocalInfluxDB(tmp_path / "influx").start()
    store = InfluxStore(InfluxConfig(url=influx.url, api="v1", database="dur", max_retries=0, timeout=2))
    store.ensure_database()
    provision(database, "p-dur-influx", "hub-dur-influx")
    worker = start_worker(own_broker.add_ingest(), database, store)
    hub = SimulatedHub("hub-dur-influx", endpoint(own_broker, "hub-dur-influx"), tmp_path / "hubs")
    hub.start()
    try:
        influx.stop()
        hub.send(ReadingKind.BLOOD_PRESSURE, BP)
        assert hub.wait_published()  # the broker has it...
        wait_for(lambda: worker.store_down_since is not None, 20, "the worker to notice InfluxDB is down")
        assert worker.batches == 0  # not processed, so not acknowledged
        assert hub.outbox.depth() == 1  # ...but the hub keeps it until the server confirms
        influx.start()
        wait_for(lambda: worker.batches >= 1, 60, "the worker to store the reading once InfluxDB is back")
        assert hub.wait_delivered(), "the server's receipt did not reach the hub"
        assert store.count_points("p-dur-influx") == 1
    finally:
        hub.stop()
        worker.stop()
        influx.stop()
        store.close()


def test_readings_sent_while_ingest_is_stopped_arrive_when_it_returns_even_after_a_broker_crash(
    own_broker: LocalMosquitto, database: Database, influx_store: InfluxStore, tmp_path: Path
) -> None:
    provision(database, "p-dur-ingest", "hub-dur-ingest")
    server_ep = own_broker.add_ingest()
    worker = start_worker(server_ep, database, influx_store)
    worker.stop()  # its persistent session stays with the broker
    hub = SimulatedHub("hub-dur-ingest", endpoint(own_broker, "hub-dur-ingest"), tmp_path / "hubs")
    hub.start()
    try:
        hub.send(ReadingKind.BLOOD_PRESSURE, BP)
        assert hub.wait_published()
    finally:
        hub.stop()
    saved = own_broker.dir.joinpath("data", "mosquitto.db")
    published_at = time.time()
    # The broker saves its state every second: wait for a save after the publish (a crash
    # before it is what the hub's end-to-end receipts cover; see tests/faults).
    wait_for(lambda: saved.exists() and saved.stat().st_mtime > published_at + 0.5, 5, "broker autosave")
    own_broker.kill()
    own_broker.start()
    worker = start_worker(server_ep, database, influx_store)
    try:
        wait_for(lambda: worker.batches == 1, 30, "the queued message")
        assert influx_store.count_points("p-dur-ingest") == 1
    finally:
        worker.stop()
