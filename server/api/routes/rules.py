"""A patient's alert rules: what they are judged by, and a clinician's audited change to them.

Changing a patient's thresholds changes which deteriorations raise an alert, so a change
needs a reason, is kept as a new version (never overwritten), and is written to the audit
trail in the same transaction: there is no override without its who, what and why.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from sqlalchemy.orm import Session

from alerts.ruleset.loading import merge_documents
from alerts.ruleset.models import RuleSetError
from server.access import visible_patient
from server.api.auth import Principal, audit
from server.api.deps import Clinician, Db, Influx
from server.api.schemas import (
    ConditionsIn,
    PatientRulesOut,
    PreviewCount,
    RuleOverrideIn,
    RuleOverrideOut,
    RulePreviewIn,
    RulePreviewOut,
)
from server.judging.preview import NOTE, history, replay, rules_now
from server.patient_ids import PATIENT_ID_PATTERN
from server.store.discharged import PatientDischarged
from server.store.influx.errors import StoreUnavailable
from server.store.models import RuleOverride, now
from server.store.overrides import conditions_of, current_rules, set_conditions, set_override

router = APIRouter(tags=["rules"])

PatientId = Annotated[str, Path(pattern=PATIENT_ID_PATTERN)]


def _version(row: RuleOverride) -> RuleOverrideOut:
    return RuleOverrideOut(
        version=row.id, changes=row.changes, reason=row.reason, set_by=row.set_by, set_at=row.set_at
    )


def _visible(s: Session, principal: Principal, patient_id: str) -> None:
    """404 for a patient that does not exist or is out of the user's teams (audited)."""
    if visible_patient(s, principal, patient_id, "rules") is None:
        raise HTTPException(404, f"no patient {patient_id!r}")


def _rules(s: Session, patient_id: str) -> PatientRulesOut:
    effective, history = current_rules(s, patient_id)
    current = history[0] if history else None
    return PatientRulesOut(
        patient_id=patient_id,
        conditions=conditions_of(s, [patient_id]).get(patient_id, []),
        effective=effective,
        override=None if current is None else _version(current),
        history=[_version(row) for row in history],
    )


@router.get("/api/v1/patients/{patient_id}/rules", response_model=PatientRulesOut)
def patient_rules(principal: Clinician, db: Db, patient_id: PatientId) -> PatientRulesOut:
    with db.session() as s:
        _visible(s, principal, patient_id)
    with db.session() as s:
        out = _rules(s, patient_id)
    audit(db, principal, "rules_viewed", patient_id)
    return out


@router.put("/api/v1/patients/{patient_id}/rules", response_model=PatientRulesOut)
def set_patient_rules(
    principal: Clinician, db: Db, patient_id: PatientId, body: RuleOverrideIn
) -> PatientRulesOut:
    try:
        with db.session() as s:
            _visible(s, principal, patient_id)
            set_override(s, patient_id, body.changes, reason=body.reason, set_by=principal.username, at=now())
            s.flush()
            return _rules(s, patient_id)
    except RuleSetError as e:  # nothing was stored
        raise HTTPException(422, str(e)) from None
    except PatientDischarged as e:
        raise HTTPException(409, str(e)) from None


@router.put("/api/v1/patients/{patient_id}/conditions", response_model=PatientRulesOut)
def set_patient_conditions(
    principal: Clinician, db: Db, patient_id: PatientId, body: ConditionsIn
) -> PatientRulesOut:
    """Change the patient's conditions, and with them their condition profiles (audited)."""
    try:
        with db.session() as s:
            _visible(s, principal, patient_id)
            set_conditions(s, patient_id, body.conditions, reason=body.reason, set_by=principal.username)
            s.flush()
            return _rules(s, patient_id)
    except RuleSetError as e:  # the personal override would not apply on the new profiles
        raise HTTPException(422, str(e)) from None
    except PatientDischarged as e:
        raise HTTPException(409, str(e)) from None


@router.post("/api/v1/patients/{patient_id}/rules/preview", response_model=RulePreviewOut)
def preview_patient_rules(
    principal: Clinician, db: Db, store: Influx, patient_id: PatientId, body: RulePreviewIn
) -> RulePreviewOut:
    """What the rules now and the rules with ``changes`` would have raised on this patient's
    last ``days`` of readings, replayed hour by hour as the live server meets them (with
    alerts reviewed a day after they open). Nothing is stored."""
    with db.session() as s:
        _visible(s, principal, patient_id)
        rules = rules_now(s, patient_id)
    try:
        proposed = rules.with_personal(merge_documents(rules.personal, body.changes))
    except RuleSetError as e:
        raise HTTPException(422, str(e)) from None
    try:
        stored = history(store, patient_id, now(), body.days)
    except StoreUnavailable as e:
        raise HTTPException(503, f"reading store unavailable: {e}") from None
    current, after = replay([rules.current, proposed], stored)
    audit(db, principal, "rules_previewed", patient_id)
    return RulePreviewOut(
        patient_id=patient_id,
        days=body.days,
        readings=len(stored),
        current=PreviewCount(**asdict(current)),
        proposed=PreviewCount(**asdict(after)),
        note=NOTE,
    )
