"""Apply rule findings to the alerts table, inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.lifecycle import Action, decide
from alerts.severity import Severity
from server.store.models import Alert, AlertEvent, AlertEvidence

OPEN_STATES = ("open", "acknowledged")
SYSTEM_ACTOR = "system:ingest"


def apply_finding(
    s: Session,
    *,
    patient_id: str,
    rule_id: str,
    severity: Severity,
    reading_id: str,
    summary: str,
    at: datetime,
) -> Alert | None:
    """Open, attach to, or escalate the patient's one open alert for this rule."""
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
            status="open",
            summary=summary,
            opened_at=at,
            updated_at=at,
        )
        s.add(alert)
        s.flush()
        s.add(AlertEvent(alert_id=alert.id, at=at, actor=SYSTEM_ACTOR, action="opened", detail=summary))
    elif decision.action is Action.ESCALATE:
        s.add(
            AlertEvent(
                alert_id=alert.id,
                at=at,
                actor=SYSTEM_ACTOR,
                action="severity_raised",
                detail=f"{alert.severity} -> {decision.severity.label}: {summary}",
            )
        )
        alert.severity = decision.severity.label
        alert.summary = summary
        alert.updated_at = at
        if alert.status == "acknowledged":  # a worse finding needs a fresh look
            alert.status = "open"
    else:
        alert.updated_at = at
    s.add(
        AlertEvidence(
            alert_id=alert.id, reading_id=reading_id, severity=severity.label, detail=summary, added_at=at
        )
    )
    return alert
