"""``carewatch server migrate|api|ingest|tick``: the schema and the server's processes."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from server.cli import common


def migrate() -> None:
    """Create or upgrade the relational schema (safe to run again)."""
    common.db().migrate()
    typer.echo("database schema is up to date")


def api(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from server.app import create_app
    from server.settings import ServerSettings
    from server.store.database import Database
    from server.store.influx.store import InfluxStore

    settings = ServerSettings()
    db = Database(settings.database_url)
    db.migrate()
    uvicorn.run(
        create_app(settings, db, InfluxStore(settings.influx)), host=host, port=port, log_level="info"
    )


def ingest() -> None:
    """Run the MQTT ingest worker until SIGTERM/Ctrl-C.

    Exits 70 if its loop fails, so systemd restarts it; every message not yet acknowledged is
    delivered again by the broker."""
    from common.supervision import EXIT_LOOP_FAILED, Supervisor
    from server.heartbeat import Heartbeat
    from server.ingest.processor import IngestProcessor
    from server.ingest.worker import IngestWorker
    from server.processes import INGEST
    from server.settings import ServerSettings
    from server.store.database import Database
    from server.store.influx.store import InfluxStore

    settings = ServerSettings()
    db = Database(settings.database_url)
    db.migrate()
    store = InfluxStore(settings.influx)
    try:
        store.ensure_database()
    except Exception as e:  # noqa: BLE001 - the worker retries writes; say so and go on
        typer.echo(f"warning: could not prepare InfluxDB yet ({e}); will retry on first write", err=True)
    try:
        endpoint = settings.mqtt.ingest_endpoint()
    except OSError as e:
        raise common.fail(f"cannot read the ingest's MQTT password file: {e}") from None
    supervisor = Supervisor()
    heartbeat = Heartbeat(db, INGEST)
    worker = IngestWorker(
        endpoint,
        IngestProcessor(db, store, tz=settings.zone),
        supervisor=supervisor,
        heartbeat=lambda detail: heartbeat.beat(detail=detail),
    )
    stop = threading.Event()
    supervisor.on_failure(stop.set)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker.start()
    typer.echo(
        f"ingest worker running against {settings.mqtt.host}:{settings.mqtt.port} "
        f"as {endpoint.username}; Ctrl-C to stop"
    )
    stop.wait()
    worker.stop()
    if supervisor.failed.is_set():
        heartbeat.failed(supervisor.reason or "loop failed", worker.metrics())
        typer.echo(f"error: ingest stopped because its loop failed: {supervisor.reason}", err=True)
        raise typer.Exit(EXIT_LOOP_FAILED)
    heartbeat.stopped(worker.metrics())
    typer.echo(f"ingest worker stopped after {worker.processed} message(s)")


def tick() -> None:
    """Run time-based work until SIGTERM/Ctrl-C: missed readings and silent hubs, escalation,
    notifications and their retries. Exits non-zero if it cannot go on, so that its supervisor
    restarts it; /health shows why from its heartbeat."""
    import logging

    from server.heartbeat import Heartbeat
    from server.notifications import NotificationRelay
    from server.processes import TICKER
    from server.settings import ServerSettings
    from server.store.database import Database
    from server.tick import Ticker

    settings = ServerSettings()
    db = Database(settings.database_url)
    db.migrate()
    heartbeat = Heartbeat(db, TICKER)
    try:
        relay = NotificationRelay.from_settings(db, settings.notifications, settings.public_url)
    except Exception as e:  # any of them means nobody would be notified: say so, and exit
        heartbeat.failed(f"could not start: {type(e).__name__} preparing notifications; see its log")
        raise common.fail(f"ticker could not start, notifications are not configured correctly: {e}") from e
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    typer.echo(f"ticker running every {settings.tick_seconds:g}s; Ctrl-C to stop")
    try:
        Ticker(db, settings.escalation, relay, tz=settings.zone).run(settings.tick_seconds, stop, heartbeat)
    except Exception:
        logging.getLogger("carewatch.ticker").exception(
            "the ticker's loop failed; exiting non-zero so that its supervisor restarts it"
        )
        raise typer.Exit(1) from None
    typer.echo("ticker stopped")
