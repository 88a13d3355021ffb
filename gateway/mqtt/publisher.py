"""Drain the outbox into ``readings`` batches; forget a reading only on the server's receipt.

Two conversations with the broker: batches out (QoS 1, the broker's PUBACK marks them
*sent*), receipts in (the ingest's ``ReadingReceipt`` on this hub's ``receipts`` topic
deletes them). A reading the broker took but no receipt named is sent again after every
reconnection and when its resend time comes (``outbox.ResendPolicy``); the server
deduplicates. The loop handles what it knows (the broker refusing or not answering, the
outbox file failing: retried through ``common.retry``, 1 s doubling to ``max_backoff``,
until it works or the hub stops) and leaves everything else to its ``Supervisor``: a bug
fails the process, which its supervisor restarts, rather than a publisher thread dying
unseen while the radio keeps storing readings.

Packets the hub could not decode (``UndecodedPacket``) leave the same way, in batches of their
own (``ReadingBatch.undecoded``, no readings beside them): a server from before them refuses
such a batch whole, and must not refuse readings with it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import ValidationError

from common.retry import Retry, RetryInterrupted, RetryPolicy
from common.supervision import Supervisor
from common.wire.messages import (
    MAX_MESSAGE_BYTES,
    Reading,
    ReadingBatch,
    ReadingReceipt,
    ReceiptEntry,
    ReceiptOutcome,
    summarise_validation,
)
from common.wire.topics import Channel, topic
from common.wire.undecoded import UndecodedPacket
from gateway.config import DEFAULT_BATCH_SIZE
from gateway.mqtt.session import MqttSession, PublishFailed
from gateway.outbox import Outbox, OutboxUnavailable, PendingPacket, PendingReading

log = logging.getLogger(__name__)

#: Room for the batch's own fields around its readings.
_BATCH_OVERHEAD = 512
_P = TypeVar("_P", PendingReading, PendingPacket)


def fit_batch(pending: list[_P], max_bytes: int = MAX_MESSAGE_BYTES) -> list[_P]:
    """The longest prefix of ``pending`` whose batch stays under ``max_bytes`` (at least one)."""
    total = _BATCH_OVERHEAD
    for n, p in enumerate(pending):
        total += p.size + 1
        if total > max_bytes and n > 0:
            return pending[:n]
    return pending


class OutboxPublisher:
    """A background thread that keeps the outbox moving whenever the broker is reachable."""

    def __init__(
        self,
        outbox: Outbox,
        session: MqttSession,
        hub_id: str,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_backoff: float = 60.0,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.outbox = outbox
        self.session = session
        self.hub_id = hub_id
        self.topic = topic(hub_id, Channel.READINGS)
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self.supervisor = supervisor or Supervisor()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = self.supervisor.thread("outbox-publisher", self._run)
        self.published = 0  # readings the broker took (counting resends)
        self.confirmed = 0  # readings the server confirmed
        #: Called (on paho's thread) with each receipt's entries: the patient's "your nurse's
        #: system has your reading" hangs here.
        self.on_receipt: Callable[[list[ReceiptEntry]], None] | None = None
        session.subscribe(topic(hub_id, Channel.RECEIPTS), self._on_receipt)
        session.on_connected(self._on_reconnected)

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        """Something new is in the outbox."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- receipts (paho's network thread) ----------------------------------------------------
    def _on_receipt(self, payload: bytes) -> None:
        try:
            receipt = ReadingReceipt.model_validate_json(payload)
        except ValidationError as e:
            log.warning("ignoring an unreadable receipt: %s", summarise_validation(e, what="receipt"))
            return
        if receipt.hub_id != self.hub_id:
            log.warning("ignoring a receipt addressed to hub %r", receipt.hub_id)
            return
        for entry in receipt.readings:
            if entry.outcome is ReceiptOutcome.REFUSED:
                log.warning(
                    "the server refused reading %s and keeps it for review: %s",
                    entry.reading_id,
                    entry.reason,
                )
        try:
            n = self.outbox.confirm(str(e.reading_id) for e in receipt.readings)
        except OutboxUnavailable as e:
            # Kept; the next copy is confirmed again. Harmless, but worth saying.
            log.error("receipt for %d reading(s) not applied: %s", len(receipt.readings), e)
            return
        self.confirmed += n
        log.info("server confirmed %d reading(s) of batch %s", n, receipt.batch_id)
        if self.on_receipt is not None:
            self.on_receipt(list(receipt.readings))
        self._wake.set()

    def _on_reconnected(self) -> None:
        # A restarted broker may have lost what it acknowledged: everything unconfirmed is due.
        try:
            n = self.outbox.make_due_again()
        except OutboxUnavailable as e:
            log.error("after reconnecting: %s", e)
            return
        if n:
            log.info("reconnected: %d unconfirmed reading(s) will be sent again", n)
        self._wake.set()

    # -- sending ---------------------------------------------------------------------------
    def flush_once(self) -> int:
        """Send one batch of the readings due, then one of the undecoded packets due; return
        how many the broker took (both kinds, so neither waits behind a long replay of the other).

        Raises ``PublishFailed`` (kept, retried) or ``OutboxUnavailable``."""
        sent = 0
        readings = fit_batch(self.outbox.due(self.batch_size))
        if readings:
            sent += self._publish([p.seq for p in readings], "reading(s)", [p.reading for p in readings])
        packets = fit_batch(self.outbox.due_undecoded(self.batch_size))
        if packets:
            sent += self._publish(
                [p.seq for p in packets], "packet(s) it could not decode", [], [p.packet for p in packets]
            )
        return sent

    def _publish(
        self,
        seqs: list[int],
        what: str,
        readings: list[Reading],
        undecoded: list[UndecodedPacket] | None = None,
    ) -> int:
        batch = ReadingBatch(
            batch_id=uuid.uuid4(),
            hub_id=self.hub_id,
            sent_at=datetime.now(UTC),
            readings=readings,
            undecoded=undecoded,
        )
        try:
            self.session.publish_and_wait(self.topic, batch.to_json())
        except PublishFailed as e:
            self.outbox.record_failure(seqs, str(e))
            raise
        self.outbox.mark_sent(seqs)
        self.published += len(seqs)
        log.info(
            "published batch %s with %d %s; awaiting the server's receipt", batch.batch_id, len(seqs), what
        )
        return len(seqs)

    def _run(self) -> None:
        # Built here, not in __init__, so that max_backoff set before start() counts.
        retry = Retry(
            RetryPolicy(first=1.0, factor=2.0, cap=self.max_backoff),
            on=(PublishFailed, OutboxUnavailable),
            log=log,
            message="batch not delivered (%(error)s); kept in the outbox, retrying in %(delay).0fs",
            stop=self._stop,
        )
        while not self._stop.is_set():
            try:
                sent = retry.call(self._flush_when_connected)
            except RetryInterrupted:
                return
            if sent == 0:
                self._idle()

    def _flush_when_connected(self) -> int:
        """``flush_once`` as soon as the broker is connected (:class:`RetryInterrupted` if the
        hub stops first).

        Waiting for the connection is part of the attempt, so a failed batch's backoff goes
        on growing across a reconnection and starts again at 1 s only after a delivery."""
        while not self.session.connected.wait(timeout=1.0):
            if self._stop.is_set():
                raise RetryInterrupted("stopping before the broker was connected")
        return self.flush_once()

    def _idle(self) -> None:
        """Sleep until something is due, new arrives, or a receipt comes (at most 5 s)."""
        try:
            due_in = self.outbox.next_due_in()
        except OutboxUnavailable:  # fails again, and is reported, in the next flush
            due_in = None
        # Something due that was not sent is a row skipped as unreadable: do not spin on it.
        self._wake.wait(timeout=1.0 if not due_in else min(5.0, due_in))
        self._wake.clear()
