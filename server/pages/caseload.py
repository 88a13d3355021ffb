"""The caseload page: a team's patients, the worst first, searchable by name or NHS number
(for a technician, the same address finds a patient without their clinical data).

What each row says comes from ``server.caseload``; this module reads the form, scopes it to
the user's teams and records the view in the audit trail.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from server.access import scope_of
from server.api.auth import Role, audit, patients_shown
from server.api.deps import Db
from server.caseload import Query as CaseloadQuery
from server.caseload import Status, caseload
from server.pages.patient_search import search_page
from server.pages.render import PageRoute, clinician, page
from server.pages.session import signed_in
from server.settings import ServerSettings
from server.store.models import now
from server.teams import all_teams

router = APIRouter(include_in_schema=False, route_class=PageRoute)

#: Patients a page: the NHS pattern for a long list (``nhsuk-pagination``), worst first.
PAGE_SIZE = 100

STATUS_LABELS = {
    Status.ALL: "All patients",
    Status.ALERTS: "With an open alert",
    Status.OUT_OF_RANGE: "Latest value out of range",
    Status.NO_READING_TODAY: "No reading today",
    Status.HUB_OFFLINE: "Hub offline or not known",
    Status.DISCHARGED: "Discharged",
}


@router.get("/patients", response_class=HTMLResponse)
def caseload_page(
    request: Request,
    db: Db,
    q: Annotated[str, Query(max_length=100)] = "",
    team: Annotated[str, Query(max_length=64)] = "",
    status: Status = Status.ALL,
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """Sorted and judged whole, shown a page at a time: the worst of 2,000 patients are on the
    first page, and the browser is not sent 3 MB of rows nobody scrolls to. A technician gets
    the search for a patient without their clinical data (``server.pages.patient_search``)."""
    principal = signed_in(request, db)
    if principal.role is Role.TECHNICIAN:
        return search_page(request, db, principal, q.strip())
    principal = clinician(request, db)
    settings: ServerSettings = request.app.state.settings
    with db.session() as s:
        scope = scope_of(s, principal)
        teams = [t for t in all_teams(s) if scope.sees(t)]
        wanted = CaseloadQuery(q.strip(), team if team in teams else "", status)
        found = caseload(s, scope, wanted, at=now(), zone=settings.zone)
    pages = max(1, -(-len(found.rows) // PAGE_SIZE))
    shown = min(page_number, pages)
    start = (shown - 1) * PAGE_SIZE
    audit(
        db,
        principal,
        "caseload_viewed",
        "*",
        f"page q={'yes' if wanted.text else 'no'} team={wanted.team or '*'} status={status.value} n={len(found.rows)}"
        + patients_shown(r.patient_id for r in found.rows[start : start + PAGE_SIZE]),
    )
    return page(
        request,
        "caseload.html",
        user=principal,
        rows=found.rows[start : start + PAGE_SIZE],
        total=len(found.rows),
        first=start + 1,
        page_number=shown,
        pages=pages,
        teams=teams,
        query=wanted,
        statuses=STATUS_LABELS,
    )
