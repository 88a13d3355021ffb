"""The carewatch command as a technician and a new user meet it: real processes, real services."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from typer.testing import CliRunner

from carewatch.console import app as carewatch
from common.mqtt import BrokerEndpoint
from devstack.mosquitto import LocalMosquitto
from devstack.process import free_port
from gateway.mqtt.session import MqttSession
from server.api.auth import principal_for_token
from server.processes import PROCESSES
from server.store.database import Database, sqlite_url
from server.store.models import AuditEvent
from tests.fixtures.server import wait_for

CLI = [sys.executable, "-m", "carewatch"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=60, check=False)


def test_every_command_has_help() -> None:
    for args in (
        ["--help"],
        ["hub", "--help"],
        ["server", "--help"],
        ["demo", "--help"],
        ["hub", "simulate", "--help"],
        ["server", "hub", "add", "--help"],
        ["server", "hub", "list", "--help"],
        ["server", "hub", "pair", "--help"],
        ["server", "user", "--help"],
        ["server", "user", "rotate-token", "--help"],
    ):
        result = run(*args)
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout


def test_provisioning_from_the_command_line(tmp_path: Path, broker: LocalMosquitto) -> None:
    env = dict(
        os.environ,
        CAREWATCH_DATABASE_URL=f"sqlite:///{tmp_path / 'cw.sqlite3'}",
        CAREWATCH_MQTT__HOST="localhost",
        CAREWATCH_MQTT__PORT=str(broker.port),
        CAREWATCH_MQTT__CA_FILE=str(broker.ca_cert),
        CAREWATCH_MQTT__PASSWORD_FILE=str(broker.server_password_file),
    )
    assert run("server", "migrate", env=env).returncode == 0
    added = run("server", "patient", "add", "p-0007", "Ada Example", "--condition", "copd", env=env)
    assert added.returncode == 0, added.stderr
    assert run("server", "patient", "conditions", "p-0007", env=env).stdout.strip() == "copd"
    no_reason = run("server", "patient", "conditions", "p-0007", "--condition", "heart_failure", env=env)
    assert (no_reason.returncode, "--reason" in no_reason.stderr) == (2, True)
    changed = run(
        "server",
        "patient",
        "conditions",
        "p-0007",
        "--condition",
        "copd",
        "--condition",
        "atrial_fibrillation",
        "--reason",
        "ECG confirmed AF",
        env=env,
    )
    assert changed.stdout.strip() == "patient p-0007: copd, atrial_fibrillation", changed.stderr
    unknown = run(
        "server", "patient", "conditions", "p-0007", "--condition", "gout", "--reason", "x" * 5, env=env
    )
    assert unknown.returncode == 2
    dup = run("server", "patient", "add", "p-0007", "Again", env=env)
    assert dup.returncode == 2
    assert "already exists" in dup.stderr
    bad = run("server", "patient", "add", "9999999999 OR 1=1", "X", env=env)
    assert bad.returncode == 2
    assert "patient id must match" in bad.stderr
    # A hub for a patient who does not exist is refused before anything is recorded.
    orphan = run("server", "hub", "add", "hub-0008", "--patient", "p-9999", env=env)
    assert orphan.returncode == 2
    assert "no patient 'p-9999'; the hub was not registered" in orphan.stderr
    assert "hub-0008" not in run("server", "hub", "list", env=env).stdout
    added = run("server", "hub", "add", "hub-0007", "--patient", "p-0007", env=env)
    assert added.returncode == 0, added.stderr
    assert "no reload needed" in added.stdout
    password = added.stdout.splitlines()[2]
    # The broker takes the hub at once, with its own id as client id and nothing else.
    hub = MqttSession(BrokerEndpoint("localhost", broker.port, broker.ca_cert, "hub-0007", password))
    hub.start()
    try:
        assert hub.wait_connected(10), hub.last_connect_error
    finally:
        hub.stop()
    revoked = run("server", "hub", "revoke", "hub-0007", env=env)
    assert revoked.returncode == 0, revoked.stderr
    # A new password does not lift a revocation by the way: only reinstating, with a reason.
    refused = run("server", "hub", "credentials", "hub-0007", env=env)
    assert refused.returncode == 2 and "carewatch server hub reinstate hub-0007" in refused.stderr
    unexplained = run("server", "hub", "reinstate", "hub-0007", env=env)
    assert unexplained.returncode == 2 and "--reason" in unexplained.stderr
    back = run(
        "server",
        "hub",
        "reinstate",
        "hub-0007",
        "--reason",
        "found",
        "--password-out",
        str(tmp_path / "pw"),
        env=env,
    )
    assert back.returncode == 0, back.stderr
    assert "reinstated with a new password" in back.stdout
    rotated = run(
        "server", "hub", "credentials", "hub-0007", "--password-out", str(tmp_path / "pw2"), env=env
    )
    assert rotated.returncode == 0, rotated.stderr
    for out in (tmp_path / "pw", tmp_path / "pw2"):
        assert oct(out.stat().st_mode & 0o777) == "0o600"
        assert out.read_text().strip() != password
    # With the broker unreachable, nothing is registered (no hub the broker would refuse) and
    # the command says so.
    offline = dict(env, CAREWATCH_MQTT__PORT=str(free_port()))
    assert run("server", "patient", "add", "p-0009", "Bea Example", env=offline).returncode == 0
    later = run("server", "hub", "add", "hub-0009", "--patient", "p-0009", env=offline)
    assert later.returncode == 2
    assert "nothing was changed; try again when the broker is reachable" in later.stderr
    assert "hub-0009" not in run("server", "hub", "list", env=env).stdout
    token = run("server", "user", "add", "matron", "--role", "clinician", env=env)
    assert token.stdout.startswith("cw_")
    assert run("server", "dead-letters", env=env).stdout.strip() == "no dead letters"
    missing = run("server", "dead-letters", "--replay", "999", env=env)
    assert missing.returncode == 2
    assert "#999: not replayed: no dead letter #999" in missing.stderr
    # Pairing from the server with no broker to deliver to: kept, and said so.
    paired = run(
        "server", "hub", "pair", "hub-0007", "00:09:1f:8a:12:34", "--model", "and-ua-651ble", env=offline
    )
    assert paired.returncode == 1
    assert "saved on the server, but not delivered to the hub yet" in paired.stderr
    assert "carewatch server hub push hub-0007" in paired.stderr
    # The hub's first device paired on the server: the technician is told the server's list wins.
    assert "hub-0007's devices were paired at the hub until now" in paired.stderr
    assert "a device paired only at the hub stops being used" in paired.stderr
    listed = run("server", "hub", "list", env=env).stdout.splitlines()
    assert listed[0].split() == ["hub-0007", "unknown", "patient", "p-0007", "no", "telemetry"]
    assert [line.strip() for line in listed[1:3]] == [
        "! never connected",
        # Version 1 (the patient's settings, made when the hub was added for them) was delivered.
        "! configuration version 2 not delivered to the broker yet (carewatch server hub push)",
    ]


def test_users_from_the_command_line(tmp_path: Path) -> None:
    """The commands an administrator uses when a matron leaves or a token leaks; what they
    did is checked on the same database the way the API checks a token. In-process through
    typer's runner (the same command objects as ``carewatch``): fifteen process starts of
    about 3 s each would cost more than the rest of this file."""
    db_file = tmp_path / "cw.sqlite3"
    env = {"CAREWATCH_DATABASE_URL": f"sqlite:///{db_file}"}
    runner = CliRunner()

    def cli(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(carewatch, list(args), env=env)
        return result.exit_code, result.stdout, result.stderr

    assert cli("server", "migrate")[0] == 0
    assert cli("server", "user", "list")[1].startswith("no users")
    token = cli("server", "user", "add", "matron")[1].strip()
    assert cli("server", "user", "add", "tech", "--role", "technician")[0] == 0
    db = Database(sqlite_url(db_file))
    try:
        code, out, err = cli("server", "user", "disable", "matron")
        assert code == 0, err
        assert "user matron disabled" in out
        assert principal_for_token(db, token) is None
        assert cli("server", "user", "disable", "matron")[1].strip() == "user matron was already disabled"
        listed = cli("server", "user", "list")[1]
        assert [line.split() for line in listed.splitlines()] == [
            ["matron", "clinician", "disabled"],
            ["tech", "technician", "enabled"],
        ]
        assert "cw_" not in listed
        assert cli("server", "user", "enable", "matron")[0] == 0
        assert principal_for_token(db, token) is not None

        code, out, err = cli("server", "user", "rotate-token", "matron")
        assert code == 0, err
        new = out.strip()
        assert new.startswith("cw_") and new != token
        assert principal_for_token(db, token) is None
        principal = principal_for_token(db, new)
        assert principal is not None and principal.username == "matron"
        with db.session() as s:
            audited = s.scalars(
                select(AuditEvent).where(AuditEvent.target == "matron").order_by(AuditEvent.id)
            )
            actions = [(e.actor, e.action) for e in audited]
        assert actions[1:] == [
            ("cli", "user_disabled"),
            ("cli", "user_enabled"),
            ("cli", "user_token_rotated"),
        ]
    finally:
        db.dispose()
    for command in ("disable", "enable", "rotate-token"):
        code, _, err = cli("server", "user", command, "nobody")
        assert (code, err.strip()) == (2, "error: no user 'nobody'")

    # Teams: a clinician sees only their teams' patients; an administrator sets them.
    assert cli("server", "user", "add", "matron-north", "--team", "north")[0] == 0
    assert cli("server", "user", "teams", "matron-north")[1].strip() == "north"
    code, out, err = cli("server", "user", "teams", "matron-north", "--team", "north", "--team", "south")
    assert (code, out.strip()) == (0, "user matron-north: north, south"), err
    assert cli("server", "user", "teams", "matron-north", "--none")[1].strip() == "user matron-north: no team"
    assert cli("server", "user", "teams", "nobody", "--team", "north")[0] == 2
    # The NHS number is checked (Modulus 11) on the command line too.
    code, _, err = cli("server", "patient", "add", "p-0001", "Ann Typo", "--nhs-number", "1234")
    assert (code, err.strip()) == (2, "error: NHS number must be 10 digits")
    code, _, err = cli("server", "patient", "add", "p-0001", "Ann Typo", "--nhs-number", "9434765918")
    assert code == 2 and "NHS number is not valid" in err
    assert cli("server", "patient", "add", "p-0001", "Ann Right", "--nhs-number", "943 476 5919")[0] == 0


def test_the_demo_runs_end_to_end_privately_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    api_port = free_port()
    proc = subprocess.Popen(
        [
            *CLI,
            "demo",
            "--state-dir",
            str(tmp_path),
            "--patients",
            "2",
            "--interval",
            "1",
            "--api-port",
            str(api_port),
            "--mqtt-port",
            str(free_port()),
            "--influx-port",
            str(free_port()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(
            lambda: (tmp_path / "demo-token").exists() or proc.poll() is not None, 60, "the demo to start"
        )
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        token = (tmp_path / "demo-token").read_text().strip()
        url = f"http://127.0.0.1:{api_port}"

        def health() -> dict[str, Any]:
            body: dict[str, Any] = httpx.get(f"{url}/health").json()
            return body

        # Every process the demo starts is on the reading's path and reports itself.
        wait_for(lambda: httpx.get(f"{url}/health").status_code == 200, 30, "/health to say all is well")
        body = health()
        parts = ("broker", "influxdb", "database", "ingest", "ticker")
        assert [body[c]["ok"] for c in parts] == [True] * 5, body
        assert body["status"] == "ok"
        assert body["notifications"]["configured"] is False  # the demo routes no notifications

        def has_readings() -> bool:
            r = httpx.get(
                f"{url}/api/v1/patients/p-0001/readings", headers={"Authorization": f"Bearer {token}"}
            )
            return r.status_code == 200 and len(r.json()) > 0

        wait_for(has_readings, 30, "simulated readings to reach the API")
        with httpx.Client(base_url=url, follow_redirects=True) as browser:
            browser.post("/sign-in", data={"token": token}, headers={"Origin": url})
            page = browser.get("/alerts")
        assert page.status_code == 200
        assert "<h1>Alerts</h1>" in page.text
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "all services stopped" in out
    # Every process of the server's one definition ran, under the same name.
    assert {p.name for p in PROCESSES} <= {log.stem for log in (tmp_path / "logs").glob("*.log")}
    assert "/alerts   (the clinicians' alert list)" in out
    assert "/hubs)" in out  # a technician's token too
    time.sleep(0.2)
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert leftovers == [], "demo left processes running"
    # Everything the demo and its services wrote (token, passwords, certificates, SQLite,
    # hub outboxes, InfluxDB and broker data, logs) is the owner's alone.
    written = [tmp_path, *tmp_path.rglob("*")]
    assert {p.name for p in written} >= {"demo-token", "carewatch.sqlite3", "sim-hubs.txt", "hubs", "logs"}
    shared = {
        str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.lstat().st_mode))
        for p in written
        if not p.is_symlink() and stat.S_IMODE(p.lstat().st_mode) & 0o077
    }
    assert shared == {}
