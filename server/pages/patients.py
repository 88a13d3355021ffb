"""A patient's page: what needs action, recent readings, and the personal alert limits a
clinician sets (a COPD patient's 88–92 % target, a hypertensive patient's own limits).

A change is a new override version with its reason, validated and audited by the same
``server.store.overrides.set_override`` the API uses: the page and the API cannot differ on
what a valid change is or how it is recorded. What a form means edge by edge, and the
history in words, is ``server.pages.thresholds``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.ruleset.models import RuleSetError
from common.wire.vocabulary import Measure
from server.access import visible_patient
from server.api.auth import Principal, audit
from server.api.deps import Db
from server.api.schemas import RuleOverrideIn
from server.pages.charts.trends import page_readings
from server.pages.feedback import feedback_summary
from server.pages.limits_check import check
from server.pages.render import PageRoute, clinician, discharged, first_error, not_found, page
from server.pages.session import check_same_origin
from server.pages.thresholds import (
    EDGE_BY_FIELD,
    FieldProblem,
    Limits,
    history_in_words,
    judged_on,
    limits,
    merged_changes,
    proposal,
)
from server.patient_ids import PATIENT_ID_PATTERN
from server.store.discharged import PatientDischarged
from server.store.models import Alert, now
from server.store.overrides import conditions_of, current_rules, set_override
from server.store.worklist import SEVERITY_RANK

router = APIRouter(include_in_schema=False, route_class=PageRoute)
PatientId = Annotated[str, PathParam(pattern=PATIENT_ID_PATTERN)]
MeasureName = Annotated[str, PathParam(max_length=40)]


class RulesMoved(Exception):
    """The patient's rules changed (another version was saved) after the form was shown."""

    def __init__(self, version: int, set_by: str) -> None:
        super().__init__(version)
        self.set_by = set_by


async def _posted(request: Request) -> dict[str, str]:
    """The form as posted: FastAPI reads an empty box as a missing one, and here an empty
    box (refused where it would remove a limit) is not the same as a box not sent."""
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


Posted = Annotated[dict[str, str], Depends(_posted)]


def _state(s: Session, patient_id: str) -> tuple[list[Limits], list[Any]]:
    effective, history = current_rules(s, patient_id)
    return limits(effective, history, conditions_of(s, [patient_id]).get(patient_id, [])), history


def _visible(db: Db, principal: Principal, patient_id: str) -> bool:
    """Whether the patient exists and is one of the user's teams' (an attempt on another
    team's patient is audited and answered as not found)."""
    with db.session() as s:
        return visible_patient(s, principal, patient_id) is not None


def _version(history: list[Any]) -> int:
    return history[0].id if history else 0


def _page_of(
    request: Request,
    db: Db,
    principal: Principal,
    patient_id: str,
    template: str,
    status_code: int = 200,
    problems: list[FieldProblem] | None = None,
    **extra: Any,
) -> HTMLResponse:
    """A page about one patient, with their limits in force and any problems to show: in
    the error summary, and beside the box each names."""
    with db.session() as s:
        patient = visible_patient(s, principal, patient_id)
        if patient is None:
            return not_found(request, f"patient {patient_id}", principal)
        if patient.discharged_at is not None and template != "patient.html":  # a change's page
            return discharged(request, patient_id, patient.discharged_at, principal)
        bands, history = _state(s, patient_id)
        conditions = conditions_of(s, [patient_id]).get(patient_id, [])
        context: dict[str, Any] = {
            "patient": {
                "id": patient.id,
                "name": patient.display_name,
                "team": patient.team,
                "discharged_at": patient.discharged_at,
            },
            "limits": bands,
            "version": _version(history),
            "versions": history_in_words(history, conditions),
            "judged_on": judged_on(conditions),
        }
        if template == "patient.html":
            context["feedback"] = feedback_summary(s, patient_id)
            context["alerts"] = [
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
                    .order_by(SEVERITY_RANK, Alert.opened_at.desc())
                )
            ]
    problems = problems or []
    context["error_list"] = [{"field": p.field, "text": p.text} for p in problems]
    context["errors"] = {p.field: p.text for p in problems if p.field}
    if "measure" in extra:
        limit = next((b for b in bands if b.measure.value == extra["measure"]), None)
        if limit is None:
            return not_found(request, f"alert limit for {extra['measure']}", principal)
        extra["limit"] = limit
    audit(db, principal, "patient_viewed", patient_id, f"page {template.removesuffix('.html')}")
    if template == "patient.html":
        days = request.query_params.get("days", "")
        context |= page_readings(
            request,
            db,
            principal,
            patient_id,
            int(days) if days.isdigit() else None,
            f"/patients/{patient_id}",
        )
    return page(
        request, template, status_code, user=principal, form=extra.pop("form", {}), **context, **extra
    )


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(request: Request, db: Db, patient_id: PatientId) -> HTMLResponse:
    return _page_of(request, db, clinician(request, db), patient_id, "patient.html")


@router.get("/patients/{patient_id}/thresholds/{measure}", response_class=HTMLResponse)
def change_form(request: Request, db: Db, patient_id: PatientId, measure: MeasureName) -> HTMLResponse:
    return _page_of(request, db, clinician(request, db), patient_id, "limits_change.html", measure=measure)


def _reason(reason: str) -> tuple[str, FieldProblem | None]:
    try:
        return RuleOverrideIn(reason=reason.strip()).reason, None
    except ValidationError as e:
        return "", FieldProblem("reason", first_error(e, "reason"))


def _store(
    db: Db,
    principal: Principal,
    patient_id: str,
    version: str,
    reason: str,
    change: Callable[[dict[str, Any], list[Limits]], dict[str, Any]],
) -> None:
    """Store ``change`` (current override changes, limits in force → new changes) as a new
    version, unless another version was saved since the form showed ``version``. A post
    naming no version (a script, an old page) is applied to what is in force: it can only
    set what it names."""
    with db.session() as s:
        bands, history = _state(s, patient_id)
        if version.strip() and version.strip() != str(_version(history)):
            raise RulesMoved(history[0].id, history[0].set_by)
        changes = change(dict(history[0].changes) if history else {}, bands)
        set_override(s, patient_id, changes, reason=reason, set_by=principal.username, at=now())


def _moved_since(db: Db, patient_id: str, version: str) -> RulesMoved | None:
    with db.session() as s:
        _, history = _state(s, patient_id)
    if version.strip() and version.strip() != str(_version(history)):
        return RulesMoved(history[0].id, history[0].set_by)
    return None


def _moved(e: RulesMoved) -> FieldProblem:
    return FieldProblem(
        None,
        f"{e.set_by} changed this patient's limits since you opened this page. The page now shows "
        "the limits in force: check your change and save again",
    )


@router.post("/patients/{patient_id}/thresholds", response_model=None)
def change_threshold(
    request: Request,
    db: Db,
    patient_id: PatientId,
    measure: Annotated[str, Form(max_length=40)],
    posted: Posted,
    version: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
    step: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """A change goes through the check step (its preview) and is saved only when the check
    is confirmed: a post without ``confirm=yes`` never saves."""
    check_same_origin(request)
    principal = clinician(request, db)
    form = {k: v for k, v in posted.items() if k in EDGE_BY_FIELD or k == "persistence"}
    with db.session() as s:
        if visible_patient(s, principal, patient_id) is None:
            return not_found(request, f"patient {patient_id}", principal)
        bands, _ = _state(s, patient_id)
    limit = next((b for b in bands if b.measure.value == measure), None)
    if limit is None:
        return not_found(request, f"alert limit for {measure}", principal)
    asked = proposal(limit, form)
    why, reason_problem = _reason(reason)
    problems = asked.problems + ([reason_problem] if reason_problem else [])

    def again(status: int, found: list[FieldProblem], keep: bool = True) -> HTMLResponse:
        shown = {**form, "reason": reason} if keep else {"reason": reason}
        return _page_of(
            request,
            db,
            principal,
            patient_id,
            "limits_change.html",
            status,
            found,
            measure=measure,
            form=shown,
        )

    if problems:
        return again(422, problems)
    if step == "change":  # back from the check step to the form, as it was typed
        return again(200, [])
    if confirm != "yes":  # the check step: nothing is saved until it is confirmed
        if (moved := _moved_since(db, patient_id, version)) is not None:
            return again(409, [_moved(moved)], keep=False)
        try:
            checked = check(
                db, request.app.state.influx, principal, patient_id, limit, asked.edges, asked.persistence
            )
        except RuleSetError as e:
            return again(422, [FieldProblem(None, f"These limits cannot be used together: {e}")])
        shown = {**form, "reason": reason}
        return _page_of(
            request,
            db,
            principal,
            patient_id,
            "limits_check.html",
            measure=measure,
            form=shown,
            check=checked,
        )
    try:
        _store(
            db,
            principal,
            patient_id,
            version,
            why,
            lambda changes, _: merged_changes(changes, Measure(measure), asked.edges, asked.persistence),
        )
    except RulesMoved as e:
        return again(409, [_moved(e)], keep=False)
    except PatientDischarged as e:
        return discharged(request, patient_id, e.discharged_at, principal)
    except RuleSetError as e:  # what the page's own checks did not foresee; nothing was stored
        return again(422, [FieldProblem(None, f"These limits cannot be used together: {e}")])
    return RedirectResponse(f"/patients/{patient_id}#limits", status_code=303)


@router.get("/patients/{patient_id}/thresholds/{measure}/remove", response_class=HTMLResponse)
def remove_form(
    request: Request, db: Db, patient_id: PatientId, measure: MeasureName, edge: str = ""
) -> HTMLResponse:
    principal = clinician(request, db)
    if not _visible(db, principal, patient_id) or edge not in EDGE_BY_FIELD:
        return not_found(request, f"limit {edge!r} to remove", principal)
    with db.session() as s:
        limit = next((b for b in _state(s, patient_id)[0] if b.measure.value == measure), None)
    checked = None
    if limit is not None and limit.values[edge] is not None:
        try:  # the removal's preview, beside its confirmation
            checked = check(db, request.app.state.influx, principal, patient_id, limit, {edge: None}, None)
        except RuleSetError:
            checked = None  # the removal itself will say why it cannot be saved
    return _page_of(
        request,
        db,
        principal,
        patient_id,
        "limits_remove.html",
        measure=measure,
        edge=EDGE_BY_FIELD[edge],
        check=checked,
    )


@router.post("/patients/{patient_id}/thresholds/{measure}/remove", response_model=None)
def remove_edge(
    request: Request,
    db: Db,
    patient_id: PatientId,
    measure: MeasureName,
    edge: Annotated[str, Form(max_length=20)],
    version: Annotated[str, Form(max_length=20)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Take one limit away: only with the confirmation the remove page asks for, and a reason."""
    check_same_origin(request)
    principal = clinician(request, db)
    if not _visible(db, principal, patient_id) or edge not in EDGE_BY_FIELD:
        return not_found(request, f"limit {edge!r} to remove", principal)
    why, reason_problem = _reason(reason)
    problems = [reason_problem] if reason_problem else []
    if confirm != "yes":
        problems.insert(0, FieldProblem("confirm", "Confirm that this limit is to be removed"))

    def again(status: int, found: list[FieldProblem]) -> HTMLResponse:
        return _page_of(
            request,
            db,
            principal,
            patient_id,
            "limits_remove.html",
            status,
            found,
            measure=measure,
            edge=EDGE_BY_FIELD[edge],
            form={"reason": reason},
        )

    if problems:
        return again(422, problems)

    def removed(changes: dict[str, Any], bands: list[Limits]) -> dict[str, Any]:
        limit = next((b for b in bands if b.measure.value == measure), None)
        if limit is None or limit.values[edge] is None:
            raise LookupError(edge)
        return merged_changes(changes, limit.measure, {edge: None}, None)

    try:
        _store(db, principal, patient_id, version, why, removed)
    except RulesMoved as e:
        return again(409, [_moved(e)])
    except PatientDischarged as e:
        return discharged(request, patient_id, e.discharged_at, principal)
    except LookupError:
        return not_found(request, f"{EDGE_BY_FIELD[edge].label.lower()} limit for {measure}", principal)
    return RedirectResponse(f"/patients/{patient_id}#limits", status_code=303)


@router.post("/patients/{patient_id}/rules/reset", response_model=None)
def reset_rules(
    request: Request,
    db: Db,
    patient_id: PatientId,
    reason: Annotated[str, Form()] = "",
    version: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    check_same_origin(request)
    principal = clinician(request, db)
    if not _visible(db, principal, patient_id):
        return not_found(request, f"patient {patient_id}", principal)
    why, problem = _reason(reason)
    if problem is not None:
        problem = FieldProblem("reset_reason", problem.text)
        return _page_of(
            request, db, principal, patient_id, "patient.html", 422, [problem], form={"reset_reason": reason}
        )
    try:
        _store(db, principal, patient_id, version, why, lambda _c, _b: {})
    except RulesMoved as e:
        return _page_of(request, db, principal, patient_id, "patient.html", 409, [_moved(e)])
    except PatientDischarged as e:
        return discharged(request, patient_id, e.discharged_at, principal)
    return RedirectResponse(f"/patients/{patient_id}#limits", status_code=303)
