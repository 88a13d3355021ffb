"""Alerts: the community team's work list, and the lifecycle (acknowledge, resolve)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.access import scope_of, visible_alert
from server.api.auth import Principal, audit
from server.api.deps import Clinician, Db
from server.api.params import RowId
from server.api.schemas import AcknowledgeIn, AlertDetail, AlertEventOut, AlertOut, ResolveIn
from server.patient_ids import PATIENT_ID_PATTERN
from server.store import alerts as lifecycle
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
    audit(db, principal, "alerts_listed", patient_id or "*", f"status={status} n={len(out)}")
    return out


def _detail(s: Session, alert: Alert) -> AlertDetail:
    events = [
        AlertEventOut(at=e.at, actor=e.actor, action=e.action, detail=e.detail)
        for e in lifecycle.events_of(s, alert.id)
    ]
    return AlertDetail(**_out(alert, _evidence(s, [alert.id])[alert.id]).model_dump(), events=events)


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
    return _change(
        db,
        principal,
        alert_id,
        lambda s: lifecycle.acknowledge(
            s, alert_id, actor=principal.username, at=now(), note=(body or AcknowledgeIn()).note
        ),
    )


@router.post("/api/v1/alerts/{alert_id}/resolve", response_model=AlertDetail)
def resolve(principal: Clinician, db: Db, alert_id: RowId, body: ResolveIn) -> AlertDetail:
    return _change(
        db,
        principal,
        alert_id,
        lambda s: lifecycle.resolve(s, alert_id, actor=principal.username, at=now(), outcome=body.outcome),
    )


def _change(db: Db, principal: Principal, alert_id: int, apply: lifecycle.Change) -> AlertDetail:
    with db.session() as s:  # out of the user's teams: as absent as a missing alert (audited)
        if visible_alert(s, principal, alert_id) is None:
            raise HTTPException(404, f"no alert {alert_id}")
    try:
        with db.session() as s:
            alert = apply(s)
            s.flush()
            return _detail(s, alert)
    except LookupError:
        raise HTTPException(404, f"no alert {alert_id}") from None
    except lifecycle.AlertTransitionError as e:
        raise HTTPException(409, str(e)) from None
