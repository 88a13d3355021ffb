"""One readings message in, everything that follows from it out — reading by reading.

The order is what makes a reading impossible to lose: split the message (header once, each
reading on its own, ``verdicts``) → admit each reading (possible values, sane times) →
recognise what the idempotency ledger already holds (a true duplicate, or a *conflict*: the
same id with other content or from another hub) → attribute it (the server, never the hub,
decides whose reading it is) → write to InfluxDB → judge with the rule engine → record
ledger rows, devices, alerts and dead letters in one relational transaction. Only when
``handle`` returns does the worker send the hub its receipt and acknowledge the message.

Every reading ends in exactly one of three places, and the receipt says which: stored (and
judged), already stored, or refused and kept as a dead letter with its reason. Good readings
are stored and judged even when their neighbours are refused.
A packet the hub could not decode (``ReadingBatch.undecoded``) is refused from the start
(``verdicts.undecodable``) and kept as a dead letter like any refused reading, its packet id
standing for a reading id in the ledgerless path and in the receipt.

Failures: a store outage (``StoreUnavailable``, ``DatabaseUnavailable``) propagates and the
message stays unacknowledged, to be delivered again. Anything else is a defect that this
message or one of its readings triggers; ``handle`` retries the readings one by one so only
the reading that triggers it is dead-lettered (``internal_error``), and the rest go on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from common.retry import Retry, RetryPolicy
from common.wire.messages import BatchHeader, Reading, ReceiptEntry, ReceiptOutcome
from common.wire.topics import Channel, ParsedTopic, TopicError, parse
from server.hub_config import configured_devices
from server.ingest.dead_letters import keep_message, keep_reading
from server.ingest.results import IngestResult
from server.ingest.results import refused_entry as _refused
from server.ingest.verdicts import (
    Refusal,
    RefusalCode,
    RefusedReading,
    admit,
    content_digest,
    hub_clock_offset,
    split_batch,
    with_plausibility_flag,
)
from server.judging.findings import DEFAULT_TIMEZONE
from server.judging.readings import HistorySource, Judge
from server.provisioning import patient_at, record_device
from server.store.database import Database, DatabaseUnavailable
from server.store.influx.errors import StoreRejected, StoreUnavailable
from server.store.influx.schema import ReadingRecord
from server.store.latest_values import record_latest
from server.store.models import Hub, IngestedReading, now

log = logging.getLogger(__name__)

OUTAGES = (StoreUnavailable, DatabaseUnavailable)
#: A history query InfluxDB refused is tried twice more, after 1 s and 3 s (see ``_judged``).
NOT_JUDGED_RETRY = RetryPolicy(first=1.0, factor=3.0, cap=3.0, attempts=3)


class ReadingStore(HistorySource, Protocol):
    """Where readings go, and where the judge reads each patient's history back from."""

    def write_readings(self, records: Sequence[ReadingRecord]) -> int: ...


class NotJudged(Exception):
    """The readings were written but their history could not be read (InfluxDB refused the
    query, not an outage), so no rule ran on them."""


@dataclass(frozen=True)
class _Work:
    """One go at ingesting: the batch's header, its readings still to store and those already
    refused, and the whole message when it is to be kept whole if the hub is unknown (None
    when its readings are tried one by one, each then kept on its own)."""

    topic: str
    header: BatchHeader
    candidates: list[Reading]
    refused: list[RefusedReading]
    payload: bytes | None

    def alone(self, reading: Reading) -> _Work:
        return _Work(self.topic, self.header, [reading], [], None)

    def refusing(self, letters: list[RefusedReading]) -> _Work:
        return _Work(self.topic, self.header, [], letters, None)

    def ids(self) -> list[UUID]:
        found = [r.reading_id for r in self.candidates] + [r.reading_id for r in self.refused if r.reading_id]
        return list(dict.fromkeys(found))


@dataclass
class _Outcome:
    """What the ingest transaction decided for each reading, before it is committed."""

    fresh: list[tuple[str, Reading, str]] = field(default_factory=list)  # patient, reading, digest
    letters: list[RefusedReading] = field(default_factory=list)
    duplicates: list[UUID] = field(default_factory=list)

    def receipts(self) -> list[ReceiptEntry]:
        return (
            [ReceiptEntry(reading_id=r.reading_id, outcome=ReceiptOutcome.STORED) for _, r, _ in self.fresh]
            + [ReceiptEntry(reading_id=i, outcome=ReceiptOutcome.DUPLICATE) for i in self.duplicates]
            + [_refused(letter.reading_id, letter.refusal) for letter in self.letters if letter.reading_id]
        )


class IngestProcessor:
    def __init__(self, db: Database, sink: ReadingStore, *, tz: ZoneInfo = DEFAULT_TIMEZONE) -> None:
        self.db = db
        self.sink = sink
        self.judge = Judge(sink, tz)

    # -- the whole message -----------------------------------------------------------------
    def handle(
        self,
        topic_name: str,
        payload: bytes,
        *,
        received_at: datetime | None = None,
        parsed: ParsedTopic | None = None,
    ) -> IngestResult:
        """``parsed``: the topic already parsed by the caller (the worker routes on it)."""
        received_at = received_at or now()
        try:
            parsed = parsed or parse(topic_name)
        except TopicError as e:
            return self.dead_letter(topic_name, None, payload, str(e), code=RefusalCode.WRONG_TOPIC)
        if parsed.channel is not Channel.READINGS:
            return self.dead_letter(
                topic_name,
                parsed.hub_id,
                payload,
                f"not a readings topic: {parsed.channel}",
                code=RefusalCode.WRONG_TOPIC,
            )
        split = split_batch(payload, parsed.hub_id)
        if split.refusal is not None or split.header is None:
            refusal = split.refusal or Refusal(RefusalCode.INVALID_MESSAGE, "invalid reading batch")
            result = self.dead_letter(topic_name, parsed.hub_id, payload, refusal.reason, code=refusal.code)
            result.receipts = [_refused(i, refusal) for i in split.ids_in_refused_message]
            return result
        header = split.header
        offset = hub_clock_offset(header, received_at)
        candidates: list[Reading] = []
        for reading in split.readings:
            verdict = admit(reading, server_now=received_at, hub_offset=offset)
            if verdict is None:
                candidates.append(reading)
            else:
                split.refused.append(
                    RefusedReading(reading.reading_id, reading.model_dump(mode="json"), verdict)
                )
        work = _Work(topic_name, header, candidates, split.refused, payload)
        try:
            return self._judged(work)
        except OUTAGES:
            raise
        except NotJudged as e:
            # Written to InfluxDB (idempotently) but the ledger was rolled back with the
            # judgement, so a replay stores nothing twice and judges them then.
            reason = (
                f"readings stored but not judged: InfluxDB refused the history query: {e}; replay once fixed"
            )
            return self._refuse_all(work, Refusal(RefusalCode.NOT_JUDGED, reason))
        except Exception as e:  # a defect this message triggers; isolate it to the reading
            if len(work.ids()) <= 1:
                log.exception("ingesting %s failed", topic_name)
                reason = f"internal error while ingesting: {type(e).__name__}: {e}"
                return self._refuse_all(work, Refusal(RefusalCode.INTERNAL_ERROR, reason))
            log.exception("ingesting %s failed; retrying its readings one by one", topic_name)
            result = IngestResult(hub_id=header.hub_id, batch_id=header.batch_id)
            for one in self._one_by_one(work):
                result.merge(one)
            return result

    def _judged(self, work: _Work) -> IngestResult:
        """Ingest; if InfluxDB refuses the history query, try twice more before giving up on
        judging now: a database coming back from a restart can refuse a query for a moment,
        and a reading kept unjudged waits for someone to replay it."""
        retry = Retry(
            NOT_JUDGED_RETRY,
            on=(NotJudged,),
            log=log,
            message="history query refused (%(error)s); trying again in %(delay).0fs",
            reraise=True,  # handle() keeps the readings unjudged on the last NotJudged
        )
        return retry.call(partial(self._ingest_or_race, work))

    def _one_by_one(self, work: _Work) -> list[IngestResult]:
        results = [self._ingest_or_race(work.refusing(work.refused))] if work.refused else []
        for reading in work.candidates:
            try:
                results.append(self._ingest_or_race(work.alone(reading)))
            except OUTAGES:
                raise
            except Exception as e:  # this reading triggers the defect: keep it aside, go on
                log.exception("reading %s could not be ingested", reading.reading_id)
                reason = f"internal error while ingesting: {type(e).__name__}: {e}"
                letter = RefusedReading.of(reading, RefusalCode.INTERNAL_ERROR, reason)
                results.append(self._ingest_or_race(work.refusing([letter])))
        return results

    def _refuse_all(self, work: _Work, refusal: Refusal) -> IngestResult:
        """Keep the whole message as one dead letter and tell the hub each reading is refused."""
        assert work.payload is not None
        result = self.dead_letter(
            work.topic, work.header.hub_id, work.payload, refusal.reason, code=refusal.code
        )
        result.batch_id = work.header.batch_id
        result.refused = len(work.ids()) or 1
        result.receipts = [_refused(i, refusal) for i in work.ids()]
        return result

    def _ingest_or_race(self, work: _Work) -> IngestResult:
        try:
            return self._ingest(work)
        except IntegrityError:
            # Another ingest worker stored some of these readings between our check and our
            # commit; the ledger now knows them, so a second pass only stores the rest.
            log.info("batch %s raced another worker; re-checking the ledger", work.header.batch_id)
            return self._ingest(work)

    # -- attribution, idempotency, storage, rules ---------------------------------------------
    def _ingest(self, work: _Work) -> IngestResult:
        header = work.header
        result = IngestResult(hub_id=header.hub_id, batch_id=header.batch_id)
        with self.db.session() as s:
            hub = s.get(Hub, header.hub_id)
            candidates, refused = work.candidates, work.refused
            if hub is None:
                refusal = Refusal(RefusalCode.UNKNOWN_HUB, f"unknown hub {header.hub_id!r}")
                if work.payload is not None:  # kept whole, to be replayed once the hub is registered
                    keep_message(s, work.topic, header.hub_id, work.payload, refusal.reason, refusal.code)
                    result.dead_letter_reason = refusal.reason
                    result.refused = len(work.ids())
                    result.refusals = [refusal.reason]
                    result.receipts = [_refused(i, refusal) for i in work.ids()]
                    return result
                # readings one at a time: keep each
                refused = refused + [RefusedReading.of(r, refusal.code, refusal.reason) for r in candidates]
                candidates = []
            outcome = self._classify(s, header, candidates, _user_slots(hub))
            outcome.letters += refused
            if outcome.fresh:
                # Raises StoreUnavailable: nothing is committed and the message is not acknowledged.
                rejected = self._write([ReadingRecord(pid, header.hub_id, r) for pid, r, _ in outcome.fresh])
                outcome.letters += [
                    RefusedReading.of(
                        r,
                        RefusalCode.STORE_REJECTED,
                        f"InfluxDB refused the reading: {rejected[r.reading_id]}",
                    )
                    for _, r, _ in outcome.fresh
                    if r.reading_id in rejected
                ]
                outcome.fresh = [f for f in outcome.fresh if f[1].reading_id not in rejected]
            at = now()
            for patient_id, reading, digest in outcome.fresh:
                s.add(
                    IngestedReading(
                        reading_id=str(reading.reading_id),
                        patient_id=patient_id,
                        hub_id=header.hub_id,
                        kind=reading.kind.value,
                        taken_at=reading.taken_at,
                        ingested_at=at,
                        batch_id=str(header.batch_id),
                        content_sha256=digest,
                    )
                )
                record_device(s, header.hub_id, reading.device, at)
                record_latest(s, patient_id, reading)  # the caseload's latest values
            for letter in outcome.letters:
                keep_reading(s, work.topic, header.hub_id, letter)
            # Reads history from InfluxDB; raises StoreUnavailable like the write above.
            try:
                judged = self.judge(s, [(pid, r) for pid, r, _ in outcome.fresh], at, header.hub_id)
                result.alerts, result.retakes = judged.alerts, judged.retakes
            except StoreRejected as e:
                raise NotJudged(str(e)) from e
            if outcome.fresh and hub is not None:
                hub.last_seen_at = at
            s.flush()
        result.stored = len(outcome.fresh)
        result.duplicates = len(outcome.duplicates)
        result.refused = len(outcome.letters)
        result.refusals = [letter.refusal.reason for letter in outcome.letters]
        result.receipts = outcome.receipts()
        return result

    def _classify(
        self, s: Session, header: BatchHeader, candidates: list[Reading], slots: dict[str, int]
    ) -> _Outcome:
        """Each admitted reading: fresh (with its patient), a duplicate, or refused. ``slots``:
        the patient's user slot on each shared device of the hub (see :func:`_user_slots`)."""
        out = _Outcome()
        ids = [str(r.reading_id) for r in candidates]
        ledger = {
            row.reading_id: row
            for row in s.scalars(select(IngestedReading).where(IngestedReading.reading_id.in_(ids)))
        }
        in_batch: dict[UUID, str] = {}
        for reading in candidates:
            digest = content_digest(reading)
            known = ledger.get(str(reading.reading_id))
            earlier = in_batch.get(reading.reading_id)
            conflict: str | None = None
            if earlier is not None:
                if earlier == digest:
                    out.duplicates.append(reading.reading_id)
                    continue
                conflict = "an earlier copy in the same batch has other content"
            elif known is not None:
                if known.hub_id == header.hub_id and known.content_sha256 in (None, digest):
                    out.duplicates.append(reading.reading_id)
                    continue
                conflict = (
                    f"reading id already stored from hub {known.hub_id!r}"
                    if known.hub_id != header.hub_id
                    else "reading id already stored with other content"
                ) + f" (at {known.ingested_at.isoformat()}, batch {known.batch_id})"
            in_batch.setdefault(reading.reading_id, digest)
            if conflict is not None:
                reason = f"conflicting duplicate: {conflict}; this copy kept for review"
                out.letters.append(RefusedReading.of(reading, RefusalCode.CONFLICT, reason))
                continue
            patient_id = patient_at(s, header.hub_id, reading.taken_at)
            if patient_id is None:
                reason = f"hub {header.hub_id!r} was assigned to no patient at {reading.taken_at.isoformat()}"
                out.letters.append(RefusedReading.of(reading, RefusalCode.UNATTRIBUTED, reason))
                continue
            theirs = slots.get(reading.device.address)
            if theirs is not None and reading.device.user_index not in (None, theirs):
                reason = (
                    f"from user {reading.device.user_index} of shared device {reading.device.address}; "
                    f"patient {patient_id} is user {theirs}: kept for review, not given to the patient "
                    "(replay it if it is theirs, after correcting the device's user slot)"
                )
                out.letters.append(RefusedReading.of(reading, RefusalCode.OTHER_USER, reason))
                continue
            out.fresh.append((patient_id, with_plausibility_flag(reading), digest))
        return out

    def _write(self, records: list[ReadingRecord]) -> dict[UUID, str]:
        """Write readings; if InfluxDB refuses the batch itself, write them one by one so only
        the readings it refuses are kept aside. Returns those, with InfluxDB's reason."""
        try:
            self.sink.write_readings(records)
            return {}
        except StoreRejected as e:
            if len(records) == 1:
                return {records[0].reading.reading_id: str(e)}
            log.warning("InfluxDB refused a batch (%s); writing its %d readings one by one", e, len(records))
        rejected: dict[UUID, str] = {}
        for record in records:
            try:
                self.sink.write_readings([record])
            except StoreRejected as e:
                rejected[record.reading.reading_id] = str(e)
        return rejected

    # -- refusals ---------------------------------------------------------------------------
    def dead_letter(
        self,
        topic_name: str,
        hub_id: str | None,
        payload: bytes,
        reason: str,
        *,
        code: RefusalCode = RefusalCode.INVALID_MESSAGE,
    ) -> IngestResult:
        """Keep a whole message the server cannot use, with the reason."""
        with self.db.session() as s:
            keep_message(s, topic_name, hub_id, payload, reason, code)
        return IngestResult(hub_id=hub_id, refused=1, dead_letter_reason=reason, refusals=[reason])


def _user_slots(hub: Hub | None) -> dict[str, int]:
    """Address → the patient's user slot, for the hub's devices paired with one. Two people
    sharing a cuff each press their own user button; a reading from the other slot must
    never be judged as the patient's (a partner's 190 mmHg would page the team)."""
    if hub is None:
        return {}
    return {d.address: d.user_index for d in configured_devices(hub) if d.user_index is not None}
