"""Rules that fire because time passed: a missed reading, a silent hub.

A reading that never comes sends no message to react to, so the ticker asks the engine, at
the tick, about every monitored patient (one with a hub assigned now): when did each kind
of reading last arrive (the ingest ledger) and when was the hub last heard from. The same
finding comes back on every tick until it clears, so each occurrence gets an evidence key
(the missed deadline, the start of the silence) and is reported once: one alert for a
missed morning weight however many ticks run, and no new one after a clinician resolves it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from alerts.columns import KINDS, NEVER, FindingRecord, ReadingColumns, kind_code
from alerts.engine import evaluate
from alerts.rules.table import HUB_SILENCE_ID
from common.wire.vocabulary import ReadingKind
from server.judging.findings import PatientRules, utc_offset_s
from server.store.alerts import already_reported, apply_finding
from server.store.models import Hub, HubAssignment, IngestedReading

SYSTEM_ACTOR = "system:clock"
MISSED_PREFIX = "missed."
_KIND_NAMES = {kind.value: kind for kind in ReadingKind}


def _epoch(at: datetime | None) -> int:
    return NEVER if at is None else int(at.timestamp())


def _iso(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def evidence_key(record: FindingRecord) -> str:
    """What identifies one occurrence: a silence by when it began, a missed reading by its
    deadline (fits the 36-character evidence column, and reads well in the API)."""
    if record.rule_id == HUB_SILENCE_ID:
        return f"silent-since:{_iso(record.time - int(record.value))}"
    return f"missed-due:{_iso(record.time)}"


def expects(rules: PatientRules, patient_id: str, record: FindingRecord, last: np.ndarray) -> bool:
    """Is this patient expected to send this kind at all?

    The default schedules (a morning weight) suit most heart-failure patients but not a
    COPD patient with no scale, who would otherwise get a "missed weight" alert every day:
    the alert fatigue the service exists to avoid. So a schedule applies to a kind the
    patient has sent before, or one a clinician set for them explicitly in an override.
    """
    if not record.rule_id.startswith(MISSED_PREFIX):
        return True
    kind = _KIND_NAMES.get(record.rule_id.removeprefix(MISSED_PREFIX))
    if kind is None:
        return True
    if last[kind_code(kind)] != NEVER:
        return True
    explicit = rules.changes.get(patient_id, {}).get("missed_readings", {})
    return isinstance(explicit, dict) and kind.value in explicit


def judge_clock(s: Session, now: datetime, tz: ZoneInfo) -> list[int]:
    """Apply the clock rules at ``now``; returns the ids of alerts opened or given evidence."""
    current = list(
        s.execute(
            select(HubAssignment.patient_id, Hub.last_seen_at, Hub.status_at)
            .join(Hub, Hub.id == HubAssignment.hub_id)
            .where(
                HubAssignment.start_at <= now,
                or_(HubAssignment.end_at.is_(None), and_(HubAssignment.end_at > now)),
            )
            .order_by(HubAssignment.patient_id)
        )
    )
    if not current:
        return []
    rules = PatientRules.load(s, (patient_id for patient_id, _, _ in current))
    index = rules.index()
    n = len(rules.patients)
    contact = np.full(n, NEVER, dtype=np.int64)
    for patient_id, last_seen, status_at in current:
        i = index[patient_id]
        contact[i] = max(contact[i], _epoch(last_seen), _epoch(status_at))
    last_reading = np.full((n, len(KINDS)), NEVER, dtype=np.int64)
    for patient_id, kind, taken_at in s.execute(
        select(IngestedReading.patient_id, IngestedReading.kind, func.max(IngestedReading.taken_at))
        .where(IngestedReading.patient_id.in_(rules.patients))
        .group_by(IngestedReading.patient_id, IngestedReading.kind)
    ):
        if kind in _KIND_NAMES:
            last_reading[index[patient_id], kind_code(_KIND_NAMES[kind])] = _epoch(taken_at)
    findings = evaluate(
        rules.table(),
        ReadingColumns.empty(),
        tick=int(now.timestamp()),
        utc_offset_s=utc_offset_s(tz, now),
        last_reading=last_reading,
        last_hub_contact=contact,
    )
    touched: list[int] = []
    for record in findings.records():
        if record.reading is not None:
            continue
        patient_id = rules.patients[record.patient]
        if not expects(rules, patient_id, record, last_reading[record.patient]):
            continue
        key = evidence_key(record)
        if already_reported(s, patient_id=patient_id, rule_id=record.rule_id, evidence=key):
            continue
        alert = apply_finding(
            s,
            patient_id=patient_id,
            rule_id=record.rule_id,
            severity=record.severity,
            reading_id=key,
            summary=rules.summary(record, patient_id, tz),
            at=now,
            actor=SYSTEM_ACTOR,
        )
        if alert is not None:
            touched.append(alert.id)
    return touched
