"""The contract between the delivery queue and the notifiers that actually send.

A notifier sends over one kind of channel (e-mail, a webhook, GOV.UK Notify). It either
confirms (returns a receipt) or raises :class:`DeliveryFailed` saying whether trying again
could help. Everything else (retries, backoff, giving up, keeping the failure visible)
belongs to the queue, so each notifier stays a thin I/O shell.

Named ``Notifier`` rather than "channel": :class:`common.wire.topics.Channel` is the MQTT
channel of a hub's topics, and ``ChannelKind`` is the routing configuration's word for the
kind a notifier serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from alerts.notify.routing import Delivery


class DeliveryFailed(Exception):
    """The notifier did not confirm the delivery.

    ``permanent`` when repeating the same request cannot succeed (recipient refused,
    4xx, bad credentials or template): the delivery is marked failed at once, visibly,
    instead of burning retries. ``retry_after`` honours a receiver's ``Retry-After``.
    """

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery: Delivery
    number: int  # 1 for the first try; > 1 means an earlier try may have reached the receiver


class Notifier(Protocol):
    def send(self, attempt: Attempt) -> str:
        """Deliver or raise DeliveryFailed; the returned receipt is kept for audit."""
        ...
