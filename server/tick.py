"""Time-based work, on a clock tick rather than on arriving readings: the clock rules (missed
readings, silent hubs), escalation of unanswered red alerts, routing owed notifications into
the delivery queue, and delivering them (with retries).

A patient who stops sending readings sends no message to react to, so anything that must
happen because time passed lives here. Each step is idempotent, so ticks can overlap a
crash or a restart without doubling anything.

The ticker must not die quietly: every notification leaves through it. Each step is
guarded on its own, so a failing one (the database refusing escalation's writes, say) is
logged with its traceback while the others still run: what is already queued still goes
out. The queue lives in the server's database, so while that is down nothing is sent; it
all waits there, and goes out once the database is back. After every tick the ticker
writes a heartbeat with what it did, which ``/health`` reads.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final, TypedDict
from zoneinfo import ZoneInfo

from server.heartbeat import Heartbeat
from server.judging.clock import judge_clock
from server.judging.findings import DEFAULT_TIMEZONE
from server.notifications.queue import QueueStats
from server.notifications.relay import NotificationRelay
from server.processes import TICKER
from server.settings import EscalationSettings, ServerSettings
from server.store.alerts import escalate_overdue
from server.store.database import Database
from server.store.models import now as utcnow

if TYPE_CHECKING:
    from common.mqtt import BrokerEndpoint

log = logging.getLogger(__name__)

# A delivery given up on stays 'failed' in the queue until requeued; /health counts the
# ones given up on recently, so one old failure does not hold it degraded for ever.
RECENT_FAILURES: Final = timedelta(hours=24)


@dataclass
class TickResult:
    clock_alerts: int = 0  # alerts opened (or given new evidence) by missed readings, silent hubs
    bundles_lapsed: int = 0  # hubs shut out at the broker: their enrolment bundle expired unused
    escalated: int = 0
    relayed: int = 0  # owed notifications routed into the delivery queue
    sent: int = 0
    retrying: int = 0
    failed: int = 0  # deliveries given up on in this tick
    step_errors: dict[str, str] = field(default_factory=dict)  # step -> exception class
    queue: QueueStats | None = None  # None: no notifications configured, or not readable
    failed_recently: int | None = None  # deliveries given up on within RECENT_FAILURES

    def busy(self) -> bool:
        return bool(
            self.clock_alerts
            or self.bundles_lapsed
            or self.escalated
            or self.relayed
            or self.sent
            or self.retrying
            or self.failed
            or self.step_errors
        )


class NotificationsDetail(TypedDict, total=False):
    configured: bool
    pending: int
    due: int
    failed: int  # every delivery given up on and not requeued
    failed_24h: int
    oldest_pending_age_s: float | None


class TickerDetail(TypedDict, total=False):
    """The ticker's heartbeat ``detail``: written by :meth:`Ticker.run`, read by /health."""

    every_s: float
    ticks: int
    clock_alerts: int
    bundles_lapsed: int
    escalated: int
    relayed: int
    sent: int
    retrying: int
    failed: int
    step_errors: dict[str, str]
    notifications: NotificationsDetail


def ticker_detail(r: TickResult, *, every_s: float, ticks: int, configured: bool) -> TickerDetail:
    detail = TickerDetail(
        every_s=every_s,
        ticks=ticks,
        clock_alerts=r.clock_alerts,
        bundles_lapsed=r.bundles_lapsed,
        escalated=r.escalated,
        relayed=r.relayed,
        sent=r.sent,
        retrying=r.retrying,
        failed=r.failed,
        step_errors=dict(r.step_errors),
    )
    notifications = NotificationsDetail(configured=configured)
    if r.queue is not None:
        notifications["pending"] = r.queue.pending
        notifications["due"] = r.queue.due
        notifications["failed"] = r.queue.failed
        notifications["oldest_pending_age_s"] = r.queue.oldest_pending_age_s
    if r.failed_recently is not None:
        notifications["failed_24h"] = r.failed_recently
    detail["notifications"] = notifications
    return detail


class Ticker:
    def __init__(
        self,
        db: Database,
        escalation: EscalationSettings,
        relay: NotificationRelay | None,
        *,
        tz: ZoneInfo = DEFAULT_TIMEZONE,
        broker: Callable[[], BrokerEndpoint] | None = None,
    ) -> None:
        """``broker``: the control plane's identity (the settings' ``mqtt.endpoint``), to shut
        out hubs whose enrolment bundle expired unused; None skips that step."""
        self.db = db
        self.broker = broker
        self.escalation = escalation
        self.relay = relay
        self.tz = tz
        self._failing: dict[str, tuple[str, int]] = {}  # step -> (exception class, ticks in a row)

    def tick(self, now: datetime) -> TickResult:
        """One pass of every step; a step that raises is recorded in ``step_errors`` and logged,
        and the rest still run."""
        result = TickResult()
        escalated = []
        # First, so that an alert it opens is relayed in this same tick.
        with self._step(result, "clock_rules"), self.db.session() as s:
            result.clock_alerts = len(judge_clock(s, now, self.tz))
        if self.broker is not None:
            from server.hub_lifecycle import lapse_unused_bundles

            with self._step(result, "lapsed_bundles"):
                result.bundles_lapsed = len(lapse_unused_bundles(self.db, self.broker, now))
        with self._step(result, "escalation"), self.db.session() as s:
            escalated = escalate_overdue(
                s,
                now=now,
                after=timedelta(minutes=self.escalation.after_minutes),
                max_tier=self.escalation.max_tier,
            )
            result.escalated = len(escalated)
        for alert in escalated:
            log.warning(
                "alert %d (%s) not acknowledged: escalated to tier %d", alert.id, alert.patient_id, alert.tier
            )
        if self.relay is None:
            return result
        with self._step(result, "relay"):
            result.relayed = self.relay.relay(now)
        # Even when the steps above failed: what is already queued must still go out.
        with self._step(result, "dispatch"):
            sent = self.relay.dispatch(now)
            result.sent, result.retrying, result.failed = sent.sent, sent.retrying, sent.failed
        with self._step(result, "queue_stats"):
            result.queue = self.relay.queue.stats(now)
            result.failed_recently = self.relay.queue.failed_since(now - RECENT_FAILURES)
        return result

    @contextmanager
    def _step(self, result: TickResult, step: str) -> Iterator[None]:
        try:
            yield
        except Exception as e:  # one failing step must stop neither the others nor the loop
            kind = type(e).__name__
            result.step_errors[step] = kind
            before, times = self._failing.get(step, ("", 0))
            self._failing[step] = (kind, times + 1)
            if before != kind:
                log.exception("tick step %s failed; the other steps still run", step)
            else:  # the traceback was logged when this started; say it goes on, every tick
                first_line = next(iter(str(e).splitlines()), "")  # not SQLAlchemy's statement and parameters
                log.error(
                    "tick step %s still failing (%d ticks in a row): %s: %s",
                    step,
                    times + 1,
                    kind,
                    first_line,
                )
        else:
            if step in self._failing:
                kind, times = self._failing.pop(step)
                log.warning("tick step %s works again after %d failed tick(s) (%s)", step, times, kind)

    def run(self, interval: float, stop: threading.Event, heartbeat: Heartbeat | None = None) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set, beating after each tick.

        Whatever escapes the per-step guards (a bug in this loop) is recorded as ``failed``
        in the heartbeat and raised: ``carewatch server tick`` then exits non-zero and its
        supervisor (systemd ``Restart=``, compose ``restart:``) starts it again.
        """
        beat = heartbeat or Heartbeat(self.db, TICKER)
        ticks = 0
        try:
            while not stop.is_set():
                r = self.tick(utcnow())
                ticks += 1
                if r.busy():
                    log.info("tick: %s", r)
                beat.beat(
                    detail=ticker_detail(r, every_s=interval, ticks=ticks, configured=self.relay is not None)
                )
                stop.wait(interval)
        except BaseException as e:
            beat.failed(f"the ticker's loop ended with {type(e).__name__} after {ticks} tick(s); see its log")
            raise
        beat.stopped({"ticks": ticks})


class TickerNotStarted(RuntimeError):
    """The ticker cannot run as configured: nobody would be notified, so it does not start."""


def run_ticker(settings: ServerSettings) -> int:
    """``carewatch server tick``: the ticker process, assembled. Runs until SIGTERM/SIGINT;
    returns its exit status (1 if its loop failed, for its supervisor to restart it)."""
    from server.notifications.legacy_outbox import warn_if_left_over

    db = Database(settings.database_url)
    db.migrate()
    heartbeat = Heartbeat(db, TICKER)
    warn_if_left_over()
    try:
        relay = NotificationRelay.from_settings(db, settings.notifications, settings.public_url)
    except Exception as e:  # any of them means nobody would be notified: say so, and exit
        heartbeat.failed(f"could not start: {type(e).__name__} preparing notifications; see its log")
        raise TickerNotStarted(
            f"ticker could not start, notifications are not configured correctly: {e}"
        ) from e
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("ticker running every %gs; Ctrl-C to stop", settings.tick_seconds)
    try:
        Ticker(db, settings.escalation, relay, tz=settings.zone, broker=settings.mqtt.endpoint).run(
            settings.tick_seconds, stop, heartbeat
        )
    except Exception:
        log.exception("the ticker's loop failed; exiting non-zero so that its supervisor restarts it")
        return 1
    log.info("ticker stopped")
    return 0
