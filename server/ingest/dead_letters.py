"""Keeping what the server refuses: a whole message, or one reading of it, with a code and a
reason in plain words, for ``carewatch server dead-letters`` and a replay once the cause is
fixed. Inside the caller's transaction, so a refusal is committed with the readings beside it.

The same thing refused again (a hub sending again what it was not told about, a replay that
fails for the same or another reason) is recognised by its topic, reading id and exact bytes
and brings its letter's reason up to date, rather than adding a letter each time.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.wire.messages import printable_line
from server.ingest.verdicts import RefusalCode, RefusedReading
from server.store.models import AuditEvent, DeadLetter

log = logging.getLogger(__name__)

#: Bytes of a refused message kept in a dead letter. The broker refuses messages over
#: ``MAX_MESSAGE_BYTES``, so this only bounds what an unexpected source could send.
MAX_DEAD_LETTER_BYTES = 1 << 20


def reading_letter(raw: Any) -> bytes:
    """A refused reading's dead-letter payload: the reading as it came, canonical JSON, so
    the same refused reading sent again is recognised and not kept twice."""
    return json.dumps({"reading": raw}, sort_keys=True, separators=(",", ":"), default=str).encode()


def undecoded_letter(raw: Any) -> bytes:
    """An undecoded packet's dead-letter payload: the packet as the hub sent it (its bytes in
    ``data_hex``, the decoder's ``error``), canonical JSON, under its own name so no one takes it
    for a reading to replay."""
    return json.dumps({"undecoded": raw}, sort_keys=True, separators=(",", ":"), default=str).encode()


def keep_message(
    s: Session, topic_name: str, hub_id: str | None, payload: bytes, reason: str, code: RefusalCode
) -> None:
    _keep(s, topic_name, hub_id, None, payload, reason, code)


def keep_reading(s: Session, topic_name: str, hub_id: str, letter: RefusedReading) -> None:
    reading_id = None if letter.reading_id is None else str(letter.reading_id)
    payload = undecoded_letter(letter.raw) if letter.undecoded else reading_letter(letter.raw)
    _keep(s, topic_name, hub_id, reading_id, payload, letter.refusal.reason, letter.refusal.code)


def _keep(
    s: Session,
    topic_name: str,
    hub_id: str | None,
    reading_id: str | None,
    payload: bytes,
    reason: str,
    code: RefusalCode,
) -> None:
    payload = payload[:MAX_DEAD_LETTER_BYTES]
    topic_name = printable_line(topic_name, 256)
    reason = printable_line(reason, 2000)
    same = s.scalars(
        select(DeadLetter).where(
            DeadLetter.topic == topic_name,
            DeadLetter.reading_id.is_(None) if reading_id is None else DeadLetter.reading_id == reading_id,
            DeadLetter.status == "new",
            DeadLetter.payload == payload,
        )
    ).first()
    if same is not None:
        log.info(
            "refused %s (%s) again, as dead letter #%d: %s",
            topic_name,
            reading_id or "message",
            same.id,
            reason,
        )
        same.reason, same.reason_code = reason, code.value
        return
    log.warning("refused %s (%s): %s", topic_name, reading_id or "whole message", reason)
    s.add(
        DeadLetter(
            topic=topic_name,
            hub_id=hub_id,
            reading_id=reading_id,
            reason=reason,
            reason_code=code.value,
            payload=payload,
        )
    )


class NotDismissed(ValueError):
    """This letter cannot be dismissed (unknown, already dealt with, or no reason given)."""


def dismiss(s: Session, letter_id: int, *, actor: str, reason: str) -> DeadLetter:
    """Close a letter that will never be replayed (a test hub's readings, a device known to be
    broken), with who and why in the audit trail: ``/health`` stops counting it as unseen."""
    if not reason.strip():
        raise NotDismissed("say why it is dismissed")
    letter = s.get(DeadLetter, letter_id)
    if letter is None:
        raise NotDismissed(f"no dead letter #{letter_id}")
    if letter.status != "new":
        raise NotDismissed(f"dead letter #{letter_id} was already {letter.status}")
    letter.status = "dismissed"
    s.add(
        AuditEvent(actor=actor, action="dead_letter_dismissed", target=f"#{letter_id}", detail=reason.strip())
    )
    return letter
