"""What the server accepts, judged reading by reading: the message, its shape, its values, its
time. Pure: bytes and clocks in, verdicts out; no database, no broker.

One bad reading must not cost its neighbours their alerts. So a batch is split: the header
(which hub, which batch, the hub's clock) is judged once, each reading on its own, and every
refusal carries a code and a reason in plain words, to be kept as a dead letter. A refused
reading is never repaired by guessing.

What a reading must be, beyond the wire schema:
* *possible*: every value within what a measurement of a living person can be at all
  (``MeasureSpec.possible_min/max``). A value outside the wider *plausible* range is kept and
  flagged ``implausible`` (the hub does this; the server adds the flag if a hub did not);
* *in time*: not before the device could have existed (``EARLIEST_READING``), and not later
  than a few minutes past the server's clock (``MAX_FUTURE``). The hub's clock offset, from the
  batch's ``sent_at``, goes into the reason: a wrong hub clock is the usual cause.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from common.wire.messages import (
    CLOCK_TOLERANCE,
    MAX_READINGS_PER_BATCH,
    BatchHeader,
    Reading,
    printable_line,
    summarise_validation,
)
from common.wire.undecoded import UndecodedPacket
from common.wire.vocabulary import MEASURES, StatusFlag

#: Bluetooth Low Energy health devices date from 2010-2011; nothing earlier is a real reading
#: (1970 is what an unset device clock or a zeroed field says).
EARLIEST_READING = datetime(2010, 1, 1, tzinfo=UTC)
#: How far ahead of the server's clock a reading may be stamped: the hub's own allowance for a
#: device clock, so an honest hub with a good clock never meets this limit.
MAX_FUTURE = CLOCK_TOLERANCE


class RefusalCode(StrEnum):
    """Why something was not stored. Kept on the dead letter for counting and filtering."""

    INVALID_MESSAGE = "invalid_message"  # not a batch at all (not JSON, wrong envelope)
    WRONG_TOPIC = "wrong_topic"  # topic malformed, or the batch names another hub
    INVALID_READING = "invalid_reading"  # one reading does not follow the schema
    IMPOSSIBLE_VALUE = "impossible_value"  # a value no measurement of a person can have
    TIME_TOO_EARLY = "time_too_early"
    TIME_IN_FUTURE = "time_in_future"
    CONFLICT = "conflicting_duplicate"  # same reading id, other content or other hub
    UNKNOWN_HUB = "unknown_hub"
    UNATTRIBUTED = "unattributed"  # the hub served no patient at the reading's time
    OTHER_USER = "other_user"  # a shared device's other user slot: someone else's reading
    STORE_REJECTED = "store_rejected"  # InfluxDB refused the data itself
    NOT_JUDGED = "not_judged"  # stored, but history could not be read to judge it
    INTERNAL_ERROR = "internal_error"  # a defect of ours; kept so it can be replayed once fixed
    UNDECODABLE = "undecodable_packet"  # the hub could not decode a device's packet; bytes kept


class MessageRefused(ValueError):
    """A hub's status or telemetry message the server cannot use (malformed, from an unknown
    hub, about another hub). Not clinical, so not retried, but kept as a dead letter."""

    def __init__(self, reason: str, hub_id: str | None) -> None:
        super().__init__(reason)
        self.hub_id = hub_id


#: Refusals that hold a real reading no clinician has seen: it was not stored or not judged,
#: and waits for someone to fix the cause and replay it (or to dismiss it, with a reason).
#: While any is waiting, ``/health`` says so and is degraded. The others hold nothing that
#: could be a measurement (a message that is not one, an impossible value) or a copy of a
#: reading already stored (a conflicting duplicate, kept for review).
#: An undecodable packet is not among them, though it may hold a reading: the server cannot
#: replay it (the decoders are the hub's), the fault is a device's or a decoder's, not the
#: server's, and one chattering device would keep ``/health`` degraded for every team. It is
#: shown where a technician can act on it: the hub's page (count and latest error), the hub's
#: telemetry, and ``carewatch server dead-letters``.
UNSEEN: frozenset[RefusalCode] = frozenset(
    {
        RefusalCode.TIME_TOO_EARLY,
        RefusalCode.TIME_IN_FUTURE,
        RefusalCode.UNKNOWN_HUB,
        RefusalCode.UNATTRIBUTED,
        # Most likely a partner's reading, but it may be the patient's own on the wrong user
        # button: a person decides (replay after correcting the slot, or dismiss).
        RefusalCode.OTHER_USER,
        RefusalCode.STORE_REJECTED,
        RefusalCode.NOT_JUDGED,
        RefusalCode.INTERNAL_ERROR,
    }
)


@dataclass(frozen=True, slots=True)
class Refusal:
    code: RefusalCode
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", printable_line(self.reason, 2000))


@dataclass(frozen=True, slots=True)
class RefusedReading:
    """One reading of a batch that is not stored: its id if it had a readable one, and the
    reading exactly as it came (for the dead letter and a later replay)."""

    reading_id: UUID | None
    raw: Any
    refusal: Refusal
    #: An undecoded packet (``reading_id`` is its packet id), kept under its own name.
    undecoded: bool = False

    @classmethod
    def of(cls, reading: Reading, code: RefusalCode, reason: str) -> RefusedReading:
        """A schema-valid reading refused for ``reason``, kept exactly as it came."""
        return cls(reading.reading_id, reading.model_dump(mode="json"), Refusal(code, reason))


@dataclass
class SplitBatch:
    """A readings message taken apart: the header, the readings fit to store, the refused ones.
    ``refusal`` is set when the message as a whole cannot be trusted (then nothing is stored)."""

    header: BatchHeader | None = None
    readings: list[Reading] = field(default_factory=list)
    refused: list[RefusedReading] = field(default_factory=list)
    refusal: Refusal | None = None
    #: Reading ids found in a message refused as a whole, so the hub can still be told.
    ids_in_refused_message: list[UUID] = field(default_factory=list)


def _uuid(value: object) -> UUID | None:
    try:
        return UUID(str(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def _ids_in(doc: object) -> list[UUID]:
    """Reading ids, and undecoded packets' ids: what the hub is told about a refused message."""
    if not isinstance(doc, dict):
        return []
    found: list[UUID | None] = []
    for key, id_key in (("readings", "reading_id"), ("undecoded", "packet_id")):
        if isinstance(doc.get(key), list):
            found += [_uuid(r.get(id_key)) for r in doc[key] if isinstance(r, dict)]
    return list(dict.fromkeys(i for i in found if i is not None))


def undecodable(packet: UndecodedPacket) -> RefusedReading:
    """A packet the hub could not decode, refused with everything a technician needs in the reason
    (which device, which characteristic, when, why, the bytes): kept as a dead letter, never stored
    as a reading. The server has no decoder to try again; the hub's decoder, fixed, is the cure."""
    reason = (
        f"undecodable packet from {packet.device.model} {packet.device.address} on characteristic "
        f"{packet.characteristic}, received {packet.received_at.isoformat()} by the hub clock: "
        f"{packet.error}; bytes {packet.data_hex or '(none)'}"
    )
    return RefusedReading(
        packet.packet_id,
        packet.model_dump(mode="json", exclude_none=True),
        Refusal(RefusalCode.UNDECODABLE, reason),
        undecoded=True,
    )


def split_batch(payload: bytes, topic_hub_id: str) -> SplitBatch:
    """Judge a readings message's shape: the header once, then every reading on its own."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        return SplitBatch(
            refusal=Refusal(RefusalCode.INVALID_MESSAGE, f"invalid reading batch: not JSON: {e}")
        )
    if not isinstance(doc, dict):
        return SplitBatch(
            refusal=Refusal(RefusalCode.INVALID_MESSAGE, "invalid reading batch: not a JSON object")
        )
    ids = _ids_in(doc)
    raw_readings = doc.get("readings")
    raw_undecoded = doc.get("undecoded")
    try:
        header = BatchHeader.model_validate(
            {k: v for k, v in doc.items() if k not in ("readings", "undecoded")}
        )
    except ValidationError as e:
        return SplitBatch(
            refusal=Refusal(RefusalCode.INVALID_MESSAGE, summarise_validation(e)),
            ids_in_refused_message=ids,
        )
    if header.hub_id != topic_hub_id:
        return SplitBatch(
            refusal=Refusal(
                RefusalCode.WRONG_TOPIC,
                f"batch says hub {header.hub_id!r} but arrived on hub {topic_hub_id!r}'s topic",
            ),
            ids_in_refused_message=ids,
        )
    if raw_undecoded is None:
        raw_undecoded = []
    if not isinstance(raw_readings, list) or not isinstance(raw_undecoded, list):
        return SplitBatch(
            header=header,
            refusal=Refusal(
                RefusalCode.INVALID_MESSAGE, "invalid reading batch: readings and undecoded must be lists"
            ),
            ids_in_refused_message=ids,
        )
    if not raw_readings and not raw_undecoded:
        return SplitBatch(
            header=header,
            refusal=Refusal(
                RefusalCode.INVALID_MESSAGE,
                "invalid reading batch: readings: must be a non-empty list (or undecoded packets given)",
            ),
        )
    for name, items in (("readings", raw_readings), ("undecoded packets", raw_undecoded)):
        if len(items) > MAX_READINGS_PER_BATCH:
            return SplitBatch(
                header=header,
                refusal=Refusal(
                    RefusalCode.INVALID_MESSAGE,
                    f"invalid reading batch: {len(items)} {name}, at most {MAX_READINGS_PER_BATCH}",
                ),
                ids_in_refused_message=ids,
            )
    split = SplitBatch(header=header)
    for i, raw in enumerate(raw_undecoded):
        try:
            split.refused.append(undecodable(UndecodedPacket.model_validate(raw)))
        except ValidationError as e:
            packet_id = _uuid(raw.get("packet_id")) if isinstance(raw, dict) else None
            reason = summarise_validation(e, what=f"undecoded packet {i}")
            split.refused.append(
                RefusedReading(packet_id, raw, Refusal(RefusalCode.INVALID_READING, reason), undecoded=True)
            )
    for i, raw in enumerate(raw_readings):
        try:
            split.readings.append(Reading.model_validate(raw))
        except ValidationError as e:
            reading_id = _uuid(raw.get("reading_id")) if isinstance(raw, dict) else None
            reason = summarise_validation(e, what=f"reading {i}")
            split.refused.append(
                RefusedReading(reading_id, raw, Refusal(RefusalCode.INVALID_READING, reason))
            )
    return split


def _ago(delta: timedelta) -> str:
    seconds = abs(delta.total_seconds())
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 1.5 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} seconds"


def _offset_words(offset: timedelta) -> str:
    if abs(offset) < timedelta(seconds=2):
        return "hub clock in step with the server's"
    return f"hub clock {_ago(offset)} {'ahead of' if offset > timedelta(0) else 'behind'} the server's"


def hub_clock_offset(header: BatchHeader, server_now: datetime) -> timedelta:
    """How far ahead of the server the hub's clock was when it sent the batch (plus the
    transit time, which is small against the offsets that matter)."""
    return header.sent_at - server_now


def admit(reading: Reading, *, server_now: datetime, hub_offset: timedelta) -> Refusal | None:
    """Whether a schema-valid reading may be stored: its values possible, its times sane."""
    for measure, quantity in reading.values.items():
        spec = MEASURES[measure]
        if not spec.possible_min <= quantity.value <= spec.possible_max:
            return Refusal(
                RefusalCode.IMPOSSIBLE_VALUE,
                f"{measure.value} {quantity.value:.6g} {spec.unit.label} is outside what any measurement "
                f"can be ({spec.possible_min:g}-{spec.possible_max:g} {spec.unit.label})",
            )
    offset = _offset_words(hub_offset)
    for name in ("taken_at", "received_at"):
        at: datetime = getattr(reading, name)
        if at < EARLIEST_READING:
            return Refusal(
                RefusalCode.TIME_TOO_EARLY,
                f"{name} {at.isoformat()} is before {EARLIEST_READING.year}, earlier than any such "
                f"device ({offset})",
            )
        if at > server_now + MAX_FUTURE:
            return Refusal(
                RefusalCode.TIME_IN_FUTURE,
                f"{name} {at.isoformat()} is {_ago(at - server_now)} ahead of the server clock ({offset})",
            )
    return None


def with_plausibility_flag(reading: Reading) -> Reading:
    """The reading, flagged ``implausible`` if a value is outside the plausible range and the
    hub did not say so (another implementation of the hub, an older one)."""
    if StatusFlag.IMPLAUSIBLE.value in reading.flags:
        return reading
    for measure, quantity in reading.values.items():
        spec = MEASURES[measure]
        if not spec.plausible_min <= quantity.value <= spec.plausible_max:
            return reading.model_copy(update={"flags": [*reading.flags, StatusFlag.IMPLAUSIBLE.value]})
    return reading


def content_digest(reading: Reading) -> str:
    """SHA-256 of the reading's canonical JSON: equal for the same reading sent again however
    its JSON was spelt, different for any other content under the same id."""
    # Without defaults: a field added to the contract later (optional, so defaulted) does not
    # change the digest of a reading that does not use it, so copies sent before and after a
    # server upgrade stay duplicates rather than conflicts.
    doc = reading.model_dump(mode="json", exclude_defaults=True)
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
