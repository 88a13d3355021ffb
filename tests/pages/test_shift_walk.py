"""A matron's shift and a technician's enrolment, walked in real Chromium the way a person
does it: one address typed, then only links and buttons. The server runs as production runs
it (``carewatch server api`` and ``carewatch server tick`` as processes), readings come from
simulated hubs through the real broker and ingest into the real InfluxDB, and every page the
walk meets passes axe-core with no serious or critical violation.

Set CAREWATCH_SCREENSHOTS to a folder (docs/screenshots) to keep pictures of the states the
page-by-page screenshots do not show (``walk-*.png``)."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from common.mqtt import BrokerEndpoint
from common.wire.vocabulary import Measure, ReadingKind
from devstack.mosquitto import LocalMosquitto
from devstack.process import Service, free_port, port_open
from gateway.enrolment.bundle import read_bundle
from gateway.simulator import SimulatedHub
from server.api.auth import Role, create_user
from server.store.models import AuditEvent
from tests.fixtures.server import Stack
from tests.support.axe import load_axe, serious

CLI = [sys.executable, "-m", "carewatch"]
SHOTS = os.environ.get("CAREWATCH_SCREENSHOTS")


@pytest.fixture
def processes(stack: Stack, broker: LocalMosquitto) -> Iterator[str]:
    """The API-and-pages process and the ticker, on the stack's database, InfluxDB and broker
    (the stack's ingest worker is the third process); yields the pages' base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    influx = stack.influx.config
    env = dict(
        os.environ,
        CAREWATCH_DATABASE_URL=stack.db.url,
        CAREWATCH_INFLUX__URL=influx.url,
        CAREWATCH_INFLUX__API=influx.api,
        CAREWATCH_INFLUX__DATABASE=influx.database,
        CAREWATCH_MQTT__HOST="localhost",
        CAREWATCH_MQTT__PORT=str(broker.port),
        CAREWATCH_MQTT__CA_FILE=str(broker.ca_cert),
        CAREWATCH_MQTT__PASSWORD_FILE=str(broker.server_password_file),
        CAREWATCH_PUBLIC_URL=base,
        CAREWATCH_TICK_SECONDS="2",
    )
    logs = stack.state_dir / "logs"
    api = Service("api", [*CLI, "server", "api", "--port", str(port)], logs / "api.log", env=env)
    ticker = Service("ticker", [*CLI, "server", "tick"], logs / "ticker.log", env=env)
    try:
        api.start(lambda: port_open(port), timeout=30)
        ticker.start(lambda: "ticker running" in ticker.tail(20), timeout=30)
        yield base
    finally:
        ticker.stop()
        api.stop()


def _look(page: Page, shot: str = "") -> None:
    """What every page of the walk must be: the design system running, no serious or critical
    accessibility violation; and its picture when asked for."""
    page.wait_for_function("document.body.classList.contains('nhsuk-frontend-supported')")
    assert serious(page) == [], page.url
    if SHOTS and shot:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"walk-{shot}-1280.png"), full_page=True)


def _browser(browser: Browser) -> BrowserContext:
    return load_axe(browser.new_context(viewport={"width": 1280, "height": 900}))


def _sign_in(page: Page, base: str, token: str, lands: str) -> None:
    """From the one address typed, the site's root, through the sign-in form."""
    page.goto(f"{base}/")
    expect(page.locator("h1")).to_have_text("Sign in")
    _look(page)
    page.fill("#token", token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}{lands}")


def _sign_out(page: Page, base: str) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{base}/sign-in")
    assert page.context.cookies() == []


def _alert_of(page: Page, patient_id: str) -> str:
    alert = page.locator(f"section[data-patient-id='{patient_id}'] li.cw-alert").first
    found = alert.get_attribute("data-alert-id")
    assert found is not None
    return found


def test_a_matrons_shift(stack: Stack, processes: str, browser: Browser) -> None:
    base = processes
    matron = create_user(stack.db, "matron-walk", Role.CLINICIAN, teams=["north"])
    hubs = {
        "p-walk-red": stack.patient_with_hub("p-walk-red", "hub-walk-red", name="Rita Redd", team="north"),
        "p-walk-amber": stack.patient_with_hub(
            "p-walk-amber", "hub-walk-amber", name="Alan Amber", team="north"
        ),
        "p-walk-fine": stack.patient_with_hub("p-walk-fine", "hub-walk-fine", name="Fay Fine", team="north"),
        "p-walk-south": stack.patient_with_hub(
            "p-walk-south", "hub-walk-south", name="Sid South", team="south"
        ),
    }
    for patient, spo2 in (
        ("p-walk-red", 86),
        ("p-walk-amber", 93),
        ("p-walk-fine", 97),
        ("p-walk-south", 84),
    ):
        hubs[patient].send(ReadingKind.SPO2, {Measure.SPO2: spo2, Measure.PULSE: 80})
    for hub in hubs.values():
        assert hub.wait_delivered(20)

    with _browser(browser) as context:
        page = context.new_page()
        _sign_in(page, base, matron, "/alerts")
        expect(page.locator("h1")).to_have_text("Alerts")
        _look(page)

        # The caseload: her team's patients, the worst first; another team's patient absent.
        page.get_by_role("link", name="Patients", exact=True).click()
        rows = page.locator("table.caseload tbody tr")
        expect(rows).to_have_count(3)
        assert [rows.nth(i).get_attribute("data-patient-id") for i in range(3)] == [
            "p-walk-red",
            "p-walk-amber",
            "p-walk-fine",
        ]
        expect(rows.nth(0).locator(".cw-severity")).to_have_text("RED")
        expect(rows.nth(1).locator(".cw-severity")).to_have_text("AMBER")
        expect(rows.nth(2)).to_contain_text("None open")
        expect(page.locator("main")).not_to_contain_text("Sid South")
        _look(page)

        # The worst patient, and her SpO2 chart with the limits drawn and said in words.
        rows.nth(0).get_by_role("link", name="Rita Redd").click()
        expect(page).to_have_url(f"{base}/patients/p-walk-red")
        expect(page.locator("h1")).to_contain_text("Rita Redd")
        chart = page.locator("section[data-chart='spo2']")
        svg = chart.locator("svg.cw-chart--wide[role='img']")
        expect(svg.locator("title")).to_have_text(re.compile(r"^SpO2 .*last 30 days$"))
        expect(svg.locator("rect.band-red")).to_have_count(1)  # shaded below the red limit
        expect(svg.locator("rect.band-amber")).to_have_count(1)
        expect(svg.locator("line.limit-red[data-value='91']")).to_have_count(1)
        expect(svg.locator(":scope > g.pt-alert")).to_have_attribute("data-value", "86")
        chart.get_by_text("Show as a table").click()
        table = page.locator("table.cw-chart-table[data-chart='spo2']")
        expect(table).to_be_visible()
        expect(table.locator("td.cw-value").first).to_have_text("86")
        expect(table.locator("tbody tr").first).to_contain_text("beyond the red limit; raised an alert")
        expect(chart).to_contain_text("Limits: ")
        _look(page)

        # The work list: claim her alert; a new red alert arrives while the page is open.
        page.get_by_role("link", name="Alerts", exact=True).click()
        expect(page.locator("section.cw-patient").first).to_have_attribute("data-patient-id", "p-walk-red")
        red_alert = _alert_of(page, "p-walk-red")
        page.locator(f"#claim-{red_alert}").click()
        expect(page.locator(f"li[data-alert-id='{red_alert}'] .cw-claim")).to_contain_text("You are on it")
        _look(page)
        page.evaluate("window.cwStillThisPage = true")
        hubs["p-walk-fine"].send(ReadingKind.SPO2, {Measure.SPO2: 85, Measure.PULSE: 96})
        arrived = page.locator("section[data-patient-id='p-walk-fine'] li.cw-alert")
        expect(arrived).to_be_visible(timeout=15_000)  # the page asks every 10 s
        assert page.evaluate("window.cwStillThisPage") is True  # no reload
        expect(page.locator("#cw-live-status")).to_contain_text("1 new red alert")
        expect(arrived.locator(".cw-severity")).to_have_text("RED")
        expect(page.locator("main")).not_to_contain_text("Sid South")
        _look(page, "work-list-live")

        # The claimed alert: acknowledge, log a call, resolve with a structured outcome.
        page.locator(f"#alert-link-{red_alert}").click()
        expect(page).to_have_url(f"{base}/alerts/{red_alert}")
        expect(page.locator("h1")).to_contain_text("SpO2 86")
        _look(page)
        page.fill("#note", "calling her now")
        page.get_by_role("button", name="Acknowledge").click()
        expect(page.locator("dd.status")).to_have_text("acknowledged")
        page.fill("#contact", "spoke to Rita: breathless on stairs, using her inhaler")
        page.get_by_role("button", name="Add to the log").click()
        expect(page.locator("ol.cw-contacts li")).to_have_count(1)
        expect(page.locator("ol.cw-contacts")).to_contain_text("matron-walk: spoke to Rita")
        page.check("#outcome-gp_informed")
        page.fill("#resolve_note", "GP to review today")
        page.get_by_role("button", name="Resolve").click()
        expect(page.locator("dd.status")).to_have_text("resolved")
        expect(page.locator("dd.outcome")).to_contain_text("matron-walk")
        expect(page.locator("dd.outcome")).to_contain_text("GP informed: GP to review today")
        expect(page.get_by_role("button", name="Resolve")).to_have_count(0)  # nothing left to do
        expect(page.get_by_role("button", name="Add to the log")).to_have_count(0)
        _look(page, "alert-resolved")

        # Resolved: gone from the open list, on the resolved tab with its outcome.
        page.get_by_role("link", name="All alerts").click()
        expect(page.locator(f"li[data-alert-id='{red_alert}']")).to_have_count(0)
        page.get_by_role("link", name="Resolved", exact=True).click()
        done = page.locator(f"li[data-alert-id='{red_alert}']")
        expect(done).to_contain_text("Outcome: GP informed: GP to review today")
        expect(done.locator(".cw-claim-button")).to_have_count(0)
        _look(page)
        _sign_out(page, base)
        _look(page)

    # The audit trail, as an administrator reads it: each view and action in her name.
    admin = create_user(stack.db, "admin-walk", Role.ADMIN)
    with _browser(browser) as context:
        page = context.new_page()
        _sign_in(page, base, admin, "/alerts")
        page.get_by_role("link", name="Patients", exact=True).click()
        page.get_by_role("link", name="Rita Redd").click()
        page.get_by_role("link", name="Patient record: NHS number, contact details, hub").click()
        page.get_by_role("link", name="Audit trail: who looked at or changed this record").click()
        expect(page.locator("h1")).to_contain_text("Rita Redd")
        _look(page)
        text = page.locator("main").inner_text()
    for action in (
        "patient viewed",
        "readings viewed",
        "alert claimed",
        "alert viewed",
        "alert acknowledged",
        "alert contact logged",
        "alert resolved",
    ):
        assert re.search(rf"matron-walk\s+{action}", text), action
    with stack.db.session() as s:
        hers = set(s.scalars(select(AuditEvent.action).where(AuditEvent.actor == "matron-walk")))
    assert {"signed_in", "alerts_listed", "caseload_viewed", "signed_out"} <= hers
    assert "patient_out_of_team" not in hers  # she never reached another team's patient


def test_a_technicians_enrolment(
    stack: Stack, processes: str, browser: Browser, broker: LocalMosquitto
) -> None:
    base = processes
    technician = create_user(stack.db, "tech-walk", Role.TECHNICIAN)
    with _browser(browser) as context:
        page = context.new_page()
        _sign_in(page, base, technician, "/hubs")
        _look(page)

        # Enrol: a mistyped NHS number is refused beside its box; corrected, she is enrolled.
        page.get_by_role("link", name="Enrol a patient").first.click()
        expect(page.locator("h1")).to_have_text("Enrol a patient")
        _look(page)
        page.fill("#name", "Edna Walker")
        page.fill("#nhs_number", "943 476 5918")  # the check digit should be 9
        page.fill("#dob-day", "27")
        page.fill("#dob-month", "3")
        page.fill("#dob-year", "1947")
        page.select_option("#team", "north")
        page.check("#condition-copd")
        page.get_by_role("button", name="Enrol the patient").click()
        expect(page.locator("#nhs_number-error")).to_contain_text("NHS number is not valid")
        expect(page.locator(".nhsuk-error-summary a[href='#nhs_number']")).to_be_visible()
        expect(page.locator("#condition-copd")).to_be_checked()  # what was typed is kept
        _look(page, "enrol-invalid-nhs-number")
        page.fill("#nhs_number", "943 476 5919")
        page.get_by_role("button", name="Enrol the patient").click()
        expect(page).to_have_url(re.compile(r"/patients/p-[0-9a-f]{10}/record$"))
        patient_id = page.url.rsplit("/", 2)[-2]
        expect(page.locator("#nhs-number")).to_have_text("943 476 5919")
        _look(page)

        # A hub for her, from the hub pages; its claim code; then its enrolment bundle.
        page.get_by_role("link", name="Hubs", exact=True).click()
        page.get_by_role("button", name="Add a hub").click()
        _look(page)
        page.fill("#hub_id", "hub-walk-edna")
        page.fill("#patient_id", patient_id)
        page.get_by_role("button", name="Add the hub").click()
        expect(page.locator("main")).to_contain_text(
            "Hub hub-walk-edna is registered and the broker accepts it."
        )
        expect(page.locator("[data-claim-code]")).to_have_text(re.compile(r"^[2-9A-Z]{4}-[2-9A-Z]{4}$"))
        _look(page)
        page.get_by_role("link", name="Go to hub hub-walk-edna").click()
        expect(page.locator("h1")).to_contain_text("hub-walk-edna")
        expect(page.locator("main")).to_contain_text(patient_id)
        _look(page)
        page.get_by_role("link", name="Download an enrolment bundle").click()
        _look(page, "hub-bundle-confirm")
        page.check("#confirm")
        with page.expect_download() as download:
            page.get_by_role("button", name="Download an enrolment bundle").click()
        assert download.value.suggested_filename == "hub-walk-edna-bundle.json"
        saved = stack.state_dir / "hub-walk-edna-bundle.json"
        download.value.save_as(saved)
        _sign_out(page, base)

    bundle = read_bundle(saved.read_text(), datetime.now(UTC))  # parses, checksum and expiry checked
    assert (bundle.hub_id, bundle.broker_port) == ("hub-walk-edna", broker.port)
    # The hub, set up from the bundle alone, reaches the broker and sends her first reading.
    ca = stack.state_dir / "bundle-ca.pem"
    ca.write_text(bundle.ca_pem)
    hub = SimulatedHub(
        bundle.hub_id,
        BrokerEndpoint(bundle.broker_host, bundle.broker_port, ca, bundle.hub_id, bundle.password),
        stack.state_dir / "hubs",
    )
    hub.start()
    stack.hubs.append(hub)
    hub.send(ReadingKind.SPO2, {Measure.SPO2: 95, Measure.PULSE: 70})
    assert hub.wait_delivered(20)

    # Her team's matron finds her in the caseload, with her hub; another team's does not.
    for team, sees in (("north", True), ("south", False)):
        matron = create_user(stack.db, f"matron-walk-{team}", Role.CLINICIAN, teams=[team])
        with _browser(browser) as context:
            page = context.new_page()
            _sign_in(page, base, matron, "/alerts")
            page.get_by_role("link", name="Patients", exact=True).click()
            row = page.locator(f"table.caseload tbody tr[data-patient-id='{patient_id}']")
            if not sees:
                expect(page.locator("main")).not_to_contain_text("Edna Walker")
                continue
            expect(row).to_contain_text("Edna Walker")
            expect(row).to_contain_text("943 476 5919")
            expect(row).to_contain_text("north")
            expect(row).to_contain_text("hub-walk-edna")
            expect(row).to_contain_text("SpO2 95 %")
            _look(page, "caseload-enrolled")
