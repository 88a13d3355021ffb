"""The work list: open alerts grouped by patient, red first, each titled by its latest
evidence, who is on it, and several acknowledged at once; plus the fragment a small
same-origin script polls so a new red alert appears without a reload (with scripts off the
page is the same, and a reload shows what is new).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from server.access import scope_of, visible_alert
from server.api.auth import Principal, audit, patients_shown
from server.api.deps import Db
from server.pages.render import PageRoute, clinician, page
from server.pages.session import check_same_origin
from server.store import alerts as lifecycle
from server.store.models import now
from server.store.worklist import count_alerts, grouped

router = APIRouter(include_in_schema=False, route_class=PageRoute)
VIEWS = {"open": lifecycle.OPEN_STATES, "resolved": ("resolved",)}
#: How often the page's script asks for the list again, in seconds.
REFRESH_SECONDS = 10
MAX_SELECTED = 200
#: The most alerts one list shows (the most urgent open ones, the newest resolved ones); a
#: list cut here says how many it holds in all.
LIST_LIMIT = 500


def _list_context(db: Db, principal: Principal, view: str) -> dict[str, Any]:
    view = view if view in VIEWS else "open"
    with db.session() as s:  # a clinician's own teams' patients only
        in_scope = scope_of(s, principal).patients()
        groups = grouped(s, VIEWS[view], in_scope, limit=LIST_LIMIT)
        count = sum(len(g.alerts) for g in groups)
        total = count if count < LIST_LIMIT else count_alerts(s, VIEWS[view], in_scope)
    red = sum(1 for g in groups for a in g.alerts if a["severity"] == "red" and a["status"] != "resolved")
    state = repr([(a["id"], a["status"], a["severity"], a["updated_at"]) for g in groups for a in g.alerts])
    return {
        "groups": groups,
        "view": view,
        "count": count,
        "total": total,
        "red": red,
        "version": hashlib.sha256(state.encode()).hexdigest()[:16],
        "refresh": REFRESH_SECONDS,
    }


@router.get("/alerts", response_class=HTMLResponse)
def work_list(
    request: Request,
    db: Db,
    view: str = "open",
    acknowledged: int = -1,
    skipped: int = 0,
    over: int = 0,
) -> HTMLResponse:
    """``acknowledged``/``skipped``: what the last "Acknowledge selected" did (counts, not
    words, so a link cannot put its own sentence on the page)."""
    principal = clinician(request, db)
    context = _list_context(db, principal, view)
    audit(
        db,
        principal,
        "alerts_listed",
        "*",
        f"page view={context['view']} n={context['count']}"
        + patients_shown(g.patient_id for g in context["groups"]),
    )
    return page(request, "alerts.html", user=principal, done=_done(acknowledged, skipped, over), **context)


def _done(acknowledged: int, skipped: int, over: int = 0) -> str:
    if acknowledged < 0:
        return ""
    if acknowledged == 0 and skipped == 0 and over <= 0:
        return "Tick the alerts to acknowledge first."
    said = f"{acknowledged} alert{'s' if acknowledged != 1 else ''} acknowledged"
    said += f"; {skipped} already resolved or gone." if skipped > 0 else "."
    if over > 0:
        said += f" Not acknowledged: {over} more you selected (at most {MAX_SELECTED} at once). Select them again."
    return said


@router.get("/alerts/live", response_class=HTMLResponse)
def live(request: Request, db: Db, view: str = "open") -> HTMLResponse:
    """The list alone, for the page's script to swap in (it compares ``data-version``). Not
    audited per poll: the page view that started it is."""
    principal = clinician(request, db)
    return page(request, "_worklist.html", user=principal, **_list_context(db, principal, view))


@router.post("/alerts/acknowledge", response_model=None)
def acknowledge_several(
    request: Request,
    db: Db,
    alert_id: Annotated[list[int] | None, Form()] = None,
) -> Response:
    """Acknowledge every ticked alert, each with its own history entry and audit record.
    One already resolved is skipped and said."""
    check_same_origin(request)
    principal = clinician(request, db)
    selected = sorted(set(alert_id or []))
    chosen, over = selected[:MAX_SELECTED], len(selected) - MAX_SELECTED
    done, skipped = 0, 0
    for one in chosen:
        try:
            with db.session() as s:
                if visible_alert(s, principal, one) is None:  # another team's: as if absent
                    raise LookupError(one)
                lifecycle.acknowledge(s, one, actor=principal.username, at=now(), note="from the work list")
        except (LookupError, lifecycle.AlertTransitionError):
            skipped += 1
            continue
        audit(db, principal, "alert_acknowledged", str(one), "page, several at once")
        done += 1
    said = f"/alerts?acknowledged={done}&skipped={skipped}" + (f"&over={over}" if over > 0 else "")
    return RedirectResponse(said, status_code=303)
