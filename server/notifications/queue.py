"""The durable delivery queue, in the server's database: a failed delivery is retried and
visible, never lost.

Every delivery is a ``notification_deliveries`` row before any notifier is tried, written in
the same transaction that marks its alert's notification as routed, and leaves ``pending``
only when the notifier confirms (``sent``) or when it is given up on (``failed``: kept, with
its last error, for /health and for :meth:`DeliveryQueue.requeue` once the cause is fixed).
Only :meth:`DeliveryQueue.prune_sent` deletes, and only sent rows.

A claim is one statement that bumps ``attempts`` and leases the row (``leased_until``), so a
dispatcher that dies mid-send leaves it to be tried again once the lease has passed, and two
dispatchers never hold the same row: on PostgreSQL the statement picks its row with
``FOR UPDATE SKIP LOCKED``, on SQLite the statement itself holds the database's write lock.
The attempt number fences the outcome: a dispatcher whose lease ran out and whose row was
claimed again cannot overwrite the newer attempt's schedule with its own failure.

The price of one queue rather than two: while the database is down nothing is relayed or
sent. Nothing is lost either: it all waits in the database, and /health says it is down.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, String, case, delete, func, literal, or_, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alerts.notify.message import Notification
from alerts.notify.notifier import Attempt, DeliveryFailed
from alerts.notify.routing import ChannelKind, Delivery
from server.store.database import Database
from server.store.models import NotificationDelivery as Row

log = logging.getLogger(__name__)

_MAX_TEXT = 500  # a receiver's error page is not worth more than this in the table


class UnsupportedDatabase(RuntimeError):
    """The queue needs an atomic "insert unless present": PostgreSQL and SQLite have one."""


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
    lease_s: float = 120.0  # longer than any notifier's timeout

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
    leased_until: datetime | None
    last_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    receipt: str | None
    delivery: Delivery


@dataclass(frozen=True, slots=True)
class QueueStats:
    pending: int
    due: int
    sent: int
    failed: int
    oldest_pending_age_s: float | None  # the health page's "is anything stuck?"


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("queue times must be timezone-aware")
    return at


def insert_unless_present(s: Session, values: Mapping[str, object]) -> bool:
    """One row, in the caller's transaction, unless a row with its id is there already;
    returns whether it was added. Atomic, so a notification routed twice (two tickers at
    once, a repeated import) is queued once, with no error that would undo the caller's
    transaction."""
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        insert: Callable[[type[Row]], Any] = postgresql.insert
    elif dialect == "sqlite":
        insert = sqlite.insert
    else:
        raise UnsupportedDatabase(f"the notification queue runs on PostgreSQL or SQLite, not {dialect}")
    # RETURNING, here and below, rather than rowcount: psycopg reports -1 for this insert.
    added = s.execute(insert(Row).values(dict(values)).on_conflict_do_nothing().returning(Row.id))
    return added.first() is not None


def add_deliveries(s: Session, deliveries: Sequence[Delivery], now: datetime) -> int:
    """Queue ``deliveries`` in the caller's transaction; returns how many were new."""
    _aware(now)
    return sum(
        insert_unless_present(
            s,
            {
                "id": d.delivery_id,
                "notification_id": d.notification.notification_id,
                "alert_id": d.notification.alert_id,
                "team": d.team,
                "channel": d.channel.value,
                "target": d.target,
                "secret_id": d.secret_id,
                "payload": d.notification.to_json(),
                "status": Status.PENDING.value,
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
            },
        )
        for d in deliveries
    )


def _due(now: datetime) -> ColumnElement[bool]:
    """Pending, its backoff over, and held by no live lease."""
    return (
        (Row.status == Status.PENDING.value)
        & (Row.next_attempt_at <= now)
        & or_(Row.leased_until.is_(None), Row.leased_until <= now)
    )


class DeliveryQueue:
    def __init__(
        self, db: Database, policy: RetryPolicy | None = None, rng: Callable[[], float] = random.random
    ) -> None:
        self.db = db
        self.policy = policy or RetryPolicy()
        self._rng = rng

    def enqueue(self, deliveries: Sequence[Delivery], now: datetime) -> int:
        """All of a notification's deliveries or none; returns how many were new."""
        with self.db.session() as s:
            return add_deliveries(s, deliveries, now)

    def claim_next(self, now: datetime) -> Attempt | None:
        """Lease the next due delivery and count the attempt, or None if nothing is due."""
        _aware(now)
        with self.db.session() as s:
            # A last try that was claimed but never reported back (its dispatcher stopped
            # mid-send) has no attempts left: it is given up on, visibly, not tried a ninth time.
            s.execute(
                update(Row)
                .where(_due(now), Row.attempts >= self.policy.max_attempts)
                .values(
                    status=Status.FAILED.value,
                    leased_until=None,
                    last_error=literal("no confirmation after ", String)
                    + sql_cast(Row.attempts, String)
                    + literal(" attempts (last try interrupted)", String),
                )
                .execution_options(synchronize_session=False)
            )
            next_due = (
                select(Row.id)
                .where(_due(now), Row.attempts < self.policy.max_attempts)
                .order_by(Row.next_attempt_at, Row.created_at, Row.id)
                .limit(1)
                .with_for_update(skip_locked=True)  # PostgreSQL; SQLite holds its write lock
                .scalar_subquery()
            )
            claimed = s.execute(
                update(Row)
                .where(Row.id == next_due)
                .values(
                    attempts=Row.attempts + 1,
                    last_attempt_at=now,
                    leased_until=now + timedelta(seconds=self.policy.lease_s),
                )
                .returning(Row.payload, Row.channel, Row.target, Row.team, Row.secret_id, Row.attempts)
                .execution_options(synchronize_session=False)
            ).one_or_none()
        if claimed is None:
            return None
        payload, channel, target, team, secret_id, attempts = claimed
        delivery = Delivery(Notification.from_json(payload), ChannelKind(channel), target, team, secret_id)
        return Attempt(delivery, int(attempts))

    def mark_sent(self, delivery_id: str, now: datetime, receipt: str) -> None:
        """Recorded whatever else happened meanwhile: it was delivered, and that is the truth."""
        with self.db.session() as s:
            s.execute(
                update(Row)
                .where(Row.id == delivery_id)
                .values(
                    status=Status.SENT.value,
                    sent_at=_aware(now),
                    receipt=receipt[:_MAX_TEXT],
                    leased_until=None,
                )
                .execution_options(synchronize_session=False)
            )

    def mark_failed_attempt(self, attempt: Attempt, now: datetime, error: DeliveryFailed) -> Status:
        """Schedule the next try, or give up (permanent error or attempts exhausted)."""
        give_up = error.permanent or attempt.number >= self.policy.max_attempts
        delay = self.policy.delay(attempt.number, self._rng)
        if error.retry_after is not None:
            delay = min(max(delay, error.retry_after), self.policy.max_delay_s)
        status = Status.FAILED if give_up else Status.PENDING
        with self.db.session() as s:
            result = s.execute(
                update(Row)
                .where(
                    Row.id == attempt.delivery.delivery_id,
                    Row.status == Status.PENDING.value,
                    Row.attempts == attempt.number,  # the fence: still this attempt's row
                )
                .values(
                    status=status.value,
                    last_error=f"attempt {attempt.number}: {error}"[:_MAX_TEXT],
                    next_attempt_at=_aware(now) + timedelta(seconds=delay),
                    leased_until=None,
                )
                .returning(Row.id)
                .execution_options(synchronize_session=False)
            )
            overtaken = result.first() is None
        if overtaken:
            log.warning(
                "delivery %s: attempt %d failed after its lease ran out and the delivery was claimed "
                "again; the newer attempt's outcome stands",
                attempt.delivery.delivery_id,
                attempt.number,
            )
            return Status.PENDING
        return status

    def requeue(self, delivery_id: str, now: datetime) -> bool:
        """After the cause of a failure is fixed: a fresh budget of attempts, same idempotency key."""
        with self.db.session() as s:
            result = s.execute(
                update(Row)
                .where(Row.id == delivery_id, Row.status == Status.FAILED.value)
                .values(
                    status=Status.PENDING.value, attempts=0, next_attempt_at=_aware(now), leased_until=None
                )
                .returning(Row.id)
                .execution_options(synchronize_session=False)
            )
            return result.first() is not None

    def prune_sent(self, before: datetime) -> int:
        """Housekeeping: forget confirmed deliveries older than ``before``. Pending and failed
        rows are never pruned: they are the ones that matter."""
        with self.db.session() as s:
            result = s.execute(
                delete(Row)
                .where(Row.status == Status.SENT.value, Row.sent_at < _aware(before))
                .returning(Row.id)
                .execution_options(synchronize_session=False)
            )
            return len(result.all())

    def get(self, delivery_id: str) -> DeliveryRecord | None:
        with self.db.session() as s:
            row = s.get(Row, delivery_id)
            return None if row is None else _record(row)

    def for_notification(self, notification_id: str) -> list[DeliveryRecord]:
        with self.db.session() as s:
            rows = s.scalars(
                select(Row).where(Row.notification_id == notification_id).order_by(Row.created_at, Row.id)
            )
            return [_record(r) for r in rows]

    def list_failed(self, limit: int = 100) -> list[DeliveryRecord]:
        with self.db.session() as s:
            rows = s.scalars(
                select(Row)
                .where(Row.status == Status.FAILED.value)
                .order_by(Row.last_attempt_at.desc(), Row.id)
                .limit(limit)
            )
            return [_record(r) for r in rows]

    def failed_since(self, since: datetime) -> int:
        """Deliveries given up on since ``since`` (by their last try), for /health's 24 hours."""
        with self.db.session() as s:
            count = s.scalar(
                select(func.count())
                .select_from(Row)
                .where(
                    Row.status == Status.FAILED.value,
                    func.coalesce(Row.last_attempt_at, Row.created_at) >= _aware(since),
                )
            )
        return int(count or 0)

    def stats(self, now: datetime) -> QueueStats:
        _aware(now)
        with self.db.session() as s:
            counts: dict[str, int] = {
                status: int(n)
                for status, n in s.execute(select(Row.status, func.count()).group_by(Row.status))
            }
            due, oldest = s.execute(
                select(func.count(case((_due(now), 1))), func.min(Row.created_at)).where(
                    Row.status == Status.PENDING.value
                )
            ).one()
        return QueueStats(
            pending=counts.get(Status.PENDING.value, 0),
            due=int(due or 0),
            sent=counts.get(Status.SENT.value, 0),
            failed=counts.get(Status.FAILED.value, 0),
            oldest_pending_age_s=None if oldest is None else max(0.0, (now - oldest).total_seconds()),
        )


def _record(row: Row) -> DeliveryRecord:
    kind = ChannelKind(row.channel)
    delivery = Delivery(Notification.from_json(row.payload), kind, row.target, row.team, row.secret_id)
    return DeliveryRecord(
        delivery_id=row.id,
        notification_id=row.notification_id,
        team=row.team,
        channel=kind,
        target=row.target,
        status=Status(row.status),
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        leased_until=row.leased_until,
        last_attempt_at=row.last_attempt_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
        receipt=row.receipt,
        delivery=delivery,
    )
