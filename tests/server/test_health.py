"""``/health`` tells the truth: 200 only when everything on a reading's path is fine, 503 with
the reason otherwise, within a few seconds even when something it checks hangs. On the real
broker, InfluxDB, database and SMTP server; the workers' heartbeats are written with the
same ``Heartbeat`` writer the workers use."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from alerts.severity import Severity
from devstack.influxdb import LocalInfluxDB
from devstack.mosquitto import LocalMosquitto
from devstack.process import free_port
from server.app import create_app
from server.heartbeat import Heartbeat, IngestDetail
from server.ingest.dead_letters import dismiss
from server.ingest.verdicts import RefusalCode
from server.notifications.relay import NotificationRelay
from server.processes import INGEST, TICKER
from server.provisioning import add_patient
from server.settings import (
    EscalationSettings,
    HealthSettings,
    MqttSettings,
    NotificationSettings,
    ServerSettings,
)
from server.store.alerts import apply_finding
from server.store.database import Database
from server.store.influx.config import InfluxConfig
from server.store.influx.store import InfluxStore
from server.store.models import DeadLetter
from server.store.models import now as utcnow
from server.tick import Ticker, TickResult, ticker_detail
from tests.fixtures.server import wait_for

HEALTHY_INGEST = IngestDetail(
    connected=True,
    inbox=0,
    oldest_unacked_s=None,
    messages_per_min=4.0,
    readings_per_min=9.5,
    store_down_since=None,
    processed=120,
    dead_lettered=1,
)
MakeApi = Callable[..., TestClient]


@pytest.fixture
def make_api(database: Database, influx_store: InfluxStore, broker: LocalMosquitto) -> Iterator[MakeApi]:
    """The API as ``carewatch server api`` builds it, with /health's bounds set by the test."""
    clients: list[TestClient] = []

    def make(*, db: Database | None = None, influx: InfluxStore | None = None, **bounds: Any) -> TestClient:
        db, influx = db or database, influx or influx_store
        settings = ServerSettings(
            database_url=db.url,
            influx=influx.config,
            mqtt=MqttSettings(port=broker.port, ca_file=broker.ca_cert),
            health=HealthSettings(**bounds),
        )
        client = TestClient(create_app(settings, db, influx))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@contextmanager
def ticker_running(db: Database, relay: NotificationRelay | None = None) -> Iterator[Ticker]:
    """The real ticker loop in a thread, ticking every 0.2 s, until the block ends."""
    ticker = Ticker(db, EscalationSettings(), relay)
    stop = threading.Event()
    heartbeat = Heartbeat(db, TICKER)
    loop = threading.Thread(target=ticker.run, args=(0.2, stop, heartbeat))
    loop.start()
    try:
        yield ticker
    finally:
        stop.set()
        loop.join(10)


def get_health(api: TestClient) -> tuple[int, dict[str, Any]]:
    r = api.get("/health")
    body: dict[str, Any] = r.json()
    return r.status_code, body


def test_everything_fine_is_200_with_the_workers_liveness_lag_and_throughput(
    make_api: MakeApi, database: Database
) -> None:
    api = make_api()
    ingest = Heartbeat(database, INGEST)
    assert ingest.beat(detail=HEALTHY_INGEST)
    with ticker_running(database):
        wait_for(lambda: get_health(api)[0] == 200, 10, "/health to answer 200")
        status, body = get_health(api)
    assert (status, body["status"]) == (200, "ok")
    assert {k: body[k]["ok"] for k in body if k != "status"} == dict.fromkeys(
        ("broker", "influxdb", "database", "ingest", "ticker", "notifications", "dead_letters"), True
    )
    i = body["ingest"]
    assert (i["instance"], i["state"], i["connected"], i["inbox"], i["oldest_unacked_s"]) == (
        ingest.instance,
        "running",
        True,
        0,
        None,
    )
    assert (i["messages_per_min"], i["readings_per_min"], i["processed"], i["dead_lettered"]) == (
        4.0,
        9.5,
        120,
        1,
    )
    assert i["last_seen_s"] < 10
    assert i["detail"].startswith(f"ingest running on {ingest.instance}, last reported ")
    assert body["ticker"]["every_s"] == 0.2
    assert body["ticker"]["step_errors"] == {}
    # No routing: said plainly, and not a reason for 503 (the demo runs that way).
    assert body["notifications"]["configured"] is False
    assert body["notifications"]["detail"].startswith(
        "no routing configured: alerts are raised but nobody is told"
    )
    assert body["dead_letters"] == {"ok": True, "detail": "none in the last 24 h", "last_24h": 0, "unseen": 0}


def test_a_missing_or_stale_ingest_is_503_with_the_reason(make_api: MakeApi, database: Database) -> None:
    api = make_api(worker_stale_s=1)
    with ticker_running(database):
        wait_for(lambda: get_health(api)[1]["ticker"]["ok"], 10, "the ticker to report")
        status, body = get_health(api)
        assert status == 503
        assert body["status"] == "degraded"
        assert body["ingest"]["ok"] is False
        assert body["ingest"]["detail"] == "ingest has never reported: is `carewatch server ingest` running?"

        ingest = Heartbeat(database, INGEST)
        ingest.beat(detail=HEALTHY_INGEST)
        assert get_health(api)[0] == 200
        time.sleep(2.2)  # past the 1 s bound: dead, or stuck
        status, body = get_health(api)
    assert status == 503
    assert body["ingest"]["ok"] is False
    assert body["ingest"]["detail"] == f"ingest has not reported for 2 s; last seen on {ingest.instance}"
    assert body["ingest"]["last_seen_s"] >= 2
    assert body["ticker"]["ok"] is True  # only the part that is wrong is called wrong


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"connected": False}, "not connected to the broker"),
        (
            {"inbox": 42, "oldest_unacked_s": 301.0},
            "falling behind: the oldest unacknowledged message is 5 min 1 s old (bound 5 min), 42 waiting",
        ),
        (
            {"store_down_since": (utcnow() - timedelta(minutes=4)).isoformat()},
            "cannot store: InfluxDB or the database has been unavailable to it for ",
        ),
    ],
)
def test_an_ingest_that_is_alive_but_not_working_is_503(
    make_api: MakeApi, database: Database, change: dict[str, object], reason: str
) -> None:
    api = make_api()
    with ticker_running(database):
        Heartbeat(database, INGEST).beat(detail={**HEALTHY_INGEST, **change})
        wait_for(lambda: get_health(api)[1]["ticker"]["ok"], 10, "the ticker to report")
        status, body = get_health(api)
    assert status == 503
    assert body["ingest"]["ok"] is False
    assert reason in body["ingest"]["detail"]


def test_an_ingest_that_says_less_is_not_judged_on_what_it_did_not_say(
    make_api: MakeApi, database: Database
) -> None:
    api = make_api()
    with ticker_running(database):
        Heartbeat(database, INGEST).beat(detail={"processed": "many", "connected": "yes"})
        wait_for(lambda: get_health(api)[0] == 200, 10, "/health to answer 200")
        body = get_health(api)[1]
    assert body["ingest"]["connected"] is None
    assert body["ingest"]["processed"] is None
    assert "connection not reported" in body["ingest"]["detail"]


def test_a_stale_stopped_or_failing_ticker_is_503(make_api: MakeApi, database: Database) -> None:
    api = make_api(worker_stale_s=1)
    Heartbeat(database, INGEST).beat(detail=HEALTHY_INGEST)
    with ticker_running(database):
        wait_for(lambda: get_health(api)[0] == 200, 10, "/health to answer 200")
    status, body = get_health(api)  # the loop ended cleanly
    assert status == 503
    assert body["ticker"]["state"] == "stopped"
    assert "and has not started again" in body["ticker"]["detail"]
    assert body["notifications"] == {
        "ok": False,
        "detail": "nobody is being notified: the ticker is not running",
        "configured": None,
        "pending": None,
        "failed_24h": None,
        "oldest_pending_s": None,
    }

    ticker = Heartbeat(database, TICKER)
    failing = TickResult(step_errors={"clock_rules": "DatabaseUnavailable"})
    ticker.beat(detail=ticker_detail(failing, every_s=0.2, ticks=7, configured=False))
    Heartbeat(database, INGEST).beat(detail=HEALTHY_INGEST)
    status, body = get_health(api)
    assert status == 503
    assert body["ticker"]["step_errors"] == {"clock_rules": "DatabaseUnavailable"}
    assert (
        "its last tick's clock_rules step failed (DatabaseUnavailable); see its log"
        in body["ticker"]["detail"]
    )

    time.sleep(1.2)
    Heartbeat(database, INGEST).beat(detail=HEALTHY_INGEST)
    status, body = get_health(api)
    assert status == 503
    assert body["ticker"]["detail"] == f"ticker has not reported for 1 s; last seen on {ticker.instance}"
    assert body["ingest"]["ok"] is True


def test_notifications_not_delivered_in_time_or_given_up_on_are_503(
    make_api: MakeApi, database: Database, tmp_path: Path
) -> None:
    # One channel whose relay nobody listens on (retried), one the server has no sender for
    # (given up on at once): both are real outcomes of a wrong deployment.
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        "teams:\n  north:\n    channels:\n"
        "      - {kind: email, when: always, to: [north-dn@nhs.example]}\n"
        "      - {kind: webhook, when: always, url: 'https://hooks.example/carewatch', secret_id: north}\n"
    )
    cfg = NotificationSettings(
        routing_file=routing,
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        smtp_security="none",
    )
    relay = NotificationRelay.from_settings(database, cfg, "https://carewatch.example")
    add_patient(database, "p-health-1", "Nell Otified", actor="test", team="north")
    with database.session() as s:
        apply_finding(
            s,
            patient_id="p-health-1",
            rule_id="threshold.systolic",
            severity=Severity.RED,
            reading_id="r-health-1",
            summary="x",
            at=utcnow(),
        )
    api = make_api(notification_pending_s=1)
    Heartbeat(database, INGEST).beat(detail=HEALTHY_INGEST)
    with ticker_running(database, relay):

        def both_reported() -> bool:
            Heartbeat(database, INGEST).beat(detail=HEALTHY_INGEST)
            n = get_health(api)[1]["notifications"]
            return bool(n["failed_24h"]) and (n["oldest_pending_s"] or 0) > 1

        wait_for(both_reported, 15, "a failed delivery and one pending too long")
        status, body = get_health(api)
    assert status == 503
    n = body["notifications"]
    assert (n["ok"], n["configured"], n["pending"], n["failed_24h"]) == (False, True, 1, 1)
    assert n["detail"].startswith("1 delivery given up on in the last 24 h; a notification has waited ")
    assert n["detail"].endswith(" for delivery (bound 1 s)")
    assert body["ticker"]["ok"] is True
    assert "Nell" not in str(body) and "p-health-1" not in str(body)  # never patient data


def test_dead_letters_of_the_last_day_are_reported_without_degrading(
    make_api: MakeApi, database: Database
) -> None:
    with database.session() as s:
        for age in (timedelta(hours=1), timedelta(hours=2), timedelta(days=3)):
            s.add(
                DeadLetter(
                    received_at=utcnow() - age,
                    topic="carewatch/v1/hubs/hub-dl-1/readings",
                    hub_id="hub-dl-1",
                    reason="invalid reading batch",
                    payload=b"{}",
                )
            )
    api = make_api()
    Heartbeat(database, INGEST).beat(detail=HEALTHY_INGEST)
    with ticker_running(database):
        wait_for(lambda: get_health(api)[0] == 200, 10, "/health to answer 200")
        body = get_health(api)[1]
    assert body["dead_letters"] == {
        "ok": True,
        "detail": "2 message(s) refused in the last 24 h: see `carewatch server dead-letters`",
        "last_24h": 2,
        "unseen": 0,
    }
    assert "hub-dl-1" not in str(body)


def test_a_packet_a_hub_could_not_decode_is_counted_without_degrading(
    make_api: MakeApi, database: Database
) -> None:
    """A device's malformed packet is a device's or a decoder's problem, not an outage of the
    server: it is counted here and shown on its hub's page, and /health stays 200."""
    with database.session() as s:
        s.add(
            DeadLetter(
                topic="carewatch/v1/hubs/hub-dl-3/readings",
                hub_id="hub-dl-3",
                reading_id="9a4e7c21-3d5b-4f68-8e19-0c2b7d6a5f43",
                reason="undecodable packet from and-ua-651ble 00:09:1F:8A:12:34 on characteristic 2a35: ...",
                reason_code=RefusalCode.UNDECODABLE.value,
                payload=b"{}",
            )
        )
    api = make_api()
    Heartbeat(database, INGEST).beat(detail=HEALTHY_INGEST)
    with ticker_running(database):
        wait_for(lambda: get_health(api)[0] == 200, 10, "/health to answer 200")
        body = get_health(api)[1]
    assert body["dead_letters"]["ok"] is True
    assert (body["dead_letters"]["last_24h"], body["dead_letters"]["unseen"]) == (1, 0)


def test_readings_no_clinician_has_seen_degrade_until_replayed_or_dismissed(
    make_api: MakeApi, database: Database
) -> None:
    """A reading refused as unattributed (taken before the hub was recorded as the patient's)
    was kept, but nothing said so: /health stayed 200 while it waited, never judged."""
    with database.session() as s:
        letter = DeadLetter(
            topic="carewatch/v1/hubs/hub-dl-2/readings",
            hub_id="hub-dl-2",
            reading_id="8d2f5e30-ac73-4e77-9c65-4d7e4f606032",
            reason="hub 'hub-dl-2' was assigned to no patient at 2026-12-01T09:00:00+00:00",
            reason_code=RefusalCode.UNATTRIBUTED.value,
            payload=b"{}",
        )
        s.add(letter)
    api = make_api()
    Heartbeat(database, INGEST).beat(detail=HEALTHY_INGEST)
    with ticker_running(database):
        status, body = get_health(api)
        assert status == 503
        assert body["dead_letters"]["ok"] is False
        assert body["dead_letters"]["unseen"] == 1
        assert body["dead_letters"]["detail"].startswith("1 refused reading(s) no clinician has seen")
        with database.session() as s:
            dismiss(s, letter.id, actor="tech-1", reason="a test hub's readings")
        wait_for(lambda: get_health(api)[0] == 200, 10, "/health to answer 200 once dismissed")


def test_influxdb_stopped_or_hung_is_503_and_answered_within_a_few_seconds(
    make_api: MakeApi, database: Database, tmp_path: Path
) -> None:
    own = LocalInfluxDB(tmp_path / "influx").start()  # never the session's shared one
    assert own.service is not None
    store = InfluxStore(InfluxConfig(url=own.url, api="v1", database="carewatch"))
    api = make_api(influx=store)
    Heartbeat(database, INGEST).beat(detail=HEALTHY_INGEST)
    try:
        with ticker_running(database):
            wait_for(lambda: get_health(api)[0] == 200, 10, "/health to answer 200")
            own.service.signal(signal.SIGSTOP)  # hung: accepts connections, answers nothing
            started = time.monotonic()
            status, body = get_health(api)
            assert time.monotonic() - started < 4
            assert status == 503
            assert body["influxdb"]["ok"] is False
            assert body["ingest"]["ok"] is True and body["database"]["ok"] is True
            own.service.signal(signal.SIGCONT)
            wait_for(lambda: get_health(api)[0] == 200, 10, "/health to recover")
            own.stop()
            status, body = get_health(api)
        assert status == 503
        assert body["influxdb"]["ok"] is False
        assert own.url.removeprefix("http://") in body["influxdb"]["detail"]
    finally:
        if own.service is not None:
            own.service.signal(signal.SIGCONT)
        own.stop()
        store.close()


def test_a_hung_database_is_503_within_a_few_seconds(
    make_api: MakeApi, postgres_database: str, influx_store: InfluxStore
) -> None:
    db = Database(postgres_database)
    db.migrate()
    Heartbeat(db, INGEST).beat(detail=HEALTHY_INGEST)
    api = make_api(db=db)
    blocker = Database(postgres_database)
    try:
        with ticker_running(db):
            wait_for(lambda: get_health(api)[0] == 200, 10, "/health to answer 200")
            # A migration (say) holds the heartbeat table: every read of it waits.
            with blocker.engine.connect() as conn:
                conn.execute(text("LOCK TABLE worker_heartbeats IN ACCESS EXCLUSIVE MODE"))
                for _ in range(2):  # the second joins the check still waiting, not a new one
                    started = time.monotonic()
                    status, body = get_health(api)
                    assert time.monotonic() - started < 4
                    assert status == 503
                    assert body["database"]["ok"] is False
                    assert body["database"]["detail"].startswith("the database did not answer (waiting ")
                    assert body["ingest"]["detail"].startswith("unknown: the database did not answer")
                    assert body["broker"]["ok"] is True and body["influxdb"]["ok"] is True
                conn.rollback()
            wait_for(lambda: get_health(api)[0] == 200, 10, "/health to recover")
    finally:
        blocker.dispose()
        db.dispose()
