"""The contract between the outbox and the channels that actually send.

A channel either confirms (returns a receipt) or raises :class:`DeliveryFailed` saying
whether trying again could help. Everything else (retries, backoff, giving up, keeping
the failure visible) belongs to the outbox, so each channel stays a thin I/O shell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from alerts.notify.routing import Delivery


class DeliveryFailed(Exception):
    """The channel did not confirm the delivery.

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


class Channel(Protocol):
    def send(self, attempt: Attempt) -> str:
        """Deliver or raise DeliveryFailed; the returned receipt is kept for audit."""
        ...
