"""Workers' heartbeats in a real database: written, read back newest-first, and never a
reason for the worker's loop to stop when the database is not there."""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from server.heartbeat import Heartbeat, WorkerState, latest
from server.store.database import Database, sqlite_url
from server.store.models import WorkerHeartbeat
from server.store.models import now as utcnow


def test_beats_are_upserted_and_the_newest_instance_is_what_health_reads(database: Database) -> None:
    first = Heartbeat(database, "ingest", instance="host-a:100")
    assert first.beat(detail={"connected": True, "inbox": 3, "oldest_unacked_s": math.nan})
    assert first.beat(detail={"connected": True, "inbox": 1, "at": utcnow()})
    second = Heartbeat(database, "ingest", instance="host-b:200")
    assert second.beat()
    ticker = Heartbeat(database, "ticker", instance="host-a:101")
    assert ticker.failed("the ticker's loop ended with RuntimeError")
    with database.session() as s:
        assert len(list(s.scalars(select(WorkerHeartbeat)))) == 3  # one row per instance, not per beat

    seen = latest(database)
    assert set(seen) == {"ingest", "ticker"}
    assert (seen["ingest"].instance, seen["ingest"].state, seen["ingest"].detail) == (
        "host-b:200",
        WorkerState.RUNNING,
        {},
    )
    assert seen["ticker"].state == WorkerState.FAILED
    assert seen["ticker"].detail["reason"] == "the ticker's loop ended with RuntimeError"

    assert first.beat(detail={"connected": False, "oldest_unacked_s": math.inf})
    again = latest(database)["ingest"]
    assert again.instance == "host-a:100"  # beat last, so newest again
    assert again.detail == {"connected": False, "oldest_unacked_s": None}  # JSON has no infinity
    assert again.started_at == first.started_at
    assert again.age_s(utcnow()) < 5

    assert first.stopped()
    assert latest(database)["ingest"].state == WorkerState.STOPPED


def test_a_new_instance_forgets_old_instances_of_its_worker(database: Database) -> None:
    long_ago = utcnow() - timedelta(days=2)
    with database.session() as s:
        for name, instance in (("ticker", "old-host:1"), ("ingest", "old-host:2")):
            s.add(
                WorkerHeartbeat(
                    name=name, instance=instance, started_at=long_ago, beat_at=long_ago, state="stopped"
                )
            )
    assert Heartbeat(database, "ticker", instance="new-host:3").beat()
    with database.session() as s:
        left = {(h.name, h.instance) for h in s.scalars(select(WorkerHeartbeat))}
    assert left == {("ticker", "new-host:3"), ("ingest", "old-host:2")}  # another worker's row is its own


def test_a_missing_database_is_logged_once_per_outage_and_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The volume holding the database is not mounted yet: SQLite cannot open the file.
    volume = tmp_path / "volume"
    db = Database(sqlite_url(volume / "carewatch.sqlite3"))
    heartbeat = Heartbeat(db, "ticker")
    caplog.set_level(logging.WARNING, logger="server.heartbeat")
    assert [heartbeat.beat(detail={"ticks": n}) for n in range(5)] == [False] * 5
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, errors
    assert "not written (DatabaseUnavailable" in errors[0].getMessage()

    volume.mkdir()
    db.migrate()
    assert heartbeat.beat(detail={"ticks": 5})
    recovered = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(recovered) == 1
    assert "written again after 5 missed beat(s)" in recovered[0]
    assert latest(db)["ticker"].detail == {"ticks": 5}
    assert heartbeat.beat()
    assert len(caplog.records) == 2  # a healthy beat logs nothing
    db.dispose()


def test_a_name_the_table_cannot_hold_is_refused_at_once(database: Database) -> None:
    with pytest.raises(ValueError, match="1-32 characters"):
        Heartbeat(database, "x" * 33)
