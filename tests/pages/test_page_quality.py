"""Every page as a person meets it, in real Chromium: no serious or critical accessibility
violation (axe-core), no sideways scrolling on a 360 px phone, a skip link and a visible
focus, the pages' own layout for a URL that names nothing (the API keeps its JSON), and the
API documentation working under the CSP.

Set CAREWATCH_SCREENSHOTS to a folder (docs/screenshots) to keep a full-page picture of each
page at 1280 px and 360 px while the accessibility test runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Response, expect

from common.wire.vocabulary import Measure, ReadingKind
from server.api.auth import Role, create_user
from server.app import create_app
from server.settings import ServerSettings
from tests.fixtures.browser import served
from tests.fixtures.server import Stack, wait_for
from tests.support.axe import load_axe, serious

WIDTHS = {"desktop": 1280, "phone": 360}


@dataclass
class Scene:
    base: str
    clinician: str
    technician: str
    admin: str
    alert_id: int
    resolved_id: int


@pytest.fixture
def scene(stack: Stack) -> Iterator[Scene]:
    """A patient with an open red alert, another whose alert is resolved, a personal limit, and a
    hub reporting, served over HTTP."""
    hub = stack.patient_with_hub("p-look-1", "hub-look-1", name="Margaret Page", team="north")
    hub.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 200, Measure.DIASTOLIC: 95})
    other = stack.patient_with_hub("p-look-2", "hub-look-2", name="Colin Oxley", team="north")
    other.send(ReadingKind.SPO2, {Measure.SPO2: 90, Measure.PULSE: 80})
    stack.wait_processed(2)
    alerts = {a["patient_id"]: a["id"] for a in stack.api.get("/api/v1/alerts", headers=stack.auth()).json()}
    resolved = stack.api.post(
        f"/api/v1/alerts/{alerts['p-look-2']}/resolve",
        json={"outcome": "phoned, GP informed"},
        headers=stack.auth(),
    )
    assert resolved.status_code == 200
    put = stack.api.put(
        "/api/v1/patients/p-look-1/rules",
        json={
            "changes": {"thresholds": {"systolic": {"red": {"at_or_above": 170}}}},
            "reason": "usual BP high",
        },
        headers=stack.auth(),
    )
    assert put.status_code == 200
    technician = create_user(stack.db, "tech-look", Role.TECHNICIAN)
    tech_auth = {"Authorization": f"Bearer {technician}"}
    wait_for(
        lambda: all(h["telemetry"] for h in stack.api.get("/api/v1/hubs", headers=tech_auth).json()),
        what="the hubs' first telemetry",
    )
    admin = create_user(stack.db, "admin-look", Role.ADMIN)
    app = create_app(ServerSettings(database_url=stack.db.url), stack.db, stack.influx)
    with served(app) as base:
        yield Scene(base, stack.token, technician, admin, alerts["p-look-1"], alerts["p-look-2"])


def _signed_in(browser: Browser, scene: Scene, token: str, width: int) -> BrowserContext:
    context = browser.new_context(viewport={"width": width, "height": 900})
    load_axe(context)
    page = context.new_page()
    page.goto(f"{scene.base}/sign-in")
    page.fill("#token", token)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(lambda url: "/sign-in" not in url)
    page.close()
    return context


def _complaints(page: Page) -> list[str]:
    """What goes wrong loading a page, as it happens: console errors (a CSP refusal among
    them) and any file the page asks for that does not load. The page's own status is
    checked by the caller, so its 404 is not counted here."""
    seen: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            seen.append(message.text)

    def loaded(response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            seen.append(f"{response.status} {response.url}")

    page.on("console", console)
    page.on("response", loaded)
    page.on("requestfailed", lambda request: seen.append(f"failed {request.url}"))
    return seen


def _pages(scene: Scene) -> dict[str, tuple[str, str, int]]:
    """Each page to look at: (who, path, the status it answers with)."""
    return {
        "work-list": ("clinician", "/alerts", 200),
        "resolved-list": ("clinician", "/alerts?view=resolved", 200),
        "alert": ("clinician", f"/alerts/{scene.alert_id}", 200),
        "patient": ("clinician", "/patients/p-look-1", 200),
        "patient-7-days": ("clinician", "/patients/p-look-1?days=7", 200),
        "patient-other": ("clinician", "/patients/p-look-2?days=90", 200),
        "change-limits": ("clinician", "/patients/p-look-1/thresholds/systolic", 200),
        "remove-limit": ("clinician", "/patients/p-look-1/thresholds/systolic/remove?edge=red_below", 200),
        "spoken-feedback": ("clinician", "/patients/p-look-1/feedback", 200),
        "not-found": ("clinician", "/patients/p-look-1/nothing-here", 404),
        "hubs": ("technician", "/hubs", 200),
        "caseload": ("clinician", "/patients", 200),
        "caseload-search": ("clinician", "/patients?q=margaret&status=alerts", 200),
        "patient-search": ("technician", "/patients?q=o", 200),
        "record": ("clinician", "/patients/p-look-1/record", 200),
        "enrol": ("technician", "/enrol", 200),
        "edit-record": ("technician", "/patients/p-look-1/edit", 200),
        "give-hub": ("technician", "/patients/p-look-1/hub", 200),
        "discharge": ("technician", "/patients/p-look-1/discharge", 200),
        "audit-trail": ("admin", "/patients/p-look-1/audit", 200),
        "hub": ("technician", "/hubs/hub-look-1", 200),
        "hub-add": ("technician", "/hubs/new", 200),
        "hub-replace": ("technician", "/hubs/hub-look-1/replace", 200),
        "sign-in": ("nobody", "/sign-in", 200),
    }


def test_every_page_passes_axe_and_fits_a_phone(scene: Scene, browser: Browser) -> None:
    shots = os.environ.get("CAREWATCH_SCREENSHOTS")
    found: dict[str, list[dict[str, Any]]] = {}
    for size, width in WIDTHS.items():
        contexts = {
            "clinician": _signed_in(browser, scene, scene.clinician, width),
            "technician": _signed_in(browser, scene, scene.technician, width),
            "admin": _signed_in(browser, scene, scene.admin, width),
            "nobody": browser.new_context(viewport={"width": width, "height": 900}),
        }
        load_axe(contexts["nobody"])
        try:
            for name, (who, path, status) in _pages(scene).items():
                page = contexts[who].new_page()
                console = _complaints(page)
                response = page.goto(f"{scene.base}{path}")
                assert response is not None and response.status == status, (name, path)
                expect(page.locator("header.nhsuk-header")).to_be_visible()
                expect(page.locator("footer.nhsuk-footer")).to_be_visible()
                page.wait_for_function("document.body.classList.contains('nhsuk-frontend-supported')")
                if violations := serious(page):
                    found[f"{name} at {width} px"] = violations
                scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
                assert scroll_width <= width, f"{name} scrolls sideways at {width} px: {scroll_width} px wide"
                assert console == [], (name, console)
                if name == "sign-in" and size == "phone":
                    # axe is really looking: a box with no label is a serious violation.
                    page.evaluate("document.querySelector('main').append(document.createElement('input'))")
                    assert "label" in {v["id"] for v in serious(page)}
                    page.reload()
                if shots:
                    Path(shots).mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(Path(shots) / f"{name}-{width}.png"), full_page=True)
                page.close()
        finally:
            for context in contexts.values():
                context.close()
    assert found == {}


def test_the_skip_link_comes_first_and_focus_is_visible(scene: Scene, browser: Browser) -> None:
    context = _signed_in(browser, scene, scene.clinician, 1280)
    try:
        page = context.new_page()
        page.goto(f"{scene.base}/patients/p-look-1")
        skip = page.locator("a.nhsuk-skip-link")
        page.keyboard.press("Tab")
        expect(skip).to_be_focused()
        expect(skip).to_be_in_viewport()
        page.keyboard.press("Enter")
        expect(page.locator("#maincontent")).to_be_focused()  # the design system's script moves focus there

        link = page.get_by_role("link", name="Change Systolic limits")
        link.focus()
        # The design system's focus style: a yellow background and a dark underline bar.
        background = link.evaluate("e => getComputedStyle(e).backgroundColor")
        shadow = link.evaluate("e => getComputedStyle(e).boxShadow")
        assert background == "rgb(255, 235, 59)", background
        assert shadow != "none", shadow
    finally:
        context.close()


def test_unknown_urls_get_the_pages_layout_and_the_api_keeps_json(scene: Scene, browser: Browser) -> None:
    context = _signed_in(browser, scene, scene.clinician, 1280)
    try:
        page = context.new_page()
        for path, what in (
            ("/no-such-page", "There is no page at this address."),
            ("/alerts/not-a-number", "There is no alert not-a-number."),
            ("/patients/not%20a%20patient", "There is no patient not a patient."),
            ("/patients/p-look-1/thresholds/heartbeat", "There is no alert limit for heartbeat."),
        ):
            response = page.goto(f"{scene.base}{path}")
            assert response is not None and response.status == 404, path
            assert response.headers["content-type"].startswith("text/html")
            expect(page.locator("h1")).to_have_text("Page not found")
            expect(page.locator("main")).to_contain_text(what)
            expect(page.locator(".who")).to_contain_text("Signed in as")
        for path, status in (("/api/v1/no-such-thing", 404), ("/api/v1/alerts/not-a-number", 422)):
            answer = page.request.get(
                f"{scene.base}{path}", headers={"Authorization": f"Bearer {scene.clinician}"}
            )
            assert answer.status == status, path
            assert answer.headers["content-type"] == "application/json"
            assert "detail" in answer.json()
    finally:
        context.close()


def test_the_api_documentation_renders_under_the_csp(scene: Scene, browser: Browser) -> None:
    with browser.new_context() as context:
        page = context.new_page()
        console = _complaints(page)
        response = page.goto(f"{scene.base}/docs")
        assert response is not None and response.status == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "unsafe" not in response.headers["content-security-policy"]
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("CareWatch API")
        expect(page.locator(".opblock-summary-path").first).to_be_visible()
        expect(page.locator("body")).to_contain_text("/api/v1/alerts")
        assert console == []
        if shots := os.environ.get("CAREWATCH_SCREENSHOTS"):
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(shots) / "docs-1280.png"))
