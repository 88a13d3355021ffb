"""Alerts: the community team's work list, and the lifecycle: acknowledge, resolve with a
structured outcome, and the work list's own actions (claim and release, the contact log).

Each change goes through the store function the pages call (``server.store.alerts`` and
``server.store.worklist``), under the same team scope (``server.access``), and is written
to the audit trail under the same action names as the pages'."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.access import scope_of, visible_alert
from server.api.auth import Principal, audit, patients_shown
from server.api.deps import Clinician, Db
from server.api.params import RowId
from server.api.schemas import (
    AcknowledgeIn,
    AlertDetail,
    AlertEventOut,
    AlertOut,
    ContactIn,
    ContactOut,
    ResolveIn,
)
from server.patient_ids import PATIENT_ID_PATTERN
from server.store import alerts as lifecycle
from server.store import worklist as work
from server.store.models import Alert, Patient, now

router = APIRouter(tags=["alerts"])


def _evidence(s: Session, ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {i: [] for i in ids}
    for ev in lifecycle.evidence_of(s, ids):
        out[ev.alert_id].append(ev.reading_id)
    return out


def _out(a: Alert, evidence: list[str]) -> AlertOut:
    return AlertOut.model_validate(
        {c: getattr(a, c) for c in AlertOut.model_fields if c != "evidence"} | {"evidence": evidence}
    )


@router.get("/api/v1/alerts", response_model=list[AlertOut])
def list_alerts(
    principal: Clinician,
    db: Db,
    status: Annotated[str | None, Query(pattern="^(open|acknowledged|resolved)$")] = None,
    patient_id: Annotated[str | None, Query(pattern=PATIENT_ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AlertOut]:
    with db.session() as s:
        q = (
            select(Alert)
            .join(Patient, Patient.id == Alert.patient_id)
            .where(scope_of(s, principal).patients())
            .order_by(Alert.updated_at.desc(), Alert.id.desc())
            .limit(limit)
        )
        if status:
            q = q.where(Alert.status == status)
        if patient_id:
            q = q.where(Alert.patient_id == patient_id)
        alerts = list(s.scalars(q))
        evidence = _evidence(s, [a.id for a in alerts])
        out = [_out(a, evidence[a.id]) for a in alerts]
    shown = "" if patient_id else patients_shown(a.patient_id for a in out)
    audit(db, principal, "alerts_listed", patient_id or "*", f"status={status} n={len(out)}{shown}")
    return out


def _detail(s: Session, alert: Alert) -> AlertDetail:
    events = [
        AlertEventOut(at=e.at, actor=e.actor, action=e.action, detail=e.detail)
        for e in lifecycle.events_of(s, alert.id)
    ]
    contacts = [ContactOut(at=c.at, actor=c.actor, note=c.note) for c in work.contacts_of(s, alert.id)]
    return AlertDetail(
        **_out(alert, _evidence(s, [alert.id])[alert.id]).model_dump(), events=events, contacts=contacts
    )


@router.get("/api/v1/alerts/{alert_id}", response_model=AlertDetail)
def get_alert(principal: Clinician, db: Db, alert_id: RowId) -> AlertDetail:
    with db.session() as s:
        alert = visible_alert(s, principal, alert_id)
        if alert is None:
            raise HTTPException(404, f"no alert {alert_id}")
        detail = _detail(s, alert)
    audit(db, principal, "alert_viewed", str(alert_id))
    return detail


@router.post("/api/v1/alerts/{alert_id}/acknowledge", response_model=AlertDetail)
def acknowledge(
    principal: Clinician, db: Db, alert_id: RowId, body: AcknowledgeIn | None = None
) -> AlertDetail:
    note = (body or AcknowledgeIn()).note
    return _change(
        db,
        principal,
        alert_id,
        "alert_acknowledged",
        lambda s: lifecycle.acknowledge(s, alert_id, actor=principal.username, at=now(), note=note),
    )


@router.post("/api/v1/alerts/{alert_id}/resolve", response_model=AlertDetail)
def resolve(principal: Clinician, db: Db, alert_id: RowId, body: ResolveIn) -> AlertDetail:
    """With ``outcome_code`` (and ``note``) as the pages record it, or a free-text ``outcome``."""
    who, code, note = principal.username, body.outcome_code, body.note.strip()

    def apply(s: Session) -> Alert:
        if code is not None:
            return work.resolve_with_outcome(s, alert_id, actor=who, at=now(), outcome=code, note=note)
        return lifecycle.resolve(s, alert_id, actor=who, at=now(), outcome=str(body.outcome))

    return _change(db, principal, alert_id, "alert_resolved", apply)


@router.post("/api/v1/alerts/{alert_id}/claim", response_model=AlertDetail)
def claim(principal: Clinician, db: Db, alert_id: RowId) -> AlertDetail:
    """ "I'm on it": colleagues see who has the alert. Taking over a colleague's claim is allowed
    and recorded as such; claiming is not acknowledging."""
    who = principal.username
    return _change(
        db, principal, alert_id, "alert_claimed", lambda s: work.claim(s, alert_id, actor=who, at=now())
    )


@router.post("/api/v1/alerts/{alert_id}/release", response_model=AlertDetail)
def release(principal: Clinician, db: Db, alert_id: RowId) -> AlertDetail:
    """No longer on it (409 if a colleague holds the claim: claim it to take it over)."""
    who = principal.username
    return _change(
        db, principal, alert_id, "alert_released", lambda s: work.release(s, alert_id, actor=who, at=now())
    )


@router.post("/api/v1/alerts/{alert_id}/contacts", response_model=AlertDetail, status_code=201)
def log_contact(principal: Clinician, db: Db, alert_id: RowId, body: ContactIn) -> AlertDetail:
    """Add to the contact log (a resolved alert's log is closed: 409)."""
    who = principal.username
    return _change(
        db,
        principal,
        alert_id,
        "alert_contact_logged",
        lambda s: work.log_contact(s, alert_id, actor=who, at=now(), note=body.note),
    )


def _change(db: Db, principal: Principal, alert_id: int, action: str, apply: lifecycle.Change) -> AlertDetail:
    """``apply`` in one transaction, then the audit record; 404 for another team's alert (as
    absent as a missing one, and audited as such), 409 for a change the lifecycle refuses."""
    with db.session() as s:
        if visible_alert(s, principal, alert_id) is None:
            raise HTTPException(404, f"no alert {alert_id}")
    try:
        with db.session() as s:
            alert = apply(s)
            s.flush()
            detail = _detail(s, alert)
    except LookupError:
        raise HTTPException(404, f"no alert {alert_id}") from None
    except work.NoteRequired:
        raise HTTPException(422, "an outcome_code of 'other' needs a note saying what was done") from None
    except lifecycle.AlertTransitionError as e:
        raise HTTPException(409, str(e)) from None
    audit(db, principal, action, str(alert_id), "api")
    return detail
