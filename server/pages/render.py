"""What every page shares: the templates, times in the team's zone, the clinician check."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from server.api.auth import Principal, Role
from server.api.deps import Db
from server.pages.session import COOKIE, session_principal, signed_in
from server.settings import ServerSettings

log = logging.getLogger(__name__)
templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))


@pass_context
def _when(context: Any, t: datetime | None) -> str:
    """A time as the team reads it: in the deployment's zone (``CAREWATCH_TIMEZONE``),
    with the zone's abbreviation so GMT and BST are never confused."""
    if t is None:
        return ""
    settings: ServerSettings = context["request"].app.state.settings
    return t.astimezone(settings.zone).strftime("%d %b %Y %H:%M %Z")


@pass_context
def _day(context: Any, t: datetime | None) -> str:
    """A date as the team reads it, in the deployment's zone: '3 Dec 2026'."""
    if t is None:
        return ""
    settings: ServerSettings = context["request"].app.state.settings
    return t.astimezone(settings.zone).strftime("%-d %b %Y")


templates.env.filters["when"] = _when
templates.env.filters["day"] = _day


class WrongRole(Exception):
    """Signed in, but this page is for another role (a technician on a clinical page, a
    clinician on the technicians' hub list)."""

    def __init__(self, principal: Principal, page_for: str) -> None:
        super().__init__(principal.username)
        self.principal = principal
        self.page_for = page_for


def _signed_in_as(request: Request, db: Db, role: Role, page_for: str) -> Principal:
    principal = signed_in(request, db)
    if not principal.may_act_as(role):
        raise WrongRole(principal, page_for)
    return principal


def clinician(request: Request, db: Db) -> Principal:
    return _signed_in_as(request, db, Role.CLINICIAN, "the clinical team")


def technician(request: Request, db: Db) -> Principal:
    return _signed_in_as(request, db, Role.TECHNICIAN, "technicians")


def home_for(principal: Principal) -> str:
    """Where a user lands after signing in with no particular page in mind."""
    return "/hubs" if principal.role is Role.TECHNICIAN else "/alerts"


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def problem(
    request: Request,
    status_code: int,
    title: str,
    *paragraphs: str,
    user: Principal | None = None,
    home: str = "",
    home_text: str = "",
) -> HTMLResponse:
    """A page that says what went wrong and where to go next, in the pages' own layout."""
    return page(
        request,
        "problem.html",
        status_code,
        title=title,
        paragraphs=paragraphs,
        user=user,
        home=home or (home_for(user) if user else "/alerts"),
        home_text=home_text,
    )


def not_found(request: Request, what: str, user: Principal | None) -> HTMLResponse:
    return problem(
        request,
        404,
        "Page not found",
        f"There is no {what}.",
        "If you typed the web address, check it is correct. If you followed a link, what it "
        "pointed to may have been removed.",
        user=user,
    )


def discharged(request: Request, patient_id: str, at: datetime, user: Principal | None) -> HTMLResponse:
    """The answer to a change of a discharged patient's record (409: it is closed, not
    absent), with the way back: a clinician of the team readmits them on the record page."""
    settings: ServerSettings = request.app.state.settings
    return problem(
        request,
        409,
        "This patient has been discharged",
        f"They were discharged on {at.astimezone(settings.zone):%-d %b %Y}. Their record, readings "
        "and alerts are kept and can be read, but not changed.",
        "To change it, a clinician of their team readmits them first, on the patient record page.",
        user=user,
        home=f"/patients/{patient_id}/record",
        home_text="Go to the patient record",
    )


def plainly(error: Mapping[str, Any], label: str) -> str:
    """One refused field in the words a clinician reads, not the validator's: 'Enter the
    outcome (at least 3 characters)', not 'String should have at least 3 characters'."""
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    name = label[:1].upper() + label[1:]
    if kind == "missing":
        return f"Enter the {label}"
    if kind == "string_too_short":
        return f"Enter the {label} (at least {context.get('min_length')} characters)"
    if kind == "string_too_long":
        return f"{name} must be {context.get('max_length')} characters or fewer"
    if kind == "value_error":
        return f"{name} {str(error.get('msg', '')).removeprefix('Value error, ')}"
    return f"{name}: {str(error.get('msg', 'not valid')).lower()}"


def _unusable(request: Request, principal: Principal | None, e: RequestValidationError) -> HTMLResponse:
    """What a page answers when a parameter cannot be used: a path naming nothing that can
    exist is the not-found page (an alert id beyond what the database holds is as absent as
    any other), anything else a page saying which field and why."""
    errors = e.errors()
    for error in errors:
        loc = error.get("loc", ())
        if len(loc) >= 2 and loc[0] == "path":
            what = f"{str(loc[1]).removesuffix('_id').replace('_', ' ')} {str(error.get('input', ''))[:80]}"
            return not_found(request, what, principal)
    loc = errors[0].get("loc", ()) if errors else ()
    field = str(loc[-1]).replace("_", " ") if loc else "request"
    return problem(
        request,
        422,
        "That request cannot be used",
        f"{plainly(errors[0], field) if errors else 'The request is not valid'}.",
        user=principal,
    )


class PageRoute(APIRoute):
    """The route class of every page: a parameter FastAPI refuses answers with a page, not
    the API's JSON 422. It needs no sign-in (the sign-in form itself has a field): the
    answer names only what was sent, and nothing was read or changed, since validation runs
    before the page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as e:
                principal = await run_in_threadpool(
                    session_principal, request.app.state.db, request.cookies.get(COOKIE)
                )
                return _unusable(request, principal, e)

        return page_handler


def first_error(e: ValidationError, label: str) -> str:
    """A form field the API's own model refused, said the way the page shows it."""
    return plainly(e.errors()[0], label)
