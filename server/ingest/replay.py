"""Replaying a dead letter once its cause is fixed: a hub assigned to its patient after the
fact, a schema or decoder fix deployed, InfluxDB repaired.

The letter goes through the same ``IngestProcessor`` as when it first arrived, so the same
idempotency applies: readings already stored are not stored or judged twice. A reading set
aside on its own (``reading_id`` set) is wrapped in a fresh one-reading batch from its hub.

A replay that is refused again does not add a letter: the processor recognises the same
reading or message still waiting and brings that letter's reason up to date, and the letter
stays ``new`` (the cause is not fixed yet) with its replay counted. A replay that goes
through marks it ``replayed``. An outage (``StoreUnavailable``, ``DatabaseUnavailable``)
propagates and leaves the letter as it was.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from common.wire.messages import Reading, ReadingBatch
from common.wire.topics import Channel, TopicError, parse
from server.ingest.dead_letters import reading_letter
from server.ingest.processor import IngestProcessor
from server.ingest.results import IngestResult
from server.ingest.verdicts import RefusalCode
from server.store.models import AuditEvent, DeadLetter, now


class ReplayError(ValueError):
    """This letter cannot be replayed (unknown, already replayed, or not a reading)."""


@dataclass(frozen=True)
class Replayed:
    letter_id: int
    result: IngestResult
    #: Why it is still refused, if it is (the letter's reason, now current).
    still_refused: str | None

    @property
    def refused_again(self) -> bool:
        return self.still_refused is not None


def replay(processor: IngestProcessor, letter_id: int, *, actor: str) -> Replayed:
    with processor.db.session() as s:
        letter = s.get(DeadLetter, letter_id)
        if letter is None:
            raise ReplayError(f"no dead letter #{letter_id}")
        if letter.status != "new":
            raise ReplayError(f"dead letter #{letter_id} was already {letter.status}")
        try:
            channel = parse(letter.topic).channel
        except TopicError:
            channel = None
        if channel is not Channel.READINGS:
            raise ReplayError(f"dead letter #{letter_id} on {letter.topic!r} holds no readings to replay")
        if letter.reason_code == RefusalCode.UNDECODABLE.value:
            raise ReplayError(
                f"dead letter #{letter_id} holds a packet the hub could not decode: the server has no "
                "decoder to try again; dismiss it once the device or the hub's decoder is dealt with"
            )
        topic_name, hub_id, reading_id = letter.topic, letter.hub_id, letter.reading_id
        payload = letter.payload
        if reading_id is not None:
            raw = _reading_of(letter_id, payload)
            # Letters kept before the canonical form had the batch id in them: bring this one
            # to the form the processor keeps, so a refusal again finds it rather than adding one.
            letter.payload = reading_letter(raw)
            payload = _one_reading_batch(letter_id, hub_id, raw)
    result = processor.handle(topic_name, payload)
    with processor.db.session() as s:
        letter = s.get(DeadLetter, letter_id)
        assert letter is not None
        still = letter.status == "new" and (
            result.dead_letter_reason is not None if reading_id is None else result.refused > 0
        )
        letter.replays += 1
        letter.last_replayed_at = now()
        if not still:
            letter.status = "replayed"
        s.add(
            AuditEvent(
                actor=actor,
                action="dead_letter_replayed",
                target=f"#{letter_id}",
                detail=(
                    f"stored {result.stored}, duplicate {result.duplicates}, refused {result.refused}"
                    + (f"; still refused: {letter.reason}" if still else "")
                ),
            )
        )
        reason = letter.reason if still else None
    return Replayed(letter_id, result, reason)


def _reading_of(letter_id: int, payload: bytes) -> object:
    try:
        return json.loads(payload)["reading"]
    except (ValueError, KeyError, TypeError) as e:
        raise ReplayError(f"dead letter #{letter_id} does not hold one reading: {e}") from None


def _one_reading_batch(letter_id: int, hub_id: str | None, raw: object) -> bytes:
    if hub_id is None:
        raise ReplayError(f"dead letter #{letter_id} names no hub")
    try:
        reading = Reading.model_validate(raw)
    except ValidationError:
        # Still not a valid reading (the fix is not deployed): send it as it is, so it is
        # refused again with the current reason.
        return json.dumps(
            {
                "schema": "carewatch.readings.v1",
                "batch_id": str(uuid.uuid4()),
                "hub_id": hub_id,
                "sent_at": datetime.now(UTC).isoformat(),
                "readings": [raw],
            }
        ).encode()
    return ReadingBatch(
        batch_id=uuid.uuid4(), hub_id=hub_id, sent_at=datetime.now(UTC), readings=[reading]
    ).to_json()
