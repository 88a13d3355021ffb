"""Replaying a dead letter once its cause is fixed: a hub assigned to its patient after the
fact, a schema or decoder fix deployed, InfluxDB repaired.

The letter goes through the same ``IngestProcessor`` as when it first arrived, so the same
idempotency applies: readings already stored are not stored or judged twice. A reading set
aside on its own (``reading_id`` set) is wrapped in a fresh one-reading batch from its hub.
The letter is then marked ``replayed``, or ``replayed-refused`` when the processor refused
it again (the new refusal is a new letter with the current reason). An outage
(``StoreUnavailable``, ``DatabaseUnavailable``) propagates and leaves the letter ``new``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from pydantic import ValidationError

from gateway.wire.messages import Reading, ReadingBatch, utcnow
from gateway.wire.topics import Channel, TopicError, parse
from server.ingest.processor import IngestProcessor, IngestResult
from server.store.models import AuditEvent, DeadLetter


class ReplayError(ValueError):
    """This letter cannot be replayed (unknown, already replayed, or not a reading)."""


@dataclass(frozen=True)
class Replayed:
    letter_id: int
    result: IngestResult

    @property
    def refused_again(self) -> bool:
        return self.result.dead_letter_reason is not None or self.result.refused > 0


def replay(processor: IngestProcessor, letter_id: int, *, actor: str) -> Replayed:
    with processor.db.session() as s:
        letter = s.get(DeadLetter, letter_id)
        if letter is None:
            raise ReplayError(f"no dead letter #{letter_id}")
        if letter.status != "new":
            raise ReplayError(f"dead letter #{letter_id} was already {letter.status}")
        topic_name, hub_id, reading_id, payload = (
            letter.topic,
            letter.hub_id,
            letter.reading_id,
            letter.payload,
        )
    try:
        channel = parse(topic_name).channel
    except TopicError:
        channel = None
    if channel is not Channel.READINGS:
        raise ReplayError(f"dead letter #{letter_id} on {topic_name!r} holds no readings to replay")
    if reading_id is not None:
        payload = _one_reading_batch(letter_id, hub_id, payload)
    result = processor.handle(topic_name, payload)
    outcome = Replayed(letter_id, result)
    with processor.db.session() as s:
        letter = s.get(DeadLetter, letter_id)
        assert letter is not None
        letter.status = "replayed-refused" if outcome.refused_again else "replayed"
        s.add(
            AuditEvent(
                actor=actor,
                action="dead_letter_replayed",
                target=f"#{letter_id}",
                detail=f"stored {result.stored}, duplicate {result.duplicates}, refused {result.refused}",
            )
        )
    return outcome


def _one_reading_batch(letter_id: int, hub_id: str | None, payload: bytes) -> bytes:
    if hub_id is None:
        raise ReplayError(f"dead letter #{letter_id} names no hub")
    try:
        reading = Reading.model_validate(json.loads(payload)["reading"])
    except (ValueError, KeyError, TypeError, ValidationError) as e:
        raise ReplayError(f"dead letter #{letter_id} does not hold one reading: {e}") from None
    return ReadingBatch(batch_id=uuid.uuid4(), hub_id=hub_id, sent_at=utcnow(), readings=[reading]).to_json()
