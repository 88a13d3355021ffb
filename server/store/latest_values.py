"""The latest value of each measure per patient (``LatestValue``), kept as readings arrive.

A reading replayed from a device's memory can be older than what is already kept: the
newer value stays. Written in the ingest's own transaction, so the caseload never shows a
value the ledger does not have.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.wire.messages import Reading
from common.wire.vocabulary import QUALITY_FLAGS
from server.store.models import LatestValue


def record_latest(s: Session, patient_id: str, reading: Reading) -> None:
    for measure, quantity in reading.values.items():
        row = s.get(LatestValue, (patient_id, measure.value))
        if row is None:
            row = LatestValue(patient_id=patient_id, measure=measure.value)
            s.add(row)
        elif row.taken_at > reading.taken_at:
            continue
        row.value = float(quantity.value)
        row.kind = reading.kind.value
        row.taken_at = reading.taken_at
        row.reading_id = str(reading.reading_id)
        # Questioned by the device or the hub (a loose cuff, movement): not "simulated" or a clock note.
        row.flagged = any(flag in QUALITY_FLAGS for flag in reading.flags)


def latest_of(s: Session, patient_ids: Iterable[str]) -> dict[str, list[LatestValue]]:
    """Every kept value of these patients, by patient."""
    ids = sorted(set(patient_ids))
    out: dict[str, list[LatestValue]] = {}
    for chunk in range(0, len(ids), 900):  # SQLite's bound parameters per statement
        for row in s.scalars(select(LatestValue).where(LatestValue.patient_id.in_(ids[chunk : chunk + 900]))):
            out.setdefault(row.patient_id, []).append(row)
    return out
