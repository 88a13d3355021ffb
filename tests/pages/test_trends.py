"""Trend charts in real Chromium, from readings a real hub sent through the broker and the
ingest into InfluxDB: the patient's own limit drawn, the reading that raised the alert and
the quality-flagged one marked, the same values in the table view, on the patient page and
the alert page; and a patient page that answers within 2 s while InfluxDB hangs (a socket
that accepts and never answers)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Browser, Page, expect

from common.wire.vocabulary import Measure, ReadingKind, StatusFlag
from gateway.reading_builder import build_reading
from gateway.simulator import SIM_DEVICES
from server.app import create_app
from server.provisioning import add_patient
from server.settings import ServerSettings
from server.store.influx.store import InfluxStore
from tests.fixtures.browser import served, signed_in_client
from tests.fixtures.server import Stack
from tests.support.hanging import HangingServer


def _sign_in(page: Page, base: str, token: str, path: str) -> None:
    page.goto(f"{base}{path}")
    page.fill("#token", token)
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(f"{base}{path}")


def _plotted(page: Page, chart: str) -> list[str]:
    """The values the chart marks, in the plot (not its legend), as the SVG carries them."""
    return sorted(
        page.locator(f"section[data-chart='{chart}'] svg.cw-chart--wide > g.pt").evaluate_all(
            "gs => gs.map(g => g.getAttribute('data-value'))"
        )
    )


def test_the_trend_shows_the_patients_band_and_marks_what_raised_the_alert(
    stack: Stack, browser: Browser
) -> None:
    now = datetime.now(UTC)
    hub = stack.patient_with_hub(
        "p-trend-1", "hub-trend-1", name="Margaret Trend", since=now - timedelta(days=5)
    )
    put = stack.api.put(
        "/api/v1/patients/p-trend-1/rules",
        json={
            "changes": {"thresholds": {"systolic": {"red": {"at_or_above": 175}}}},
            "reason": "usual BP high",
        },
        headers=stack.auth(),
    )
    assert put.status_code == 200
    hub.send(
        ReadingKind.BLOOD_PRESSURE,
        {Measure.SYSTOLIC: 132, Measure.DIASTOLIC: 84},
        measured_at=now - timedelta(days=3),
    )
    hub.send(
        ReadingKind.BLOOD_PRESSURE,
        {Measure.SYSTOLIC: 178, Measure.DIASTOLIC: 88},
        measured_at=now - timedelta(days=1),
    )
    hub.send_reading(
        build_reading(
            kind=ReadingKind.BLOOD_PRESSURE,
            values={Measure.SYSTOLIC: 128, Measure.DIASTOLIC: 78},
            device=SIM_DEVICES[ReadingKind.BLOOD_PRESSURE],
            received_at=now,
            measured_at=now - timedelta(minutes=5),
            flags=[StatusFlag.SIMULATED, StatusFlag.BODY_MOVEMENT],
        )
    )
    hub.send(ReadingKind.SPO2, {Measure.SPO2: 95, Measure.PULSE: 80}, measured_at=now - timedelta(minutes=1))
    assert hub.wait_delivered(20)
    [alert] = [
        a
        for a in stack.api.get(
            "/api/v1/alerts", params={"patient_id": "p-trend-1"}, headers=stack.auth()
        ).json()
        if a["rule_id"] == "threshold.blood_pressure"
    ]
    assert alert["severity"] == "red"  # 178 is red for this patient only (175), not by default

    app = create_app(ServerSettings(database_url=stack.db.url), stack.db, stack.influx)
    with served(app) as base, browser.new_context() as context:
        page = context.new_page()
        _sign_in(page, base, stack.token, "/patients/p-trend-1")
        bp = page.locator("section[data-chart='blood_pressure']")
        svg = bp.locator("svg.cw-chart--wide[role='img']")
        expect(svg).to_have_count(1)
        expect(svg.locator("title")).to_have_text("Blood pressure (mmHg), last 30 days")
        expect(svg.locator("line.limit-red[data-value='175']")).to_have_count(1)  # the patient's own limit
        expect(svg.locator("text.limit-label", has_text="Systolic red ≥ 175")).to_have_count(1)
        expect(svg.locator(":scope > g.pt-alert")).to_have_count(1)
        expect(svg.locator(":scope > g.pt-alert")).to_have_attribute("data-value", "178")
        expect(svg.locator(":scope > g.pt-flagged")).to_have_count(2)  # systolic and diastolic of one reading
        assert sorted(
            svg.locator(":scope > g.pt-flagged").evaluate_all(
                "gs => gs.map(g => g.getAttribute('data-value'))"
            )
        ) == ["128", "78"]
        plotted = _plotted(page, "blood_pressure")
        assert plotted == sorted(["132", "84", "178", "88", "128", "78"])

        # The table view: the same values, the same marks, in words.
        table = page.locator("table.cw-chart-table[data-chart='blood_pressure']")
        expect(table).to_be_hidden()
        bp.locator("summary").click()
        expect(table).to_be_visible()
        cells = sorted(table.locator("td.cw-value").all_inner_texts())
        assert cells == plotted
        rows = table.locator("tbody tr")
        expect(rows).to_have_count(3)
        expect(rows.nth(0)).to_contain_text("quality flag: body movement")
        expect(rows.nth(1)).to_contain_text("beyond the red limit; raised an alert")
        expect(rows.nth(2)).to_contain_text("–")

        # The latest value of each measure at the top, out of range said in words.
        latest = page.locator("li[data-measure='blood_pressure']")
        expect(latest).to_contain_text("128/78 mmHg")
        expect(page.locator("li[data-measure='spo2']")).to_contain_text("95 %")
        expect(page.locator("table.readings")).to_contain_text("128/78 mmHg")  # not "systolic 128"
        expect(page.locator("table.readings").first).to_contain_text("SpO2 95 % · Pulse 80 /min")

        # A shorter period, chosen by a link: the three-day-old reading leaves the chart.
        page.get_by_role("link", name="Last 7 days").click()
        expect(page).to_have_url(f"{base}/patients/p-trend-1?days=7#trends")
        expect(page.get_by_role("link", name="Last 7 days")).to_have_attribute("aria-current", "page")
        expect(svg.locator("title")).to_have_text("Blood pressure (mmHg), last 7 days")

        # The alert page draws the same chart, the alert's reading marked.
        page.goto(f"{base}/alerts/{alert['id']}")
        alert_svg = page.locator("section[data-chart='blood_pressure'] svg.cw-chart--wide[role='img']")
        expect(alert_svg.locator(":scope > g.pt-alert")).to_have_attribute("data-value", "178")
        expect(alert_svg.locator("line.limit-red[data-value='175']")).to_have_count(1)
        assert _plotted(page, "blood_pressure") == plotted


def test_the_patient_page_answers_within_2_s_while_influxdb_hangs(stack: Stack) -> None:
    """The first page too, before the store's breaker has opened: the store's own timeout
    and retry (tests/api/test_people_reads.py) would cost that page about 4 s."""
    add_patient(stack.db, "p-hang-1", "Hung Store", actor="test")
    with HangingServer() as hung_influx:
        hung = InfluxStore(stack.influx.config.model_copy(update={"url": hung_influx.url}))
        app = create_app(ServerSettings(database_url=stack.db.url), stack.db, hung)
        client = signed_in_client(app, stack.token)
        for attempt in ("first, the store still trusted", "again, while the store is known to hang"):
            started = time.monotonic()
            page = client.get("/patients/p-hang-1")
            took = time.monotonic() - started
            assert page.status_code == 200, attempt
            assert "Readings cannot be shown just now: the reading store is not answering." in page.text
            assert "Hung Store" in page.text and "Alert limits" in page.text  # the rest of the page is there
            assert took < 2.0, f"{attempt}: {took:.2f} s"
        assert hung_influx.accepted >= 1  # the page did ask the hung store
