"""A patient's readings as the pages show them: trend charts with the patient's own limits,
the latest value of each measure (out of range marked), and the readings table in the
vocabulary's words; read from InfluxDB once per page, within a deadline.

The deadline is the page's, not the store's: a hung InfluxDB costs the store's own timeout
and retry (about 4 s) before its circuit breaker opens, and a person should not wait that
long for the rest of the page. The read goes on in a worker thread, trips the breaker when it
fails, and every page after it answers at once until the store is back.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Late
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from fastapi import Request
from markupsafe import Markup
from sqlalchemy import select

from alerts.lifecycle import measures_judged
from alerts.ruleset.models import RuleSet
from common.wire.vocabulary import KIND_LABELS, KIND_REQUIRED, MEASURES, QUALITY_FLAGS, Measure, ReadingKind
from server.api.auth import Principal, audit
from server.api.deps import Db
from server.pages.charts.model import Chart, Edge, Limit, Point, Series
from server.pages.charts.svg import NARROW, describe, render
from server.settings import ServerSettings
from server.store.influx.errors import StoreError
from server.store.influx.schema import StoredReading
from server.store.influx.store import InfluxStore
from server.store.models import Alert, AlertEvidence, now
from server.store.overrides import current_rules

log = logging.getLogger(__name__)

#: The periods a clinician may choose, by link; the first page shows the middle one.
PERIODS = (7, 30, 90)
DEFAULT_DAYS = 30
#: How long a page waits for InfluxDB before it says the readings are unavailable.
PAGE_BUDGET = 1.0
TABLE_ROWS = 60
MAX_POINTS = 5000
_QUALITY = frozenset(f.value for f in QUALITY_FLAGS)
_readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="page-readings")

#: What is charted, in the order a clinician reads it: blood pressure's two lines together.
GROUPS: tuple[tuple[str, str, tuple[Measure, ...]], ...] = (
    ("blood_pressure", "Blood pressure", (Measure.SYSTOLIC, Measure.DIASTOLIC)),
    ("pulse", "Pulse", (Measure.PULSE,)),
    ("spo2", "SpO2", (Measure.SPO2,)),
    ("weight", "Weight", (Measure.WEIGHT,)),
    ("temperature", "Temperature", (Measure.TEMPERATURE,)),
    ("respiration_rate", "Respiration rate", (Measure.RESPIRATION_RATE,)),
)


class ReadingsLate(Exception):
    """InfluxDB did not answer within the page's budget."""


def period(days: int | None) -> int:
    return days if days in PERIODS else DEFAULT_DAYS


def limits_of(rules: RuleSet, measure: Measure) -> tuple[Limit, ...]:
    """The patient's own threshold limits for ``measure`` (nothing when the rule is off)."""
    rule = rules.thresholds.get(measure)
    if rule is None or not rule.enabled:
        return ()
    label = MEASURES[measure].label
    found: list[Limit] = []
    for severity, band in (("red", rule.red), ("amber", rule.amber)):
        if band.at_or_below is not None:
            found.append(Limit(label, severity, Edge.BELOW, band.at_or_below))
        if band.at_or_above is not None:
            found.append(Limit(label, severity, Edge.ABOVE, band.at_or_above))
    return tuple(found)


def beyond(limits: Iterable[Limit], value: float) -> str | None:
    """The worst severity ``value`` falls in (limits include the value itself)."""
    worst: str | None = None
    for limit in limits:
        hit = value <= limit.value if limit.edge is Edge.BELOW else value >= limit.value
        if hit and (limit.severity == "red" or worst is None):
            worst = limit.severity
    return worst


def _doubtful(flags: Iterable[str]) -> tuple[str, ...]:
    return tuple(f for f in flags if f in _QUALITY)


def _about(alert_rules: Iterable[str], measures: tuple[Measure, ...]) -> set[Measure]:
    """Which of a chart's ``measures`` the alerts of a reading (their rule ids) are about."""
    about: set[Measure] = set()
    for rule in alert_rules:
        judged = measures_judged(rule)
        about.update(measures if judged is None else judged.intersection(measures))
    return about


def build_charts(
    rows: Sequence[StoredReading],
    evidence: Mapping[str, Collection[str]],
    rules: RuleSet,
    start: datetime,
    end: datetime,
    zone: tzinfo,
) -> list[Chart]:
    """One chart per group with readings in the period (rows oldest first)."""
    charts: list[Chart] = []
    for key, title, measures in GROUPS:

        def alerting(r: StoredReading, m: Measure, measures: tuple[Measure, ...] = measures) -> bool:
            """An alert's reading is marked on the lines its alert is about (an SpO2 alert's
            reading not on the pulse chart), and of those on the line beyond a limit (systolic
            178, not its diastolic 95), or on each of them when none is (a trend, a baseline)."""
            about = _about(evidence.get(str(r.reading_id), ()), measures)
            if m not in about:
                return False
            out = {n for n in about if n in r.values and beyond(limits_of(rules, n), r.values[n])}
            return m in out or not out

        series = tuple(
            Series(
                MEASURES[m].label,
                tuple(
                    Point(r.taken_at.astimezone(zone), r.values[m], alerting(r, m), _doubtful(r.flags))
                    for r in rows
                    if m in r.values
                ),
            )
            for m in measures
        )
        if not any(s.points for s in series):
            continue
        limits = tuple(limit for m in measures for limit in limits_of(rules, m))
        unit = MEASURES[measures[0]].unit.label
        charts.append(Chart(key, title, unit, start.astimezone(zone), end.astimezone(zone), series, limits))
    return charts


def table_of(chart: Chart) -> list[dict[str, Any]]:
    """The chart's values row by row (newest first), for its "Show as a table"."""
    by_time: dict[datetime, dict[str, Any]] = {}
    for s in chart.series:
        for p in s.points:
            row = by_time.setdefault(p.at, {"at": p.at, "values": {}, "alerting": False, "flags": ()})
            row["values"][s.label] = p.value
            row["alerting"] = row["alerting"] or p.alerting
            row["flags"] = tuple(dict.fromkeys(row["flags"] + p.flags))
    rows = sorted(by_time.values(), key=lambda r: r["at"], reverse=True)
    labels = [s.label for s in chart.series]
    for row in rows:
        row["cells"] = [f"{row['values'][label]:g}" if label in row["values"] else "–" for label in labels]
        row["state"] = _state(chart, row["values"])
    return rows


def _state(chart: Chart, values: dict[str, float]) -> str | None:
    worst: str | None = None
    for label, value in values.items():
        found = beyond((limit for limit in chart.limits if limit.series == label), value)
        if found == "red" or (found and worst is None):
            worst = found
    return worst


def latest_values(rows: Sequence[StoredReading], rules: RuleSet) -> list[dict[str, Any]]:
    """The latest value of each charted measure (blood pressure as systolic/diastolic), with
    the severity of any limit it is beyond."""
    out: list[dict[str, Any]] = []
    for key, title, measures in GROUPS:
        last = next((r for r in reversed(rows) if measures[0] in r.values), None)
        if last is None:
            continue
        states = [beyond(limits_of(rules, m), last.values[m]) for m in measures if m in last.values]
        state = "red" if "red" in states else "amber" if "amber" in states else None
        value = "/".join(f"{last.values[m]:g}" for m in measures if m in last.values)
        out.append(
            {
                "key": key,
                "label": title,
                "value": value,
                "unit": MEASURES[measures[0]].unit.label,
                "taken_at": last.taken_at,
                "state": state,
                "doubtful": bool(_doubtful(last.flags)),
            }
        )
    return sorted(out, key=lambda v: {"red": 0, "amber": 1}.get(v["state"] or "", 2))


def measured_words(r: StoredReading) -> str:
    """A reading's values as a clinician says them: "150/95 mmHg · Pulse 72 /min"."""
    parts: list[str] = []
    if (
        r.kind is ReadingKind.BLOOD_PRESSURE
        and Measure.SYSTOLIC in r.values
        and Measure.DIASTOLIC in r.values
    ):
        parts.append(f"{r.values[Measure.SYSTOLIC]:g}/{r.values[Measure.DIASTOLIC]:g} mmHg")
        shown: tuple[Measure, ...] = (Measure.SYSTOLIC, Measure.DIASTOLIC)
    else:
        shown = ()
    first = KIND_REQUIRED[r.kind]  # what the reading is for comes first: "SpO2 95 % · Pulse 80 /min"
    rest = sorted((m for m in MEASURES if m in r.values and m not in shown), key=lambda m: m not in first)
    parts.extend(f"{MEASURES[m].label} {r.values[m]:g} {MEASURES[m].unit.label}" for m in rest)
    return " · ".join(parts)


def _table_rows(
    rows: Sequence[StoredReading], evidence: Mapping[str, Collection[str]]
) -> list[dict[str, Any]]:
    newest = list(reversed(rows))[:TABLE_ROWS]
    return [
        {
            "taken_at": r.taken_at,
            "kind": KIND_LABELS[r.kind][:1].upper() + KIND_LABELS[r.kind][1:],
            "measured": measured_words(r),
            "alerting": str(r.reading_id) in evidence,
            "doubtful": ", ".join(f.replace("_", " ") for f in _doubtful(r.flags)),
            "flags": ", ".join(f.replace("_", " ") for f in r.flags if f not in _QUALITY),
            "time_source": r.time_source.value,
        }
        for r in newest
    ]


def _read(store: InfluxStore, patient_id: str, since: datetime) -> list[StoredReading]:
    try:
        future = _readers.submit(
            store.query_readings, patient_id, since=since, limit=MAX_POINTS, newest_first=True
        )
        return list(reversed(future.result(timeout=PAGE_BUDGET)))
    except Late:
        raise ReadingsLate(f"no answer within {PAGE_BUDGET:g} s") from None


@dataclass(frozen=True)
class Choice:
    days: int
    href: str
    current: bool


def page_readings(
    request: Request, db: Db, principal: Principal, patient_id: str, days: int | None, path: str
) -> dict[str, Any]:
    """Everything a page shows of the patient's readings. A store that fails or is slow
    leaves the rest of the page working and says so."""
    chosen = period(days)
    settings: ServerSettings = request.app.state.settings
    end = now()
    start = end - timedelta(days=chosen)
    with db.session() as s:
        rules, _ = current_rules(s, patient_id)
        evidence: dict[str, set[str]] = {}
        for reading_id, rule_id in s.execute(
            select(AlertEvidence.reading_id, Alert.rule_id)
            .join(Alert, Alert.id == AlertEvidence.alert_id)
            .where(Alert.patient_id == patient_id)
        ):
            evidence.setdefault(str(reading_id), set()).add(rule_id)
    context: dict[str, Any] = {
        "days": chosen,
        "periods": [Choice(d, f"{path}?days={d}#trends", d == chosen) for d in PERIODS],
        "charts": [],
        "latest": [],
        "readings": [],
        "readings_more": 0,
        "readings_error": None,
    }
    try:
        rows = _read(request.app.state.influx, patient_id, start)
    except (StoreError, ReadingsLate) as e:
        log.warning("page without readings for %s: %s", patient_id, e)
        context["readings_error"] = "Readings cannot be shown just now: the reading store is not answering."
        return context
    audit(db, principal, "readings_viewed", patient_id, f"page since={chosen}d n={len(rows)}")
    charts = build_charts(rows, evidence, rules, start, end, settings.zone)
    context["charts"] = [
        {
            "chart": c,
            "svg": Markup(render(c)),  # noqa: S704 - every value in it is escaped by the renderer
            "svg_narrow": Markup(render(c, NARROW)),  # noqa: S704 - as above; shown on a phone instead
            "words": describe(c),
            "labels": [s.label for s in c.series],
            "table": table_of(c),
        }
        for c in charts
    ]
    context["latest"] = latest_values(rows, rules)
    context["readings"] = _table_rows(rows, evidence)
    context["readings_more"] = max(len(rows) - TABLE_ROWS, 0)
    return context
