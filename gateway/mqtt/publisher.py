"""Drain the outbox into ``readings`` batches; delete only what the broker acknowledged."""

from __future__ import annotations

import logging
import threading
import uuid

from gateway.mqtt.session import MqttSession, PublishFailed
from gateway.outbox import Outbox
from gateway.wire.messages import ReadingBatch, utcnow
from gateway.wire.topics import Channel, topic

log = logging.getLogger(__name__)


class OutboxPublisher:
    """A background thread that keeps the outbox empty whenever the broker is reachable."""

    def __init__(
        self,
        outbox: Outbox,
        session: MqttSession,
        hub_id: str,
        *,
        batch_size: int = 50,
        max_backoff: float = 60.0,
    ) -> None:
        self.outbox = outbox
        self.session = session
        self.hub_id = hub_id
        self.topic = topic(hub_id, Channel.READINGS)
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-publisher", daemon=True)
        self.published = 0

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        """Something new is in the outbox."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def flush_once(self) -> int:
        """Send one batch; return how many readings the broker took. Raises PublishFailed."""
        pending = self.outbox.oldest(self.batch_size)
        if not pending:
            return 0
        batch = ReadingBatch(
            batch_id=uuid.uuid4(), hub_id=self.hub_id, sent_at=utcnow(), readings=[p.reading for p in pending]
        )
        seqs = [p.seq for p in pending]
        try:
            self.session.publish_and_wait(self.topic, batch.to_json())
        except PublishFailed as e:
            self.outbox.record_failure(seqs, str(e))
            raise
        self.outbox.remove(seqs)
        self.published += len(seqs)
        log.info("published batch %s with %d reading(s)", batch.batch_id, len(seqs))
        return len(seqs)

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            if not self.session.connected.wait(timeout=1.0):
                continue
            try:
                sent = self.flush_once()
            except PublishFailed as e:
                log.warning("batch not delivered (%s); kept in the outbox, retrying in %.0fs", e, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = 1.0
            if sent == 0:
                self._wake.wait(timeout=5.0)
                self._wake.clear()
