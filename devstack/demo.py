"""``carewatch demo``: the whole system on this machine, as ordinary processes on loopback.

Mosquitto (TLS, the dynamic-security plugin: per-hub identities) and InfluxDB start under a state directory; the
relational database is an SQLite file there; the server's processes (server/processes.py:
ingest, ticker, API) and a simulator of N patients run as child processes with the same
commands production uses. Ctrl-C stops everything in reverse order. The state directory is
the owner's alone (0700, files 0600): it holds a clinician's token, hub passwords and
patient readings.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import stat
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from common.wire.vocabulary import Condition
from devstack.influxdb import LocalInfluxDB
from devstack.mosquitto import LocalMosquitto
from devstack.process import Service, ServiceError, port_open
from server.api.auth import Role, create_user
from server.processes import API, INGEST, PROCESSES, TICKER
from server.provisioning import add_hub, add_patient, assign_hub
from server.store.database import Database, sqlite_url
from server.store.influx.config import InfluxConfig
from server.store.influx.store import InfluxStore
from server.store.models import Patient
from server.users import UnknownUser, rotate_token

log = logging.getLogger("carewatch.demo")

DEMO_USER = "demo-matron"
DEMO_TECHNICIAN = "demo-technician"


#: Owner only. The demo's state holds a clinician's token, hub passwords, the SQLite database
#: and hub outboxes with (simulated, but real-looking) patient data.
PRIVATE_UMASK = 0o077


def prepare_state_dir(state_dir: Path) -> Path:
    """The demo's state directory, made private (0700) whether new or left by an earlier
    run, and anything an earlier run left in it stripped of group and other access (runs
    before this existed left the token, database and outboxes world-readable). Returns the
    resolved path. Files created afterwards are private because :func:`demo_command` sets
    the umask first, for itself and every service it starts."""
    state = state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    state.chmod(0o700)
    for path in state.rglob("*"):
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and stat.S_IMODE(mode) & 0o077:
            path.chmod(stat.S_IMODE(mode) & ~0o077)
    return state


def write_secret(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by the owner only from the first byte (and made
    so if the file already existed with a wider mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(text)


#: The demo's caseload, round robin: each patient's conditions choose their alert profiles.
DEMO_CONDITIONS: tuple[tuple[Condition, ...], ...] = (
    (Condition.HEART_FAILURE, Condition.ATRIAL_FIBRILLATION),
    (Condition.COPD, Condition.HYPERCAPNIC_RESPIRATORY_FAILURE),
    (Condition.HYPERTENSION,),
    (Condition.HEART_FAILURE, Condition.HYPERTENSION),
    (Condition.FRAILTY,),
)


def _provision(db: Database, mosq: LocalMosquitto, patients: int, state: Path) -> tuple[Path, str]:
    """Demo patients, hubs with fresh MQTT passwords, and a clinician token."""
    lines = []
    with db.session() as s:
        existing = {p.id for p in s.scalars(select(Patient))}
    for i in range(1, patients + 1):
        pid, hub_id = f"p-{i:04d}", f"sim-hub-{i:04d}"
        if pid not in existing:
            conditions = DEMO_CONDITIONS[(i - 1) % len(DEMO_CONDITIONS)]
            add_patient(db, pid, f"Demo patient {i}", actor="demo", conditions=conditions)
            add_hub(db, hub_id, actor="demo")
            assign_hub(db, hub_id, pid, actor="demo")
        lines.append(f"{hub_id} {mosq.add_hub(hub_id).password}")
    creds = state / "sim-hubs.txt"
    write_secret(creds, "\n".join(lines) + "\n")
    return creds, _demo_token(db, DEMO_USER, Role.CLINICIAN)


def _demo_token(db: Database, username: str, role: Role) -> str:
    """A fresh token for a demo user (created on the first run), shown once on the terminal;
    rotated like any user's, so the last run's browser sessions end with the old token."""
    try:
        return rotate_token(db, username, actor="demo")
    except UnknownUser:
        return create_user(db, username, role, teams=["default"])  # the demo's patients' team


def demo_command(
    patients: Annotated[int, typer.Option(min=1, max=200, help="simulated patients, one hub each")] = 5,
    interval: Annotated[float, typer.Option(min=0.5, help="seconds between each patient's readings")] = 5.0,
    state_dir: Annotated[
        Path, typer.Option(help="where services keep data and logs", envvar="CAREWATCH_STATE_DIR")
    ] = Path(".state/demo"),
    api_port: Annotated[int, typer.Option(help="HTTP port of the API")] = 8000,
    mqtt_port: Annotated[int, typer.Option(help="TLS port of Mosquitto")] = 18883,
    influx_port: Annotated[int, typer.Option(help="HTTP port of InfluxDB")] = 18086,
    duration: Annotated[float | None, typer.Option(help="stop by itself after this many seconds")] = None,
) -> None:
    """Run the whole system end to end: broker, database, ingest, API and simulated patients."""
    os.umask(PRIVATE_UMASK)  # before anything is created, so every child service inherits it
    state = prepare_state_dir(state_dir)
    for port, what in ((api_port, "API"), (mqtt_port, "Mosquitto"), (influx_port, "InfluxDB")):
        if port_open(port):
            typer.echo(f"error: port {port} for {what} is already in use (another demo running?)", err=True)
            raise typer.Exit(2)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started: list[Service] = []
    typer.echo(f"state directory: {state} (logs in {state / 'logs'})")
    try:
        mosq = LocalMosquitto(state, port=mqtt_port)
        mosq.start()
        started.append(mosq.service)
        influx = LocalInfluxDB(state, port=influx_port).start()
        assert influx.service is not None
        started.append(influx.service)
        with InfluxStore(InfluxConfig(url=influx.url)) as store:
            store.ensure_database()
        db = Database(sqlite_url(state / "carewatch.sqlite3"))
        db.migrate()
        pw_file = mosq.server_password_file
        ingest_pw_file = state / "ingest-mqtt-password"
        write_secret(ingest_pw_file, mosq.add_ingest().password)
        creds, token = _provision(db, mosq, patients, state)
        tech_token = _demo_token(db, DEMO_TECHNICIAN, Role.TECHNICIAN)
        db.dispose()

        env = dict(os.environ)
        env.update(
            CAREWATCH_DATABASE_URL=db.url,
            CAREWATCH_INFLUX__URL=influx.url,
            CAREWATCH_MQTT__HOST="localhost",
            CAREWATCH_MQTT__PORT=str(mqtt_port),
            CAREWATCH_MQTT__CA_FILE=str(mosq.ca_cert),
            CAREWATCH_MQTT__PASSWORD_FILE=str(pw_file),
            CAREWATCH_MQTT__INGEST_PASSWORD_FILE=str(ingest_pw_file),
        )
        cli = [sys.executable, "-m", "carewatch"]
        logs = state / "logs"
        url = f"http://127.0.0.1:{api_port}"
        # The server's processes as production runs them (server/processes.py), in order.
        ready: dict[str, Callable[[Service], bool]] = {
            INGEST: lambda svc: "ingest worker running" in svc.tail(50) or "connected" in svc.tail(50),
            TICKER: lambda svc: "ticker running" in svc.tail(20),
            API: lambda _svc: _health_answers(url + "/health"),
        }
        for proc in PROCESSES:
            argv = [*cli, *proc.command(port=api_port)[1:]]  # `python -m carewatch` is `carewatch`
            svc = Service(proc.name, argv, logs / f"{proc.name}.log", env=env)
            svc.start(functools.partial(ready[proc.name], svc), timeout=30)
            started.append(svc)
        sim = Service(
            "simulator",
            [
                *cli,
                "hub",
                "simulate",
                "--patients",
                str(patients),
                "--interval",
                str(interval),
                "--port",
                str(mqtt_port),
                "--ca-file",
                str(mosq.ca_cert),
                "--credentials",
                str(creds),
                "--state-dir",
                str(state / "hubs"),
            ],
            logs / "simulator.log",
            env=env,
        )
        sim.start(lambda: "simulating" in sim.tail(20))
        started.append(sim)

        typer.echo("")
        typer.echo("CareWatch is running.")
        typer.echo(f"  open:         {url}/alerts   (the clinicians' alert list)")
        typer.echo(f"  sign in with: {token}   (demo clinician; also in {state / 'demo-token'})")
        typer.echo(f"  technician:   {tech_token}   (signs in to {url}/hubs)")
        typer.echo(f"  API docs:     {url}/docs")
        typer.echo(f"  health:       {url}/health")
        typer.echo(f"  alerts:       curl -H 'Authorization: Bearer {token}' {url}/api/v1/alerts")
        typer.echo(
            f"  readings:     curl -H 'Authorization: Bearer {token}' {url}/api/v1/patients/p-0001/readings"
        )
        write_secret(state / "demo-token", token + "\n")
        typer.echo("Press Ctrl-C to stop.")
        deadline = None if duration is None else time.monotonic() + duration
        while not stop.wait(1.0):
            dead = [svc.name for svc in started if not svc.running()]
            if dead:
                typer.echo(f"error: {', '.join(dead)} stopped unexpectedly; see {logs}", err=True)
                raise typer.Exit(1)
            if deadline is not None and time.monotonic() > deadline:
                break
    except ServiceError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    finally:
        typer.echo("stopping…")
        for svc in reversed(started):
            svc.stop()
        typer.echo("all services stopped")


def _health_answers(url: str) -> bool:
    """The API is up once /health answers at all: 503 says a part is degraded (a worker not
    reporting yet, say), which the demo's own output then shows, not that the API is down."""
    try:
        with urllib.request.urlopen(url, timeout=1) as r:  # noqa: S310 - our own loopback URL
            return int(r.status) == 200
    except urllib.error.HTTPError as e:
        return e.code == 503
    except OSError:
        return False
