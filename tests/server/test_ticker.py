"""The ticker cannot die quietly: a failing step is logged and the others still run, every
tick leaves a heartbeat saying what happened, and a loop that does end says so and exits
non-zero. On the real PostgreSQL and a real SMTP server."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from alerts.severity import Severity
from server.heartbeat import Heartbeat, HeartbeatView, WorkerState, latest
from server.notifications.relay import NotificationRelay
from server.processes import TICKER
from server.provisioning import add_patient
from server.settings import EscalationSettings, NotificationSettings
from server.store.alerts import apply_finding
from server.store.database import Database, sqlite_url
from server.store.models import Alert
from server.store.models import now as utcnow
from server.tick import Ticker, TickResult
from tests.fixtures.server import wait_for
from tests.notify.test_email import Mailbox, smtp_server

ROUTING = """
timezone: Europe/London
teams:
  north:
    channels:
      - {kind: email, to: [north-dn@nhs.example]}
"""
CLI = [sys.executable, "-m", "carewatch"]


def beat_of(db: Database) -> HeartbeatView | None:
    return latest(db).get(TICKER)


@pytest.fixture
def restricted(postgres_database: str) -> Iterator[tuple[Database, Database, str]]:
    """The schema migrated by its owner, and a second login role (the ticker's) with rights
    on every table: the test takes one of them away, as a hand-written GRANT script might."""
    owner = Database(postgres_database)
    owner.migrate()
    role = f"ticker_{uuid.uuid4().hex[:8]}"
    with owner.engine.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}"))
        conn.execute(text(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}"))
        conn.commit()
    worker = Database(make_url(postgres_database).set(username=role).render_as_string(hide_password=False))
    yield owner, worker, role
    worker.dispose()
    owner.dispose()
    # The role holds rights in that database only: dropping the database lets the role go too.
    engine = create_engine(make_url(postgres_database).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {make_url(postgres_database).database} WITH (FORCE)"))
        conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
    engine.dispose()


def red_alert(db: Database, patient_id: str, at: datetime) -> int:
    add_patient(db, patient_id, "Tess Ickle", actor="test", team="north")
    with db.session() as s:
        alert = apply_finding(
            s,
            patient_id=patient_id,
            rule_id="threshold.systolic",
            severity=Severity.RED,
            reading_id=f"{patient_id}-r1",
            summary="x",
            at=at,
        )
        assert alert is not None
        s.flush()
        return alert.id


def test_a_failing_step_is_logged_the_others_still_run_and_the_heartbeat_says_so(
    restricted: tuple[Database, Database, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    owner, worker, role = restricted
    alert_id = red_alert(owner, "p-tick-1", utcnow() - timedelta(hours=1))  # overdue for escalation
    with owner.engine.connect() as conn:  # escalation locks and updates alerts: now it may not
        conn.execute(text(f"REVOKE UPDATE ON alerts FROM {role}"))
        conn.commit()
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    mailbox = Mailbox()
    caplog.set_level(logging.INFO, logger="server.tick")
    with smtp_server(mailbox) as port:
        cfg = NotificationSettings(
            routing_file=routing,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_security="none",
        )
        relay = NotificationRelay.from_settings(worker, cfg, "https://carewatch.example")
        ticker = Ticker(worker, EscalationSettings(after_minutes=30, max_tier=1), relay)
        stop = threading.Event()
        loop = threading.Thread(target=ticker.run, args=(0.1, stop, Heartbeat(worker, TICKER)))
        loop.start()
        try:

            def failing_for_three_ticks() -> bool:
                beat = beat_of(owner)
                return beat is not None and int(str(beat.detail.get("ticks"))) >= 3

            wait_for(failing_for_three_ticks, 20, "three ticks with escalation failing")
            assert loop.is_alive()
            beat = beat_of(owner)
            assert beat is not None
            assert beat.state == WorkerState.RUNNING
            assert beat.detail["step_errors"] == {"escalation": "ProgrammingError"}
            notifications = beat.detail["notifications"]
            assert isinstance(notifications, dict)
            assert notifications["configured"] is True
            assert (notifications["pending"], notifications["failed"], notifications["failed_24h"]) == (
                0,
                0,
                0,
            )
            # The relay and dispatch steps ran regardless: the opening was e-mailed.
            assert len(mailbox.messages) == 1
            # The traceback once; after that, one line per tick that it goes on failing.
            failures = [r for r in caplog.records if r.levelno == logging.ERROR]
            assert failures[0].exc_info is not None
            assert "tick step escalation failed" in failures[0].getMessage()
            assert all(r.exc_info is None for r in failures[1:])
            assert "still failing (2 ticks in a row)" in failures[1].getMessage()

            with owner.engine.connect() as conn:  # the grant is fixed: escalation catches up
                conn.execute(text(f"GRANT UPDATE ON alerts TO {role}"))
                conn.commit()

            def escalated_and_told() -> bool:
                beat = beat_of(owner)
                return len(mailbox.messages) == 2 and beat is not None and beat.detail["step_errors"] == {}

            wait_for(escalated_and_told, 20, "the escalation to be made and e-mailed")
        finally:
            stop.set()
            loop.join(10)
    assert not loop.is_alive()
    with owner.session() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None
        assert alert.tier == 1
    assert any("tick step escalation works again" in r.getMessage() for r in caplog.records)
    final = beat_of(owner)
    assert final is not None
    assert final.state == WorkerState.STOPPED


class _LoopBug(Ticker):
    """A bug in the loop itself: something the per-step guards do not cover."""

    def tick(self, now: datetime) -> TickResult:
        raise RuntimeError("a bug outside every step")


def test_a_loop_that_ends_by_an_error_records_failed_and_raises(database: Database) -> None:
    heartbeat = Heartbeat(database, TICKER)
    with pytest.raises(RuntimeError, match="a bug outside every step"):
        _LoopBug(database, EscalationSettings(), None).run(0.1, threading.Event(), heartbeat)
    beat = beat_of(database)
    assert beat is not None
    assert beat.state == WorkerState.FAILED
    assert beat.detail["reason"] == "the ticker's loop ended with RuntimeError after 0 tick(s); see its log"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return dict(
        os.environ,
        CAREWATCH_DATABASE_URL=sqlite_url(tmp_path / "cw.sqlite3"),
        **extra,
    )


def test_the_tick_command_beats_and_says_stopped_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*CLI, "server", "tick"],
        env=_env(tmp_path, CAREWATCH_TICK_SECONDS="0.2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    db = Database(sqlite_url(tmp_path / "cw.sqlite3"))
    try:

        def ticking() -> bool:
            try:
                beat = beat_of(db)
            except Exception:  # noqa: BLE001 - the command has not created the schema yet
                return False
            return beat is not None and int(str(beat.detail.get("ticks"))) >= 2

        wait_for(ticking, 30, "the ticker to beat twice")
        beat = beat_of(db)
        assert beat is not None
        assert beat.instance.endswith(f":{proc.pid}")
        assert beat.detail["every_s"] == 0.2
        assert beat.detail["notifications"] == {"configured": False}
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "ticker stopped" in out
    beat = beat_of(db)
    assert beat is not None
    assert beat.state == WorkerState.STOPPED
    db.dispose()


def test_a_ticker_that_cannot_start_exits_non_zero_and_says_why(tmp_path: Path) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text("teams: [this is not a team map\n")
    done = subprocess.run(
        [*CLI, "server", "tick"],
        env=_env(tmp_path, CAREWATCH_NOTIFICATIONS__ROUTING_FILE=str(routing)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "ticker could not start, notifications are not configured correctly" in done.stderr
    db = Database(sqlite_url(tmp_path / "cw.sqlite3"))
    beat = beat_of(db)
    assert beat is not None
    assert beat.state == WorkerState.FAILED
    assert str(beat.detail["reason"]).startswith("could not start: ")
    db.dispose()
