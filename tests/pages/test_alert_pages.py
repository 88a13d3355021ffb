"""A matron works an alert in the browser: the link a notification carries, sign-in, the
work list, acknowledge, resolve; real Chromium against the app served by uvicorn, the alert
raised by a real reading through the broker and the ingest worker."""

from __future__ import annotations

import re
import time

from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from common.wire.vocabulary import Measure, ReadingKind
from devstack.process import free_port
from server.api.auth import Role, create_user, hash_token
from server.app import create_app
from server.settings import ServerSettings
from server.store.influx.store import InfluxStore
from server.store.models import PageSession
from tests.fixtures.browser import served, signed_in_client
from tests.fixtures.server import Stack, wait_for


def _alert_id(stack: Stack, patient_id: str) -> int:
    [alert] = stack.api.get("/api/v1/alerts", params={"patient_id": patient_id}, headers=stack.auth()).json()
    return int(alert["id"])


def test_matron_follows_the_link_signs_in_acknowledges_and_resolves(stack: Stack, browser: Browser) -> None:
    hub = stack.patient_with_hub("p-page-1", "hub-page-1", name="Margaret Page")
    hub.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 200, Measure.DIASTOLIC: 95})
    stack.wait_processed(1)
    alert_id = _alert_id(stack, "p-page-1")

    app = create_app(ServerSettings(database_url=stack.db.url), stack.db, stack.influx)
    with served(app) as base, browser.new_context() as context:
        page = context.new_page()
        # The notification's link, opened with no session: sign in first, then straight back.
        page.goto(f"{base}/alerts/{alert_id}")
        expect(page).to_have_url(re.compile(r"/sign-in\?next=/alerts/\d+$"))
        page.fill("#token", "cw_not-a-real-token")
        page.click("button:has-text('Sign in')")
        expect(page.locator("#token-error")).to_have_text("Error: That token is not valid.")
        page.fill("#token", stack.token)
        page.click("button:has-text('Sign in')")
        expect(page).to_have_url(f"{base}/alerts/{alert_id}")
        expect(page.locator("h1")).to_contain_text("Systolic 200 mmHg")
        expect(page.locator("dd.status")).to_have_text("open")
        expect(page.locator("dl.facts")).to_contain_text("Margaret Page")
        expect(page.locator("dl.facts")).to_contain_text("Blood pressure outside its limits")
        expect(page.locator("dl.facts")).not_to_contain_text("threshold.")  # no internal id
        # The reading itself, read back from InfluxDB, beside the alert.
        expect(page.locator("table.readings tbody tr")).to_have_count(1)
        expect(page.locator("table.readings")).to_contain_text("200/95 mmHg")

        # The work list shows it, red, needing action.
        page.click("a.nhsuk-back-link:has-text('All alerts')")
        row = page.locator(f"li[data-alert-id='{alert_id}']")
        expect(row.locator(".cw-severity")).to_have_text("RED")
        expect(row.locator(".cw-status")).to_have_text("open")
        row.locator(f"a[href='/alerts/{alert_id}']").click()

        page.fill("#note", "calling the patient now")
        page.click("button:has-text('Acknowledge')")
        expect(page.locator("dd.status")).to_have_text("acknowledged")
        expect(page.locator("ol.history")).to_contain_text("calling the patient now")

        page.check("#outcome-gp_informed")
        page.fill("#resolve_note", "phoned patient first")
        page.click("button:has-text('Resolve')")
        expect(page.locator("dd.status")).to_have_text("resolved")
        page.goto(f"{base}/alerts?view=resolved")
        resolved_row = page.locator(f"li[data-alert-id='{alert_id}']")
        expect(resolved_row.locator(".cw-status")).to_have_text("resolved")
        expect(resolved_row.locator(".cw-severity")).to_have_text("Red, resolved")  # no longer looks urgent
        page.goto(f"{base}/alerts")
        expect(page.locator(".empty")).to_have_text("No alerts need action.")

        page.click("button:has-text('Sign out')")
        page.goto(f"{base}/alerts")
        expect(page).to_have_url(re.compile(r"/sign-in"))

    # What the browser did is what the API and the audit trail say happened, by whom.
    detail = stack.api.get(f"/api/v1/alerts/{alert_id}", headers=stack.auth()).json()
    assert detail["status"] == "resolved"
    assert [(e["action"], e["detail"]) for e in detail["events"]][1:] == [
        ("acknowledged", "calling the patient now"),
        ("resolved", "GP informed: phoned patient first"),
    ]
    assert {e["actor"] for e in detail["events"][1:]} == {detail["acknowledged_by"]}
    assert detail["acknowledged_by"].startswith("matron-")


def test_a_technician_lands_on_the_hubs_and_sees_no_clinical_page(stack: Stack, browser: Browser) -> None:
    token = create_user(stack.db, "tech-pages", Role.TECHNICIAN)
    stack.patient_with_hub("p-page-4", "hub-page-4")

    def reported() -> bool:
        hubs = stack.api.get("/api/v1/hubs", headers={"Authorization": f"Bearer {token}"}).json()
        return any(h["id"] == "hub-page-4" and h["telemetry"] for h in hubs)

    wait_for(reported, what="the hub's first telemetry")
    app = create_app(ServerSettings(database_url=stack.db.url), stack.db, stack.influx)
    with served(app) as base, browser.new_context() as context:
        page = context.new_page()
        page.goto(f"{base}/sign-in")
        page.fill("#token", token)
        page.click("button:has-text('Sign in')")
        expect(page).to_have_url(f"{base}/hubs")
        row = page.locator("tr[data-hub-id='hub-page-4']")
        expect(row.locator("td.status")).to_contain_text("online")
        expect(row).to_contain_text("p-page-4")
        expect(row.locator("td.attention .cw-muted")).to_have_text("nothing")

        response = page.goto(f"{base}/alerts")
        assert response is not None and response.status == 403
        expect(page.locator("h1")).to_have_text("Not available to your role")
        expect(page.locator("main")).to_contain_text("This page is for the clinical team.")
        response = page.goto(f"{base}/patients/p-page-4")
        assert response is not None and response.status == 403


def test_a_form_post_from_another_site_changes_nothing(stack: Stack) -> None:
    hub = stack.patient_with_hub("p-page-2", "hub-page-2")
    hub.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 195, Measure.DIASTOLIC: 90})
    stack.wait_processed(1)
    alert_id = _alert_id(stack, "p-page-2")
    client = signed_in_client(stack.api.app, stack.token)

    forged = client.post(
        f"/alerts/{alert_id}/resolve",
        data={"outcome": "closed by a forged form"},
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status_code == 403
    assert forged.headers["content-type"].startswith("text/html")  # a page, not a bare "refused"
    assert "nothing was changed" in forged.text
    no_origin = client.post(f"/alerts/{alert_id}/acknowledge", data={"note": "x"})
    assert no_origin.status_code == 403
    anonymous = TestClient(stack.api.app, base_url="http://carewatch.test").post(
        f"/alerts/{alert_id}/acknowledge",
        headers={"Origin": "http://carewatch.test"},
        follow_redirects=False,
    )
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == f"/sign-in?next=/alerts/{alert_id}/acknowledge"
    detail = stack.api.get(f"/api/v1/alerts/{alert_id}", headers=stack.auth()).json()
    assert detail["status"] == "open"
    assert [e["action"] for e in detail["events"]] == ["opened"]

    # The same post from the page itself works, and an outcome not on the list, or "other"
    # without a note, is refused clearly.
    own = {"Origin": "http://carewatch.test"}
    unknown = client.post(f"/alerts/{alert_id}/resolve", data={"outcome": "ok"}, headers=own)
    assert unknown.status_code == 422
    assert "Select what was done" in unknown.text
    other = client.post(f"/alerts/{alert_id}/resolve", data={"outcome": "other", "note": " "}, headers=own)
    assert other.status_code == 422
    assert "Enter what was done" in other.text
    done = client.post(f"/alerts/{alert_id}/resolve", data={"outcome": "phoned_patient"}, headers=own)
    assert done.status_code == 200
    assert stack.api.get(f"/api/v1/alerts/{alert_id}", headers=stack.auth()).json()["status"] == "resolved"


def test_a_missing_alert_and_a_sign_in_link_to_elsewhere(stack: Stack) -> None:
    client = signed_in_client(stack.api.app, stack.token)
    assert client.get("/alerts/999999").status_code == 404
    signed = client.post(
        "/sign-in",
        data={"token": stack.token, "next": "//evil.example/phish"},
        headers={"Origin": "http://carewatch.test"},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/alerts"


def test_the_alert_page_still_works_when_the_reading_store_is_down(stack: Stack) -> None:
    hub = stack.patient_with_hub("p-page-3", "hub-page-3")
    hub.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 196, Measure.DIASTOLIC: 90})
    stack.wait_processed(1)
    alert_id = _alert_id(stack, "p-page-3")
    nowhere = InfluxStore(stack.influx.config.model_copy(update={"url": f"http://127.0.0.1:{free_port()}"}))
    app = create_app(ServerSettings(database_url=stack.db.url), stack.db, nowhere)
    client = signed_in_client(app, stack.token)
    page = client.get(f"/alerts/{alert_id}")
    assert page.status_code == 200
    assert "Systolic 196 mmHg" in page.text
    assert "Readings cannot be shown just now: the reading store is not answering." in page.text


def test_a_session_ends_at_sign_out_and_at_the_end_of_the_shift(stack: Stack) -> None:
    app = create_app(
        ServerSettings(database_url=stack.db.url, page_session_hours=0.001), stack.db, stack.influx
    )  # 3.6 s
    client = signed_in_client(app, stack.token)
    secret = client.cookies["carewatch_session"]
    assert secret != stack.token  # the long-lived token never sits in the browser
    assert client.get("/alerts").status_code == 200
    time.sleep(4)
    expired = client.get("/alerts", follow_redirects=False)
    assert (expired.status_code, expired.headers["location"]) == (303, "/sign-in?next=/alerts")
    with stack.db.session() as s:
        assert s.get(PageSession, hash_token(secret)) is not None
    signed_in_client(app, stack.token)  # the next sign-in sweeps sessions past their end
    with stack.db.session() as s:
        assert s.get(PageSession, hash_token(secret)) is None

    client = signed_in_client(stack.api.app, stack.token)
    secret = client.cookies["carewatch_session"]
    out = client.post("/sign-out", headers={"Origin": "http://carewatch.test"}, follow_redirects=False)
    assert out.status_code == 303
    stolen = TestClient(stack.api.app, base_url="http://carewatch.test")
    stolen.cookies.set("carewatch_session", secret)  # a copy of the cookie taken before sign-out
    assert stolen.get("/alerts", follow_redirects=False).status_code == 303
    assert stolen.get("/alerts", follow_redirects=False).headers["location"].startswith("/sign-in")
