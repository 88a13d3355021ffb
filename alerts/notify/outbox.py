"""The durable delivery queue: a failed delivery is retried and visible, never lost.

Every delivery is a row in SQLite (WAL, ``synchronous=FULL``) before any channel is
tried, and leaves ``pending`` only when the channel confirms (``sent``) or when it is
given up on (``failed``: kept, with its last error, for the health page and for
:meth:`Outbox.requeue` once the cause is fixed). Only ``prune_sent`` deletes, and only sent rows.

Claiming a delivery bumps ``attempts`` and pushes ``next_attempt_at`` out by a lease in
one ``BEGIN IMMEDIATE`` transaction, so a dispatcher that dies mid-send leaves the row to
be retried after the lease, and two dispatchers never send the same row at once.

Why stdlib sqlite3 rather than the server's SQLAlchemy database: ``alerts.notify`` stays
usable (and testable) without the server, and the queue keeps working when the main
database is the thing that is down. The price is that enqueueing is not in the same
transaction as the alert; deterministic delivery ids make re-enqueueing harmless, so the
server can enqueue after its commit and re-enqueue on start-up for alerts it is unsure of.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from alerts.notify.message import Notification
from alerts.notify.notifier import Attempt, DeliveryFailed, Notifier
from alerts.notify.routing import ChannelKind, Delivery, RoutingConfig, route

log = logging.getLogger(__name__)
_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id      TEXT PRIMARY KEY,
    notification_id  TEXT NOT NULL,
    alert_id         TEXT NOT NULL,
    team             TEXT NOT NULL,
    channel          TEXT NOT NULL,
    target           TEXT NOT NULL,
    secret_id        TEXT,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       REAL NOT NULL,
    next_attempt_at  REAL NOT NULL,
    last_attempt_at  REAL,
    sent_at          REAL,
    last_error       TEXT,
    receipt          TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_notification ON deliveries (notification_id);
"""
_COLUMNS = (
    "delivery_id, notification_id, team, channel, target, secret_id, payload, status, attempts, "
    "created_at, next_attempt_at, last_attempt_at, sent_at, last_error, receipt"
)


class OutboxUnavailable(RuntimeError):
    """The queue file cannot be written: notifications are at risk and the server must say so."""


class Status(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Defaults give up after about 45 minutes (30 s doubling to a 15 min cap, 8 tries):
    long enough to ride out a relay restart, short enough that a red alert that cannot be
    delivered shows on the health page while it still matters."""

    max_attempts: int = 8
    base_delay_s: float = 30.0
    max_delay_s: float = 900.0
    jitter: float = 0.5  # the last half of each delay is random, so retries do not stampede
    lease_s: float = 120.0  # longer than any channel timeout

    def delay(self, attempts: int, rng: Callable[[], float]) -> float:
        full = min(self.max_delay_s, self.base_delay_s * 2.0 ** max(0, attempts - 1))
        return full * (1 - self.jitter) + full * self.jitter * rng()


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    delivery_id: str
    notification_id: str
    team: str
    channel: ChannelKind
    target: str
    status: Status
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    receipt: str | None
    delivery: Delivery


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    due: int
    sent: int
    failed: int
    oldest_pending_age_s: float | None  # the health page's "is anything stuck?"


def _ts(at: datetime) -> float:
    if at.tzinfo is None:
        raise ValueError("outbox times must be timezone-aware")
    return at.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class Outbox:
    def __init__(
        self, path: Path, policy: RetryPolicy | None = None, rng: Callable[[], float] = random.random
    ) -> None:
        self.path = path
        self.policy = policy or RetryPolicy()
        self._rng = rng
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as e:
            raise OutboxUnavailable(f"cannot open notification outbox {path}: {e}") from e

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(self._db)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                return result
            except sqlite3.Error as e:
                raise OutboxUnavailable(f"notification outbox {self.path}: {e}") from e

    def enqueue(self, deliveries: Sequence[Delivery], now: datetime) -> int:
        """All of a notification's deliveries or none; returns how many were new."""
        t = _ts(now)
        rows = [
            (
                d.delivery_id,
                d.notification.notification_id,
                d.notification.alert_id,
                d.team,
                d.channel.value,
                d.target,
                d.secret_id,
                d.notification.to_json(),
                t,
                t,
            )
            for d in deliveries
        ]

        def insert(db: sqlite3.Connection) -> int:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO deliveries (delivery_id, notification_id, alert_id, team, channel, target,"
                " secret_id, payload, status, created_at, next_attempt_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                rows,
            )
            return db.total_changes - before

        return self._write(insert)

    def claim_next(self, now: datetime) -> Attempt | None:
        t = _ts(now)

        def claim(db: sqlite3.Connection) -> Attempt | None:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ?"  # noqa: S608
                " ORDER BY next_attempt_at, created_at LIMIT 1",
                (t,),
            ).fetchone()
            if row is None:
                return None
            record = _record(row)
            if record.attempts >= self.policy.max_attempts:
                # The last try was claimed but never reported back (dispatcher stopped mid-send).
                db.execute(
                    "UPDATE deliveries SET status = 'failed', last_error = ? WHERE delivery_id = ?",
                    (
                        f"no confirmation after {record.attempts} attempts (last try interrupted)",
                        record.delivery_id,
                    ),
                )
                return claim(db)
            db.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_attempt_at = ?, next_attempt_at = ?"
                " WHERE delivery_id = ?",
                (t, t + self.policy.lease_s, record.delivery_id),
            )
            return Attempt(record.delivery, record.attempts + 1)

        return self._write(claim)

    def mark_sent(self, delivery_id: str, now: datetime, receipt: str) -> None:
        self._write(
            lambda db: db.execute(
                "UPDATE deliveries SET status = 'sent', sent_at = ?, receipt = ? WHERE delivery_id = ?",
                (_ts(now), receipt[:500], delivery_id),
            )
        )

    def mark_failed_attempt(self, attempt: Attempt, now: datetime, error: DeliveryFailed) -> Status:
        """Schedule the next try, or give up (permanent error or attempts exhausted)."""
        give_up = error.permanent or attempt.number >= self.policy.max_attempts
        delay = self.policy.delay(attempt.number, self._rng)
        if error.retry_after is not None:
            delay = min(max(delay, error.retry_after), self.policy.max_delay_s)
        status = Status.FAILED if give_up else Status.PENDING
        message = f"attempt {attempt.number}: {error}"[:500]
        self._write(
            lambda db: db.execute(
                "UPDATE deliveries SET status = ?, last_error = ?, next_attempt_at = ? WHERE delivery_id = ?",
                (status.value, message, _ts(now) + delay, attempt.delivery.delivery_id),
            )
        )
        return status

    def requeue(self, delivery_id: str, now: datetime) -> bool:
        """After the cause of a failure is fixed: a fresh budget of attempts, same idempotency key."""
        changed = self._write(
            lambda db: (
                db.execute(
                    "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?"
                    " WHERE delivery_id = ? AND status = 'failed'",
                    (_ts(now), delivery_id),
                ).rowcount
            )
        )
        return changed == 1

    def prune_sent(self, before: datetime) -> int:
        """Housekeeping for the server: forget confirmed deliveries older than ``before``.
        Pending and failed rows are never pruned: they are the ones that matter."""
        return self._write(
            lambda db: (
                db.execute(
                    "DELETE FROM deliveries WHERE status = 'sent' AND sent_at < ?", (_ts(before),)
                ).rowcount
            )
        )

    def _select(self, where: str, params: Sequence[object]) -> list[DeliveryRecord]:
        # ``where`` is always a constant from this class; values go through parameters.
        query = f"SELECT {_COLUMNS} FROM deliveries WHERE {where}"  # noqa: S608
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [_record(r) for r in rows]

    def get(self, delivery_id: str) -> DeliveryRecord | None:
        found = self._select("delivery_id = ?", (delivery_id,))
        return found[0] if found else None

    def for_notification(self, notification_id: str) -> list[DeliveryRecord]:
        return self._select("notification_id = ? ORDER BY created_at, delivery_id", (notification_id,))

    def list_failed(self, limit: int = 100) -> list[DeliveryRecord]:
        return self._select("status = 'failed' ORDER BY last_attempt_at DESC LIMIT ?", (limit,))

    def stats(self, now: datetime) -> OutboxStats:
        t = _ts(now)
        with self._lock:
            counts = dict(
                self._db.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall()
            )
            due, oldest = self._db.execute(
                "SELECT count(CASE WHEN next_attempt_at <= ? THEN 1 END), min(created_at)"
                " FROM deliveries WHERE status = 'pending'",
                (t,),
            ).fetchone()
        return OutboxStats(
            pending=int(counts.get("pending", 0)),
            due=int(due or 0),
            sent=int(counts.get("sent", 0)),
            failed=int(counts.get("failed", 0)),
            oldest_pending_age_s=None if oldest is None else max(0.0, t - float(oldest)),
        )


def _record(row: tuple[object, ...]) -> DeliveryRecord:
    (
        delivery_id,
        notification_id,
        team,
        channel,
        target,
        secret_id,
        payload,
        status,
        attempts,
        created_at,
        next_attempt_at,
        last_attempt_at,
        sent_at,
        last_error,
        receipt,
    ) = row
    kind = ChannelKind(str(channel))
    delivery = Delivery(
        Notification.from_json(str(payload)),
        kind,
        str(target),
        str(team),
        None if secret_id is None else str(secret_id),
    )
    return DeliveryRecord(
        delivery_id=str(delivery_id),
        notification_id=str(notification_id),
        team=str(team),
        channel=kind,
        target=str(target),
        status=Status(str(status)),
        attempts=int(str(attempts)),
        created_at=datetime.fromtimestamp(float(str(created_at)), UTC),
        next_attempt_at=datetime.fromtimestamp(float(str(next_attempt_at)), UTC),
        last_attempt_at=_dt(None if last_attempt_at is None else float(str(last_attempt_at))),
        sent_at=_dt(None if sent_at is None else float(str(sent_at))),
        last_error=None if last_error is None else str(last_error),
        receipt=None if receipt is None else str(receipt),
        delivery=delivery,
    )


@dataclass(frozen=True, slots=True)
class DispatchResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


class Dispatcher:
    """Route, enqueue, and on every server tick send what is due.

    ``channels`` maps each channel kind to its sender (one ``GovUkNotifySender`` serves
    both Notify kinds). A kind routed to but not configured fails permanently and
    visibly: it is a deployment error, not something time will fix.
    """

    def __init__(self, outbox: Outbox, channels: Mapping[ChannelKind, Notifier]) -> None:
        self.outbox = outbox
        self.channels = dict(channels)

    def notify(self, notification: Notification, config: RoutingConfig, at: datetime) -> list[Delivery]:
        deliveries = route(notification, config, at)
        self.outbox.enqueue(deliveries, at)
        if not deliveries:
            log.info(
                "notification %s (%s %s) routed to no channel at this time",
                notification.notification_id,
                notification.severity.label,
                notification.event.value,
            )
        return deliveries

    def run_once(self, now: datetime, limit: int = 50) -> DispatchResult:
        """Sequential on purpose: bounded by ``limit`` and the channels' timeouts, and it
        keeps Notify's non-thread-safe client and the lease arithmetic simple."""
        sent = retrying = failed = 0
        for _ in range(limit):
            attempt = self.outbox.claim_next(now)
            if attempt is None:
                break
            d = attempt.delivery
            try:
                receipt = self._send(attempt)
            except DeliveryFailed as e:
                status = self.outbox.mark_failed_attempt(attempt, now, e)
                log.warning(
                    "delivery %s (%s, team %s) attempt %d failed%s: %s",
                    d.delivery_id,
                    d.channel.value,
                    d.team,
                    attempt.number,
                    " permanently" if status is Status.FAILED else "",
                    e,
                )
                if status is Status.FAILED:
                    failed += 1
                else:
                    retrying += 1
                continue
            self.outbox.mark_sent(d.delivery_id, now, receipt)
            sent += 1
        return DispatchResult(sent=sent, retrying=retrying, failed=failed)

    def _send(self, attempt: Attempt) -> str:
        channel = self.channels.get(attempt.delivery.channel)
        if channel is None:
            raise DeliveryFailed(
                f"channel {attempt.delivery.channel.value} is not configured", permanent=True
            )
        try:
            return channel.send(attempt)
        except DeliveryFailed:
            raise
        except Exception as e:
            # A bug in a channel must not lose the delivery: treat it as a retryable failure.
            log.exception("channel %s raised unexpectedly", attempt.delivery.channel.value)
            raise DeliveryFailed(f"unexpected {type(e).__name__}: {e}") from e
