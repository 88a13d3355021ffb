"""Reads a person waits on fail fast when InfluxDB does not answer: a hung InfluxDB (a real
socket that accepts and never replies) and a stopped one (the real daemon). The API answers
503 and the pages say "readings cannot be shown" in seconds, not the 20 s two 10 s attempts
used to take; during the cool-down they answer at once without touching the network; once
InfluxDB is back, reads work again."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

from fastapi.testclient import TestClient

from common.wire.topics import Channel, topic
from common.wire.vocabulary import Measure, ReadingKind
from devstack.influxdb import LocalInfluxDB
from server.api.auth import Role, create_user
from server.app import create_app
from server.ingest.processor import IngestProcessor
from server.provisioning import add_hub, add_patient, assign_hub
from server.settings import ServerSettings
from server.store.database import Database
from server.store.influx.config import InfluxConfig
from server.store.influx.store import InfluxStore
from tests.fixtures.browser import signed_in_client
from tests.fixtures.server import Stack, wait_for
from tests.support.hanging import HangingServer
from tests.support.readings import make_batch, make_reading

T = TypeVar("T")
NOTICE = "Readings cannot be shown just now: the reading store is not answering."
#: Well under the 20 s a person used to wait (two attempts of the 10 s ingest timeout); the
#: default people_timeout of 2 s gives about 4.2 s (two attempts and a short backoff).
HUNG_BOUND = 8.0
#: A read while resting, or one refused at once by a closed port.
AT_ONCE = 1.5


def timed(call: Callable[[], T]) -> tuple[float, T]:
    start = time.monotonic()
    result = call()
    return time.monotonic() - start, result


def test_a_hung_influxdb_costs_a_person_seconds_once_then_nothing(stack: Stack) -> None:
    hub = stack.patient_with_hub("p-hang-1", "hub-hang-1")
    hub.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 199, Measure.DIASTOLIC: 95})
    stack.wait_processed(1)
    [alert] = stack.api.get("/api/v1/alerts", params={"patient_id": "p-hang-1"}, headers=stack.auth()).json()
    with HangingServer() as hung:
        # The configured defaults, but for the address and a cool-down short enough to wait out.
        config = InfluxConfig(url=hung.url, api="v1", database="hung", people_cooldown=5.0)
        assert config.people_timeout <= 3.0
        app = create_app(ServerSettings(database_url=stack.db.url), stack.db, InfluxStore(config))
        readings = "/api/v1/patients/p-hang-1/readings"
        with TestClient(app, raise_server_exceptions=False) as api:
            took, r = timed(lambda: api.get(readings, headers=stack.auth()))
            assert r.status_code == 503, r.text
            assert config.people_timeout <= took < HUNG_BOUND  # it did wait on the hung socket
            assert hung.accepted >= 1
            failed_at, seen = time.monotonic(), hung.accepted

            # In the cool-down, the pages and the API answer at once and ask nobody.
            pages = signed_in_client(app, stack.token)
            for path, shows in (
                (f"/alerts/{alert['id']}", "Systolic 199 mmHg"),
                ("/patients/p-hang-1", "p-hang-1"),
            ):
                took, page = timed(partial(pages.get, path))
                assert page.status_code == 200 and shows in page.text and NOTICE in page.text
                assert took < AT_ONCE, path
            took, r = timed(lambda: api.get(readings, headers=stack.auth()))
            assert (r.status_code, took < AT_ONCE) == (503, True)
            assert "not asked again" in r.json()["detail"]
            assert hung.accepted == seen

            # After the cool-down one read probes the store (and, hung still, waits again).
            time.sleep(max(0.0, failed_at + config.people_cooldown - time.monotonic()) + 0.2)
            took, r = timed(lambda: api.get(readings, headers=stack.auth()))
            assert r.status_code == 503 and took < HUNG_BOUND
            assert hung.accepted > seen
            seen = hung.accepted
            took, r = timed(lambda: api.get(readings, headers=stack.auth()))
            assert (r.status_code, took < AT_ONCE, hung.accepted) == (503, True, seen)


def test_a_stopped_influxdb_is_unavailable_at_once_and_reads_resume_when_it_returns(
    database: Database, tmp_path: Path
) -> None:
    influx = LocalInfluxDB(tmp_path / "influx").start()
    store = InfluxStore(InfluxConfig(url=influx.url, api="v1", database="people", people_cooldown=3.0))
    try:
        store.ensure_database()
        add_patient(database, "p-stop-1", "Stopped Store", actor="test")
        add_hub(database, "hub-stop-1", actor="test")
        assign_hub(
            database, "hub-stop-1", "p-stop-1", actor="test", start=datetime.now(UTC) - timedelta(days=1)
        )
        batch = make_batch(
            [make_reading(values={Measure.SYSTOLIC: 131, Measure.DIASTOLIC: 82})], hub_id="hub-stop-1"
        )
        assert (
            IngestProcessor(database, store)
            .handle(topic("hub-stop-1", Channel.READINGS), batch.to_json())
            .stored
            == 1
        )
        token = create_user(database, "matron-stop", Role.CLINICIAN, teams=["default"])
        auth = {"Authorization": f"Bearer {token}"}
        readings = "/api/v1/patients/p-stop-1/readings"
        app = create_app(ServerSettings(database_url=database.url), database, store)
        with TestClient(app, raise_server_exceptions=False) as api:
            pages = signed_in_client(app, token)
            assert [r["values"]["systolic"] for r in api.get(readings, headers=auth).json()] == [131.0]

            influx.stop()
            took, r = timed(lambda: api.get(readings, headers=auth))
            assert (r.status_code, took < AT_ONCE) == (503, True), r.text
            took, page = timed(lambda: pages.get("/patients/p-stop-1"))
            assert page.status_code == 200 and NOTICE in page.text and took < AT_ONCE

            influx.start()
            # Back, but the cool-down still runs: unavailable at once, without asking.
            r = api.get(readings, headers=auth)
            assert r.status_code == 503 and "not asked again" in r.json()["detail"]
            wait_for(lambda: api.get(readings, headers=auth).status_code == 200, 15, "reads to resume")
            page = pages.get("/patients/p-stop-1")
            assert NOTICE not in page.text and "131/82 mmHg" in page.text
    finally:
        influx.stop()
        store.close()
