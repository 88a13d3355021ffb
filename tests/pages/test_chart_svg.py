"""The trend chart renderer with plain values: the patient's limits drawn and labelled, each
reading marked by what it is (shape, not colour), the words for who cannot see it, and an
empty period that says so. Parsed as XML, so a stray character breaks the test, not the page."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from server.pages.charts.model import Chart, Edge, Limit, Point, Series
from server.pages.charts.svg import NARROW, describe, render, value_range

NS = {"s": "http://www.w3.org/2000/svg"}
END = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
START = END - timedelta(days=7)


def _spo2(points: tuple[Point, ...], limits: tuple[Limit, ...] = ()) -> Chart:
    return Chart("spo2", "SpO2", "%", START, END, (Series("SpO2", points),), limits)


COPD_LIMITS = (Limit("SpO2", "red", Edge.BELOW, 84), Limit("SpO2", "amber", Edge.BELOW, 87))


def _svg(chart: Chart) -> ET.Element:
    return ET.fromstring(render(chart))  # noqa: S314 - our own markup, parsed to check it


def test_the_patients_own_limits_are_lines_shaded_and_labelled() -> None:
    root = _svg(_spo2((Point(END - timedelta(days=1), 90.0),), COPD_LIMITS))
    lines = root.findall(".//s:line[@class='limit limit-red']", NS) + root.findall(
        ".//s:line[@class='limit limit-amber']", NS
    )
    assert sorted(line.get("data-value", "") for line in lines) == ["84", "87"]
    assert root.find(".//s:line[@class='limit limit-red']", NS).get("stroke-dasharray") == "7 4"  # type: ignore[union-attr]
    assert root.find(".//s:line[@class='limit limit-amber']", NS).get("stroke-dasharray") == "2 3"  # type: ignore[union-attr]
    labels = ["".join(t.itertext()) for t in root.findall(".//s:text[@class='limit-label']", NS)]
    assert sorted(labels) == ["amber ≤ 87", "red ≤ 84"]
    # Below a "below" limit is shaded: the red band runs from 84 down to the axis.
    red = root.find(".//s:rect[@class='band band-red']", NS)
    assert red is not None and float(red.get("height", "0")) > 0
    line_y = float(root.find(".//s:line[@class='limit limit-red']", NS).get("y1", "0"))  # type: ignore[union-attr]
    assert float(red.get("y", "0")) == line_y


def test_alerting_flagged_and_plain_readings_have_different_shapes() -> None:
    points = (
        Point(END - timedelta(days=3), 95.0),
        Point(END - timedelta(days=2), 82.0, alerting=True),
        Point(END - timedelta(days=1), 70.0, flags=("body_movement",)),
        Point(END - timedelta(hours=2), 83.0, alerting=True, flags=("low_perfusion",)),
    )
    root = _svg(_spo2(points, COPD_LIMITS))
    plot = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if (g.get("class") or "").startswith("pt ")]
    legend = root.find(".//s:g[@class='legend']", NS)
    assert legend is not None
    marks = [g for g in plot if g not in list(legend)]
    assert [(g.get("class"), g.get("data-value")) for g in marks] == [
        ("pt pt-reading", "95"),
        ("pt pt-alert", "82"),
        ("pt pt-flag pt-flagged", "70"),
        ("pt pt-alert pt-flagged", "83"),
    ]
    shapes = [[child.tag.split("}")[1] for child in g] for g in marks]
    assert shapes == [["circle"], ["path"], ["rect"], ["path", "rect"]]
    assert [t.text for t in legend.findall("s:text", NS)] == [
        "reading",
        "raised an alert",
        "quality flag: value doubtful",
    ]
    # One line joins them, oldest to newest, left to right.
    [line] = root.findall(".//s:polyline", NS)
    xs = [float(p.split(",")[0]) for p in line.get("points", "").split()]
    assert xs == sorted(xs) and len(xs) == 4


def test_the_chart_is_an_image_with_a_title_and_a_description_in_words() -> None:
    points = (Point(END - timedelta(days=2), 82.0, alerting=True), Point(END - timedelta(days=1), 95.0))
    root = _svg(_spo2(points, COPD_LIMITS))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "chart-spo2-title chart-spo2-desc"
    assert root.find("s:title", NS).text == "SpO2 (%), last 7 days"  # type: ignore[union-attr]
    desc = root.find("s:desc", NS).text  # type: ignore[union-attr]
    assert desc == (
        "SpO2: 2 readings from 82 to 95 %, latest 95 on 2 Dec 12:00; 1 raised an alert. "
        "Limits: SpO2 red at or below 84 %; SpO2 amber at or below 87 %."
    )
    assert "style=" not in render(_spo2(points, COPD_LIMITS))  # the CSP would refuse it


def test_blood_pressure_draws_both_lines_labelled_without_shading() -> None:
    chart = Chart(
        "blood_pressure",
        "Blood pressure",
        "mmHg",
        START,
        END,
        (
            Series(
                "Systolic", (Point(END - timedelta(days=2), 150.0), Point(END - timedelta(days=1), 182.0))
            ),
            Series(
                "Diastolic", (Point(END - timedelta(days=2), 90.0), Point(END - timedelta(days=1), 101.0))
            ),
        ),
        (Limit("Systolic", "red", Edge.ABOVE, 180), Limit("Diastolic", "red", Edge.ABOVE, 120)),
    )
    root = _svg(chart)
    assert len(root.findall(".//s:polyline", NS)) == 2
    assert root.findall(".//s:rect[@class='band band-red']", NS) == []  # two lines' bands would overlap
    assert {"".join(t.itertext()) for t in root.findall(".//s:text[@class='series-label']", NS)} == {
        "Systolic",
        "Diastolic",
    }
    labels = {"".join(t.itertext()) for t in root.findall(".//s:text[@class='limit-label']", NS)}
    assert labels == {"Systolic red ≥ 180", "Diastolic red ≥ 120"}
    # The phone's drawing: its own ids, larger text, the limits labelled by value alone (its
    # narrow margin has no room for the series name; the lines end in the series' names).
    narrow = ET.fromstring(render(chart, NARROW))  # noqa: S314 - our own markup
    assert narrow.get("id") == "chart-blood_pressure-narrow"
    assert (
        narrow.get("aria-labelledby") == "chart-blood_pressure-narrow-title chart-blood_pressure-narrow-desc"
    )
    assert narrow.get("viewBox") == "0 0 340 306"
    assert {"".join(t.itertext()) for t in narrow.findall(".//s:text[@class='limit-label']", NS)} == {
        "red ≥ 180",
        "red ≥ 120",
    }
    assert {t.get("font-size") for t in narrow.findall(".//s:text[@class='axis-label']", NS)} == {"13"}
    # Every value and limit fits inside the axis.
    lo, hi = value_range(chart)
    assert lo <= 90 and hi >= 182


def test_an_empty_period_says_so_and_still_shows_the_limits() -> None:
    chart = _spo2((), COPD_LIMITS)
    root = _svg(chart)
    assert "".join(root.find(".//s:text[@class='empty']", NS).itertext()) == "No readings in this period"  # type: ignore[union-attr]
    assert root.findall(".//s:polyline", NS) == []
    assert len(root.findall(".//s:line[@class='limit limit-red']", NS)) == 1
    assert describe(chart) == "No spo2 readings in this period."
    assert value_range(_spo2(())) == (0.0, 1.0)


def test_text_in_a_chart_is_escaped() -> None:
    chart = Chart("x", "A <b> & C", "<u>", START, END, (Series("S&P", (Point(END, 1.0),)),))
    root = _svg(chart)  # parses: nothing came through as markup
    assert root.find("s:title", NS).text == "A <b> & C (<u>), last 7 days"  # type: ignore[union-attr]
