"""A patient's alert rules: what they are judged by, and a clinician's audited change to them.

Changing a patient's thresholds changes which deteriorations raise an alert, so a change
needs a reason, is kept as a new version (never overwritten), and is written to the audit
trail in the same transaction: there is no override without its who, what and why.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from sqlalchemy.orm import Session

from alerts.ruleset.models import RuleSetError
from server.access import visible_patient
from server.api.auth import Principal, audit
from server.api.deps import Clinician, Db
from server.api.schemas import ConditionsIn, PatientRulesOut, RuleOverrideIn, RuleOverrideOut
from server.patient_ids import PATIENT_ID_PATTERN
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
