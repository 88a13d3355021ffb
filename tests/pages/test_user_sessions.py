"""A browser signed in with a token that is then rotated, or whose user is disabled, is
signed out on its next page: real Chromium, the app served by uvicorn."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from server.api.auth import Role, create_user
from server.app import create_app
from server.settings import ServerSettings
from server.users import rotate_token, set_enabled
from tests.fixtures.browser import served
from tests.fixtures.server import Stack


def _sign_in(page: Page, base: str, token: str) -> None:
    page.goto(f"{base}/sign-in")
    page.fill("#token", token)
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(f"{base}/alerts")
    expect(page.locator("h1")).to_have_text("Alerts")


def test_rotation_and_disabling_sign_the_browser_out(stack: Stack, browser: Browser) -> None:
    old = create_user(stack.db, "matron-browser", Role.CLINICIAN)
    app = create_app(ServerSettings(database_url=stack.db.url), stack.db, stack.influx)
    with served(app) as base, browser.new_context() as context:
        page = context.new_page()
        _sign_in(page, base, old)

        new = rotate_token(stack.db, "matron-browser", actor="admin-1")
        page.goto(f"{base}/alerts?view=resolved")
        expect(page).to_have_url(re.compile(r"/sign-in\?next=/alerts$"))
        page.fill("#token", old)
        page.click("button:has-text('Sign in')")
        expect(page.locator("#token-error")).to_have_text("Error: That token is not valid.")
        _sign_in(page, base, new)
        expect(page.locator(".who")).to_contain_text("matron-browser")

        set_enabled(stack.db, "matron-browser", False, actor="admin-1")
        page.reload()
        expect(page).to_have_url(re.compile(r"/sign-in\?next=/alerts$"))
        expect(page.locator(".who")).to_have_count(0)
