"""A matron sets a COPD patient's own SpO2 band on the patient page, in real Chromium;
the change is recorded with its reason and judges the next reading that arrives."""

from __future__ import annotations

from playwright.sync_api import Browser, expect
from sqlalchemy import select

from common.wire.vocabulary import Measure, ReadingKind
from server.app import create_app
from server.settings import ServerSettings
from server.store.models import AuditEvent
from tests.fixtures.browser import served, signed_in_client
from tests.fixtures.server import Stack


def test_a_personal_spo2_band_set_on_the_page_judges_the_next_reading(stack: Stack, browser: Browser) -> None:
    hub = stack.patient_with_hub("p-pat-1", "hub-pat-1", name="Colin Oxley")
    hub.send(ReadingKind.SPO2, {Measure.SPO2: 95, Measure.PULSE: 80})
    stack.wait_processed(1)
    app = create_app(ServerSettings(database_url=stack.db.url), stack.db, stack.influx)
    with served(app) as base, browser.new_context() as context:
        page = context.new_page()
        page.goto(f"{base}/patients/p-pat-1")
        page.fill("#token", stack.token)
        page.click("button:has-text('Sign in')")
        expect(page.locator("h1")).to_contain_text("Colin Oxley")
        expect(page.locator("table.readings").first).to_contain_text("SpO2 95 %")
        spo2 = page.locator("tr[data-measure='spo2']")
        expect(spo2.locator("td.red_below")).to_contain_text("91%")  # NEWS2 scale 1: red at or below 91
        expect(spo2.locator(".cw-personal")).to_have_count(0)

        # A typo is refused beside its box, and nothing is stored.
        page.get_by_role("link", name="Change SpO2 limits").click()
        page.fill("#red_below", "84")
        page.fill("#amber_below", "8 7")
        page.fill("#reason", "COPD, CO2 retainer: BTS target 88-92 %")
        page.click("button:has-text('Check this change')")
        expect(page.locator("#amber_below-error")).to_have_text(
            "Error: Enter amber at or below as a number in %, like 93"
        )
        expect(page.locator("#red_below")).to_have_value("84")  # what was typed is kept

        page.fill("#amber_below", "87")
        page.click("button:has-text('Check this change')")
        page.click("button:has-text('Save this change')")
        expect(spo2.locator(".cw-personal")).to_have_count(2)
        expect(spo2.locator("td.red_below")).to_contain_text("84%")
        expect(spo2.locator("td.amber_below")).to_contain_text("87%")
        expect(page.locator("ol.history")).to_contain_text(
            "SpO2 red at or below: 91 → 84%; SpO2 amber at or below: 93 → 87%"
        )
        expect(page.locator("ol.history")).to_contain_text("COPD, CO2 retainer: BTS target 88-92 %")

    # Recorded with who and why, and used for the next reading: 86 % is amber for this
    # patient (red at 91 % or below under the defaults).
    rules = stack.api.get("/api/v1/patients/p-pat-1/rules", headers=stack.auth()).json()
    assert rules["effective"]["thresholds"]["spo2"]["red"] == {"at_or_below": 84.0, "at_or_above": None}
    assert rules["override"]["set_by"].startswith("matron-")
    with stack.db.session() as s:
        [changed] = s.scalars(select(AuditEvent).where(AuditEvent.action == "rules_changed"))
        assert changed.target == "p-pat-1" and "BTS target" in changed.detail
    hub.send(ReadingKind.SPO2, {Measure.SPO2: 86, Measure.PULSE: 84})
    stack.wait_processed(2)
    [alert] = stack.api.get("/api/v1/alerts", params={"patient_id": "p-pat-1"}, headers=stack.auth()).json()
    assert (alert["rule_id"], alert["severity"]) == ("threshold.spo2", "amber")


def test_returning_to_the_defaults_needs_a_reason_and_is_a_new_version(stack: Stack) -> None:
    stack.patient_with_hub("p-pat-2", "hub-pat-2")
    put = stack.api.put(
        "/api/v1/patients/p-pat-2/rules",
        json={
            "changes": {"thresholds": {"systolic": {"amber": {"at_or_above": 140}}}},
            "reason": "CKD target",
        },
        headers=stack.auth(),
    )
    assert put.status_code == 200
    client = signed_in_client(stack.api.app, stack.token)
    own = {"Origin": "http://carewatch.test"}
    refused = client.post("/patients/p-pat-2/rules/reset", data={"reason": ""}, headers=own)
    assert refused.status_code == 422
    assert "Enter the reason (at least 3 characters)" in refused.text
    done = client.post("/patients/p-pat-2/rules/reset", data={"reason": "seen by renal team"}, headers=own)
    assert done.status_code == 200
    rules = stack.api.get("/api/v1/patients/p-pat-2/rules", headers=stack.auth()).json()
    assert rules["override"]["changes"] == {} and rules["override"]["reason"] == "seen by renal team"
    assert len(rules["history"]) == 2
    assert rules["effective"]["thresholds"]["systolic"]["amber"]["at_or_above"] is None
    assert client.get("/patients/nobody-here").status_code == 404


def _cell(html: str, measure: str, column: str) -> str:
    row = html.split(f'data-measure="{measure}"', 1)[1].split("</tr>", 1)[0]
    return row.split(f' {column}" role="cell"', 1)[1].split("</td>", 1)[0]


def test_a_copd_patients_limits_say_which_come_from_the_profile_and_who_set_the_rest(stack: Stack) -> None:
    """Issue 11: the COPD profile's SpO2 limits were called "Personal", and a personal limit
    below the defaults' red but above COPD's was said to "no longer fit"."""
    for pid in ("p-copd-1", "p-copd-2"):
        stack.patient_with_hub(pid, f"hub-{pid}")
        put = stack.api.put(
            f"/api/v1/patients/{pid}/conditions",
            json={"conditions": ["copd"], "reason": "COPD on spirometry"},
            headers=stack.auth(),
        )
        assert put.status_code == 200, put.text
    put = stack.api.put(
        "/api/v1/patients/p-copd-1/rules",
        json={
            "changes": {"thresholds": {"spo2": {"amber": {"at_or_below": 90}}}},
            "reason": "usual sats 90 %",
        },
        headers=stack.auth(),
    )
    assert put.status_code == 200, put.text
    client = signed_in_client(stack.api.app, stack.token)
    html = client.get("/patients/p-copd-1").text
    red, amber = _cell(html, "spo2", "red_below"), _cell(html, "spo2", "amber_below")
    assert 'data-source="COPD profile"' in red and "88%" in red
    assert 'data-source="Personal"' in amber and "90%" in amber
    where = _cell(html, "spo2", "source")
    matron = put.json()["override"]["set_by"]
    assert f"Personal (set by {matron} on " in where
    assert "COPD profile" in where and "BTS 2015" in where and "Personal limits on" not in where
    assert "Service default" in _cell(html, "systolic", "source")
    history = html.split('<ol class="nhsuk-list history"', 1)[1].split("</ol>", 1)[0]
    assert "SpO2 amber at or below: 91 → 90%" in history and "no longer fit" not in history
    other = client.get("/patients/p-copd-2").text
    assert (
        "No personal limits have been set: this patient is judged on the service defaults with the COPD profile."
        in other
    )
    assert "Personal" not in _cell(other, "spo2", "source")
