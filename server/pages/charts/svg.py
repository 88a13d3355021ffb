"""A trend chart as accessible SVG, drawn on the server: it works under the pages' strict
CSP with no script at all, and prints.

Pure: plain values in (``model.Chart``), markup out; no I/O, no clock, no colour-only
meaning. A limit is a labelled line (and, on a one-line chart, a shaded region beyond it);
red limits are dashed, amber ones dotted. A reading that raised an alert is a triangle, a
quality-flagged one a hollow square, any other a dot: the shapes say it in greyscale, and
the legend says it in words. Styling is by presentation attributes, never ``style=``,
which the CSP (``style-src 'self'``) would refuse.

Two layouts, because an SVG scales its text with it: the wide one (640 units) shrinks to
about half on a 360 px phone, its 12-unit labels to 6 px. The narrow one is drawn for a
phone's column (340 units, so about 1:1 at 360 px): larger text, fewer date ticks, the
legend stacked and the limit labels without the series name. The page carries both and
its style sheet shows one (``cw-chart--wide``, ``cw-chart--narrow``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from html import escape

from server.pages.charts.model import Chart, Edge, Point


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a chart's parts go and how large its text is, in SVG units."""

    name: str  # "wide" or "narrow": the CSS class and the ids' suffix
    width: int
    height: int
    left: int  # margins: y labels, limit labels, x labels + legend
    right: int
    top: int
    bottom: int
    text: int  # font size of every label
    date_ticks: int  # at most this many dates on the x axis
    legend_row: bool  # the legend's three items side by side (else one under another)
    series_in_limit_labels: bool  # "Systolic red ≥ 180" (else "red ≥ 180")


WIDE = Layout("wide", 640, 300, 52, 132, 14, 70, 12, 7, True, True)
NARROW = Layout("narrow", 340, 306, 50, 96, 12, 96, 13, 4, False, False)
INK = "#212b32"
GRID = "#d8dde0"
COLOURS = {"red": "#d5281b", "amber": "#ffb81c"}
TEXT_COLOURS = {"red": "#d5281b", "amber": "#7a5800"}  # amber text dark enough to read
DASHES = {"red": "7 4", "amber": "2 3"}
SERIES_DASH = ("", "6 4", "2 2")
LABEL_GAP = 12.0


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / max(ticks, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power  # pragma: no cover - the loop ends at 10


def value_range(chart: Chart) -> tuple[float, float]:
    """The y axis: every value and every limit in view, padded, on round steps."""
    values = [p.value for s in chart.series for p in s.points] + [limit.value for limit in chart.limits]
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    pad = max((hi - lo) * 0.1, abs(hi) * 0.02, 1.0)
    lo, hi = lo - pad, hi + pad
    step = _nice_step(hi - lo)
    return math.floor(lo / step) * step, math.ceil(hi / step) * step


class _Frame:
    def __init__(self, chart: Chart, layout: Layout) -> None:
        self.chart = chart
        self.layout = layout
        self.lo, self.hi = value_range(chart)
        self.span = max((chart.end - chart.start).total_seconds(), 1.0)
        self.x0, self.x1 = layout.left, layout.width - layout.right
        self.y0, self.y1 = layout.height - layout.bottom, layout.top  # y0 is the bottom

    def x(self, p: Point) -> float:
        t = (p.at - self.chart.start).total_seconds() / self.span
        return self.x0 + min(max(t, 0.0), 1.0) * (self.x1 - self.x0)

    def y(self, value: float) -> float:
        t = (value - self.lo) / (self.hi - self.lo)
        return self.y0 - min(max(t, 0.0), 1.0) * (self.y0 - self.y1)


def _spread(wanted: list[float], gap: float, top: float, bottom: float) -> list[float]:
    """Label positions near ``wanted`` (sorted top to bottom) at least ``gap`` apart."""
    placed: list[float] = []
    for y in wanted:
        placed.append(max(y, placed[-1] + gap) if placed else max(y, top))
    overflow = placed[-1] - bottom if placed else 0.0
    if overflow > 0:
        placed = [y - overflow for y in placed]
    return placed


def _axes(f: _Frame) -> list[str]:
    size = f.layout.text
    out = [
        f'<line x1="{f.x0}" y1="{f.y0}" x2="{f.x1}" y2="{f.y0}" stroke="{INK}"/>',
        f'<line x1="{f.x0}" y1="{f.y0}" x2="{f.x0}" y2="{f.y1}" stroke="{INK}"/>',
    ]
    step = _nice_step(f.hi - f.lo)
    v = f.lo
    while v <= f.hi + step / 1000:
        y = f.y(v)
        out.append(f'<line x1="{f.x0}" y1="{y:.1f}" x2="{f.x1}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(
            f'<text class="axis-label" x="{f.x0 - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="{size}" '
            f'fill="{INK}">{_num(v)}</text>'
        )
        v += step
    out.append(
        f'<text x="12" y="{(f.y0 + f.y1) / 2:.0f}" font-size="{size}" fill="{INK}" text-anchor="middle" '
        f'transform="rotate(-90 12 {(f.y0 + f.y1) / 2:.0f})">{escape(f.chart.unit)}</text>'
    )
    days = max(round(f.span / 86400), 1)
    every = max(math.ceil(days / f.layout.date_ticks), 1)
    start = f.chart.start
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    day = 1
    while True:
        at = first + timedelta(days=day)
        if at > f.chart.end:
            break
        if (day - 1) % every == 0:
            x = f.x(Point(at, 0.0))
            out.append(f'<line x1="{x:.1f}" y1="{f.y0}" x2="{x:.1f}" y2="{f.y0 + 5}" stroke="{INK}"/>')
            out.append(
                f'<text class="axis-label" x="{x:.1f}" y="{f.y0 + 6 + size}" text-anchor="middle" '
                f'font-size="{size}" fill="{INK}">'
                f"{at.day} {at.strftime('%b')}</text>"
            )
        day += 1
    return out


def _limits(f: _Frame, shade: bool) -> list[str]:
    chart = f.chart
    out: list[str] = []
    ordered = sorted(chart.limits, key=lambda limit: f.y(limit.value))
    for limit in ordered:
        y = f.y(limit.value)
        colour = COLOURS.get(limit.severity, INK)
        if shade:
            top, bottom = (y, f.y0) if limit.edge is Edge.BELOW else (f.y1, y)
            opacity = "0.10" if limit.severity == "red" else "0.16"
            out.append(
                f'<rect class="band band-{limit.severity}" x="{f.x0}" y="{top:.1f}" width="{f.x1 - f.x0}" '
                f'height="{max(bottom - top, 0):.1f}" fill="{colour}" fill-opacity="{opacity}"/>'
            )
        out.append(
            f'<line class="limit limit-{limit.severity}" data-value="{_num(limit.value)}" x1="{f.x0}" '
            f'y1="{y:.1f}" x2="{f.x1}" y2="{y:.1f}" stroke="{colour}" stroke-width="2" '
            f'stroke-dasharray="{DASHES.get(limit.severity, "")}"/>'
        )
    gap = max(LABEL_GAP, f.layout.text + 1.0)
    positions = _spread([f.y(limit.value) + 4 for limit in ordered], gap, f.y1 + 8, f.y0 + 4)
    many = len(chart.series) > 1 and f.layout.series_in_limit_labels
    for limit, y in zip(ordered, positions, strict=True):
        sign = "≤" if limit.edge is Edge.BELOW else "≥"
        who = f"{limit.series} " if many else ""
        out.append(
            f'<text class="limit-label" x="{f.x1 + 6}" y="{y:.1f}" font-size="{f.layout.text - 1}" '
            f'fill="{TEXT_COLOURS.get(limit.severity, INK)}">{escape(who)}{limit.severity} {sign} '
            f"{_num(limit.value)}</text>"
        )
    return out


def marker(x: float, y: float, p: Point) -> str:
    """A reading's mark: its shape says what it is, without colour."""
    kind = "alert" if p.alerting else "flag" if p.flagged else "reading"
    attrs = f'class="pt pt-{kind}{" pt-flagged" if p.flagged else ""}" data-value="{_num(p.value)}"'
    if p.alerting:
        shape = (
            f'<path d="M{x:.1f} {y - 7:.1f} L{x + 6.5:.1f} {y + 5:.1f} L{x - 6.5:.1f} {y + 5:.1f} Z" '
            f'fill="{COLOURS["red"]}" stroke="{INK}" stroke-width="1.5"/>'
        )
        if p.flagged:
            shape += (
                f'<rect x="{x - 8:.1f}" y="{y - 9:.1f}" width="16" height="16" fill="none" '
                f'stroke="{INK}" stroke-width="1.5"/>'
            )
    elif p.flagged:
        shape = (
            f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" fill="#ffffff" '
            f'stroke="{INK}" stroke-width="2"/>'
        )
    else:
        shape = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{INK}"/>'
    return f"<g {attrs}>{shape}</g>"


def _series(f: _Frame) -> list[str]:
    out: list[str] = []
    ends: list[tuple[float, str]] = []
    for i, series in enumerate(f.chart.series):
        xy = [(f.x(p), f.y(p.value), p) for p in series.points]
        if len(xy) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in xy)
            dash = SERIES_DASH[i % len(SERIES_DASH)]
            out.append(
                f'<polyline class="line" points="{path}" fill="none" stroke="{INK}" stroke-width="1.5"'
                + (f' stroke-dasharray="{dash}"' if dash else "")
                + "/>"
            )
        out.extend(marker(x, y, p) for x, y, p in xy)
        if xy and len(f.chart.series) > 1:
            ends.append((xy[-1][1], series.label))
    gap = max(LABEL_GAP, f.layout.text + 1.0)
    for (_y, label), placed in zip(ends, _spread([y - 8 for y, _ in ends], gap, f.y1 + 8, f.y0), strict=True):
        out.append(
            f'<text class="series-label" x="{f.x1 - 4}" y="{placed:.1f}" text-anchor="end" '
            f'font-size="{f.layout.text - 1}" fill="{INK}">{escape(label)}</text>'
        )
    return out


def _legend(f: _Frame) -> list[str]:
    layout = f.layout
    rows = 1 if layout.legend_row else 3
    y = layout.height - 14 - (rows - 1) * (layout.text + 6)
    items = [
        (Point(f.chart.start, 0.0), "reading"),
        (Point(f.chart.start, 0.0, alerting=True), "raised an alert"),
        (Point(f.chart.start, 0.0, flags=("quality",)), "quality flag: value doubtful"),
    ]
    out = ['<g class="legend">']
    x = float(layout.left)
    for p, words in items:
        out.append(marker(x, y - 4, p))
        out.append(
            f'<text x="{x + 11:.0f}" y="{y:.0f}" font-size="{layout.text}" fill="{INK}">{escape(words)}</text>'
        )
        if layout.legend_row:
            x += 22 + 0.55 * layout.text * len(words)
        else:
            y += layout.text + 6
    out.append("</g>")
    return out


def describe(chart: Chart) -> str:
    """The chart in words, for its ``<desc>`` and for anyone who cannot see it."""
    if chart.empty:
        return f"No {chart.title.lower()} readings in this period."
    parts: list[str] = []
    for s in chart.series:
        if not s.points:
            continue
        values = [p.value for p in s.points]
        alerting = sum(p.alerting for p in s.points)
        flagged = sum(p.flagged for p in s.points)
        latest = s.points[-1]
        words = (
            f"{s.label}: {len(values)} reading{'s' if len(values) != 1 else ''} from {_num(min(values))} "
            f"to {_num(max(values))} {chart.unit}, latest {_num(latest.value)} on "
            f"{latest.at.day} {latest.at.strftime('%b %H:%M')}"
        )
        if alerting:
            words += f"; {alerting} raised an alert"
        if flagged:
            words += f"; {flagged} quality-flagged"
        parts.append(words + ".")
    if chart.limits:
        parts.append("Limits: " + "; ".join(limit.words(chart.unit) for limit in chart.limits) + ".")
    return " ".join(parts)


def render(chart: Chart, layout: Layout = WIDE) -> str:
    """The chart as an ``<svg role="img">`` element, titled and described."""
    f = _Frame(chart, layout)
    ident = f"chart-{chart.key}" + ("" if layout is WIDE else f"-{layout.name}")
    days = max(round(f.span / 86400), 1)
    title = f"{chart.title} ({chart.unit}), last {days} day{'s' if days != 1 else ''}"
    body = [
        f'<svg class="cw-chart cw-chart--{layout.name}" id="{escape(ident)}" role="img" '
        f'viewBox="0 0 {layout.width} {layout.height}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="{escape(ident)}-title {escape(ident)}-desc" '
        f'font-family="Frutiger W01, Arial, sans-serif">',
        f'<title id="{escape(ident)}-title">{escape(title)}</title>',
        f'<desc id="{escape(ident)}-desc">{escape(describe(chart))}</desc>',
        *_limits(f, shade=len(chart.series) == 1),
        *_axes(f),
        *_series(f),
        *_legend(f),
    ]
    if chart.empty:
        body.append(
            f'<text class="empty" x="{(f.x0 + f.x1) / 2:.0f}" y="{(f.y0 + f.y1) / 2:.0f}" text-anchor="middle" '
            f'font-size="{layout.text + 2}" fill="{INK}">No readings in this period</text>'
        )
    body.append("</svg>")
    return "\n".join(body)
