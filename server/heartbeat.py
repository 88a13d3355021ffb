"""Workers' signs of life, in the database, so ``/health`` in another process can tell a live
worker from a dead, stuck or failing one.

A worker that dies says nothing, so its silence has to be visible from elsewhere: each
long-running worker (ingest, ticker; see :mod:`server.processes`) upserts one
``worker_heartbeats`` row per process instance (``host:pid``) every few seconds, with what it
has been doing in ``detail``. ``/health`` reads the newest row per worker name and judges
its age and contents.

Writing a heartbeat never raises into the worker's loop: the loop is what matters, and a
database outage must not end the ticker's, which delivers what is queued as soon as the
database is back. A failing write is logged once when it starts failing and once when it
recovers, not on every beat (a beat every few seconds would bury everything else in the log).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, TypedDict

from sqlalchemy import and_, delete, func, select

from server.store.database import Database, DatabaseUnavailable
from server.store.models import WorkerHeartbeat
from server.store.models import now as utcnow

log = logging.getLogger(__name__)

# Older instances of the same worker (earlier PIDs) are only history; a worker restarted
# in a loop must not grow the table for /health to read.
KEEP_OTHER_INSTANCES: Final = timedelta(days=1)
_NAME_MAX: Final = 32  # the column widths of worker_heartbeats
_INSTANCE_MAX: Final = 128


class WorkerState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"  # ended cleanly (SIGTERM): expected during a restart, not for long
    FAILED = "failed"  # ended by an error; ``detail["reason"]`` says which


class IngestDetail(TypedDict, total=False):
    """The ingest worker's heartbeat ``detail``, as /health reads it. Every key is optional:
    one the worker does not write is reported as unknown (null), and degrades nothing."""

    connected: bool  # the MQTT session is up
    inbox: int  # messages received and not yet acknowledged
    oldest_unacked_s: float | None  # age of the oldest of them: the lag
    messages_per_min: float
    readings_per_min: float
    store_down_since: str | None  # ISO datetime: InfluxDB or the database unavailable since
    processed: int  # total since the worker started
    dead_lettered: int  # total since the worker started


def instance_id() -> str:
    """``host:pid``: tells an operator where to look, and a restarted worker from its past self."""
    pid = f":{os.getpid()}"
    return socket.gethostname()[: _INSTANCE_MAX - len(pid)] + pid


class Heartbeat:
    """One worker instance's heartbeat writer. Thread-safe; never raises from a write."""

    def __init__(self, db: Database, name: str, *, instance: str | None = None) -> None:
        if not name or len(name) > _NAME_MAX:
            raise ValueError(f"heartbeat name must be 1-{_NAME_MAX} characters: {name!r}")
        self.db = db
        self.name = name
        self.instance = (instance or instance_id())[:_INSTANCE_MAX]
        self.started_at = utcnow()
        self._lock = threading.Lock()
        self._failing_since: datetime | None = None
        self._missed = 0
        self._pruned = False

    def beat(self, state: str = WorkerState.RUNNING, detail: Mapping[str, object] | None = None) -> bool:
        """Record that this worker is alive now, with what it has been doing. Returns whether
        the row was written (it is not while the database is unavailable)."""
        return self._write(state, detail)

    def stopped(self, detail: Mapping[str, object] | None = None) -> bool:
        """A clean end (SIGTERM, Ctrl-C): /health then says the worker stopped, not that it vanished."""
        return self._write(WorkerState.STOPPED, detail)

    def failed(self, reason: str, detail: Mapping[str, object] | None = None) -> bool:
        """An unclean end: ``reason`` (no patient data: a class name and our own words) is
        what /health shows until the worker beats again."""
        return self._write(WorkerState.FAILED, {**(detail or {}), "reason": reason[:500]})

    def _write(self, state: str, detail: Mapping[str, object] | None) -> bool:
        with self._lock:
            at = utcnow()
            try:
                payload = {str(k): _jsonable(v) for k, v in (detail or {}).items()}
                with self.db.session() as s:
                    row = s.get(WorkerHeartbeat, (self.name, self.instance))
                    if row is None:
                        row = WorkerHeartbeat(name=self.name, instance=self.instance)
                        s.add(row)
                    row.started_at = self.started_at
                    row.beat_at = at
                    row.state = str(state)[:16]
                    row.detail = payload
                    if not self._pruned:
                        s.execute(
                            delete(WorkerHeartbeat).where(
                                WorkerHeartbeat.name == self.name,
                                WorkerHeartbeat.instance != self.instance,
                                WorkerHeartbeat.beat_at < at - KEEP_OTHER_INSTANCES,
                            )
                        )
            except Exception as e:  # noqa: BLE001 - a heartbeat must never stop the worker's loop
                self._note_failure(e, at)
                return False
            self._pruned = True
            if self._failing_since is not None:
                log.warning(
                    "heartbeat %s (%s) written again after %d missed beat(s) since %s",
                    self.name,
                    self.instance,
                    self._missed,
                    self._failing_since.isoformat(timespec="seconds"),
                )
                self._failing_since, self._missed = None, 0
            return True

    def _note_failure(self, e: Exception, at: datetime) -> None:
        self._missed += 1
        if self._failing_since is not None:
            return
        self._failing_since = at
        # An outage is expected and its message says enough; anything else is a bug here.
        log.error(
            "heartbeat %s (%s) not written (%s: %s); /health will call this worker silent "
            "until it is; logged again only when it recovers",
            self.name,
            self.instance,
            type(e).__name__,
            e,
            exc_info=not isinstance(e, DatabaseUnavailable),
        )


def _jsonable(value: object) -> object:
    """JSON the database accepts: non-finite floats (PostgreSQL's json refuses NaN) become
    None, anything else unknown (a datetime) its ISO/str form."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True, slots=True)
class HeartbeatView:
    """The newest heartbeat of one worker name, as /health reads it."""

    name: str
    instance: str
    started_at: datetime
    beat_at: datetime
    state: str
    detail: Mapping[str, object]

    def age_s(self, now: datetime) -> float:
        return max(0.0, (now - self.beat_at).total_seconds())


def latest(db: Database) -> dict[str, HeartbeatView]:
    """The newest instance's heartbeat for each worker name (an older instance is a
    process that has since been restarted, or a second copy that still beats on its own)."""
    newest = (
        select(WorkerHeartbeat.name, func.max(WorkerHeartbeat.beat_at).label("beat_at"))
        .group_by(WorkerHeartbeat.name)
        .subquery()
    )
    query = (
        select(WorkerHeartbeat)
        .join(
            newest, and_(WorkerHeartbeat.name == newest.c.name, WorkerHeartbeat.beat_at == newest.c.beat_at)
        )
        .order_by(WorkerHeartbeat.name, WorkerHeartbeat.instance)
    )
    with db.session() as s:
        return {
            row.name: HeartbeatView(
                name=row.name,
                instance=row.instance,
                started_at=row.started_at,
                beat_at=row.beat_at,
                state=row.state,
                detail=dict(row.detail or {}),
            )
            for row in s.scalars(query)
        }
