"""Route a notification into the queue, and on every tick send what is due through the
notifiers, recording each outcome.

Sequential on purpose: a tick's sending is bounded by its ``limit`` and the notifiers'
timeouts, GOV.UK Notify's client is not thread-safe, and two tickers are already safe with
each other through the queue's leases.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from alerts.notify.message import Notification
from alerts.notify.notifier import Attempt, DeliveryFailed, Notifier
from alerts.notify.routing import ChannelKind, Delivery, RoutingConfig, route
from server.notifications.queue import DeliveryQueue, Status, add_deliveries

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DispatchResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


class Dispatcher:
    """``notifiers`` maps each channel kind to its sender (one ``GovUkNotifySender`` serves
    both Notify kinds). A kind routed to but not configured fails permanently and visibly:
    it is a deployment error, not something time will fix."""

    def __init__(self, queue: DeliveryQueue, notifiers: Mapping[ChannelKind, Notifier]) -> None:
        self.queue = queue
        self.notifiers = dict(notifiers)

    def notify(self, notification: Notification, config: RoutingConfig, at: datetime) -> list[Delivery]:
        """Route and queue, in a transaction of its own."""
        with self.queue.db.session() as s:
            return self.route_into(s, notification, config, at)

    def route_into(
        self, s: Session, notification: Notification, config: RoutingConfig, at: datetime
    ) -> list[Delivery]:
        """Route and queue in the caller's transaction (the relay's, which marks the owed row)."""
        deliveries = route(notification, config, at)
        add_deliveries(s, deliveries, at)
        if not deliveries:
            log.info(
                "notification %s (%s %s) routed to no channel at this time",
                notification.notification_id,
                notification.severity.label,
                notification.event.value,
            )
        return deliveries

    def run_once(self, now: datetime, limit: int = 50) -> DispatchResult:
        sent = retrying = failed = 0
        for _ in range(limit):
            attempt = self.queue.claim_next(now)
            if attempt is None:
                break
            d = attempt.delivery
            try:
                receipt = self._send(attempt)
            except DeliveryFailed as e:
                status = self.queue.mark_failed_attempt(attempt, now, e)
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
            self.queue.mark_sent(d.delivery_id, now, receipt)
            sent += 1
        return DispatchResult(sent=sent, retrying=retrying, failed=failed)

    def _send(self, attempt: Attempt) -> str:
        notifier = self.notifiers.get(attempt.delivery.channel)
        if notifier is None:
            raise DeliveryFailed(
                f"channel {attempt.delivery.channel.value} is not configured", permanent=True
            )
        try:
            return notifier.send(attempt)
        except DeliveryFailed:
            raise
        except Exception as e:
            # A bug in a notifier must not lose the delivery: treat it as a retryable failure.
            log.exception("notifier for %s raised unexpectedly", attempt.delivery.channel.value)
            raise DeliveryFailed(f"unexpected {type(e).__name__}: {e}") from e
