"""Time-based work, on a clock tick rather than on arriving readings: the clock rules (missed
readings, silent hubs), escalation of unanswered red alerts, relaying owed notifications,
and delivering them (with retries).

A patient who stops sending readings sends no message to react to, so anything that must
happen because time passed lives here. Each step is idempotent, so ticks can overlap a
crash or a restart without doubling anything.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from server.clock_rules import judge_clock
from server.findings import DEFAULT_TIMEZONE
from server.notifications import NotificationRelay
from server.settings import EscalationSettings
from server.store.alerts import escalate_overdue
from server.store.database import Database, DatabaseUnavailable
from server.store.models import now as utcnow

log = logging.getLogger(__name__)


@dataclass
class TickResult:
    clock_alerts: int = 0  # alerts opened (or given new evidence) by missed readings, silent hubs
    escalated: int = 0
    relayed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0


class Ticker:
    def __init__(
        self,
        db: Database,
        escalation: EscalationSettings,
        relay: NotificationRelay | None,
        *,
        tz: ZoneInfo = DEFAULT_TIMEZONE,
    ) -> None:
        self.db = db
        self.escalation = escalation
        self.relay = relay
        self.tz = tz

    def tick(self, now: datetime) -> TickResult:
        result = TickResult()
        # First, so that an alert it opens is relayed in this same tick.
        with self.db.session() as s:
            result.clock_alerts = len(judge_clock(s, now, self.tz))
        with self.db.session() as s:
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
        if self.relay is not None:
            result.relayed = self.relay.relay(now)
            sent = self.relay.dispatch(now)
            result.sent, result.retrying, result.failed = sent.sent, sent.retrying, sent.failed
        return result

    def run(self, interval: float, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                r = self.tick(utcnow())
                if r.clock_alerts or r.escalated or r.relayed or r.sent or r.retrying or r.failed:
                    log.info("tick: %s", r)
            except DatabaseUnavailable as e:
                log.error("tick skipped, database unavailable: %s", e)
            stop.wait(interval)
