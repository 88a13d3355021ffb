"""The pages' routes: sign in and out, the work list, one alert, acknowledge and resolve.

Reads and changes go through the same store functions as the API
(``server.store.alerts``), so the lifecycle rules and the audit trail are one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from alerts.summaries import rule_title
from common.wire.vocabulary import ALERT_OUTCOME_LABELS, AlertOutcome
from server.access import visible_alert
from server.api.auth import Principal, audit, hash_token, principal_for_token
from server.api.deps import Db
from server.api.params import RowId
from server.api.schemas import AcknowledgeIn
from server.pages import caseload, docs, enrolment, feedback, hubs, patients, worklist
from server.pages.charts.trends import page_readings
from server.pages.headers import no_such_page, page_headers
from server.pages.render import (
    PageRoute,
    WrongRole,
    clinician,
    first_error,
    home_for,
    not_found,
    page,
    problem,
)
from server.pages.session import (
    COOKIE,
    ForeignOrigin,
    SignInRequired,
    check_same_origin,
    end_session,
    local_path,
    secure_cookie,
    session_principal,
    start_session,
)
from server.settings import ServerSettings
from server.store import alerts as lifecycle
from server.store import worklist as work
from server.store.models import Alert, AuditEvent, Patient, now

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False, route_class=PageRoute)
Body = TypeVar("Body", bound=BaseModel)


@router.get("/")
def home(request: Request, db: Db) -> RedirectResponse:
    """The site's address leads each person to their own pages: a clinician to the work list,
    a technician to the hubs (the work list is closed to them, so sending everyone there made
    a technician's first page a refusal). Signed out, to the sign-in form with no page in
    mind, so that signing in lands on those same pages."""
    principal = session_principal(db, request.cookies.get(COOKIE))
    if principal is None:
        return RedirectResponse("/sign-in", status_code=303)
    return RedirectResponse(home_for(principal), status_code=303)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, next: str = "") -> HTMLResponse:
    return page(request, "sign_in.html", next=local_path(next) if next else "", error=None)


@router.post("/sign-in", response_model=None)
def sign_in(
    request: Request,
    db: Db,
    token: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form()] = "",
) -> Response:
    check_same_origin(request)
    token = token.strip()
    principal = principal_for_token(db, token)
    if principal is None:
        client = request.client.host if request.client else "unknown"
        with db.session() as s:
            s.add(
                AuditEvent(
                    actor="anonymous", action="sign_in_failed", target="pages", detail=f"from {client}"
                )
            )
        return page(
            request,
            "sign_in.html",
            401,
            next=local_path(next) if next else "",
            error="That token is not valid.",
        )
    settings: ServerSettings = request.app.state.settings
    lasts = timedelta(hours=settings.page_session_hours)
    secret = start_session(db, principal, hash_token(token), lasts)
    audit(db, principal, "signed_in", "pages", f"session for {settings.page_session_hours:g} h")
    response = RedirectResponse(local_path(next) if next else home_for(principal), status_code=303)
    response.set_cookie(
        COOKIE,
        secret,
        max_age=int(lasts.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure_cookie(request, settings.public_url),
        path="/",
    )
    return response


@router.post("/sign-out")
def sign_out(request: Request, db: Db) -> RedirectResponse:
    check_same_origin(request)
    principal = end_session(db, request.cookies.get(COOKIE))
    if principal is not None:
        audit(db, principal, "signed_out", "pages")
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _alert_context(db: Db, principal: Principal, alert_id: int) -> dict[str, Any] | None:
    with db.session() as s:
        alert = visible_alert(s, principal, alert_id)
        if alert is None:
            return None
        patient = s.get(Patient, alert.patient_id)
        evidence = [
            {"reading_id": e.reading_id, "severity": e.severity, "detail": e.detail, "added_at": e.added_at}
            for e in lifecycle.evidence_of(s, [alert_id])
        ]
        events = [
            {"at": e.at, "actor": e.actor, "action": e.action, "detail": e.detail}
            for e in lifecycle.events_of(s, alert_id)
        ]
        latest = work.latest_evidence(s, [alert_id]).get(alert_id)
        first = work.first_evidence(s, [alert_id]).get(alert_id)
        contacts = [{"at": c.at, "actor": c.actor, "note": c.note} for c in work.contacts_of(s, alert_id)]
        return {
            "alert": {c.name: getattr(alert, c.name) for c in Alert.__table__.columns},
            "title": latest.detail if latest else alert.summary,
            "rule_title": rule_title(alert.rule_id),
            "first": first.detail if first else alert.summary,
            "contacts": contacts,
            "outcomes": [(o.value, label) for o, label in ALERT_OUTCOME_LABELS.items()],
            "patient_name": patient.display_name if patient else "",
            "team": patient.team if patient else "",
            "evidence": evidence,
            "events": events,
        }


def _show(
    request: Request,
    db: Db,
    principal: Principal,
    alert_id: int,
    status_code: int = 200,
    problem: str = "",
    field: str = "",
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    """The alert page; ``problem`` is said beside ``field`` (and in the error summary
    linking to it), or only in the summary when no field is to blame."""
    context = _alert_context(db, principal, alert_id)
    if context is None:
        return not_found(request, f"alert {alert_id}", principal)
    days = request.query_params.get("days", "")
    recent = page_readings(
        request,
        db,
        principal,
        context["alert"]["patient_id"],
        int(days) if days.isdigit() else None,
        f"/alerts/{alert_id}",
    )
    return page(
        request,
        "alert.html",
        status_code,
        user=principal,
        error_list=[{"field": field or None, "text": problem}] if problem else [],
        errors={field: problem} if field else {},
        form=form or {},
        **context,
        **recent,
    )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def one_alert(request: Request, db: Db, alert_id: RowId) -> HTMLResponse:
    principal = clinician(request, db)
    response = _show(request, db, principal, alert_id)
    if response.status_code == 200:
        audit(db, principal, "alert_viewed", str(alert_id), "page")
    return response


def _change(
    request: Request, db: Db, principal: Principal, alert_id: int, action: str, apply: lifecycle.Change
) -> Response:
    """``apply``, then its audit record (``action``, the API's name for the same change)."""
    with db.session() as s:  # out of the user's teams: as absent as a missing alert (audited)
        if visible_alert(s, principal, alert_id) is None:
            return not_found(request, f"alert {alert_id}", principal)
    try:
        with db.session() as s:
            apply(s)
    except LookupError:
        return not_found(request, f"alert {alert_id}", principal)
    except lifecycle.AlertTransitionError as e:
        return _show(request, db, principal, alert_id, 409, problem=str(e))
    audit(db, principal, action, str(alert_id), "page")
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)


def _form_change(
    request: Request,
    db: Db,
    alert_id: int,
    field: str,
    typed: str,
    action: str,
    validate: Callable[[], Body],
    change: Callable[[Principal, datetime, Body], lifecycle.Change],
) -> Response:
    """A form post that changes an alert: same-origin check, clinician, the API's own
    validation of the field, then the lifecycle change (recorded as that user)."""
    check_same_origin(request)
    principal = clinician(request, db)
    try:
        body = validate()
    except ValidationError as e:
        return _show(request, db, principal, alert_id, 422, first_error(e, field), field, {field: typed})
    return _change(request, db, principal, alert_id, action, change(principal, now(), body))


@router.post("/alerts/{alert_id}/acknowledge", response_model=None)
def acknowledge(
    request: Request,
    db: Db,
    alert_id: RowId,
    note: Annotated[str, Form()] = "",
) -> Response:
    return _form_change(
        request,
        db,
        alert_id,
        "note",
        note,
        "alert_acknowledged",
        lambda: AcknowledgeIn(note=note.strip()),
        lambda who, at, body: (
            lambda s: lifecycle.acknowledge(s, alert_id, actor=who.username, at=at, note=body.note)
        ),
    )


@router.post("/alerts/{alert_id}/resolve", response_model=None)
def resolve(
    request: Request,
    db: Db,
    alert_id: RowId,
    outcome: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Resolve with a structured outcome (and a note, required for "other")."""
    check_same_origin(request)
    principal = clinician(request, db)
    form = {"outcome": outcome, "resolve_note": note}
    if outcome not in AlertOutcome.__members__.values():
        return _show(request, db, principal, alert_id, 422, "Select what was done", "outcome", form)
    try:
        text = AcknowledgeIn(note=note.strip()).note
    except ValidationError as e:
        return _show(request, db, principal, alert_id, 422, first_error(e, "note"), "resolve_note", form)
    if outcome == AlertOutcome.OTHER and not text:
        return _show(request, db, principal, alert_id, 422, "Enter what was done", "resolve_note", form)
    chosen, who = AlertOutcome(outcome), principal.username
    return _change(
        request,
        db,
        principal,
        alert_id,
        "alert_resolved",
        lambda s: work.resolve_with_outcome(s, alert_id, actor=who, at=now(), outcome=chosen, note=text),
    )


@router.post("/alerts/{alert_id}/claim", response_model=None)
def claim(request: Request, db: Db, alert_id: RowId, back: Annotated[str, Form()] = "") -> Response:
    """Claim the alert ("I'm on it"), from the work list (and back to it) or the alert page."""
    check_same_origin(request)
    principal = clinician(request, db)
    who = principal.username
    response = _change(
        request,
        db,
        principal,
        alert_id,
        "alert_claimed",
        lambda s: work.claim(s, alert_id, actor=who, at=now()),
    )
    if back == "list" and response.status_code == 303:
        return RedirectResponse(f"/alerts#alert-link-{alert_id}", status_code=303)
    return response


@router.post("/alerts/{alert_id}/release", response_model=None)
def release(request: Request, db: Db, alert_id: RowId, back: Annotated[str, Form()] = "") -> Response:
    """No longer on it, so colleagues see that nobody is (only the holder can; a colleague's
    claim is taken over with "I'm on it", which the page offers them instead)."""
    check_same_origin(request)
    principal = clinician(request, db)
    who = principal.username
    response = _change(
        request,
        db,
        principal,
        alert_id,
        "alert_released",
        lambda s: work.release(s, alert_id, actor=who, at=now()),
    )
    if back == "list" and response.status_code == 303:
        return RedirectResponse(f"/alerts#alert-link-{alert_id}", status_code=303)
    return response


@router.post("/alerts/{alert_id}/contacts", response_model=None)
def log_contact(request: Request, db: Db, alert_id: RowId, note: Annotated[str, Form()] = "") -> Response:
    check_same_origin(request)
    principal = clinician(request, db)
    form = {"contact": note}
    try:
        text = AcknowledgeIn(note=note.strip()).note
    except ValidationError as e:
        return _show(request, db, principal, alert_id, 422, first_error(e, "note"), "contact", form)
    if not text:
        return _show(request, db, principal, alert_id, 422, "Enter what was said or done", "contact", form)
    who = principal.username
    return _change(
        request,
        db,
        principal,
        alert_id,
        "alert_contact_logged",
        lambda s: work.log_contact(s, alert_id, actor=who, at=now(), note=text),
    )


def _to_sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(f"/sign-in?next={quote(exc.next_path)}", status_code=303)


def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WrongRole)
    return problem(
        request,
        403,
        "Not available to your role",
        f"This page is for {exc.page_for}.",
        user=exc.principal,
        home=home_for(exc.principal),
        home_text="Go to your pages",
    )


def _foreign(request: Request, exc: Exception) -> Response:
    """A form sent from another site (or with its origin stripped) is refused before anything
    is changed. Logged, since it may be an attack; the page says what a clinician who simply
    followed an old link or bookmark should do, in the pages' own layout."""
    log.warning("refused %s %s: %s", request.method, request.url.path, exc)
    return problem(
        request,
        403,
        "This form could not be accepted",
        "It did not come from a CareWatch page, so nothing was changed.",
        "Go back to the page, reload it and try again. If this keeps happening, tell your IT service desk.",
    )


def install(app: FastAPI) -> None:
    """Mount the pages, their static files and the API's docs, and turn the pages' named errors into what a
    browser needs (a sign-in redirect, a 403 page)."""
    app.include_router(worklist.router)  # first: /alerts/live before /alerts/{alert_id}
    app.include_router(router)
    app.include_router(caseload.router)
    app.include_router(enrolment.router)
    app.include_router(patients.router)
    app.include_router(feedback.router)
    app.include_router(hubs.router)
    app.include_router(docs.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), name="static")
    app.add_exception_handler(SignInRequired, _to_sign_in)
    app.add_exception_handler(WrongRole, _forbidden)
    app.add_exception_handler(ForeignOrigin, _foreign)
    app.add_exception_handler(HTTPException, no_such_page)
    app.middleware("http")(page_headers)
