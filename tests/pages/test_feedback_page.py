"""The patient page's "What the hub says aloud" and its form, in real Chromium against the
app served by uvicorn: the hub's defaults shown in words, a bad reminder said beside its box
(axe clean with the errors shown), the change saved, shown and read back through the API,
and a post from another site refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from server.app import create_app
from server.settings import ServerSettings
from tests.fixtures.browser import served, signed_in_client
from tests.fixtures.server import Stack

AXE = Path(__file__).resolve().parent.parent / "fixtures" / "vendor" / "axe.min.js"


def _serious(page: Page) -> list[dict[str, Any]]:
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def test_a_clinician_changes_what_the_hub_says_with_errors_beside_the_box(
    stack: Stack, browser: Browser
) -> None:
    stack.patient_with_hub("p-fbp-1", "hub-fbp-1", name="Gwen Jones")
    app = create_app(ServerSettings(database_url=stack.db.url), stack.db, stack.influx)
    with served(app) as base, browser.new_context() as context:
        context.add_init_script(path=str(AXE))
        page = context.new_page()
        page.goto(f"{base}/patients/p-fbp-1")
        page.fill("#token", stack.token)
        page.click("button:has-text('Sign in')")
        section = page.locator("#feedback + p")
        expect(section).to_contain_text("The hub's own settings")
        expect(page.locator(".cw-feedback-values")).to_have_text("No")
        expect(page.locator(".cw-feedback-reminders")).to_have_text("None")
        page.get_by_role("link", name="Change what the hub says").click()
        expect(page.locator("h1")).to_contain_text("What the hub says aloud")
        expect(page.locator("#speak-received")).to_be_checked()  # the defaults, as they are
        expect(page.locator("#speak_values-no")).to_be_checked()

        page.locator("#speak-received").uncheck()
        page.get_by_label("Welsh (Cymraeg)").check()
        page.fill("#reminders", "weight@25:00")
        page.click("button:has-text('Save and send to the hub')")
        expect(page.locator("#reminders-error")).to_contain_text(
            "25:00 in 'weight@25:00' is not a 24-hour time"
        )
        expect(page.locator(".nhsuk-error-summary a[href='#reminders']")).to_be_visible()
        expect(page.locator("#speak-received")).not_to_be_checked()  # what was typed is kept
        expect(page.locator("#language-cy")).to_be_checked()
        assert _serious(page) == []

        page.fill("#reminders", "weight@10:00")
        page.click("button:has-text('Save and send to the hub')")
        page.wait_for_url(f"{base}/patients/p-fbp-1#feedback")
        expect(page.locator(".cw-feedback-language")).to_have_text("Welsh (Cymraeg)")
        expect(page.locator(".cw-feedback-reminders")).to_have_text("weight at 10:00")
        expect(page.locator(".cw-feedback-events")).not_to_contain_text("The hub has the reading")
        # The hub's devices were paired at the hub: the settings are sent all the same (without
        # a device list), so the page no longer says they wait for a first configuration.
        expect(page.get_by_text("has not been sent a configuration yet")).to_have_count(0)

    body = stack.api.get("/api/v1/patients/p-fbp-1/feedback", headers=stack.auth()).json()
    assert body["preferences"] == {
        "speak": ["confirmed", "offline", "reminder", "retake"],
        "speak_values": False,
        "language": "cy",
        "reminders": [{"kind": "weight", "at": "10:00", "window_min": 120}],
    }
    assert body["warnings"] == []  # the default schedule expects a weight by 11:00
    assert body["hub_config_version"] == 2  # 1: given to the patient; 2: these settings


def test_a_post_from_another_site_changes_nothing(stack: Stack) -> None:
    stack.patient_with_hub("p-fbp-2", "hub-fbp-2")
    app = create_app(ServerSettings(database_url=stack.db.url), stack.db, stack.influx)
    client = signed_in_client(app, stack.token)
    form = {"speak": "confirmed", "speak_values": "yes", "language": "", "reminders": ""}
    refused = client.post("/patients/p-fbp-2/feedback", data=form, headers={"Origin": "http://evil.test"})
    assert refused.status_code == 403
    assert (
        stack.api.get("/api/v1/patients/p-fbp-2/feedback", headers=stack.auth()).json()["preferences"] is None
    )
    saved = client.post(
        "/patients/p-fbp-2/feedback",
        data=form,
        headers={"Origin": "http://carewatch.test"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert stack.api.get("/api/v1/patients/p-fbp-2/feedback", headers=stack.auth()).json()["preferences"][
        "speak_values"
    ]
