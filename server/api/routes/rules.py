"""A patient's alert rules: what they are judged by, and a clinician's audited change to them.

Changing a patient's thresholds changes which deteriorations raise an alert, so a change
needs a reason, is kept as a new version (never overwritten), and is written to the audit
trail in the same transaction: there is no override without its who, what and why.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from sqlalchemy.orm import Session

from alerts.backtest import Opening, backtest, lookback_s
from alerts.lifecycle import Action
from alerts.ruleset.compiling import compile_rules
from alerts.ruleset.loading import merge_documents
from alerts.ruleset.models import RuleSetError
from alerts.ruleset.profiles import rules_for
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
from server.judging.readings import EngineRows
from server.patient_ids import PATIENT_ID_PATTERN
from server.store.influx.errors import StoreUnavailable
from server.store.influx.influxql import MAX_QUERY_LIMIT
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


def _count(openings: list[Opening]) -> PreviewCount:
    opened = [o for o in openings if o.action is Action.OPEN]
    return PreviewCount(
        opened=len(opened),
        escalated=len(openings) - len(opened),
        by_rule=dict(Counter(o.alert_rule for o in opened)),
    )


@router.post("/api/v1/patients/{patient_id}/rules/preview", response_model=RulePreviewOut)
def preview_patient_rules(
    principal: Clinician, db: Db, store: Influx, patient_id: PatientId, body: RulePreviewIn
) -> RulePreviewOut:
    """What the rules now and the rules with ``changes`` would have raised on this patient's
    last ``days`` of readings, replayed hour by hour as the live server meets them (with
    alerts reviewed a day after they open). Nothing is stored."""
    with db.session() as s:
        _visible(s, principal, patient_id)
        current, history = current_rules(s, patient_id)
        conditions = conditions_of(s, [patient_id]).get(patient_id, [])
    personal = dict(history[0].changes) if history else {}
    try:
        proposed = rules_for(conditions, merge_documents(personal, body.changes))
    except RuleSetError as e:
        raise HTTPException(422, str(e)) from None
    until = now()
    try:
        stored = store.query_readings(
            patient_id, since=until - timedelta(days=body.days), until=until, limit=MAX_QUERY_LIMIT
        )
    except StoreUnavailable as e:
        raise HTTPException(503, f"reading store unavailable: {e}") from None
    rows = EngineRows()
    for reading in stored:
        rows.add(0, reading.kind, reading.taken_at, reading.values, reading.flags)
    columns = rows.columns()
    counts = [
        _count(backtest(compile_rules(rules, 1), columns, lookback_s(rules))) for rules in (current, proposed)
    ]
    audit(db, principal, "rules_previewed", patient_id)
    return RulePreviewOut(
        patient_id=patient_id,
        days=body.days,
        readings=len(stored),
        current=counts[0],
        proposed=counts[1],
        note="readings replayed hour by hour without hindsight; alerts resolved a day after opening; "
        "missed readings and hub silence are not replayed",
    )
