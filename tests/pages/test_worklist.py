"""The work list in real Chromium, its alerts raised by real readings through the broker and
the ingest: a new red alert appears in an open page without a reload; alerts grouped by
patient, titled by their latest evidence; "I'm on it" shown to colleagues; several
acknowledged at once, each recorded; a contact log and a structured outcome; and the whole
of acknowledge-and-resolve done with the keyboard alone."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from common.wire.vocabulary import Measure, ReadingKind
from server.api.auth import Role, create_user
from server.app import create_app
from server.settings import ServerSettings
from tests.fixtures.browser import served, signed_in_client
from tests.fixtures.server import Stack, wait_for


def _alerts(stack: Stack, patient_id: str) -> list[dict[str, object]]:
    got = stack.api.get("/api/v1/alerts", params={"patient_id": patient_id}, headers=stack.auth())
    return list(got.json())


def _one_alert(stack: Stack, patient_id: str) -> int:
    [alert] = _alerts(stack, patient_id)
    return int(str(alert["id"]))


def _detail(stack: Stack, alert_id: int) -> dict[str, object]:
    return dict(stack.api.get(f"/api/v1/alerts/{alert_id}", headers=stack.auth()).json())


def _sign_in_to_work_list(page: Page, base: str, token: str) -> None:
    page.goto(f"{base}/alerts")
    page.fill("#token", token)
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(f"{base}/alerts")


def _tab_to(page: Page, selector: str, limit: int = 120) -> None:
    """Press Tab until ``selector`` has the focus, as a keyboard user would."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never took the focus in {limit} presses of Tab")


def test_a_new_red_alert_appears_without_reload_then_claim_and_acknowledge_several(
    stack: Stack, browser: Browser
) -> None:
    first = stack.patient_with_hub("p-wl-1", "hub-wl-1", name="Ada First")
    first.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 182, Measure.DIASTOLIC: 90})
    stack.wait_processed(1)
    first.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 205, Measure.DIASTOLIC: 90})
    stack.wait_processed(2)
    first_id = _one_alert(stack, "p-wl-1")
    second = stack.patient_with_hub("p-wl-2", "hub-wl-2", name="Bea Second")

    app = create_app(ServerSettings(database_url=stack.db.url), stack.db, stack.influx)
    with served(app) as base, browser.new_context() as context:
        page = context.new_page()
        _sign_in_to_work_list(page, base, stack.token)
        # Titled by the latest evidence (205), not the first value (182).
        expect(page.locator(f"#alert-link-{first_id}")).to_contain_text("Systolic 205 mmHg")
        expect(page.locator(f"li[data-alert-id='{first_id}']")).to_contain_text("first: Systolic 182 mmHg")
        page.evaluate("window.cwStillThisPage = true")

        second.send(ReadingKind.SPO2, {Measure.SPO2: 85, Measure.PULSE: 90})
        new = page.locator("section[data-patient-id='p-wl-2'] li.cw-alert")
        expect(new).to_be_visible(timeout=15_000)  # the page asks every 10 s
        assert page.evaluate("window.cwStillThisPage") is True  # no reload
        expect(page.locator("#cw-live-status")).to_contain_text("1 new red alert")
        expect(new.locator(".cw-severity")).to_have_text("RED")
        second_id = _one_alert(stack, "p-wl-2")
        # Grouped by patient, the newest red evidence first.
        expect(page.locator("section.cw-patient").first).to_have_attribute("data-patient-id", "p-wl-2")

        page.click(f"#claim-{second_id}")
        expect(page.locator(f"li[data-alert-id='{second_id}'] .cw-claim")).to_contain_text("You are on it")
        colleague = signed_in_client(
            app, create_user(stack.db, "matron-colleague", Role.CLINICIAN, teams=["default"])
        )
        seen = colleague.get("/alerts").text
        claimed = _detail(stack, second_id)
        assert str(claimed["claimed_by"]).startswith("matron-")
        assert claimed["acknowledged_by"] is None  # claiming is not acknowledging
        assert re.search(r"matron-\w+ is on it", seen), "a colleague sees who is on it"
        assert f'id="release-{second_id}"' not in seen  # only the holder lets it go

        # She lets it go (called away), so colleagues see nobody is on it; then takes it again.
        page.click(f"#release-{second_id}")
        expect(page.locator(f"li[data-alert-id='{second_id}'] .cw-claim")).to_have_count(0)
        assert _detail(stack, second_id)["claimed_by"] is None
        assert not re.search(r"matron-\w+ is on it", colleague.get("/alerts").text)
        page.click(f"#claim-{second_id}")
        expect(page.locator(f"li[data-alert-id='{second_id}'] .cw-claim")).to_contain_text("You are on it")

        page.check(f"#ack-{first_id}")
        page.check(f"#ack-{second_id}")
        page.click("#ack-selected")
        expect(page.locator(".cw-done")).to_contain_text("2 alerts acknowledged")
        for alert_id in (first_id, second_id):
            expect(page.locator(f"li[data-alert-id='{alert_id}'] .cw-status")).to_have_text("acknowledged")

    for alert_id in (first_id, second_id):
        detail = _detail(stack, alert_id)
        assert detail["status"] == "acknowledged"
        actions = [e["action"] for e in detail["events"]]  # type: ignore[attr-defined]
        assert actions.count("acknowledged") == 1
    events = [e["action"] for e in _detail(stack, second_id)["events"]]  # type: ignore[attr-defined]
    assert [a for a in events if a in ("claimed", "released")] == ["claimed", "released", "claimed"]


def test_contact_log_and_a_structured_outcome(stack: Stack, browser: Browser) -> None:
    hub = stack.patient_with_hub("p-wl-3", "hub-wl-3", name="Cy Third")
    hub.send(ReadingKind.SPO2, {Measure.SPO2: 86, Measure.PULSE: 90})
    stack.wait_processed(1)
    alert_id = _one_alert(stack, "p-wl-3")
    app = create_app(ServerSettings(database_url=stack.db.url), stack.db, stack.influx)
    with served(app) as base, browser.new_context() as context:
        page = context.new_page()
        page.goto(f"{base}/alerts/{alert_id}")
        page.fill("#token", stack.token)
        page.click("button:has-text('Sign in')")
        expect(page.locator("h1")).to_contain_text("SpO2 86%")
        page.click("form[action$='/claim'] button")
        expect(page.locator("dd.claimed")).to_contain_text("matron-")
        page.click("form[action$='/release'] button")  # on the alert page too
        expect(page.locator("dd.claimed")).to_have_count(0)
        expect(page.locator("form[action$='/claim'] button")).to_have_text("I'm on it")
        page.fill("#contact", "no answer, left a message")
        page.click("button:has-text('Add to the log')")
        expect(page.locator("ol.cw-contacts li")).to_have_count(1)
        expect(page.locator("ol.cw-contacts")).to_contain_text("no answer, left a message")
        expect(page.locator("ol.cw-contacts")).to_contain_text("matron-")

        page.check("#outcome-other")
        page.click("form[action$='/resolve'] button")
        expect(page.locator("#resolve_note-error")).to_have_text("Error: Enter what was done")
        expect(page.locator("#outcome-other")).to_be_checked()  # what was chosen is kept
        page.check("#outcome-visit_arranged")
        page.fill("#resolve_note", "district nurse visiting at 3 pm")
        page.click("form[action$='/resolve'] button")
        expect(page.locator("dd.status")).to_have_text("resolved")
        expect(page.locator("dd.outcome")).to_contain_text("Visit arranged: district nurse visiting at 3 pm")
    detail = _detail(stack, alert_id)
    assert detail["outcome"] == "Visit arranged: district nurse visiting at 3 pm"
    events = [(e["action"], e["detail"]) for e in detail["events"]]  # type: ignore[attr-defined]
    assert ("contact_logged", "no answer, left a message") in events
    assert detail["outcome_code"] == "visit_arranged"


def test_acknowledge_and_resolve_with_the_keyboard_alone(stack: Stack, browser: Browser) -> None:
    hub = stack.patient_with_hub("p-wl-4", "hub-wl-4", name="Di Keys")
    hub.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 199, Measure.DIASTOLIC: 90})
    stack.wait_processed(1)
    alert_id = _one_alert(stack, "p-wl-4")
    app = create_app(ServerSettings(database_url=stack.db.url), stack.db, stack.influx)
    with served(app) as base, browser.new_context() as context:
        page = context.new_page()
        page.goto(f"{base}/alerts")
        _tab_to(page, "#token")
        page.keyboard.type(stack.token)
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{base}/alerts")

        _tab_to(page, f"#ack-{alert_id}")
        page.keyboard.press("Space")
        expect(page.locator(f"#ack-{alert_id}")).to_be_checked()
        _tab_to(page, "#ack-selected")
        page.keyboard.press("Enter")
        expect(page.locator(".cw-done")).to_contain_text("1 alert acknowledged")

        _tab_to(page, f"#alert-link-{alert_id}")
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{base}/alerts/{alert_id}")
        expect(page.locator("dd.status")).to_have_text("acknowledged")
        _tab_to(page, "#outcome")  # the first outcome: phoned patient
        page.keyboard.press("Space")
        expect(page.locator("#outcome")).to_be_checked()
        _tab_to(page, "#resolve_note")
        page.keyboard.type("BP rechecked 150/85, advised to rest")
        _tab_to(page, "form[action$='/resolve'] button")
        page.keyboard.press("Enter")
        expect(page.locator("dd.status")).to_have_text("resolved")
    wait_for(lambda: _detail(stack, alert_id)["status"] == "resolved", what="the alert resolved")
    detail = _detail(stack, alert_id)
    assert detail["outcome"] == "Phoned patient: BP rechecked 150/85, advised to rest"
    assert [e["action"] for e in detail["events"]] == ["opened", "acknowledged", "resolved"]  # type: ignore[attr-defined]


def test_acknowledging_nothing_says_so_and_a_resolved_alert_is_skipped(stack: Stack) -> None:
    hub = stack.patient_with_hub("p-wl-5", "hub-wl-5")
    hub.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 201, Measure.DIASTOLIC: 90})
    stack.wait_processed(1)
    alert_id = _one_alert(stack, "p-wl-5")
    client = signed_in_client(stack.api.app, stack.token)
    own = {"Origin": "http://carewatch.test"}
    nothing = client.post("/alerts/acknowledge", data={}, headers=own)
    assert nothing.status_code == 200 and "Tick the alerts to acknowledge first." in nothing.text
    resolved = stack.api.post(
        f"/api/v1/alerts/{alert_id}/resolve", json={"outcome": "phoned patient"}, headers=stack.auth()
    )
    assert resolved.status_code == 200
    stale = client.post("/alerts/acknowledge", data={"alert_id": [str(alert_id), "999999"]}, headers=own)
    assert "0 alerts acknowledged; 2 already resolved or gone." in stale.text
    assert _detail(stack, alert_id)["status"] == "resolved"
    forged = client.post(
        "/alerts/acknowledge", data={"alert_id": str(alert_id)}, headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403


def test_a_list_that_cannot_refresh_says_so(stack: Stack, browser: Browser) -> None:
    """A stale list must never pass for a quiet one: offline, then signed out, the page says
    it is not updating and since when, instead of going on showing the old list in silence."""
    stack.patient_with_hub("p-wl-stale", "hub-wl-stale", name="Cy Stale")
    app = create_app(ServerSettings(database_url=stack.db.url), stack.db, stack.influx)
    with served(app) as base, browser.new_context() as context:
        page = context.new_page()
        _sign_in_to_work_list(page, base, stack.token)
        status = page.locator("#cw-live-status")
        context.set_offline(True)  # the ward's Wi-Fi drops: two rounds missed, then it says so
        expect(status).to_contain_text("Not updating since", timeout=35_000)
        expect(status).to_contain_text("cannot reach CareWatch")
        context.set_offline(False)
        expect(status).to_contain_text("Updated", timeout=15_000)
        context.clear_cookies()  # the session ends (signed out elsewhere, or expired)
        expect(status).to_contain_text("you have been signed out", timeout=15_000)
        expect(status).to_have_class(re.compile("cw-live--stale"))
