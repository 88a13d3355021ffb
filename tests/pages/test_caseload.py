"""Enrolment and the caseload in real Chromium: a technician enrols a patient (a mistyped NHS
number is refused beside its box) and gives them a hub; the hub's reading reaches the
server; a matron of the team finds the patient in the caseload, worst first, and by NHS
number. The caseload and the enrolment pages pass axe-core on a 360 px phone."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from common.wire.vocabulary import Measure, ReadingKind
from gateway.simulator import SimulatedHub
from server.api.auth import Role, create_user
from server.app import create_app
from server.provisioning import add_hub
from server.settings import ServerSettings
from server.store.database import Database
from server.store.influx.store import InfluxStore
from server.store.models import AuditEvent, LatestValue, Patient
from server.store.overrides import set_override
from tests.fixtures.browser import served, signed_in_client
from tests.fixtures.server import Stack
from tests.support.axe import load_axe, serious


def _context(browser: Browser, base: str, token: str) -> BrowserContext:
    context = browser.new_context(viewport={"width": 360, "height": 900})
    load_axe(context)
    page = context.new_page()
    page.goto(f"{base}/sign-in")
    page.fill("#token", token)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(lambda url: "/sign-in" not in url)
    page.close()
    return context


def _fits(page: Page) -> None:
    page.wait_for_function("document.body.classList.contains('nhsuk-frontend-supported')")
    assert serious(page) == [], page.url
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 360, f"{page.url} scrolls sideways: {width} px"


def test_enrol_give_a_hub_and_find_them_worst_first(stack: Stack, browser: Browser) -> None:
    rita = stack.patient_with_hub("p-rita", "hub-rita", name="Rita Redd", team="north")
    rita.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 200, Measure.DIASTOLIC: 95})
    nora = stack.patient_with_hub("p-nora", "hub-nora", name="Nora Normal", team="north")
    nora.send(ReadingKind.BLOOD_PRESSURE, {Measure.SYSTOLIC: 120, Measure.DIASTOLIC: 80})
    stack.wait_processed(2)
    add_hub(stack.db, "hub-edna", actor="test")
    technician = create_user(stack.db, "tech-enrol", Role.TECHNICIAN)
    app = create_app(ServerSettings(database_url=stack.db.url), stack.db, stack.influx)
    with served(app) as base:
        tech = _context(browser, base, technician)
        page = tech.new_page()
        page.goto(f"{base}/hubs")
        page.get_by_role("link", name="Enrol a patient").click()
        expect(page.locator("h1")).to_have_text("Enrol a patient")
        _fits(page)
        page.fill("#name", "Edna Enrolled")
        page.fill("#nhs_number", "943 476 5918")  # the last digit mistyped
        page.fill("#dob-day", "27")
        page.fill("#dob-month", "3")
        page.fill("#dob-year", "1947")
        page.fill("#phone", "01632 960 001")
        page.select_option("#team", "north")
        page.check("#condition-copd")
        page.check("#condition-hypercapnic_respiratory_failure")
        page.click("button:has-text('Enrol the patient')")
        # Refused beside the box, linked from the summary; what was typed is kept.
        expect(page.locator(".nhsuk-error-summary")).to_contain_text("NHS number is not valid")
        expect(page.locator(".nhsuk-error-summary a[href='#nhs_number']")).to_be_visible()
        expect(page.locator("#nhs_number-error")).to_contain_text("NHS number is not valid")
        expect(page.locator("#nhs_number")).to_have_value("943 476 5918")
        expect(page.locator("#condition-copd")).to_be_checked()
        expect(page).to_have_title(re.compile("^Error: "))
        _fits(page)
        page.fill("#nhs_number", "943 476 5919")
        page.click("button:has-text('Enrol the patient')")
        expect(page).to_have_url(re.compile(r"/patients/p-[0-9a-f]{10}/record$"))
        edna = page.url.rsplit("/", 2)[-2]
        expect(page.locator("#nhs-number")).to_have_text("943 476 5919")  # shown 3-3-4
        _fits(page)

        page.get_by_role("link", name="Give the patient a hub").click()
        _fits(page)
        page.click("button:has-text('Give them this hub')")  # nothing chosen
        expect(page.locator("#hub_id-error")).to_contain_text("Select a hub")
        page.select_option("#hub_id", "hub-edna")
        page.click("button:has-text('Give them this hub')")
        expect(page.locator("dl.cw-record")).to_contain_text("hub-edna")
        tech.close()

    # The hub she was given sends her first reading: SpO2 85 %, red by the service defaults,
    # amber by the hypercapnic profile she was enrolled with (scale 2, target 88-92 %).
    hub = SimulatedHub("hub-edna", stack.hub_endpoint("hub-edna"), stack.state_dir / "hubs")
    hub.start()
    stack.hubs.append(hub)
    hub.send(ReadingKind.SPO2, {Measure.SPO2: 85, Measure.PULSE: 80})
    stack.wait_processed(3)

    with served(app) as base:
        matron = _context(browser, base, stack.token)
        page = matron.new_page()
        page.goto(f"{base}/patients")
        rows = page.locator("table.caseload tbody tr")
        expect(rows).to_have_count(3)
        assert [rows.nth(i).get_attribute("data-patient-id") for i in range(3)] == ["p-rita", edna, "p-nora"]
        expect(rows.nth(0).locator(".cw-severity")).to_have_text("RED")
        expect(rows.nth(0).locator(".cw-out-red")).to_contain_text("Systolic 200 mmHg")
        expect(rows.nth(1).locator(".cw-severity")).to_have_text("AMBER")
        expect(rows.nth(1).locator(".cw-out-amber")).to_contain_text("SpO2 85 %")
        expect(rows.nth(1)).to_contain_text("943 476 5919")
        expect(rows.nth(2).locator(".cw-out")).to_have_count(0)
        _fits(page)

        for typed in ("9434765919", "943 476 5919", "edna"):
            page.fill("#q", typed)
            page.click("button:has-text('Search')")
            expect(rows).to_have_count(1)
            expect(rows.first).to_have_attribute("data-patient-id", edna)
        matron.close()
    with stack.db.session() as s:
        viewed = list(s.scalars(select(AuditEvent.detail).where(AuditEvent.action == "caseload_viewed")))
    assert len(viewed) == 4 and "status=all n=3 " in viewed[0]
    assert viewed[0].endswith(
        f"patients=,{','.join(sorted([edna, 'p-nora', 'p-rita']))},"
    )  # each one's trail finds it


def _latest(db: Database, patient_id: str, taken_at: datetime, values: dict[Measure, float]) -> None:
    kind = ReadingKind.SPO2 if Measure.SPO2 in values else ReadingKind.BLOOD_PRESSURE
    with db.session() as s:
        for measure, value in values.items():
            s.add(
                LatestValue(
                    patient_id=patient_id,
                    measure=measure.value,
                    value=value,
                    kind=kind.value,
                    taken_at=taken_at,
                    reading_id=str(uuid.uuid4()),
                )
            )


def test_the_caseload_news2_scores_only_recent_readings_as_the_patients_rule_says(
    database: Database, influx_store: InfluxStore
) -> None:
    """Issue 11: a systolic from 200 days ago was shown red with 'NEWS2 0 (1 of 7)'. Values
    older than LATEST_DAYS are history; a NEWS2 needs the rule's min_parameters (2) and its
    rule enabled; an older one says how old it is."""
    now = datetime.now(UTC).replace(microsecond=0)
    names = {
        "p-cl-old": "Olive Old",
        "p-cl-one": "Una One",
        "p-cl-stale": "Stan Stale",
        "p-cl-off": "Otto Off",
        "p-cl-fresh": "Fay Fresh",
    }
    with database.session() as s:
        s.add_all(Patient(id=pid, display_name=name, team="news2") for pid, name in names.items())
    _latest(database, "p-cl-old", now - timedelta(days=200), {Measure.SYSTOLIC: 200, Measure.PULSE: 80})
    _latest(database, "p-cl-one", now - timedelta(hours=2), {Measure.SPO2: 95})
    _latest(database, "p-cl-stale", now - timedelta(days=3, hours=1), {Measure.SPO2: 96, Measure.PULSE: 80})
    _latest(database, "p-cl-off", now - timedelta(hours=1), {Measure.SYSTOLIC: 85, Measure.PULSE: 80})
    _latest(database, "p-cl-fresh", now - timedelta(hours=1), {Measure.SYSTOLIC: 85, Measure.PULSE: 80})
    with database.session() as s:
        set_override(
            s, "p-cl-off", {"news2": {"enabled": False}}, reason="palliative plan", set_by="test", at=now
        )
    token = create_user(database, "matron-news2", Role.CLINICIAN, teams=["news2"])
    app = create_app(ServerSettings(database_url=database.url), database, influx_store)
    html: str = signed_in_client(app, token).get("/patients").text

    def row(pid: str) -> str:
        return html.split(f'data-patient-id="{pid}"', 1)[1].split("</tr>", 1)[0]

    old = row("p-cl-old")
    assert "No readings in 30 days" in old and "cw-out" not in old and "200 mmHg" not in old
    assert "Not enough recent readings" in old and "cw-news2" not in old
    assert "Never" not in old  # the last reading is still said, however old
    one = row("p-cl-one")
    assert "SpO2 95 %" in one and "Not enough recent readings" in one and "of 7 measured" not in one
    stale = row("p-cl-stale")
    assert 'class="cw-news2">0<' in stale and "(2 of 7 measured, " in stale
    assert "3 days old" in stale.split("cw-news2", 1)[1]
    assert "NEWS2 is not used for this patient" in row("p-cl-off")
    fresh = row("p-cl-fresh")
    assert 'class="cw-news2">3<' in fresh and "(2 of 7 measured, " in fresh and "days old" not in fresh
