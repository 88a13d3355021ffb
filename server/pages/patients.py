"""A patient's page: what needs action, recent readings, and the personal alert thresholds
a clinician sets (a COPD patient's 88–92 % target, a hypertensive patient's own limits).

A change is a new override version with its reason, validated and audited by the same
``server.store.overrides.set_override`` the API uses: the page and the API cannot differ on
what a valid change is or how it is recorded.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from alerts.ruleset.loading import default_ruleset
from alerts.ruleset.models import RuleSetError, ThresholdRule
from common.wire.vocabulary import MEASURES, Measure
from server.api.auth import Principal, audit
from server.api.deps import Db
from server.api.schemas import RuleOverrideIn
from server.pages.render import PageRoute, clinician, first_error, page, recent_readings
from server.pages.session import check_same_origin
from server.patient_ids import PATIENT_ID_PATTERN
from server.store.models import Alert, Patient, now
from server.store.overrides import current_rules, set_override

router = APIRouter(include_in_schema=False, route_class=PageRoute)
PatientId = Annotated[str, PathParam(pattern=PATIENT_ID_PATTERN)]


class FormProblem(ValueError):
    """A field the clinician filled in that cannot be used, said in their words."""


def _threshold_rows(rules: dict[Measure, ThresholdRule]) -> list[dict[str, Any]]:
    defaults = default_ruleset().thresholds
    return [
        {
            "measure": name.value,
            "label": MEASURES[name].label.lower(),
            "rule": rule,
            "personal": rule != defaults.get(name),
        }
        for name, rule in rules.items()
    ]


def _show(
    request: Request,
    db: Db,
    principal: Principal,
    patient_id: str,
    status_code: int = 200,
    error: str = "",
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    with db.session() as s:
        patient = s.get(Patient, patient_id)
        if patient is None:
            return page(request, "not_found.html", 404, what=f"patient {patient_id}", user=principal)
        alerts = [
            {
                "id": a.id,
                "severity": a.severity,
                "status": a.status,
                "summary": a.summary,
                "opened_at": a.opened_at,
            }
            for a in s.scalars(
                select(Alert)
                .where(Alert.patient_id == patient_id, Alert.status != "resolved")
                .order_by(Alert.opened_at.desc())
            )
        ]
        effective, history = current_rules(s, patient_id)
        versions = [
            {
                "version": r.id,
                "set_by": r.set_by,
                "set_at": r.set_at,
                "reason": r.reason,
                "changes": json.dumps(r.changes, sort_keys=True),
            }
            for r in history
        ]
        context = {
            "patient": {"id": patient.id, "name": patient.display_name, "team": patient.team},
            "alerts": alerts,
            "thresholds": _threshold_rows(effective.thresholds),
            "versions": versions,
        }
    audit(db, principal, "patient_viewed", patient_id, "page")
    context |= recent_readings(request, db, principal, patient_id)
    return page(request, "patient.html", status_code, user=principal, error=error, form=form or {}, **context)


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(request: Request, db: Db, patient_id: PatientId) -> HTMLResponse:
    return _show(request, db, clinician(request, db), patient_id)


def _edge(field: str, text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise FormProblem(f"{field}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise FormProblem(f"{field}: {text!r} is not a number")
    return value


def _record(
    request: Request,
    db: Db,
    principal: Principal,
    patient_id: str,
    reason: str,
    change: Callable[[dict[str, Any]], dict[str, Any]],
    form: dict[str, str],
) -> Response:
    """Apply ``change`` (current override changes → new changes) as a new version."""
    try:
        body = RuleOverrideIn(reason=reason.strip())
    except ValidationError as e:
        return _show(request, db, principal, patient_id, 422, first_error(e, "reason"), form)
    try:
        with db.session() as s:
            if s.get(Patient, patient_id) is None:
                return page(request, "not_found.html", 404, what=f"patient {patient_id}", user=principal)
            _, history = current_rules(s, patient_id)
            changes = change(copy.deepcopy(history[0].changes) if history else {})
            set_override(s, patient_id, changes, reason=body.reason, set_by=principal.username, at=now())
    except (FormProblem, RuleSetError) as e:  # nothing was stored
        return _show(request, db, principal, patient_id, 422, str(e), form)
    return RedirectResponse(f"/patients/{patient_id}", status_code=303)


@router.post("/patients/{patient_id}/thresholds", response_model=None)
def change_threshold(
    request: Request,
    db: Db,
    patient_id: PatientId,
    measure: Annotated[str, Form()],
    red_below: Annotated[str, Form()] = "",
    red_above: Annotated[str, Form()] = "",
    amber_below: Annotated[str, Form()] = "",
    amber_above: Annotated[str, Form()] = "",
    persistence: Annotated[str, Form()] = "1",
    reason: Annotated[str, Form()] = "",
) -> Response:
    check_same_origin(request)
    principal = clinician(request, db)
    form = {
        "measure": measure,
        "red_below": red_below,
        "red_above": red_above,
        "amber_below": amber_below,
        "amber_above": amber_above,
        "persistence": persistence,
        "reason": reason,
    }

    def change(changes: dict[str, Any]) -> dict[str, Any]:
        if measure not in {m.value for m in default_ruleset().thresholds}:
            raise FormProblem(f"Measure: {measure!r} has no threshold rule")
        if not persistence.strip().isdigit():
            raise FormProblem(f"Readings in a row: {persistence!r} is not a whole number")
        changes.setdefault("thresholds", {})[measure] = {
            "red": {
                "at_or_below": _edge("Red at or below", red_below),
                "at_or_above": _edge("Red at or above", red_above),
            },
            "amber": {
                "at_or_below": _edge("Amber at or below", amber_below),
                "at_or_above": _edge("Amber at or above", amber_above),
            },
            "persistence": int(persistence),
        }
        return changes

    return _record(request, db, principal, patient_id, reason, change, form)


@router.post("/patients/{patient_id}/rules/reset", response_model=None)
def reset_rules(
    request: Request, db: Db, patient_id: PatientId, reason: Annotated[str, Form()] = ""
) -> Response:
    check_same_origin(request)
    principal = clinician(request, db)
    return _record(request, db, principal, patient_id, reason, lambda _: {}, {"reason": reason})
