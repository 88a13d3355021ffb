"""Apply rule findings to the alerts table, inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.lifecycle import Action, AlertState, AlertTransitionError, decide, transition
from alerts.severity import Severity
from server.store.models import Alert, AlertEvent, AlertEvidence, AlertNotification

__all__ = [
    "AlertTransitionError",
    "Change",
    "acknowledge",
    "already_reported",
    "apply_finding",
    "escalate_overdue",
    "events_of",
    "evidence_of",
    "open_alerts",
    "owe_notification",
    "resolve",
]

OPEN_STATES = tuple(state.value for state in AlertState if state.is_open)
SYSTEM_ACTOR = "system:ingest"


def evidence_of(s: Session, alert_ids: Sequence[int]) -> list[AlertEvidence]:
    """The readings behind ``alert_ids``, in the order they were added: the API and the
    pages tell an alert's story in the same order."""
    return list(
        s.scalars(
            select(AlertEvidence)
            .where(AlertEvidence.alert_id.in_(alert_ids))
            .order_by(AlertEvidence.added_at, AlertEvidence.reading_id)
        )
    )


def events_of(s: Session, alert_id: int) -> list[AlertEvent]:
    """What happened to the alert (opened, acknowledged, escalated, …), oldest first."""
    return list(s.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)))


def open_alerts(s: Session, patient_ids: Sequence[str]) -> list[tuple[str, str, Severity]]:
    """(patient, alert rule, severity) of every open alert of these patients: what the judge
    decides against."""
    rows = s.execute(
        select(Alert.patient_id, Alert.rule_id, Alert.severity).where(
            Alert.patient_id.in_(patient_ids), Alert.status.in_(OPEN_STATES)
        )
    )
    return [(patient_id, rule_id, Severity.from_label(severity)) for patient_id, rule_id, severity in rows]


def apply_finding(
    s: Session,
    *,
    patient_id: str,
    rule_id: str,
    severity: Severity,
    reading_id: str,
    summary: str,
    at: datetime,
    actor: str = SYSTEM_ACTOR,
) -> Alert | None:
    """Open, attach to, or escalate the patient's one open alert for this rule.

    The summary follows the newest evidence at the alert's severity; weaker evidence is kept
    as evidence but does not retitle a red alert with an amber value.
    """
    alert = s.scalars(
        select(Alert)
        .where(Alert.patient_id == patient_id, Alert.rule_id == rule_id, Alert.status.in_(OPEN_STATES))
        .order_by(Alert.id)
        .limit(1)
        .with_for_update()
    ).first()
    decision = decide(None if alert is None else Severity.from_label(alert.severity), severity)
    if decision is None:
        return None
    if alert is None:
        alert = Alert(
            patient_id=patient_id,
            rule_id=rule_id,
            severity=decision.severity.label,
            status=AlertState.OPEN,
            summary=summary,
            opened_at=at,
            updated_at=at,
        )
        s.add(alert)
        s.flush()
        s.add(AlertEvent(alert_id=alert.id, at=at, actor=actor, action="opened", detail=summary))
        owe_notification(s, alert, "opened", at)
    elif decision.action is Action.ESCALATE:
        s.add(
            AlertEvent(
                alert_id=alert.id,
                at=at,
                actor=actor,
                action="severity_raised",
                detail=f"{alert.severity} -> {decision.severity.label}: {summary}",
            )
        )
        alert.severity = decision.severity.label
        alert.summary = summary
        alert.updated_at = at
        if alert.status == AlertState.ACKNOWLEDGED:  # a worse finding needs a fresh look
            alert.status = transition(AlertState.ACKNOWLEDGED, AlertState.OPEN)
        owe_notification(s, alert, "escalated", at)
    else:
        if severity.label == alert.severity:
            # The title tells the latest reading at the alert's level, not the first one: a
            # matron reading "BP 182" must not act on it when the newest says 205.
            alert.summary = summary
        alert.updated_at = at
    s.add(
        AlertEvidence(
            alert_id=alert.id, reading_id=reading_id, severity=severity.label, detail=summary, added_at=at
        )
    )
    return alert


def already_reported(s: Session, *, patient_id: str, rule_id: str, evidence: str) -> bool:
    """Has any alert of this patient and rule, open or resolved, this piece of evidence?

    Readings cannot come twice (the ingest ledger), but a clock finding does on every tick
    until it clears: this keeps a missed morning weight to one alert, and stops a resolved
    one from reopening on the next tick.
    """
    found = s.scalars(
        select(AlertEvidence.alert_id)
        .join(Alert, Alert.id == AlertEvidence.alert_id)
        .where(Alert.patient_id == patient_id, Alert.rule_id == rule_id, AlertEvidence.reading_id == evidence)
        .limit(1)
    ).first()
    return found is not None


Change = Callable[[Session], Alert]


def _open_for_change(s: Session, alert_id: int) -> Alert:
    alert = s.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise LookupError(f"no alert {alert_id}")
    if alert.status == AlertState.RESOLVED:
        raise AlertTransitionError(f"alert {alert_id} is already resolved")
    return alert


def acknowledge(s: Session, alert_id: int, *, actor: str, at: datetime, note: str = "") -> Alert:
    """A clinician has seen the alert and owns it; escalation stops. Repeating it is harmless."""
    alert = _open_for_change(s, alert_id)
    if alert.status == AlertState.ACKNOWLEDGED:
        return alert
    alert.status = transition(AlertState(alert.status), AlertState.ACKNOWLEDGED)
    alert.acknowledged_by = actor
    alert.acknowledged_at = at
    alert.updated_at = at
    s.add(AlertEvent(alert_id=alert.id, at=at, actor=actor, action="acknowledged", detail=note))
    return alert


def resolve(s: Session, alert_id: int, *, actor: str, at: datetime, outcome: str) -> Alert:
    """Close the alert with what was done about it (the outcome is required, for the record)."""
    alert = _open_for_change(s, alert_id)
    if alert.acknowledged_at is None:  # resolving implies having seen it
        alert.acknowledged_by = actor
        alert.acknowledged_at = at
    alert.status = transition(AlertState(alert.status), AlertState.RESOLVED)
    alert.resolved_by = actor
    alert.resolved_at = at
    alert.outcome = outcome
    alert.updated_at = at
    s.add(AlertEvent(alert_id=alert.id, at=at, actor=actor, action="resolved", detail=outcome))
    return alert


def escalate_overdue(s: Session, *, now: datetime, after: timedelta, max_tier: int) -> list[Alert]:
    """Move every red alert nobody acknowledged within ``after`` one tier up, once per period.

    The clock starts at opening, and again at each escalation, so an alert climbs one tier
    per unanswered period and stops at ``max_tier``; acknowledging stops it at once.
    """
    due = list(
        s.scalars(
            select(Alert)
            .where(
                Alert.status == AlertState.OPEN,
                Alert.severity == Severity.RED.label,
                Alert.tier < max_tier,
                func.coalesce(Alert.escalated_at, Alert.opened_at) <= now - after,
            )
            .order_by(Alert.id)
            .with_for_update()
        )
    )
    for alert in due:
        alert.tier += 1
        alert.escalated_at = now
        alert.updated_at = now
        s.add(
            AlertEvent(
                alert_id=alert.id,
                at=now,
                actor="system:escalation",
                action="escalated",
                detail=f"not acknowledged within {after}; now tier {alert.tier}",
            )
        )
        owe_notification(s, alert, "escalated", now)
    return due


def owe_notification(s: Session, alert: Alert, event: str, at: datetime) -> None:
    """Record, in the caller's transaction, that the team must hear about this change."""
    s.add(
        AlertNotification(
            id=str(uuid.uuid4()), alert_id=alert.id, event=event, severity=alert.severity, created_at=at
        )
    )
