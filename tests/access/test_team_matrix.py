"""Role × team × route: a clinician sees their own team's patients and no one else's, on every
route of the real app, by page and by API, and every look is audited.

The routes are enumerated from the FastAPI app itself, so a route added later is checked
without anyone remembering to: a route whose path names a patient or an alert must answer a
clinician of another team exactly as it answers for a patient who does not exist (404, not
403: a refusal would tell them the patient exists), and every list must leave other teams'
patients out. A path parameter this test does not know fails it, so that it is classified.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from common.wire.vocabulary import Measure, ReadingKind
from server.api.auth import Role, create_user
from server.store.models import AuditEvent
from tests.fixtures.browser import signed_in_client
from tests.fixtures.server import Stack

#: Path parameters that name patient data, and what each is filled with per patient.
PATIENT_PARAMS = {"patient_id", "alert_id"}
#: Path parameters that qualify a patient route (filled with a value that exists).
QUALIFIERS = {"measure": "systolic"}
#: Path parameters of routes that hold no patient's data (technicians' hubs, static files).
NOT_PATIENT_DATA = {"hub_id", "path", "action"}  # action: a technician's verb on a hub
#: Routes with no parameter that return no patient data and need no check.
NOT_LISTS = {"/health", "/sign-in", "/sign-out", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/"}
#: Lists scoped like the others but not audited on each request: the work list's live
#: refresh polls every 10 s, and the page view that started it is audited.
POLLED = {"/alerts/live"}
OWN = {"Origin": "http://carewatch.test"}
FORM = {
    "note": "seen",
    "outcome": "phoned, all well",
    "reason": "matrix test",
    "measure": "systolic",
    "edge": "red_above",
    "version": "",
    "confirm": "yes",
    "red_above": "190",
}
JSON_BODIES = {
    "/rules": {"changes": {}, "reason": "matrix test"},
    "/conditions": {"conditions": [], "reason": "matrix test"},
    "/acknowledge": {"note": "seen"},
    "/resolve": {"outcome": "phoned, all well"},
    "/contacts": {"note": "matrix test"},
    "/preview": {"changes": {}},
    "/feedback": {"preferences": None},
    "/readmit": {"reason": "matrix test"},
}


@dataclass
class Who:
    name: str
    api: dict[str, str]
    pages: TestClient


@dataclass
class Matrix:
    stack: Stack
    ids: dict[str, dict[str, str]]  # team -> {"patient_id": ..., "alert_id": ..., "name": ...}
    alpha: Who
    admin: Who


@pytest.fixture
def matrix(stack: Stack) -> Matrix:
    ids: dict[str, dict[str, str]] = {}
    for team, name in (("alpha", "Alma Alpha"), ("beta", "Bertram Beta")):
        hub = stack.patient_with_hub(f"p-{team}", f"hub-{team}", name=name, team=team)
        hub.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 200, Measure.DIASTOLIC: 95})
        ids[team] = {"patient_id": f"p-{team}", "name": name}
    stack.wait_processed(2)
    admin_token = create_user(stack.db, "admin-matrix", Role.ADMIN)
    for alert in stack.api.get("/api/v1/alerts", headers={"Authorization": f"Bearer {admin_token}"}).json():
        ids[alert["patient_id"].removeprefix("p-")]["alert_id"] = str(alert["id"])
    assert {"alert_id"} <= set(ids["alpha"]) and {"alert_id"} <= set(ids["beta"])
    alpha_token = create_user(stack.db, "matron-alpha", Role.CLINICIAN, teams=["alpha"])
    app = stack.api.app
    return Matrix(
        stack,
        ids,
        Who("matron-alpha", {"Authorization": f"Bearer {alpha_token}"}, signed_in_client(app, alpha_token)),
        Who("admin-matrix", {"Authorization": f"Bearer {admin_token}"}, signed_in_client(app, admin_token)),
    )


def _routes(app: FastAPI) -> list[APIRoute]:
    """Every route of the app, through the routers it includes (FastAPI keeps those nested)."""
    found = [c.original_route for c in iter_route_contexts(app.routes)]
    routes = [r for r in found if isinstance(r, APIRoute)]
    assert len(routes) >= 20, "the app's routes were not found"
    return routes


def _app(m: Matrix) -> FastAPI:
    app = m.stack.api.app
    assert isinstance(app, FastAPI)
    return app


def _params(route: APIRoute) -> set[str]:
    return set(route.param_convertors)


def _fill(route: APIRoute, values: dict[str, str]) -> str:
    path = route.path
    for name in _params(route):
        path = path.replace("{" + name + "}", values.get(name) or QUALIFIERS[name])
    return path


def _audits(m: Matrix, actor: str) -> int:
    with m.stack.db.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.actor == actor)) or 0


def _send(m: Matrix, who: Who, method: str, path: str) -> httpx.Response:
    answer: httpx.Response
    if path.startswith("/api/"):
        body = next((b for suffix, b in JSON_BODIES.items() if path.endswith(suffix)), None)
        answer = m.stack.api.request(method, path, headers=who.api, json=body)
    elif method == "GET":  # the query qualifies the routes that want one (which limit to remove)
        answer = who.pages.get(path, params={"edge": "red_above"}, follow_redirects=False)
    else:
        answer = who.pages.request(method, path, data=FORM, headers=OWN, follow_redirects=False)
    return answer


def _methods(route: APIRoute) -> set[str]:
    return set(route.methods or ())


def test_every_route_is_classified(matrix: Matrix) -> None:
    for route in _routes(_app(matrix)):
        unknown = _params(route) - PATIENT_PARAMS - set(QUALIFIERS) - NOT_PATIENT_DATA
        assert not unknown, f"{route.path}: classify {unknown} in this test (patient data or not?)"


def test_another_teams_patient_is_as_absent_as_one_that_does_not_exist(matrix: Matrix) -> None:
    """Per route and method: 404 for team beta's patient exactly when it is 404 for nobody,
    audited; and the own team's patient is reachable (not 404)."""
    checked = 0
    nobody = {"patient_id": "p-nobody", "alert_id": "999999"}
    per_patient = [r for r in _routes(_app(matrix)) if _params(r) & PATIENT_PARAMS]
    per_patient.sort(key=lambda r: (sorted(_methods(r)) != ["GET"], r.path))  # reads before changes
    for route in per_patient:
        for method in sorted(_methods(route) - {"HEAD"}):
            where = f"{method} {route.path}"
            absent = _send(matrix, matrix.alpha, method, _fill(route, nobody)).status_code
            before = _audits(matrix, "matron-alpha")
            theirs = _send(matrix, matrix.alpha, method, _fill(route, matrix.ids["beta"]))
            assert theirs.status_code == absent, (
                f"{where}: {theirs.status_code} for beta's, {absent} for nobody"
            )
            assert absent in (403, 404), f"{where}: {absent} for a patient who does not exist"
            assert matrix.ids["beta"]["name"] not in theirs.text, where
            if absent == 404:
                assert _audits(matrix, "matron-alpha") > before, f"{where}: the attempt was not audited"
                mine = _send(matrix, matrix.alpha, method, _fill(route, matrix.ids["alpha"]))
                assert mine.status_code != 404, f"{where}: the own team's patient not found"
            checked += 1
            if method == "GET":
                before = _audits(matrix, "admin-matrix")
                seen = _send(matrix, matrix.admin, method, _fill(route, matrix.ids["beta"]))
                assert seen.status_code == 200, f"{where}: admin got {seen.status_code}"
                assert _audits(matrix, "admin-matrix") > before, f"{where}: the admin's view was not audited"
    assert checked >= 10  # the routes were really found


def test_no_list_shows_another_teams_patient(matrix: Matrix) -> None:
    beta = matrix.ids["beta"]
    hostile = f"?team=beta&q={beta['name']}&patient_id={beta['patient_id']}&view=resolved&status=all"
    lists = [
        r
        for r in _routes(_app(matrix))
        if "GET" in _methods(r) and not _params(r) and r.path not in NOT_LISTS
    ]
    assert any(r.path == "/api/v1/alerts" for r in lists) and any(r.path == "/alerts" for r in lists)
    for route in lists:
        for query in ("", hostile):
            before = _audits(matrix, "matron-alpha")
            answer = _send(matrix, matrix.alpha, "GET", route.path + query)
            if answer.status_code == 403:  # a list of another role's (the hubs): nothing shown
                continue
            assert answer.status_code in (200, 422), f"{route.path}{query}: {answer.status_code}"
            for shown in (beta["name"], beta["patient_id"], f"/alerts/{beta['alert_id']}"):
                assert shown not in answer.text, f"{route.path}{query} shows {shown}"
            if answer.status_code == 200 and route.path not in POLLED:
                assert _audits(matrix, "matron-alpha") > before, (
                    f"{route.path}{query}: the list was not audited"
                )
            if not query and route.path in ("/alerts", "/api/v1/alerts", "/patients"):
                assert matrix.ids["alpha"]["patient_id"] in answer.text  # own team: shown
            seen = _send(matrix, matrix.admin, "GET", route.path)
            assert seen.status_code == 200, route.path
    admin_list = _send(matrix, matrix.admin, "GET", "/api/v1/alerts").json()
    assert {a["patient_id"] for a in admin_list} == {"p-alpha", "p-beta"}  # admin sees all


#: The patient routes a technician may open: the record and its changes (hub, edit,
#: discharge), none of which shows a reading, an alert or a limit. Any other patient route
#: answering a technician 200 fails the technician's row, so a new one must be classified.
TECHNICIAN_MAY_READ = {
    "/patients/{patient_id}/record",
    "/patients/{patient_id}/edit",
    "/patients/{patient_id}/hub",
    "/patients/{patient_id}/discharge",
}
TECHNICIAN_MAY_CHANGE = {
    "/patients/{patient_id}/edit",
    "/patients/{patient_id}/hub",
    "/patients/{patient_id}/discharge",
}


def test_a_technician_finds_any_teams_patient_and_reaches_no_clinical_data(matrix: Matrix) -> None:
    """The technician's row: their search finds a patient of any team (``server.access``: a
    technician's hubs and enrolment serve every team) with their hub, and no route, page or
    API, list or per patient or hub, shows them a reading, an alert or a limit."""
    token = create_user(matrix.stack.db, "tech-matrix", Role.TECHNICIAN)
    tech = Who("tech-matrix", {"Authorization": f"Bearer {token}"}, signed_in_client(_app(matrix), token))
    alerts = _send(matrix, matrix.admin, "GET", "/api/v1/alerts").json()
    # The readings' values and unit, the alerts, and the limits ("Red at or above 180 mmHg").
    clinical = {"mmHg", "Red at or", "Alert limits", *(a["summary"] for a in alerts)}
    clinical |= {f"/alerts/{a['id']}" for a in alerts}

    def nothing_clinical(answer: httpx.Response, where: str) -> None:
        shown = {c for c in clinical if c in answer.text}
        assert not shown, f"{where}: a technician is shown {shown}"

    before = _audits(matrix, "tech-matrix")
    for team in ("alpha", "beta"):
        found = tech.pages.get("/patients", params={"q": matrix.ids[team]["name"].split()[0]})
        assert found.status_code == 200, found.status_code
        assert f'data-patient-id="p-{team}"' in found.text and f"hub-{team}" in found.text
        assert f"/patients/p-{team}/record" in found.text
        nothing_clinical(found, f"/patients?q= ({team})")
    assert tech.pages.get("/patients", params={"q": "9434765919"}).text.count("data-patient-id=") == 0
    assert _audits(matrix, "tech-matrix") > before  # each search is audited

    checked = 0
    values = {**matrix.ids["beta"], "hub_id": "hub-beta"}
    for route in _routes(_app(matrix)):
        params = _params(route)
        if "GET" not in _methods(route) or route.path in NOT_LISTS or "action" in params:
            continue
        answer = _send(matrix, tech, "GET", _fill(route, values))
        nothing_clinical(answer, route.path)
        if params & PATIENT_PARAMS and answer.status_code == 200:
            assert route.path in TECHNICIAN_MAY_READ, f"{route.path}: {answer.status_code} for a technician"
        checked += 1
    for route in _routes(_app(matrix)):
        if not _params(route) & PATIENT_PARAMS or route.path in TECHNICIAN_MAY_CHANGE:
            continue
        for method in sorted(_methods(route) - {"GET", "HEAD"}):
            answer = _send(matrix, tech, method, _fill(route, matrix.ids["alpha"]))
            assert answer.status_code == 403, f"{method} {route.path}: {answer.status_code} for a technician"
            checked += 1
    assert checked >= 25
