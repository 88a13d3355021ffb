"""The work list's changes and reads: claim an alert ("I'm on it") or release it, log a contact, resolve
with a structured outcome, and the list itself grouped by patient with each alert's latest
evidence. Inside the caller's transaction, each change with its AlertEvent, so the alert's
history tells colleagues who did what.

Lifecycle rules (what may follow what) stay in ``server.store.alerts``; this only adds to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from alerts.lifecycle import AlertState, AlertTransitionError
from common.wire.vocabulary import ALERT_OUTCOME_LABELS, AlertOutcome
from server.store import alerts as lifecycle
from server.store.models import Alert, AlertContact, AlertEvent, AlertEvidence, Patient

#: Red before amber, everywhere an alert is listed: the order a matron works in.
SEVERITY_RANK = case((Alert.severity == "red", 0), (Alert.severity == "amber", 1), else_=2)
NOTE_MAX = 2000


class NoteRequired(ValueError):
    """An outcome of "other" says nothing without a note."""


def _unresolved(s: Session, alert_id: int) -> Alert:
    alert = s.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise LookupError(f"no alert {alert_id}")
    if alert.status == AlertState.RESOLVED:
        raise AlertTransitionError(f"alert {alert_id} is already resolved")
    return alert


def claim(s: Session, alert_id: int, *, actor: str, at: datetime) -> Alert:
    """``actor`` is on it. Taking over a colleague's claim is allowed and says from whom."""
    alert = _unresolved(s, alert_id)
    if alert.claimed_by == actor:
        return alert
    detail = f"taken over from {alert.claimed_by}" if alert.claimed_by else ""
    alert.claimed_by, alert.claimed_at, alert.updated_at = actor, at, at
    s.add(AlertEvent(alert_id=alert.id, at=at, actor=actor, action="claimed", detail=detail))
    return alert


def release(s: Session, alert_id: int, *, actor: str, at: datetime) -> Alert:
    """``actor`` is no longer on it, so colleagues see nobody is. Only the holder releases:
    a colleague takes a claim over with :func:`claim`, which says from whom."""
    alert = _unresolved(s, alert_id)
    if alert.claimed_by is None:
        return alert
    if alert.claimed_by != actor:
        raise AlertTransitionError(
            f"alert {alert_id} is claimed by {alert.claimed_by}; claim it to take it over"
        )
    alert.claimed_by, alert.claimed_at, alert.updated_at = None, None, at
    s.add(AlertEvent(alert_id=alert.id, at=at, actor=actor, action="released", detail=""))
    return alert


def log_contact(s: Session, alert_id: int, *, actor: str, at: datetime, note: str) -> Alert:
    """A contact about the alert, with its time and who made it (a resolved alert's log is closed)."""
    alert = _unresolved(s, alert_id)
    s.add(AlertContact(alert_id=alert.id, at=at, actor=actor, note=note))
    s.add(AlertEvent(alert_id=alert.id, at=at, actor=actor, action="contact_logged", detail=note))
    alert.updated_at = at
    return alert


def outcome_words(outcome: AlertOutcome, note: str) -> str:
    label = ALERT_OUTCOME_LABELS[outcome]
    return f"{label}: {note}" if note else label


def resolve_with_outcome(
    s: Session, alert_id: int, *, actor: str, at: datetime, outcome: AlertOutcome, note: str = ""
) -> Alert:
    """Resolve with what was done; the words (label and note) go where the API's outcome goes."""
    if outcome is AlertOutcome.OTHER and not note:
        raise NoteRequired("say what was done")
    alert = lifecycle.resolve(s, alert_id, actor=actor, at=at, outcome=outcome_words(outcome, note))
    alert.outcome_code = outcome.value
    return alert


def contacts_of(s: Session, alert_id: int) -> list[AlertContact]:
    return list(
        s.scalars(select(AlertContact).where(AlertContact.alert_id == alert_id).order_by(AlertContact.id))
    )


def latest_evidence(s: Session, alert_ids: Sequence[int]) -> dict[int, AlertEvidence]:
    """Each alert's newest piece of evidence: what its title should say now, not its first value."""
    return _evidence_at(s, alert_ids, func.max(AlertEvidence.added_at))


def first_evidence(s: Session, alert_ids: Sequence[int]) -> dict[int, AlertEvidence]:
    """Each alert's first piece of evidence: what opened it (the summary follows later ones)."""
    return _evidence_at(s, alert_ids, func.min(AlertEvidence.added_at))


def _evidence_at(
    s: Session, alert_ids: Sequence[int], which: ColumnElement[datetime]
) -> dict[int, AlertEvidence]:
    chosen = (
        select(AlertEvidence.alert_id, which.label("at"))
        .where(AlertEvidence.alert_id.in_(alert_ids))
        .group_by(AlertEvidence.alert_id)
        .subquery()
    )
    rows = s.scalars(
        select(AlertEvidence)
        .join(chosen, (chosen.c.alert_id == AlertEvidence.alert_id) & (chosen.c.at == AlertEvidence.added_at))
        .order_by(AlertEvidence.reading_id)
    )
    return {e.alert_id: e for e in rows}


@dataclass
class PatientGroup:
    patient_id: str
    name: str
    team: str
    alerts: list[dict[str, object]] = field(default_factory=list)

    @property
    def worst(self) -> str:
        return "red" if any(a["severity"] == "red" for a in self.alerts) else "amber"


def count_alerts(s: Session, statuses: Sequence[str], in_scope: ColumnElement[bool]) -> int:
    """How many alerts the list would hold unlimited: so a list cut at its limit says so."""
    found = (
        select(func.count())
        .select_from(Alert)
        .join(Patient, Patient.id == Alert.patient_id)
        .where(Alert.status.in_(statuses), in_scope)
    )
    return int(s.scalar(found) or 0)


def grouped(
    s: Session, statuses: Sequence[str], in_scope: ColumnElement[bool], limit: int = 500
) -> list[PatientGroup]:
    """Alerts grouped by patient: patients with a red alert first, then by their newest
    evidence; within a patient, red first, then the newest evidence first. ``in_scope``
    keeps the patients the user may see (``server.access.Scope.patients``).

    Resolved alerts are history, not work: they come newest resolution first whatever
    their severity (a red resolved in March must not sit above yesterday's amber), and the
    ``limit`` keeps the most recent."""
    history = set(statuses) == {"resolved"}
    order = (
        (Alert.resolved_at.desc(), Alert.id.desc())
        if history
        else (SEVERITY_RANK, Alert.updated_at.desc(), Alert.id.desc())
    )
    rows = s.execute(
        select(Alert, Patient.display_name, Patient.team)
        .join(Patient, Patient.id == Alert.patient_id)
        .where(Alert.status.in_(statuses), in_scope)
        .order_by(*order)
        .limit(limit)
    ).all()
    latest = latest_evidence(s, [a.id for a, _, _ in rows])
    first = first_evidence(s, [a.id for a, _, _ in rows])
    groups: dict[str, PatientGroup] = {}
    for a, name, team in rows:
        evidence = latest.get(a.id)
        group = groups.setdefault(a.patient_id, PatientGroup(a.patient_id, name, team))
        group.alerts.append(
            {
                "id": a.id,
                "severity": a.severity,
                "status": a.status,
                "title": evidence.detail if evidence else a.summary,
                "first": first[a.id].detail if a.id in first else a.summary,
                "latest_at": evidence.added_at if evidence else a.opened_at,
                "opened_at": a.opened_at,
                "updated_at": a.updated_at,
                "tier": a.tier,
                "claimed_by": a.claimed_by,
                "claimed_at": a.claimed_at,
                "outcome": a.outcome,
                "resolved_at": a.resolved_at,
            }
        )
    ordered = list(groups.values())
    if history:  # the query's order (newest resolution first) already holds, across patients too
        return ordered
    for g in ordered:  # the query's order holds within a patient; restate it on the evidence
        g.alerts.sort(key=lambda a: (a["severity"] != "red", -_stamp(a["latest_at"])))
    ordered.sort(key=lambda g: (g.worst != "red", -max(_stamp(a["latest_at"]) for a in g.alerts)))
    return ordered


def _stamp(t: object) -> float:
    return t.timestamp() if isinstance(t, datetime) else 0.0
