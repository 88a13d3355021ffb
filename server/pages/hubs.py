"""The technicians' page: every hub, online or not, its backlog, devices and configuration,
and what needs a visit or a call, from the same overview as ``GET /api/v1/hubs``.

Read-only: pairing changes go through ``carewatch server hub pair``, which holds the
server's MQTT credentials; the web process does not need them.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from server.api.auth import audit
from server.api.deps import Db
from server.hubs import hub_overview
from server.pages.render import PageRoute, page, technician

router = APIRouter(include_in_schema=False, route_class=PageRoute)


@router.get("/hubs", response_class=HTMLResponse)
def hubs_page(request: Request, db: Db) -> HTMLResponse:
    principal = technician(request, db)
    hubs = hub_overview(db)
    hubs.sort(key=lambda h: (not h.attention, h.id))  # the ones needing attention first
    audit(db, principal, "hubs_listed", "*", f"page n={len(hubs)}")
    return page(request, "hubs.html", user=principal, hubs=hubs)
