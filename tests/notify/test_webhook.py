"""Webhooks reach a real local HTTP server, signed; a receiver that fails and then recovers
(500s, connection refused, a lost response) still gets the notification exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from alerts.notify.message import render_webhook, render_webhook_body
from alerts.notify.routing import ChannelKind, RoutingConfig
from alerts.notify.webhook import WebhookSender, sign, verify_signature
from server.notifications.dispatch import Dispatcher, DispatchResult
from server.notifications.queue import DeliveryQueue, Status
from tests.notify.helpers import (
    NOTIFICATION_ID,
    T0,
    Receiver,
    assert_minimal,
    free_port,
    http_server,
    notification,
)

SECRET = "whsec-test-4c1f9e"


def routing(base_url: str) -> RoutingConfig:
    return RoutingConfig.model_validate(
        {
            "teams": {
                "north": {
                    "channels": [
                        {"kind": "webhook", "url": f"{base_url}/hooks/carewatch", "secret_id": "north-rota"}
                    ]
                }
            }
        }
    )


@pytest.fixture
def sender() -> Iterator[WebhookSender]:
    s = WebhookSender({"north-rota": SECRET}, timeout=2.0)
    yield s
    s.close()


def drain(
    dispatcher: Dispatcher, start: datetime, ticks: int = 10, step: timedelta = timedelta(minutes=1)
) -> list[DispatchResult]:
    """The server's tick, with a clock that moves a minute per tick (past any backoff here)."""
    return [dispatcher.run_once(start + i * step) for i in range(ticks)]


def test_webhook_arrives_signed_with_an_idempotency_key(outbox: DeliveryQueue, sender: WebhookSender) -> None:
    receiver = Receiver()
    with http_server(receiver) as url:
        dispatcher = Dispatcher(outbox, {ChannelKind.WEBHOOK: sender})
        dispatcher.notify(notification(), routing(url), T0)
        assert dispatcher.run_once(T0).sent == 1
    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/hooks/carewatch")
    assert request.headers["Idempotency-Key"] == NOTIFICATION_ID
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-CareWatch-Event"] == "opened"
    assert verify_signature(SECRET, request.headers["X-CareWatch-Signature"], request.body)
    assert request.json() == render_webhook(notification())
    assert_minimal(request.body.decode())
    [record] = outbox.for_notification(NOTIFICATION_ID)
    assert (record.status, record.attempts, record.receipt) == (Status.SENT, 1, "HTTP 200")


def test_verify_signature_rejects_tampering_replay_and_garbage() -> None:
    body = render_webhook_body(notification())
    now = 1_750_000_000
    header = sign(SECRET, now, body)
    assert verify_signature(SECRET, header, body, now=now + 10)
    assert not verify_signature(SECRET, header, body.replace(b"MO", b"XX"), now=now)
    assert not verify_signature("another-secret", header, body, now=now)
    assert not verify_signature(SECRET, header, body, now=now + 301)  # replayed later
    assert not verify_signature(SECRET, header.replace(f"t={now}", f"t={now + 5}"), body, now=now)
    for garbage in (None, "", "v1=abc", f"t={now}", "t=x,v1=y"):
        assert not verify_signature(SECRET, garbage, body, now=now)
    rotated = f"{header},v1={sign('old-secret', now, body).partition(',v1=')[2]}"
    assert verify_signature("old-secret", rotated, body, now=now)
    assert verify_signature(SECRET, rotated, body, now=now)


def test_receiver_failing_with_500s_then_recovering_gets_it_exactly_once(
    outbox: DeliveryQueue, sender: WebhookSender
) -> None:
    receiver = Receiver(script=[500, 503, 502])
    with http_server(receiver) as url:
        dispatcher = Dispatcher(outbox, {ChannelKind.WEBHOOK: sender})
        dispatcher.notify(notification(), routing(url), T0)
        results = drain(dispatcher, T0)
    assert sum(r.sent for r in results) == 1 and sum(r.retrying for r in results) == 3
    assert len(receiver.requests) == 4
    assert {r.headers["Idempotency-Key"] for r in receiver.requests} == {NOTIFICATION_ID}
    assert [r.headers["X-CareWatch-Attempt"] for r in receiver.requests] == ["1", "2", "3", "4"]
    assert len({r.body for r in receiver.requests}) == 1  # byte-identical on every retry
    assert receiver.successes == 1 and list(receiver.processed) == [NOTIFICATION_ID]
    [record] = outbox.for_notification(NOTIFICATION_ID)
    assert (record.status, record.attempts) == (Status.SENT, 4)
    assert record.last_error is not None and "HTTP 502" in record.last_error  # the history stays visible


def test_connection_refused_then_receiver_starts(outbox: DeliveryQueue, sender: WebhookSender) -> None:
    port = free_port()
    dispatcher = Dispatcher(outbox, {ChannelKind.WEBHOOK: sender})
    dispatcher.notify(notification(), routing(f"http://127.0.0.1:{port}"), T0)
    assert dispatcher.run_once(T0) == DispatchResult(retrying=1)
    assert dispatcher.run_once(T0 + timedelta(minutes=1)) == DispatchResult(retrying=1)
    [record] = outbox.for_notification(NOTIFICATION_ID)
    assert record.status is Status.PENDING and "ConnectError" in (record.last_error or "")
    receiver = Receiver()
    with http_server(receiver, port=port):
        results = drain(dispatcher, T0 + timedelta(minutes=2))
    assert sum(r.sent for r in results) == 1
    assert (
        receiver.successes == 1
        and len(receiver.requests) == 1
        and list(receiver.processed) == [NOTIFICATION_ID]
    )


def test_lost_response_is_retried_and_deduplicated_by_the_receiver(outbox: DeliveryQueue) -> None:
    """The receiver acts, then the answer never arrives: we cannot know, so we retry, and
    the Idempotency-Key lets the receiver drop the repeat."""
    receiver = Receiver(script=["stall"], stall_s=0.8)
    sender = WebhookSender({"north-rota": SECRET}, timeout=0.3)
    with http_server(receiver) as url:
        dispatcher = Dispatcher(outbox, {ChannelKind.WEBHOOK: sender})
        dispatcher.notify(notification(), routing(url), T0)
        assert dispatcher.run_once(T0) == DispatchResult(retrying=1)
        assert "Timeout" in (outbox.for_notification(NOTIFICATION_ID)[0].last_error or "")
        results = drain(dispatcher, T0 + timedelta(minutes=1))
    sender.close()
    assert sum(r.sent for r in results) == 1
    assert len(receiver.requests) == 2
    assert list(receiver.processed) == [NOTIFICATION_ID]  # acted upon once
    assert receiver.successes == 1


def test_permanent_rejection_fails_at_once_and_stays_visible(
    outbox: DeliveryQueue, sender: WebhookSender
) -> None:
    receiver = Receiver(script=[410])
    with http_server(receiver) as url:
        dispatcher = Dispatcher(outbox, {ChannelKind.WEBHOOK: sender})
        dispatcher.notify(notification(), routing(url), T0)
        assert dispatcher.run_once(T0) == DispatchResult(failed=1)
        assert drain(dispatcher, T0 + timedelta(minutes=1)) == [DispatchResult()] * 10
        [failed] = outbox.list_failed()
        assert failed.status is Status.FAILED and "HTTP 410" in (failed.last_error or "")
        # An operator fixes the receiver and requeues: same idempotency key, delivered once.
        assert outbox.requeue(failed.delivery_id, T0 + timedelta(hours=1))
        assert dispatcher.run_once(T0 + timedelta(hours=1)) == DispatchResult(sent=1)
    assert [r.headers["Idempotency-Key"] for r in receiver.requests] == [NOTIFICATION_ID] * 2
    assert receiver.successes == 1


def test_a_receiver_that_never_recovers_ends_failed_not_dropped(
    outbox: DeliveryQueue, sender: WebhookSender
) -> None:
    receiver = Receiver(script=[500] * 100)
    with http_server(receiver) as url:
        dispatcher = Dispatcher(outbox, {ChannelKind.WEBHOOK: sender})
        dispatcher.notify(notification(), routing(url), T0)
        results = drain(dispatcher, T0)
    assert sum(r.failed for r in results) == 1
    assert len(receiver.requests) == outbox.policy.max_attempts
    [failed] = outbox.list_failed()
    assert failed.attempts == outbox.policy.max_attempts
    assert (
        failed.last_error == f'attempt {outbox.policy.max_attempts}: webhook HTTP 500: {{"error":"scripted"}}'
    )
    stats = outbox.stats(T0 + timedelta(hours=1))
    assert (stats.pending, stats.sent, stats.failed) == (0, 0, 1)


def test_unknown_secret_fails_permanently(outbox: DeliveryQueue) -> None:
    sender = WebhookSender({}, client=None)
    dispatcher = Dispatcher(outbox, {ChannelKind.WEBHOOK: sender})
    dispatcher.notify(notification(), routing("https://hooks.example"), T0)
    assert dispatcher.run_once(T0) == DispatchResult(failed=1)
    assert "no webhook secret" in (outbox.list_failed()[0].last_error or "")
    sender.close()


def test_signature_timestamp_is_wall_clock(outbox: DeliveryQueue) -> None:
    receiver = Receiver()
    sender = WebhookSender({"north-rota": SECRET}, clock=lambda: 1_000.0)
    with http_server(receiver) as url:
        dispatcher = Dispatcher(outbox, {ChannelKind.WEBHOOK: sender})
        dispatcher.notify(notification(), routing(url), T0)
        dispatcher.run_once(T0)
    sender.close()
    header = receiver.requests[0].headers["X-CareWatch-Signature"]
    assert header.startswith("t=1000,")
    assert not verify_signature(SECRET, header, receiver.requests[0].body, now=time.time())
