"""``carewatch server …``: run the API and the ingest worker; provision patients, hubs, users.

Settings come from ``CAREWATCH_*`` environment variables (see server/settings.py and the
README); heavy libraries are imported inside commands so ``--help`` stays fast.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from server.store.database import Database

app = typer.Typer(
    help="Server commands: API, ingest worker, provisioning.", no_args_is_help=True, add_completion=False
)
patient_app = typer.Typer(help="Patients.", no_args_is_help=True)
hub_app = typer.Typer(
    help="Hubs: register, assign to a patient, issue MQTT credentials.", no_args_is_help=True
)
user_app = typer.Typer(help="Users of the API and pages.", no_args_is_help=True)
broker_app = typer.Typer(
    help="The MQTT broker's identities and roles (Mosquitto dynamic-security plugin).", no_args_is_help=True
)
app.add_typer(patient_app, name="patient")
app.add_typer(hub_app, name="hub")
app.add_typer(user_app, name="user")
app.add_typer(broker_app, name="broker")

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

    from server.app import create_app
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
    from server.store.influx import InfluxStore

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
        raise _fail(f"cannot read the ingest's MQTT password file: {e}") from None
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


@app.command()
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
        raise _fail(f"ticker could not start, notifications are not configured correctly: {e}") from e
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
    password_out: Annotated[
        Path | None,
        typer.Option(help="write the hub's MQTT password to this file (mode 0600) instead of printing it"),
    ] = None,
) -> None:
    """Register a hub, optionally assign it, and give it its broker identity (live: no reload).

    The hub may then connect with its id as user name and client id, and the password shown
    once here (or written to --password-out), and only publish and hear its own topics."""
    from server.provisioning import ProvisioningError, add_hub

    try:
        add_hub(_db(), hub_id, actor=ACTOR, patient_id=patient)
    except ProvisioningError as e:
        raise _fail(str(e)) from None
    typer.echo(f"hub {hub_id} registered" + (f" and assigned to {patient}" if patient else ""))
    _issue_credentials(hub_id, password_out)


def _issue_credentials(hub_id: str, password_out: Path | None) -> None:
    import os

    from server.broker.admin import BrokerAdmin, BrokerAdminError
    from server.broker.dynsec_file import new_password
    from server.settings import ServerSettings
    from server.store.models import AuditEvent

    password = new_password()
    try:
        with BrokerAdmin(ServerSettings().mqtt.endpoint()) as admin:
            admin.add_hub(hub_id, password)
    except (BrokerAdminError, OSError) as e:  # OSError: the server's MQTT password file
        typer.echo(
            f"error: the hub's broker identity was not issued: {e}\n"
            f"run `carewatch server hub credentials {hub_id}` when the broker is reachable",
            err=True,
        )
        raise typer.Exit(1) from None
    if password_out is not None:
        fd = os.open(password_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        typer.echo(f"MQTT password written to {password_out}: copy it to the hub's password_file")
    else:
        typer.echo("MQTT password (write it to the hub's password_file; shown only now):")
        typer.echo(password)
    with _db().session() as s:
        s.add(AuditEvent(actor=ACTOR, action="hub_credentials_issued", target=hub_id))
    typer.echo("the broker accepts it now; no reload needed")


@hub_app.command("credentials")
def hub_credentials(
    hub_id: str,
    password_out: Annotated[
        Path | None,
        typer.Option(help="write the new MQTT password to this file (mode 0600) instead of printing it"),
    ] = None,
) -> None:
    """Issue a registered hub a new broker password (after a loss, or to rotate it); the old
    one stops working at once."""
    from server.provisioning import hub_exists

    if not hub_exists(_db(), hub_id):
        raise _fail(f"no hub {hub_id!r}; register it with: carewatch server hub add {hub_id}")
    _issue_credentials(hub_id, password_out)


@hub_app.command("revoke")
def hub_revoke(hub_id: str) -> None:
    """Stop a hub connecting (lost, stolen, returned): the broker refuses its password from
    now on and disconnects it if it is connected. `hub credentials` lets it in again."""
    from server.broker.admin import BrokerAdmin, BrokerAdminError
    from server.provisioning import hub_exists
    from server.settings import ServerSettings
    from server.store.models import AuditEvent

    db = _db()
    if not hub_exists(db, hub_id):  # never a server identity, whatever name it is given
        raise _fail(f"no hub {hub_id!r}")
    try:
        with BrokerAdmin(ServerSettings().mqtt.endpoint()) as admin:
            admin.disable(hub_id)
    except (BrokerAdminError, OSError) as e:
        raise _fail(f"not revoked: {e}") from None
    with db.session() as s:
        s.add(AuditEvent(actor=ACTOR, action="hub_revoked", target=hub_id))
    typer.echo(f"hub {hub_id} can no longer connect to the broker")


@broker_app.command("init")
def broker_init(
    dynsec_file: Annotated[
        Path, typer.Option(help="the plugin's file, as plugin_opt_config_file in mosquitto.conf names it")
    ] = Path("/var/lib/mosquitto/dynamic-security.json"),
    secrets_dir: Annotated[
        Path, typer.Option(help="where the server's two MQTT password files go (mode 0600)")
    ] = Path("/etc/carewatch"),
) -> None:
    """Set up a new broker's security file, before Mosquitto first starts with the plugin:
    the server's control identity and the ingest worker's, each with a new password."""
    import os

    from server.broker import dynsec_file as dynsec
    from server.broker.identities import control_role, ingest_identity, ingest_role, server_identity

    control_pw, ingest_pw = dynsec.new_password(), dynsec.new_password()
    try:
        dynsec.write_new(
            dynsec_file,
            {server_identity(): control_pw, ingest_identity(): ingest_pw},
            [control_role(), ingest_role()],
        )
    except dynsec.DynsecFileExists as e:
        raise _fail(f"{e}; nothing changed") from None
    secrets_dir.mkdir(parents=True, exist_ok=True)
    for name, password in (("mqtt-password", control_pw), ("mqtt-ingest-password", ingest_pw)):
        fd = os.open(secrets_dir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
    typer.echo(f"wrote {dynsec_file} (make it readable by the mosquitto user only)")
    typer.echo(
        f"wrote {secrets_dir / 'mqtt-password'} (API, command line) and {secrets_dir / 'mqtt-ingest-password'}"
    )
    typer.echo(
        "start Mosquitto with deploy/mosquitto/carewatch.conf, then add hubs: carewatch server hub add HUB_ID"
    )


@broker_app.command("sync")
def broker_sync() -> None:
    """Bring every role on the broker up to date with this version (e.g. a new channel a hub
    must hear); passwords are not touched. Safe to run again."""
    from sqlalchemy import select

    from server.broker.admin import BrokerAdmin, BrokerAdminError
    from server.broker.identities import control_role, hub_role, ingest_role
    from server.settings import ServerSettings
    from server.store.models import Hub

    with _db().session() as s:
        hub_ids = list(s.scalars(select(Hub.id)))
    try:
        with BrokerAdmin(ServerSettings().mqtt.endpoint()) as admin:
            for role in (control_role(), ingest_role(), *(hub_role(h) for h in hub_ids)):
                admin.ensure_role(role)
    except (BrokerAdminError, OSError) as e:
        raise _fail(f"not synchronised: {e}") from None
    typer.echo(f"broker roles up to date: the server's two and {len(hub_ids)} hub(s)")


@hub_app.command("assign")
def hub_assign(
    hub_id: str,
    patient_id: str,
    start: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"],
            help="from when (with a UTC offset, e.g. 2026-12-01T09:00:00+00:00): readings taken "
            "since then are the patient's; default now. Refused readings can then be replayed.",
        ),
    ] = None,
) -> None:
    """Give a hub to a patient from now (or from --start) on; ends its current assignment."""
    from server.provisioning import ProvisioningError, assign_hub

    if start is not None and start.utcoffset() is None:
        raise _fail("--start needs a UTC offset, e.g. 2026-12-01T09:00:00+00:00")
    try:
        assign_hub(_db(), hub_id, patient_id, actor=ACTOR, start=start)
    except ProvisioningError as e:
        raise _fail(str(e)) from None
    since = f" since {start.isoformat()}" if start else ""
    typer.echo(f"hub {hub_id} serves patient {patient_id}{since}")


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
        verdict = f"still refused: {done.still_refused}" if done.still_refused else "replayed"
        typer.echo(
            f"#{letter_id}: {verdict} (stored {r.stored}, duplicate {r.duplicates}, "
            f"refused {r.refused}, alerts {len(r.alerts)})"
        )
        for reason in r.refusals if not done.still_refused else []:
            typer.echo(f"    refused: {reason}")
    if failed:
        raise typer.Exit(2)


@app.command("dead-letters")
def dead_letters(
    limit: Annotated[int, typer.Option(min=1)] = 20,
    replay: Annotated[
        list[int] | None,
        typer.Option(help="process dead letter ID again, once its cause is fixed (repeatable)"),
    ] = None,
    dismiss: Annotated[
        int | None, typer.Option(help="close dead letter ID for good (needs --reason); it is kept")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="why it is dismissed (audited)")] = None,
) -> None:
    """List refused messages and readings, newest first, with the reason; replay some once
    their cause is fixed, or dismiss one that never will be (/health counts readings no
    clinician has seen until then)."""
    from sqlalchemy import select

    from server.ingest.dead_letters import NotDismissed
    from server.ingest.dead_letters import dismiss as dismiss_letter
    from server.store.models import DeadLetter

    if replay:
        _replay(replay)
        return
    if dismiss is not None:
        try:
            with _db().session() as s:
                dismiss_letter(s, dismiss, actor=ACTOR, reason=reason or "")
        except NotDismissed as e:
            raise _fail(str(e)) from None
        typer.echo(f"#{dismiss}: dismissed")
        return
    with _db().session() as s:
        rows = list(s.scalars(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)))
        for d in rows:
            code = f" {d.reason_code}" if d.reason_code else ""
            typer.echo(f"#{d.id} {d.received_at:%Y-%m-%d %H:%M:%S} {d.topic} [{d.status}]{code} {d.reason}")
    if not rows:
        typer.echo("no dead letters")
