"""What became of one readings message: counts for the log and /health, the alerts it touched,
and the receipt the hub is sent (every reading with a readable id, and its outcome)."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from common.wire.commands import RetakeRequest
from common.wire.messages import ReceiptEntry, ReceiptOutcome, printable_line
from server.ingest.verdicts import Refusal


@dataclass
class IngestResult:
    hub_id: str | None = None
    batch_id: UUID | None = None
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    alerts: list[int] = field(default_factory=list)
    #: Set when the message as a whole was refused (one dead letter for all of it).
    dead_letter_reason: str | None = None
    #: Why each refused reading was refused (whole-message refusals included).
    refusals: list[str] = field(default_factory=list)
    #: What the hub is told: one entry per reading with a readable id.
    receipts: list[ReceiptEntry] = field(default_factory=list)
    #: Readings the hub should ask the patient to take again (sent after the receipt).
    retakes: list[RetakeRequest] = field(default_factory=list)

    def merge(self, other: IngestResult) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.refused += other.refused
        self.alerts += [a for a in other.alerts if a not in self.alerts]
        self.refusals += other.refusals
        self.receipts += other.receipts
        self.retakes += other.retakes
        self.dead_letter_reason = self.dead_letter_reason or other.dead_letter_reason


def refused_entry(reading_id: UUID | None, refusal: Refusal) -> ReceiptEntry:
    assert reading_id is not None
    return ReceiptEntry(
        reading_id=reading_id, outcome=ReceiptOutcome.REFUSED, reason=printable_line(refusal.reason)
    )
