"""One MQTT message in, everything that follows from it out — or a clear refusal.

The order is what makes a reading impossible to lose: validate → attribute (the server,
never the hub, decides whose reading it is) → skip readings already in the idempotency
ledger → write to InfluxDB → judge with the rule engine (on each patient's history, read
back from InfluxDB) → record ledger rows, devices and alerts in one relational transaction.
Only when ``handle`` returns does the worker acknowledge the MQTT message. If a store is
down, ``handle`` raises and the message stays unacknowledged with the broker, to be
delivered again.

Anything refused is kept in ``dead_letters`` with its reason: a whole message that is not
a valid batch, or a single reading no patient can be attributed to.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.wire.messages import Reading, ReadingBatch, summarise_validation
from gateway.wire.topics import Channel, TopicError, parse
from server.findings import DEFAULT_TIMEZONE
from server.ingest.judge import HistorySource, Judge
from server.store.database import Database
from server.store.influx import ReadingRecord, StoreRejected
from server.store.models import DeadLetter, Device, Hub, HubAssignment, IngestedReading, now

log = logging.getLogger(__name__)


class ReadingStore(HistorySource, Protocol):
    """Where readings go, and where the judge reads each patient's history back from."""

    def write_readings(self, records: Sequence[ReadingRecord]) -> int: ...


class NotJudged(Exception):
    """The readings were written but their history could not be read (InfluxDB refused the
    query, not an outage), so no rule ran on them."""


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    alerts: list[int] = field(default_factory=list)
    dead_letter_reason: str | None = None


class IngestProcessor:
    def __init__(self, db: Database, sink: ReadingStore, *, tz: ZoneInfo = DEFAULT_TIMEZONE) -> None:
        self.db = db
        self.sink = sink
        self.judge = Judge(sink, tz)

    # -- the whole message -----------------------------------------------------------------
    def handle(self, topic_name: str, payload: bytes) -> IngestResult:
        try:
            parsed = parse(topic_name)
        except TopicError as e:
            return self.dead_letter(topic_name, None, payload, str(e))
        if parsed.channel is not Channel.READINGS:
            return self.dead_letter(
                topic_name, parsed.hub_id, payload, f"not a readings topic: {parsed.channel}"
            )
        try:
            batch = ReadingBatch.model_validate_json(payload)
        except ValidationError as e:
            return self.dead_letter(topic_name, parsed.hub_id, payload, summarise_validation(e))
        if batch.hub_id != parsed.hub_id:
            return self.dead_letter(
                topic_name,
                parsed.hub_id,
                payload,
                f"batch says hub {batch.hub_id!r} but arrived on hub {parsed.hub_id!r}'s topic",
            )
        try:
            return self._ingest(topic_name, batch, payload)
        except NotJudged as e:
            # Written to InfluxDB (idempotently) but the ledger was rolled back with the
            # judgement, so a replay stores nothing twice and judges them then.
            return self.dead_letter(
                topic_name,
                parsed.hub_id,
                payload,
                f"readings stored but not judged: InfluxDB refused the history query: {e}; replay once fixed",
            )
        except StoreRejected as e:
            # The database refused the data itself (not an outage): retrying cannot help, so
            # keep the whole message with the reason and let the worker acknowledge it.
            return self.dead_letter(topic_name, parsed.hub_id, payload, f"InfluxDB refused the readings: {e}")
        except IntegrityError:
            # Another ingest worker stored some of these readings between our check and our
            # commit; the ledger now knows them, so a second pass only stores the rest.
            log.info("batch %s raced another worker; re-checking the ledger", batch.batch_id)
            return self._ingest(topic_name, batch, payload)

    # -- attribution, idempotency, storage, rules ---------------------------------------------
    def _ingest(self, topic_name: str, batch: ReadingBatch, payload: bytes) -> IngestResult:
        result = IngestResult()
        with self.db.session() as s:
            hub = s.get(Hub, batch.hub_id)
            if hub is None:
                self._add_dead_letter(
                    s, topic_name, batch.hub_id, None, payload, f"unknown hub {batch.hub_id!r}"
                )
                result.refused = len(batch.readings)
                result.dead_letter_reason = f"unknown hub {batch.hub_id!r}"
                return result
            ids = [str(r.reading_id) for r in batch.readings]
            seen = set(
                s.scalars(select(IngestedReading.reading_id).where(IngestedReading.reading_id.in_(ids)))
            )
            fresh: list[tuple[str, Reading]] = []
            for reading in dict((str(r.reading_id), r) for r in batch.readings).values():
                if str(reading.reading_id) in seen:
                    result.duplicates += 1
                    continue
                patient_id = self._patient_at(s, batch.hub_id, reading.taken_at)
                if patient_id is None:
                    reason = (
                        f"hub {batch.hub_id!r} was assigned to no patient at {reading.taken_at.isoformat()}"
                    )
                    body = json.dumps(
                        {"batch_id": str(batch.batch_id), "reading": reading.model_dump(mode="json")}
                    )
                    self._add_dead_letter(
                        s, topic_name, batch.hub_id, str(reading.reading_id), body.encode(), reason
                    )
                    result.refused += 1
                    continue
                fresh.append((patient_id, reading))
            result.duplicates += len(batch.readings) - len({str(r.reading_id) for r in batch.readings})
            if fresh:
                # Raises StoreUnavailable: nothing is committed and the message is not acknowledged.
                self.sink.write_readings([ReadingRecord(pid, batch.hub_id, r) for pid, r in fresh])
            at = now()
            for patient_id, reading in fresh:
                s.add(
                    IngestedReading(
                        reading_id=str(reading.reading_id),
                        patient_id=patient_id,
                        hub_id=batch.hub_id,
                        kind=reading.kind.value,
                        taken_at=reading.taken_at,
                        ingested_at=at,
                        batch_id=str(batch.batch_id),
                    )
                )
                self._record_device(s, batch.hub_id, reading, at)
            result.stored = len(fresh)
            # Reads history from InfluxDB; raises StoreUnavailable like the write above.
            try:
                result.alerts = self.judge(s, fresh, at)
            except StoreRejected as e:
                raise NotJudged(str(e)) from e
            hub.last_seen_at = at
            s.flush()
        return result

    @staticmethod
    def _patient_at(s: Session, hub_id: str, when: datetime) -> str | None:
        return s.scalars(
            select(HubAssignment.patient_id)
            .where(
                HubAssignment.hub_id == hub_id,
                HubAssignment.start_at <= when,
                or_(HubAssignment.end_at.is_(None), and_(HubAssignment.end_at > when)),
            )
            .order_by(HubAssignment.start_at.desc())
            .limit(1)
        ).first()

    @staticmethod
    def _record_device(s: Session, hub_id: str, reading: Reading, at: datetime) -> None:
        d = reading.device
        device = s.scalars(select(Device).where(Device.hub_id == hub_id, Device.address == d.address)).first()
        if device is None:
            device = Device(hub_id=hub_id, address=d.address, model=d.model, first_seen_at=at)
            s.add(device)
        device.model = d.model
        device.manufacturer = d.manufacturer or device.manufacturer
        device.serial = d.serial or device.serial
        device.firmware = d.firmware or device.firmware
        device.last_seen_at = at

    # -- refusals ---------------------------------------------------------------------------
    def dead_letter(self, topic_name: str, hub_id: str | None, payload: bytes, reason: str) -> IngestResult:
        with self.db.session() as s:
            self._add_dead_letter(s, topic_name, hub_id, None, payload, reason)
        return IngestResult(refused=1, dead_letter_reason=reason)

    @staticmethod
    def _add_dead_letter(
        s: Session, topic_name: str, hub_id: str | None, reading_id: str | None, payload: bytes, reason: str
    ) -> None:
        log.warning("refused %s (%s): %s", topic_name, reading_id or "whole message", reason)
        s.add(
            DeadLetter(
                topic=topic_name[:256],
                hub_id=hub_id,
                reading_id=reading_id,
                reason=reason[:2000],
                payload=payload,
            )
        )
