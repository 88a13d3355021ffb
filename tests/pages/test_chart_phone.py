"""Trend charts stay legible on a phone: at 360 px wide the chart shown is the narrow
drawing, whose every label renders at least 11 CSS px tall, and the page does not scroll
sideways; at 1280 px the wide drawing is shown, its labels no smaller.

Real Chromium measures the rendered text (``getBoundingClientRect``), from readings a real
hub sent through the broker and the ingest into InfluxDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Browser, expect

from common.wire.vocabulary import Measure, ReadingKind
from server.app import create_app
from server.settings import ServerSettings
from tests.fixtures.browser import served
from tests.fixtures.server import Stack

#: The smallest label height a phone user is to be given, in CSS px.
LEGIBLE_PX = 11.0

MEASURE_LABELS = """svg => {
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return [...svg.querySelectorAll('text')].map(t => ({
    text: t.textContent,
    height: t.getBoundingClientRect().height,
    font: parseFloat(t.getAttribute('font-size')) * scale,
  }));
}"""


def test_chart_labels_are_legible_at_360_px_and_the_page_does_not_scroll_sideways(
    stack: Stack, browser: Browser
) -> None:
    now = datetime.now(UTC)
    hub = stack.patient_with_hub(
        "p-phone-1", "hub-phone-1", name="Phone Reader", since=now - timedelta(days=20)
    )
    for day, systolic in enumerate((150, 181, 148, 160, 139, 152)):
        hub.send(
            ReadingKind.BLOOD_PRESSURE,
            {Measure.SYSTOLIC: systolic, Measure.DIASTOLIC: 85, Measure.PULSE: 70},
            measured_at=now - timedelta(days=15 - 2 * day),
        )
    assert hub.wait_delivered(30)
    app = create_app(ServerSettings(database_url=stack.db.url), stack.db, stack.influx)
    measured: dict[int, list[dict[str, Any]]] = {}
    with served(app) as base:
        for width, shown, hidden in ((360, "narrow", "wide"), (1280, "wide", "narrow")):
            with browser.new_context(viewport={"width": width, "height": 800}) as context:
                page = context.new_page()
                page.goto(f"{base}/patients/p-phone-1")
                page.fill("#token", stack.token)
                page.click("button:has-text('Sign in')")
                section = page.locator("section[data-chart='blood_pressure']")
                expect(section.locator(f"svg.cw-chart--{shown}")).to_be_visible()
                expect(section.locator(f"svg.cw-chart--{hidden}")).to_be_hidden()
                svg = section.locator(f"svg.cw-chart--{shown}")
                expect(svg.locator("text.limit-label")).not_to_have_count(0)
                labels = svg.evaluate(MEASURE_LABELS)
                measured[width] = labels
                assert {"axis", "limit", "legend"} <= {
                    "axis"
                    if label["text"].strip().replace(".", "").isdigit()
                    else "limit"
                    if "≥" in label["text"] or "≤" in label["text"]
                    else "legend"
                    if label["text"] in ("reading", "raised an alert")
                    else "other"
                    for label in labels
                }
                small = [label for label in labels if min(label["height"], label["font"]) < LEGIBLE_PX]
                assert small == [], f"labels under {LEGIBLE_PX:g} px at {width} px wide: {small}"
                scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
                assert scroll_width <= width, f"the page scrolls sideways at {width} px: {scroll_width} px"
    smallest = {
        w: min(min(label["height"], label["font"]) for label in labels) for w, labels in measured.items()
    }
    print(f"smallest chart label (CSS px, min of box height and font size): {smallest}")
