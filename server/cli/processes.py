"""``carewatch server migrate|api|ingest|tick``: the schema and the server's processes."""

from __future__ import annotations

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
    from server.ingest.service import IngestNotStarted, run_ingest
    from server.settings import ServerSettings

    try:
        status = run_ingest(ServerSettings())
    except IngestNotStarted as e:
        raise common.fail(str(e)) from None
    if status:
        raise typer.Exit(status)


def tick() -> None:
    """Run time-based work until SIGTERM/Ctrl-C: missed readings and silent hubs, escalation,
    notifications and their retries. Exits non-zero if it cannot go on, so that its supervisor
    restarts it; /health shows why from its heartbeat."""
    from server.settings import ServerSettings
    from server.tick import TickerNotStarted, run_ticker

    try:
        status = run_ticker(ServerSettings())
    except TickerNotStarted as e:
        raise common.fail(str(e)) from e
    if status:
        raise typer.Exit(status)
