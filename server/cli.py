"""``carewatch server …``: run the API and the ingest worker; provision patients, hubs, users.

Settings come from ``CAREWATCH_*`` environment variables (see server/settings.py and the
README); heavy libraries are imported inside commands so ``--help`` stays fast.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from server.store.database import Database

app = typer.Typer(help="Server commands: API, ingest worker, provisioning.", no_args_is_help=True)
patient_app = typer.Typer(help="Patients.", no_args_is_help=True)
hub_app = typer.Typer(
    help="Hubs: register, assign to a patient, issue MQTT credentials.", no_args_is_help=True
)
user_app = typer.Typer(help="Users of the API and pages.", no_args_is_help=True)
app.add_typer(patient_app, name="patient")
app.add_typer(hub_app, name="hub")
app.add_typer(user_app, name="user")

ACTOR = "cli"


def _db() -> Database:
    from server.settings import ServerSettings
    from server.store.database import Database

    return Database(ServerSettings().database_url)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@app.command()
def migrate() -> None:
    """Create or upgrade the relational schema (safe to run again)."""
    _db().migrate()
    typer.echo("database schema is up to date")


@app.command()
def api(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from server.api.app import create_app
    from server.settings import ServerSettings
    from server.store.database import Database
    from server.store.influx import InfluxStore

    settings = ServerSettings()
    db = Database(settings.database_url)
    db.migrate()
    uvicorn.run(
        create_app(settings, db, InfluxStore(settings.influx)), host=host, port=port, log_level="info"
    )


@app.command()
def ingest() -> None:
    """Run the MQTT ingest worker until SIGTERM/Ctrl-C."""
    from server.ingest.processor import IngestProcessor
    from server.ingest.worker import IngestWorker
    from server.settings import ServerSettings
    from server.store.database import Database
    from server.store.influx import InfluxStore

    settings = ServerSettings()
    db = Database(settings.database_url)
    db.migrate()
    store = InfluxStore(settings.influx)
    try:
        store.ensure_database()
    except Exception as e:  # noqa: BLE001 - the worker retries writes; say so and go on
        typer.echo(f"warning: could not prepare InfluxDB yet ({e}); will retry on first write", err=True)
    worker = IngestWorker(settings.mqtt.endpoint(), IngestProcessor(db, store, tz=settings.zone))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker.start()
    typer.echo(f"ingest worker running against {settings.mqtt.host}:{settings.mqtt.port}; Ctrl-C to stop")
    stop.wait()
    worker.stop()
    typer.echo(f"ingest worker stopped after {worker.processed} message(s)")


@app.command()
def tick() -> None:
    """Run time-based work until SIGTERM/Ctrl-C: missed readings and silent hubs, escalation,
    notifications and their retries."""
    from server.notifications import NotificationRelay
    from server.settings import ServerSettings
    from server.store.database import Database
    from server.tick import Ticker

    settings = ServerSettings()
    db = Database(settings.database_url)
    db.migrate()
    relay = NotificationRelay.from_settings(db, settings.notifications, settings.public_url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    typer.echo(f"ticker running every {settings.tick_seconds:g}s; Ctrl-C to stop")
    Ticker(db, settings.escalation, relay, tz=settings.zone).run(settings.tick_seconds, stop)


@patient_app.command("add")
def patient_add(
    patient_id: Annotated[str, typer.Argument(help="opaque id, e.g. p-0001 (never the NHS number)")],
    name: Annotated[str, typer.Argument(help="display name for the clinical team")],
    nhs_number: Annotated[str | None, typer.Option(help="10-digit NHS number")] = None,
    team: Annotated[
        str, typer.Option(help="the community team that receives this patient's alerts")
    ] = "default",
) -> None:
    """Register a patient."""
    from server.provisioning import ProvisioningError, add_patient

    try:
        add_patient(_db(), patient_id, name, actor=ACTOR, nhs_number=nhs_number, team=team)
    except ProvisioningError as e:
        raise _fail(str(e)) from None
    typer.echo(f"patient {patient_id} added")


@hub_app.command("add")
def hub_add(
    hub_id: Annotated[str, typer.Argument(help="hub id = its MQTT user name, e.g. hub-0042")],
    patient: Annotated[str | None, typer.Option(help="assign to this patient from now")] = None,
    passwd_file: Annotated[
        Path | None, typer.Option(help="Mosquitto password file to add the hub's credentials to")
    ] = None,
) -> None:
    """Register a hub, optionally assign it and issue its MQTT password."""
    import secrets
    import subprocess

    from server.provisioning import ProvisioningError, add_hub, assign_hub

    db = _db()
    try:
        add_hub(db, hub_id, actor=ACTOR)
        if patient:
            assign_hub(db, hub_id, patient, actor=ACTOR)
    except ProvisioningError as e:
        raise _fail(str(e)) from None
    typer.echo(f"hub {hub_id} registered" + (f" and assigned to {patient}" if patient else ""))
    if passwd_file:
        password = secrets.token_urlsafe(24)
        subprocess.run(["mosquitto_passwd", "-b", str(passwd_file), hub_id, password], check=True)
        typer.echo("MQTT password (write it to the hub's password_file, shown only now):")
        typer.echo(password)
        typer.echo("then reload the broker: systemctl reload mosquitto")


@hub_app.command("assign")
def hub_assign(hub_id: str, patient_id: str) -> None:
    """Give a hub to a patient from now on (ends its current assignment)."""
    from server.provisioning import ProvisioningError, assign_hub

    try:
        assign_hub(_db(), hub_id, patient_id, actor=ACTOR)
    except ProvisioningError as e:
        raise _fail(str(e)) from None
    typer.echo(f"hub {hub_id} now serves patient {patient_id}")


def _configure(hub_id: str, change: Callable[[Database], object] | None = None) -> None:
    """Apply ``change`` to the hub's configuration on the server (if any), then deliver the
    whole configuration; a delivery that fails keeps the change and says how to resend it."""
    from server.hub_config import HubConfigError, NotDelivered, deliver
    from server.settings import ServerSettings

    db = _db()
    try:
        if change is not None:
            change(db)
        sent = deliver(db, ServerSettings().mqtt.endpoint(), hub_id)
    except HubConfigError as e:
        raise _fail(str(e)) from None
    except (NotDelivered, OSError) as e:  # OSError: the server's MQTT password file
        typer.echo(
            f"saved on the server, but not delivered to the hub yet: {e}\n"
            f"run `carewatch server hub push {hub_id}` when the broker is reachable",
            err=True,
        )
        raise typer.Exit(1) from None
    typer.echo(
        f"configuration version {sent.version} delivered for {hub_id} "
        f"({len(sent.paired_devices)} paired device(s)); the hub applies it when it is online"
    )


@hub_app.command("pair")
def hub_pair_remote(
    hub_id: str,
    address: Annotated[str, typer.Argument(help="the device's Bluetooth address, e.g. 00:09:1F:8A:12:34")],
    model: Annotated[str | None, typer.Option(help="catalogue model id, e.g. and-ua-651ble")] = None,
) -> None:
    """Pair a device to a hub from the server: the hub's allowlist follows, even if the hub
    is offline now (it gets the configuration when it connects)."""
    from server.hub_config import pair

    _configure(hub_id, lambda db: pair(db, hub_id, address, model_id=model, actor=ACTOR))


@hub_app.command("unpair")
def hub_unpair_remote(hub_id: str, address: str) -> None:
    """Remove a device from a hub's allowlist from the server."""
    from server.hub_config import unpair

    _configure(hub_id, lambda db: unpair(db, hub_id, address, actor=ACTOR))


@hub_app.command("telemetry")
def hub_telemetry_interval(
    hub_id: str,
    every: Annotated[float, typer.Option(min=10, max=86400, help="seconds between health reports")],
) -> None:
    """Set how often a hub reports its health (outbox, disk, devices)."""
    from server.hub_config import set_telemetry_interval

    _configure(hub_id, lambda db: set_telemetry_interval(db, hub_id, every, actor=ACTOR))


@hub_app.command("push")
def hub_push(hub_id: str) -> None:
    """Send the hub's current configuration again (after the broker was unreachable)."""
    _configure(hub_id)


@hub_app.command("list")
def hub_list() -> None:
    """Every hub: who it serves, online or not, its outbox backlog, and what needs attention."""
    from server.hubs import hub_overview

    hubs = hub_overview(_db())
    if not hubs:
        typer.echo("no hubs registered; add one with: carewatch server hub add HUB_ID")
        return
    for h in hubs:
        t = h.telemetry
        backlog = f"outbox {t.outbox_depth}" if t else "no telemetry"
        typer.echo(f"{h.id:<20} {h.status:<8} patient {h.patient_id or '-':<12} {backlog}")
        for note in h.attention:
            typer.echo(f"    ! {note}")


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[str, typer.Option(help="clinician, technician or admin")] = "clinician",
) -> None:
    """Create a user and print its API token (shown only now)."""
    from server.api.auth import Role, create_user

    try:
        token = create_user(_db(), username, Role(role))
    except ValueError as e:
        raise _fail(str(e)) from None
    typer.echo(token)


@user_app.command("list")
def user_list() -> None:
    """Every user: name, role, enabled or disabled (never a token)."""
    from server.users import list_users

    users = list_users(_db())
    if not users:
        typer.echo("no users; add one with: carewatch server user add NAME --role clinician")
        return
    for u in users:
        typer.echo(f"{u.username:<24} {u.role.value:<11} {'enabled' if u.enabled else 'disabled'}")


def _set_enabled(username: str, enabled: bool) -> None:
    from server.users import UnknownUser, set_enabled

    try:
        changed = set_enabled(_db(), username, enabled, actor=ACTOR)
    except UnknownUser as e:
        raise _fail(str(e)) from None
    state = "enabled" if enabled else "disabled"
    if not changed:
        typer.echo(f"user {username} was already {state}")
    elif enabled:
        typer.echo(f"user {username} enabled; they sign in to the pages again with their token")
    else:
        typer.echo(f"user {username} disabled: their token is refused and their page sessions have ended")


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Refuse the user's token from now on and end their page sessions at once."""
    _set_enabled(username, False)


@user_app.command("enable")
def user_enable(username: str) -> None:
    """Let a disabled user's token in again (their old page sessions stay ended)."""
    _set_enabled(username, True)


@user_app.command("rotate-token")
def user_rotate_token(username: str) -> None:
    """Give the user a new API token and print it (shown only now); the old token and every
    page session opened with it stop working at once."""
    from server.users import UnknownUser, rotate_token

    try:
        token = rotate_token(_db(), username, actor=ACTOR)
    except UnknownUser as e:
        raise _fail(str(e)) from None
    typer.echo(token)


def _replay(letter_ids: list[int]) -> None:
    from server.ingest.processor import IngestProcessor
    from server.ingest.replay import ReplayError
    from server.ingest.replay import replay as replay_letter
    from server.settings import ServerSettings
    from server.store.database import Database, DatabaseUnavailable
    from server.store.influx import InfluxStore, StoreError

    settings = ServerSettings()
    processor = IngestProcessor(
        Database(settings.database_url), InfluxStore(settings.influx), tz=settings.zone
    )
    failed = False
    for letter_id in letter_ids:
        try:
            done = replay_letter(processor, letter_id, actor=ACTOR)
        except (ReplayError, StoreError, DatabaseUnavailable) as e:
            typer.echo(f"#{letter_id}: not replayed: {e}", err=True)
            failed = True
            continue
        r = done.result
        verdict = f"refused again: {r.dead_letter_reason}" if done.refused_again else "replayed"
        typer.echo(
            f"#{letter_id}: {verdict} (stored {r.stored}, duplicate {r.duplicates}, alerts {len(r.alerts)})"
        )
    if failed:
        raise typer.Exit(2)


@app.command("dead-letters")
def dead_letters(
    limit: Annotated[int, typer.Option(min=1)] = 20,
    replay: Annotated[
        list[int] | None,
        typer.Option(help="process dead letter ID again, once its cause is fixed (repeatable)"),
    ] = None,
) -> None:
    """List refused messages and readings, newest first, with the reason; or replay some."""
    from sqlalchemy import select

    from server.store.models import DeadLetter

    if replay:
        _replay(replay)
        return
    with _db().session() as s:
        rows = list(s.scalars(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)))
        for d in rows:
            typer.echo(f"#{d.id} {d.received_at:%Y-%m-%d %H:%M:%S} {d.topic} [{d.status}] {d.reason}")
    if not rows:
        typer.echo("no dead letters")
