"""``/health``: is every part a reading's path depends on working right now? No token needed,
no patient data returned.

HTTP 200 only when everything is fine, 503 with the same body otherwise, so a load
balancer, a monitoring probe or ``curl -f`` notices without parsing anything. The broker,
InfluxDB and the database are checked directly; the ingest worker and the ticker are
judged by the heartbeats they write (:mod:`server.heartbeat`), because a dead worker says
nothing and would otherwise show only as silent-hub alerts a day later.

It must answer within a few seconds even when something it checks hangs: each check runs
in a daemon thread and is waited for a bounded time, and at most one copy of each check
runs at once, so a hung database holds one thread rather than one per probe request.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Generic, TypeVar

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select

from server.api.schemas import (
    ComponentHealth,
    DeadLettersHealth,
    Health,
    IngestHealth,
    NotificationsHealth,
    TickerHealth,
    WorkerHealth,
)
from server.heartbeat import HeartbeatView, WorkerState, latest
from server.ingest.verdicts import UNSEEN
from server.processes import INGEST, TICKER, process
from server.settings import HealthSettings, MqttSettings, ServerSettings
from server.store.database import Database
from server.store.influx.store import InfluxStore
from server.store.models import DeadLetter
from server.store.models import now as utcnow

router = APIRouter(tags=["operations"])
T = TypeVar("T")

DEAD_LETTER_WINDOW: Final = timedelta(hours=24)
# A check's own timeout is the bound; this margin lets its own error message arrive first.
_MARGIN_S: Final = 0.5


def broker_health(mqtt: MqttSettings, timeout: float = 2.0) -> ComponentHealth:
    """A TLS handshake with the broker: proves it is up and presents the expected certificate."""
    try:
        ctx = ssl.create_default_context(cafile=str(mqtt.ca_file))
        with (
            socket.create_connection((mqtt.host, mqtt.port), timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=mqtt.host),
        ):
            return ComponentHealth(ok=True, detail=f"TLS handshake with {mqtt.host}:{mqtt.port} succeeded")
    except (OSError, ssl.SSLError) as e:
        return ComponentHealth(ok=False, detail=f"{mqtt.host}:{mqtt.port}: {e}")


class _Probe(Generic[T]):
    """One check, run in a daemon thread (a hung call must not keep the server from exiting)."""

    def __init__(self, check: Callable[[], T]) -> None:
        self._check = check
        self._lock = threading.Lock()
        self._future: Future[T] | None = None
        self._started = 0.0

    def start(self) -> tuple[Future[T], float]:
        """The check in flight (joined, if a request before this one started it), or a new one."""
        with self._lock:
            if self._future is None or self._future.done():
                future: Future[T] = Future()
                self._future, self._started = future, time.monotonic()
                threading.Thread(target=self._run, args=(future,), daemon=True, name="health-check").start()
            return self._future, self._started

    def _run(self, future: Future[T]) -> None:
        future.set_running_or_notify_cancel()
        try:
            future.set_result(self._check())
        except BaseException as e:  # noqa: BLE001 - handed to the request, which reports it
            future.set_exception(e)


@dataclass(frozen=True, slots=True)
class _Unanswered:
    """A check that did not finish in time, or failed: its words for the report."""

    detail: str


def _wait(probe: _Probe[T], deadline: float, what: str) -> T | _Unanswered:
    future, started = probe.start()
    try:
        return future.result(timeout=max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        return _Unanswered(f"{what} did not answer (waiting {_duration(time.monotonic() - started)})")
    except Exception as e:  # noqa: BLE001 - any failure of a check is a finding, not a 500
        return _Unanswered(f"{what} could not be checked: {type(e).__name__}: {str(e).splitlines()[0]}")


@dataclass(frozen=True, slots=True)
class _DatabaseFacts:
    reachable: bool
    dialect: str
    beats: Mapping[str, HeartbeatView] = field(default_factory=dict)
    dead_letters_24h: int | None = None
    unseen_readings: int | None = None


def _database_facts(db: Database) -> _DatabaseFacts:
    dialect = db.engine.dialect.name
    if not db.ping():
        return _DatabaseFacts(False, dialect)
    since = utcnow() - DEAD_LETTER_WINDOW
    with db.session() as s:
        dead = s.scalar(select(func.count()).select_from(DeadLetter).where(DeadLetter.received_at >= since))
        unseen = s.scalar(
            select(func.count())
            .select_from(DeadLetter)
            .where(DeadLetter.status == "new", DeadLetter.reason_code.in_([c.value for c in UNSEEN]))
        )
    return _DatabaseFacts(True, dialect, latest(db), int(dead or 0), int(unseen or 0))


class HealthChecks:
    """The checks of one API process (built by ``create_app``)."""

    def __init__(self, settings: ServerSettings, db: Database, influx: InfluxStore) -> None:
        self.bounds = settings.health
        timeout = settings.health.check_timeout_s
        self._broker = _Probe(lambda: broker_health(settings.mqtt, timeout))
        self._influx = _Probe(influx.ping)
        self._database = _Probe(lambda: _database_facts(db))

    def report(self) -> Health:
        deadline = time.monotonic() + self.bounds.check_timeout_s + _MARGIN_S
        for probe in (self._broker, self._influx, self._database):
            probe.start()  # all three at once: the slowest, not the sum, bounds the answer
        broker = _wait(self._broker, deadline, "the broker")
        ping = _wait(self._influx, deadline, "InfluxDB")
        facts = _wait(self._database, deadline, "the database")
        now = utcnow()

        broker_h = (
            ComponentHealth(ok=False, detail=broker.detail) if isinstance(broker, _Unanswered) else broker
        )
        if isinstance(ping, _Unanswered):
            influx_h = ComponentHealth(ok=False, detail=ping.detail)
        else:
            influx_h = ComponentHealth(ok=bool(ping.get("reachable")), detail=str(ping.get("detail", ping)))
        if isinstance(facts, _Unanswered):
            database_h = ComponentHealth(ok=False, detail=facts.detail)
            unknown = "unknown: " + facts.detail
        else:
            database_h = ComponentHealth(
                ok=facts.reachable,
                detail=facts.dialect if facts.reachable else f"{facts.dialect}: unreachable",
            )
            unknown = "unknown: the database, which holds its heartbeat, is unreachable"
        if isinstance(facts, _DatabaseFacts) and facts.reachable:
            ingest_h = judge_ingest(facts.beats.get(INGEST), now, self.bounds)
            ticker_h, notifications_h = judge_ticker(facts.beats.get(TICKER), now, self.bounds)
            dead_h = judge_dead_letters(facts.dead_letters_24h, facts.unseen_readings)
        else:
            ingest_h = IngestHealth(ok=False, detail=unknown)
            ticker_h = TickerHealth(ok=False, detail=unknown)
            notifications_h = NotificationsHealth(ok=False, detail=unknown)
            dead_h = DeadLettersHealth(ok=True, detail=unknown)
        degrading = (broker_h, influx_h, database_h, ingest_h, ticker_h, notifications_h, dead_h)
        return Health(
            status="ok" if all(c.ok for c in degrading) else "degraded",
            broker=broker_h,
            influxdb=influx_h,
            database=database_h,
            ingest=ingest_h,
            ticker=ticker_h,
            notifications=notifications_h,
            dead_letters=dead_h,
        )


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "degraded: the body says which part and why"}},
)
def health(request: Request, response: Response) -> Health:
    checks: HealthChecks = request.app.state.health_checks
    report = checks.report()
    if report.status != "ok":
        response.status_code = 503
    return report


# --- judging heartbeats ------------------------------------------------------------------


def _duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 120:
        return f"{s} s"
    if s < 600 and s % 60:  # near a bound of minutes: "5 min 1 s", not "5 min (bound 5 min)"
        return f"{s // 60} min {s % 60} s"
    if s < 2 * 3600:
        return f"{s // 60} min"
    if s < 2 * 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} days"


def _liveness(name: str, beat: HeartbeatView | None, now: datetime, stale_s: float) -> tuple[bool, str]:
    """Is the worker's newest instance running and recently heard from? In plain words."""
    if beat is None:
        command = " ".join(process(name).command())
        return False, f"{name} has never reported: is `{command}` running?"
    age = beat.age_s(now)
    if beat.state == WorkerState.FAILED:
        reason = beat.detail.get("reason", "no reason given")
        return False, f"{name} failed {_duration(age)} ago on {beat.instance}: {reason}"
    if beat.state == WorkerState.STOPPED:
        return False, f"{name} stopped {_duration(age)} ago on {beat.instance} and has not started again"
    if beat.state != WorkerState.RUNNING:
        return False, f"{name} reports an unknown state {beat.state!r} on {beat.instance}"
    if age > stale_s:
        return False, f"{name} has not reported for {_duration(age)}; last seen on {beat.instance}"
    return True, f"{name} running on {beat.instance}, last reported {_duration(age)} ago"


def _worker_fields(beat: HeartbeatView | None, now: datetime) -> WorkerHealth:
    if beat is None:
        return WorkerHealth(ok=False, detail="")
    return WorkerHealth(
        ok=False, detail="", instance=beat.instance, state=beat.state, last_seen_s=beat.age_s(now)
    )


def _number(detail: Mapping[str, object], key: str) -> float | None:
    value = detail.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _count(detail: Mapping[str, object], key: str) -> int | None:
    value = detail.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def judge_ingest(beat: HeartbeatView | None, now: datetime, bounds: HealthSettings) -> IngestHealth:
    """Alive, connected, keeping up, and able to store, from the keys of
    :class:`server.heartbeat.IngestDetail`. Keys the worker did not write (or wrote with the
    wrong type) are unknown, not wrong: they show as null and degrade nothing."""
    alive, said = _liveness(INGEST, beat, now, bounds.worker_stale_s)
    base = _worker_fields(beat, now).model_dump(exclude={"ok", "detail"})
    d: Mapping[str, object] = beat.detail if beat is not None else {}
    connected = d.get("connected") if isinstance(d.get("connected"), bool) else None
    lag = _number(d, "oldest_unacked_s")
    inbox = _count(d, "inbox")
    down_raw = d.get("store_down_since")
    down_since = _when(down_raw)
    problems: list[str] = []
    if alive:
        if connected is False:
            problems.append("not connected to the broker")
        if lag is not None and lag > bounds.ingest_lag_s:
            problems.append(
                f"falling behind: the oldest unacknowledged message is {_duration(lag)} old "
                f"(bound {_duration(bounds.ingest_lag_s)}), {inbox if inbox is not None else 'an unknown number'} waiting"
            )
        if isinstance(down_raw, str):
            since = f"{_duration((now - down_since).total_seconds())}" if down_since else "an unreadable time"
            problems.append(f"cannot store: InfluxDB or the database has been unavailable to it for {since}")
    facts: list[str] = []
    if alive:
        if connected is None:
            facts.append("connection not reported")
        elif connected:
            facts.append("connected")
        if inbox is not None and not any(p.startswith("falling behind") for p in problems):
            facts.append(f"{inbox} waiting")
        rate = _number(d, "readings_per_min")
        if rate is not None:
            facts.append(f"{rate:g} readings/min")
    detail = "; ".join([said, *problems, *facts])
    return IngestHealth(
        **base,
        ok=alive and not problems,
        detail=detail,
        connected=connected,
        inbox=inbox,
        oldest_unacked_s=lag,
        messages_per_min=_number(d, "messages_per_min"),
        readings_per_min=_number(d, "readings_per_min"),
        processed=_count(d, "processed"),
        dead_lettered=_count(d, "dead_lettered"),
        store_down_since=down_since,
    )


def judge_ticker(
    beat: HeartbeatView | None, now: datetime, bounds: HealthSettings
) -> tuple[TickerHealth, NotificationsHealth]:
    """The ticker, and the notifications only it delivers (as its queue stood at its last tick)."""
    d: Mapping[str, object] = beat.detail if beat is not None else {}
    every = _number(d, "every_s")
    # A ticker configured to tick less often than the staleness bound is not dead between ticks.
    stale_s = max(bounds.worker_stale_s, 3 * every) if every else bounds.worker_stale_s
    alive, said = _liveness(TICKER, beat, now, stale_s)
    raw_errors = d.get("step_errors")
    errors = {str(k): str(v) for k, v in raw_errors.items()} if isinstance(raw_errors, dict) else {}
    problems = [f"its last tick's {step} step failed ({kind}); see its log" for step, kind in errors.items()]
    if alive and every is not None and not problems:
        said += f" (ticks every {_duration(every)})"
    ticker = TickerHealth(
        **_worker_fields(beat, now).model_dump(exclude={"ok", "detail"}),
        ok=alive and not problems,
        detail="; ".join([said, *(problems if alive else [])]),
        every_s=every,
        step_errors=errors,
    )
    return ticker, _judge_notifications(alive, d.get("notifications"), beat, now, bounds)


def _judge_notifications(
    ticker_alive: bool, raw: object, beat: HeartbeatView | None, now: datetime, bounds: HealthSettings
) -> NotificationsHealth:
    if not ticker_alive or beat is None:
        return NotificationsHealth(ok=False, detail="nobody is being notified: the ticker is not running")
    n: Mapping[str, object] = raw if isinstance(raw, dict) else {}
    configured = n.get("configured")
    if configured is False:
        return NotificationsHealth(
            ok=True,
            configured=False,
            detail="no routing configured: alerts are raised but nobody is told "
            "(set CAREWATCH_NOTIFICATIONS__ROUTING_FILE)",
        )
    pending, failed = _count(n, "pending"), _count(n, "failed_24h")
    oldest = _number(n, "oldest_pending_age_s")
    if oldest is not None:
        oldest += beat.age_s(now)  # it has waited since the tick that measured it, too
    problems: list[str] = []
    if pending is None or failed is None:
        problems.append("the delivery queue could not be read at the last tick")
    if failed:
        problems.append(f"{failed} deliver{'y' if failed == 1 else 'ies'} given up on in the last 24 h")
    if oldest is not None and oldest > bounds.notification_pending_s:
        problems.append(
            f"a notification has waited {_duration(oldest)} for delivery "
            f"(bound {_duration(bounds.notification_pending_s)})"
        )
    detail = "; ".join(problems) if problems else f"delivering: {pending} pending"
    return NotificationsHealth(
        ok=not problems,
        detail=detail,
        configured=configured if isinstance(configured, bool) else None,
        pending=pending,
        failed_24h=failed,
        oldest_pending_s=oldest,
    )


def judge_dead_letters(count: int | None, unseen: int | None = 0) -> DeadLettersHealth:
    if count is None:
        return DeadLettersHealth(ok=True, detail="unknown")
    said = (
        "none in the last 24 h"
        if count == 0
        else f"{count} message(s) refused in the last 24 h: see `carewatch server dead-letters`"
    )
    if unseen:
        said = (
            f"{unseen} refused reading(s) no clinician has seen wait for a replay once the cause is "
            f"fixed, or a dismissal (`carewatch server dead-letters`); {said}"
        )
    return DeadLettersHealth(ok=not unseen, detail=said, last_24h=count, unseen=unseen)
