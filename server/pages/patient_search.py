"""The technicians' patients page: find a patient by name or NHS number to give them a hub,
swap it or discharge them. It shows who the patient is, their team and their hub, and
links to their record; never a reading, an alert or a limit (``server.patient_search``).
Served at ``/patients`` for a technician, where a clinician gets the caseload.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from server.access import scope_of
from server.api.auth import Principal, audit, patients_shown
from server.api.deps import Db
from server.pages.render import page
from server.patient_search import FOUND_MAX, find_patients


def search_page(request: Request, db: Db, principal: Principal, text: str) -> HTMLResponse:
    with db.session() as s:
        found, matched = find_patients(s, scope_of(s, principal), text)
    if text:
        audit(
            db,
            principal,
            "patients_searched",
            "*",
            f"page n={matched}" + patients_shown(f.patient_id for f in found),
        )
    return page(
        request,
        "patient_search.html",
        user=principal,
        text=text,
        found=found,
        matched=matched,
        most=FOUND_MAX,
    )
