"""The queue itself: durable, idempotent, backing off, leasing, and never dropping a row.

The guarantees the SQLite outbox file was tested for, kept on the SQL queue that replaced it,
on SQLite and on PostgreSQL: each test gets a migrated database of its own on both."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from alerts.notify.config import parse_routing_config
from alerts.notify.notifier import Attempt, DeliveryFailed
from alerts.notify.routing import ChannelKind, Delivery, route
from server.notifications.dispatch import Dispatcher, DispatchResult
from server.notifications.queue import DeliveryQueue, RetryPolicy
from server.store.database import Database, sqlite_url
from tests.notify.conftest import FAST
from tests.notify.helpers import CONFIG_YAML, NOTIFICATION_ID, T0, notification

CONFIG = parse_routing_config(CONFIG_YAML)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: an SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "carewatch.sqlite3")
    else:
        url = str(request.getfixturevalue("postgres_database"))
    db = Database(url)
    db.migrate()
    db.dispose()
    return url


@pytest.fixture
def outbox(database_url: str) -> Iterator[DeliveryQueue]:
    db = Database(database_url)
    yield DeliveryQueue(db, FAST, rng=lambda: 0.5)
    db.dispose()


@dataclass
class ScriptedChannel:
    """Fails with the scripted errors in turn, then confirms."""

    errors: list[Exception] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)

    def send(self, attempt: Attempt) -> str:
        self.attempts.append(attempt)
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def one_delivery() -> list[Delivery]:
    return [d for d in route(notification(), CONFIG, T0) if d.channel is ChannelKind.EMAIL]


def test_survives_a_restart(database_url: str) -> None:
    first_db = Database(database_url)
    first = DeliveryQueue(first_db, FAST)
    assert first.enqueue(route(notification(), CONFIG, T0), T0) == 3
    first_db.dispose()
    second_db = Database(database_url)
    second = DeliveryQueue(second_db, FAST)
    channel = ScriptedChannel()
    kinds = {k: channel for k in ChannelKind}
    assert Dispatcher(second, kinds).run_once(T0) == DispatchResult(sent=3)
    second_db.dispose()


def test_enqueue_is_idempotent(outbox: DeliveryQueue) -> None:
    deliveries = route(notification(), CONFIG, T0)
    assert outbox.enqueue(deliveries, T0) == 3
    assert outbox.enqueue(deliveries, T0 + timedelta(seconds=5)) == 0
    assert outbox.stats(T0).pending == 3


def test_backoff_doubles_with_jitter_and_caps() -> None:
    policy = RetryPolicy(base_delay_s=10, max_delay_s=60, jitter=0.5)
    assert [policy.delay(n, lambda: 0.5) for n in (1, 2, 3, 4, 5)] == [7.5, 15.0, 30.0, 45.0, 45.0]
    assert policy.delay(3, lambda: 0.0) == 20.0 and policy.delay(3, lambda: 1.0) == 40.0


def test_schedule_and_retry_after(outbox: DeliveryQueue) -> None:
    channel = ScriptedChannel(
        [
            DeliveryFailed("boom"),
            DeliveryFailed("slow down", retry_after=40),
            DeliveryFailed("x", retry_after=999),
        ]
    )
    dispatcher = Dispatcher(outbox, {ChannelKind.EMAIL: channel})
    outbox.enqueue(one_delivery(), T0)
    [delivery] = one_delivery()
    expected_gaps = [7.5, 40.0, 60.0]  # backoff; Retry-After beats backoff; capped at max_delay
    now = T0
    for gap in expected_gaps:
        assert dispatcher.run_once(now) == DispatchResult(retrying=1)
        record = outbox.get(delivery.delivery_id)
        assert record is not None and record.next_attempt_at == now + timedelta(seconds=gap)
        assert dispatcher.run_once(now + timedelta(seconds=gap - 0.5)) == DispatchResult()  # not yet
        now += timedelta(seconds=gap)
    assert dispatcher.run_once(now) == DispatchResult(sent=1)
    assert [a.number for a in channel.attempts] == [1, 2, 3, 4]


def test_a_dispatcher_that_dies_mid_send_leaves_the_row_to_be_retried(outbox: DeliveryQueue) -> None:
    outbox.enqueue(one_delivery(), T0)
    claimed = outbox.claim_next(T0)
    assert claimed is not None and claimed.number == 1
    # ... the process dies here: neither mark_sent nor mark_failed_attempt is called.
    assert outbox.claim_next(T0 + timedelta(seconds=FAST.lease_s - 1)) is None
    again = outbox.claim_next(T0 + timedelta(seconds=FAST.lease_s))
    assert again is not None and again.number == 2 and again.delivery == claimed.delivery


def test_interrupted_last_attempt_is_failed_visibly(outbox: DeliveryQueue) -> None:
    outbox.enqueue(one_delivery(), T0)
    now = T0
    for _ in range(FAST.max_attempts):
        assert outbox.claim_next(now) is not None
        now += timedelta(seconds=FAST.lease_s)
    assert outbox.claim_next(now) is None
    [failed] = outbox.list_failed()
    assert "interrupted" in (failed.last_error or "")


def test_two_dispatchers_never_claim_the_same_row(database_url: str) -> None:
    a_db, b_db = Database(database_url), Database(database_url)
    a, b = DeliveryQueue(a_db, FAST), DeliveryQueue(b_db, FAST)
    a.enqueue(one_delivery(), T0)
    assert [x is not None for x in (a.claim_next(T0), b.claim_next(T0))] == [True, False]
    a_db.dispose()
    b_db.dispose()


def test_unconfigured_channel_and_channel_bugs_are_visible(outbox: DeliveryQueue) -> None:
    outbox.enqueue(route(notification(), CONFIG, T0), T0)
    buggy = ScriptedChannel([ZeroDivisionError("bug")])
    result = Dispatcher(outbox, {ChannelKind.EMAIL: buggy}).run_once(T0)
    assert result == DispatchResult(retrying=1, failed=2)  # the bug is retried; missing channels are not
    errors = {r.channel: r.last_error for r in outbox.for_notification(NOTIFICATION_ID)}
    assert "unexpected ZeroDivisionError" in (errors[ChannelKind.EMAIL] or "")
    assert "not configured" in (errors[ChannelKind.WEBHOOK] or "")
    assert {r.channel for r in outbox.list_failed()} == {ChannelKind.WEBHOOK, ChannelKind.NOTIFY_SMS}


def test_stats_for_the_health_page(outbox: DeliveryQueue) -> None:
    assert outbox.stats(T0).oldest_pending_age_s is None
    outbox.enqueue(route(notification(), CONFIG, T0), T0)
    channel = ScriptedChannel([DeliveryFailed("no", permanent=True), DeliveryFailed("later")])
    Dispatcher(outbox, {k: channel for k in ChannelKind}).run_once(T0)
    stats = outbox.stats(T0 + timedelta(seconds=5))
    assert (stats.pending, stats.due, stats.sent, stats.failed) == (1, 0, 1, 1)
    assert stats.oldest_pending_age_s == 5.0
    assert outbox.stats(T0 + timedelta(minutes=5)).due == 1


def test_requeue_only_touches_failed_rows(outbox: DeliveryQueue) -> None:
    outbox.enqueue(one_delivery(), T0)
    [delivery] = one_delivery()
    assert not outbox.requeue(delivery.delivery_id, T0)  # pending: nothing to do
    assert not outbox.requeue("no-such-id", T0)


def test_naive_times_are_refused(outbox: DeliveryQueue) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        outbox.enqueue(one_delivery(), datetime(2025, 1, 1))


def test_prune_forgets_only_old_sent_rows(outbox: DeliveryQueue) -> None:
    outbox.enqueue(route(notification(), CONFIG, T0), T0)
    channel = ScriptedChannel([DeliveryFailed("no", permanent=True), DeliveryFailed("later")])
    Dispatcher(outbox, {k: channel for k in ChannelKind}).run_once(T0)
    assert outbox.prune_sent(T0) == 0
    assert outbox.prune_sent(T0 + timedelta(days=30)) == 1
    stats = outbox.stats(T0)
    assert (stats.pending, stats.sent, stats.failed) == (1, 0, 1)


def test_a_requeued_delivery_gets_a_fresh_budget_of_attempts(outbox: DeliveryQueue) -> None:
    outbox.enqueue(one_delivery(), T0)
    [delivery] = one_delivery()
    channel = ScriptedChannel([DeliveryFailed("no", permanent=True)])
    dispatcher = Dispatcher(outbox, {ChannelKind.EMAIL: channel})
    assert dispatcher.run_once(T0) == DispatchResult(failed=1)
    assert outbox.requeue(delivery.delivery_id, T0 + timedelta(hours=1))
    assert not outbox.requeue(delivery.delivery_id, T0 + timedelta(hours=1))  # pending again
    assert dispatcher.run_once(T0 + timedelta(hours=1)) == DispatchResult(sent=1)
    assert [a.number for a in channel.attempts] == [1, 1]
    record = outbox.get(delivery.delivery_id)
    assert record is not None and (record.status, record.attempts) == ("sent", 1)


def test_an_attempt_overtaken_after_its_lease_cannot_overwrite_the_newer_one(outbox: DeliveryQueue) -> None:
    """A dispatcher stalls past its lease; another claims the delivery again. The stalled one's
    failure, arriving late, must neither reschedule nor fail the newer attempt."""
    outbox.enqueue(one_delivery(), T0)
    [delivery] = one_delivery()
    stalled = outbox.claim_next(T0)
    later = T0 + timedelta(seconds=FAST.lease_s)
    newer = outbox.claim_next(later)
    assert stalled is not None and newer is not None and newer.number == 2
    assert outbox.mark_failed_attempt(stalled, later, DeliveryFailed("gone", permanent=True)) == "pending"
    record = outbox.get(delivery.delivery_id)
    assert record is not None and record.status == "pending" and record.last_error is None
    outbox.mark_sent(delivery.delivery_id, later, "ok")
    record = outbox.get(delivery.delivery_id)
    assert record is not None and (record.status, record.attempts, record.leased_until) == ("sent", 2, None)
