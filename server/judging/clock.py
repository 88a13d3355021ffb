"""Rules that fire because time passed: a missed reading, a silent hub.

A reading that never comes sends no message to react to, so the ticker asks the engine, at
the tick, about every monitored patient (one with a hub assigned now): when did each kind
of reading last arrive (the ingest ledger) and when was the hub last heard from. The same
finding comes back on every tick until it clears, so each occurrence gets an evidence key
(``alerts.judge.clock_evidence``: the missed deadline, the start of the silence) and is
reported once: one alert for a missed morning weight however many ticks run, and no new one
after a clinician resolves it. Which schedules apply to whom is the judge's decision too.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from alerts.columns import KINDS, NEVER, ReadingColumns, kind_code
from alerts.judge import judge
from common.wire.vocabulary import ReadingKind
from server.judging.findings import PatientRules, utc_offset_s
from server.store.alerts import already_reported, apply_finding, open_alerts
from server.store.models import Hub, HubAssignment, IngestedReading

SYSTEM_ACTOR = "system:clock"
MISSED_PREFIX = "missed."


def _epoch(at: datetime | None) -> int:
    return NEVER if at is None else int(at.timestamp())


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
        named = ReadingKind.named(kind)
        if named is not None:
            last_reading[index[patient_id], kind_code(named)] = _epoch(taken_at)
    judgement = judge(
        rules.table(),
        ReadingColumns.empty(),
        tick=int(now.timestamp()),
        utc_offset_s=utc_offset_s(tz, now),
        last_reading=last_reading,
        last_hub_contact=contact,
        explicit_schedules=rules.explicit_schedules(),
        open_alerts={
            (index[patient_id], rule_id): severity
            for patient_id, rule_id, severity in open_alerts(s, rules.patients)
        },
    )
    touched: list[int] = []
    for decision in judgement.decisions:
        patient_id = rules.patients[decision.patient]
        assert decision.evidence is not None  # every clock finding has its occurrence key
        if already_reported(
            s, patient_id=patient_id, rule_id=decision.alert_rule, evidence=decision.evidence
        ):
            continue
        alert = apply_finding(
            s,
            patient_id=patient_id,
            rule_id=decision.alert_rule,
            severity=decision.finding.severity,
            reading_id=decision.evidence,
            summary=rules.summary(decision.finding, patient_id, tz),
            at=now,
            actor=SYSTEM_ACTOR,
        )
        if alert is not None:
            touched.append(alert.id)
    return touched
