"""A team's caseload: every patient they care for, the worst first, with what each needs.

One row per patient: the worst open alert, the latest value of each measure (of the last
``LATEST_DAYS``, its age said when over a day) marked against the patient's own rules
(defaults, condition profiles, personal override), a home NEWS2 where the patient's NEWS2
rule allows one (enabled, and ``min_parameters`` scored from recent readings), the last reading time, the readings the schedule
expects today and has not had, and whether the hub is online. Built in a fixed number of
queries whatever the caseload's size: the patients, their open alerts, their hubs, their
rules (one compile per distinct set of conditions and override) and the latest values
(``server.store.latest_values``, kept by the ingest: InfluxDB's ``last()`` over 2,000
patients took seconds, and the ingest ledger grows with years of readings).
``bench/caseload.py`` times it for 2,000 patients.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from alerts.news2 import score
from alerts.rules.news2_home import HOME_PARAMETERS
from alerts.ruleset.loading import default_ruleset
from alerts.ruleset.models import RuleSet
from common.wire.vocabulary import (
    CONDITION_LABELS,
    KIND_LABELS,
    MEASURES,
    Condition,
    Measure,
    ReadingKind,
)
from server.access import Scope
from server.nhs_number import formatted
from server.patient_search import matching
from server.store.models import Alert, Hub, HubAssignment, LatestValue, Patient, RuleOverride
from server.store.overrides import effective_rules

log = logging.getLogger(__name__)

#: How far back a latest value is looked for: older ones are history, not the patient's state
#: (the last reading time still says when the patient last measured anything).
LATEST_DAYS = 30
#: A value or a NEWS2 older than this is labelled with its age: the caseload is read as
#: "now", and a score from last week must not pass for today's.
STALE_AFTER = timedelta(days=1)
#: The measures the caseload shows, in the vocabulary's order.
SHOWN = (
    Measure.SYSTOLIC,
    Measure.DIASTOLIC,
    Measure.PULSE,
    Measure.SPO2,
    Measure.TEMPERATURE,
    Measure.WEIGHT,
)
_SEVERITY_RANK = {"red": 0, "amber": 1}
_CONDITIONS = {c.value for c in Condition}
_KINDS = {k.value for k in ReadingKind}
_SPECS = {m: (MEASURES[m].label, MEASURES[m].unit.label) for m in Measure}


class _Latest(NamedTuple):
    value: float
    taken_at: datetime
    flagged: bool


class Status(StrEnum):
    """What the caseload can be narrowed to."""

    ALL = "all"
    ALERTS = "alerts"  # an open alert
    OUT_OF_RANGE = "out-of-range"
    NO_READING_TODAY = "no-reading-today"
    HUB_OFFLINE = "hub-offline"
    DISCHARGED = "discharged"


@dataclass(frozen=True)
class Value:
    measure: Measure
    label: str
    shown: str  # "152 mmHg"
    band: str | None  # "red", "amber" or None (in range)
    flagged: bool  # the reading carries quality flags
    age: str = ""  # "3 days old" when older than ``STALE_AFTER``


@dataclass
class Row:
    patient_id: str
    name: str
    nhs_number: str
    team: str
    conditions: list[str]
    worst: str | None = None
    open_alerts: int = 0
    worst_summary: str = ""
    worst_alert_id: int | None = None
    values: list[Value] = field(default_factory=list)
    news2: int | None = None
    news2_scored: int = 0
    news2_at: datetime | None = None  # when the newest reading it scores was taken
    news2_age: str = ""  # "3 days old" when older than ``STALE_AFTER``
    news2_note: str = ""  # why there is no score: NEWS2 off, or not enough recent readings
    last_reading_at: datetime | None = None
    missing_today: list[str] = field(default_factory=list)
    hub_id: str | None = None
    hub_status: str | None = None
    discharged: bool = False

    @property
    def out_of_range(self) -> list[Value]:
        return [v for v in self.values if v.band]

    def rank(self) -> tuple[int, int, int, int, int, int, str]:
        """Worst first: open alert severity, values in red then amber, NEWS2, a reading the
        schedule expected and did not get, an offline hub; then by name."""
        return (
            _SEVERITY_RANK.get(self.worst or "", 2),
            -sum(v.band == "red" for v in self.values),
            -sum(v.band == "amber" for v in self.values),
            -(self.news2 or 0),
            -len(self.missing_today),
            int(self.hub_status == "online"),
            self.name.lower(),
        )


@dataclass(frozen=True)
class Query:
    text: str = ""
    team: str = ""
    status: Status = Status.ALL


@dataclass
class Caseload:
    rows: list[Row]


def _chosen(scope: Scope, query: Query) -> list[ColumnElement[bool]]:
    where = [scope.patients(), *matching(query.text)]
    if query.team:
        where.append(Patient.team == query.team)
    discharged = query.status is Status.DISCHARGED
    where.append(Patient.discharged_at.is_not(None) if discharged else Patient.discharged_at.is_(None))
    return where


def _conditions(stored: list[str] | None) -> list[Condition]:
    return [Condition(c) for c in stored or [] if c in _CONDITIONS]


def _band(rules: RuleSet, measure: Measure, value: float) -> str | None:
    rule = rules.thresholds.get(measure)
    if rule is None or not rule.enabled:
        return None
    for name, band in (("red", rule.red), ("amber", rule.amber)):
        if (band.at_or_below is not None and value <= band.at_or_below) or (
            band.at_or_above is not None and value >= band.at_or_above
        ):
            return name
    return None


def _rules(s: Session, chosen: Any, conditions: dict[str, list[Condition]]) -> dict[str, RuleSet]:
    """Each patient's rules, compiled once per distinct conditions-and-override."""
    newest = (
        select(func.max(RuleOverride.id))
        .where(RuleOverride.patient_id.in_(chosen))
        .group_by(RuleOverride.patient_id)
        .scalar_subquery()
    )
    overrides = {
        row.patient_id: row for row in s.scalars(select(RuleOverride).where(RuleOverride.id.in_(newest)))
    }
    compiled: dict[tuple[tuple[str, ...], int | None], RuleSet] = {}
    out: dict[str, RuleSet] = {}
    default = default_ruleset()
    for pid, mine in conditions.items():
        row = overrides.get(pid)
        if not mine and row is None:
            out[pid] = default
            continue
        key = (tuple(c.value for c in mine), None if row is None else row.id)
        if key not in compiled:
            one = {pid: row} if row is not None else {}
            compiled[key] = effective_rules(one, {pid: mine})[pid]
        out[pid] = compiled[key]
    return out


def _age(taken_at: datetime, at: datetime) -> str:
    """How old a value is, said only when it is older than ``STALE_AFTER``."""
    if at - taken_at < STALE_AFTER:
        return ""
    days = (at - taken_at).days
    return f"{days} day{'' if days == 1 else 's'} old"


def _values(rules: RuleSet, latest: dict[str, _Latest], at: datetime) -> list[Value]:
    out = []
    for measure in SHOWN:
        row = latest.get(measure.value)
        if row is not None:
            spec = _SPECS[measure]
            shown = f"{row.value:g} {spec[1]}"
            band = _band(rules, measure, row.value)
            out.append(Value(measure, spec[0], shown, band, row.flagged, _age(row.taken_at, at)))
    return out


NEWS2_OFF = "NEWS2 is not used for this patient"
NOT_ENOUGH = "not enough recent readings"


def _news2_inputs(rules: RuleSet, values: dict[str, _Latest]) -> tuple[dict[str, float], datetime | None]:
    """The values a patient's home NEWS2 scores now, as the NEWS2 rule would at their newest
    unflagged NEWS2 reading: each parameter's latest confirmed value within the rule's window
    before it (``alerts.rules.news2_home``), and that reading's time. ``values`` holds only
    values from the last ``LATEST_DAYS``."""
    confirmed = {
        name: one
        for name, measure in HOME_PARAMETERS.items()
        if (one := values.get(measure.value)) is not None and not one.flagged
    }
    newest = max((one.taken_at for one in confirmed.values()), default=None)
    if newest is None or not rules.news2.enabled:
        return {}, newest
    window = timedelta(minutes=rules.news2.window_minutes)
    return {name: one.value for name, one in confirmed.items() if one.taken_at >= newest - window}, newest


def _news2(
    rows: list[Row],
    inputs: dict[str, list[float]],
    scales: list[int],
    needed: list[int],
    anchors: list[datetime | None],
    at: datetime,
) -> None:
    """Score every row's home NEWS2 at once (``alerts.news2.score`` takes arrays). A score of
    fewer parameters than the patient's NEWS2 rule needs (``min_parameters``) is no score:
    one SpO2 alone is not a NEWS2 of 0."""
    if not rows:
        return
    result = score(**{k: np.array(v, dtype=float) for k, v in inputs.items()}, spo2_scale=np.array(scales))
    totals = np.atleast_1d(result.total)
    scored = np.atleast_1d(result.n_scored)
    for i, row in enumerate(rows):
        if needed[i] == 0:
            row.news2_note = NEWS2_OFF
        elif int(scored[i]) >= needed[i] and (anchor := anchors[i]) is not None:
            row.news2, row.news2_scored = int(totals[i]), int(scored[i])
            row.news2_at, row.news2_age = anchor, _age(anchor, at)
        else:
            row.news2_note = NOT_ENOUGH


def _opened_today(rules: RuleSet, at: datetime, zone: tzinfo) -> list[tuple[ReadingKind, datetime]]:
    """The kinds the schedule expects a reading of today whose window has opened, and when."""
    local = at.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for kind, schedule in rules.missed_readings.items():
        if schedule.enabled:
            opens = midnight + timedelta(seconds=schedule.window_start_s)
            if local >= opens:
                out.append((kind, opens))
    return out


def _missing_today(
    opened: list[tuple[ReadingKind, datetime]], times: dict[ReadingKind, datetime]
) -> list[str]:
    return [KIND_LABELS[kind] for kind, opens in opened if (last := times.get(kind)) is None or last < opens]


def caseload(s: Session, scope: Scope, query: Query, *, at: datetime, zone: tzinfo) -> Caseload:
    """The patients ``scope`` sees that ``query`` asks for, worst first. Every query selects
    its patients by the same subquery, not by a list of ids (2,000 bound parameters cost
    more than the query)."""
    where = _chosen(scope, query)
    chosen = select(Patient.id).where(*where)
    rows: dict[str, Row] = {}
    conditions: dict[str, list[Condition]] = {}
    for pid, name, nhs, team, stored, discharged in s.execute(
        select(
            Patient.id,
            Patient.display_name,
            Patient.nhs_number,
            Patient.team,
            Patient.conditions,
            Patient.discharged_at,
        ).where(*where)
    ):
        conditions[pid] = _conditions(stored)
        labels = [CONDITION_LABELS[c] for c in conditions[pid]]
        rows[pid] = Row(
            pid, name, formatted(nhs) if nhs else "", team, labels, discharged=discharged is not None
        )
    if not rows:
        return Caseload([])
    worst_rank: dict[str, tuple[int, float]] = {}
    for alert_id, pid, severity, summary, opened_at in s.execute(
        select(Alert.id, Alert.patient_id, Alert.severity, Alert.summary, Alert.opened_at).where(
            Alert.patient_id.in_(chosen), Alert.status != "resolved"
        )
    ):
        row = rows[pid]
        row.open_alerts += 1
        rank = (_SEVERITY_RANK.get(severity, 2), -opened_at.timestamp())
        if pid not in worst_rank or rank < worst_rank[pid]:
            worst_rank[pid] = rank
            row.worst, row.worst_summary, row.worst_alert_id = severity, summary, alert_id
    for pid, hub_id, status in s.execute(
        select(HubAssignment.patient_id, Hub.id, Hub.status)
        .join(Hub, Hub.id == HubAssignment.hub_id)
        .where(HubAssignment.patient_id.in_(chosen), HubAssignment.end_at.is_(None))
    ):
        rows[pid].hub_id, rows[pid].hub_status = hub_id, status
    # Each kind's last reading time is that of its values: a value always records the kind of
    # the reading that set it, so no scan of the ledger (years of readings) is needed.
    latest: dict[str, dict[str, _Latest]] = {}
    times: dict[str, dict[ReadingKind, datetime]] = {}
    recent = at - timedelta(days=LATEST_DAYS)
    for pid, measure, value, kind, taken, flagged in s.execute(
        select(
            LatestValue.patient_id,
            LatestValue.measure,
            LatestValue.value,
            LatestValue.kind,
            LatestValue.taken_at,
            LatestValue.flagged,
        ).where(LatestValue.patient_id.in_(chosen))
    ):
        if taken >= recent:  # older: history, not shown as the patient's state or scored
            latest.setdefault(pid, {})[measure] = _Latest(value, taken, flagged)
        mine = times.setdefault(pid, {})
        if kind in _KINDS and (ReadingKind(kind) not in mine or mine[ReadingKind(kind)] < taken):
            mine[ReadingKind(kind)] = taken
    rules = _rules(s, chosen, conditions)
    inputs: dict[str, list[float]] = {k: [] for k in HOME_PARAMETERS}
    scales: list[int] = []
    needed: list[int] = []  # the rule's min_parameters; 0: NEWS2 is off for the patient
    anchors: list[datetime | None] = []
    windows: dict[int, list[tuple[ReadingKind, datetime]]] = {}
    for pid, row in rows.items():
        mine = times.get(pid, {})
        row.last_reading_at = max(mine.values(), default=None)
        values = latest.get(pid, {})
        row.values = _values(rules[pid], values, at)
        if id(rules[pid]) not in windows:  # one rule set serves many patients
            windows[id(rules[pid])] = _opened_today(rules[pid], at, zone)
        # Only a patient with a hub can take a reading: one without (not yet given one, or
        # discharged) is shown as "No hub", not as a missed reading nobody can take.
        if row.hub_id and not row.discharged:
            row.missing_today = _missing_today(windows[id(rules[pid])], mine)
        news2 = rules[pid].news2
        scored, newest = _news2_inputs(rules[pid], values)
        for name in HOME_PARAMETERS:
            inputs[name].append(scored.get(name, float("nan")))
        scales.append(news2.spo2_scale)
        needed.append(news2.min_parameters if news2.enabled else 0)
        anchors.append(newest)
    _news2(list(rows.values()), inputs, scales, needed, anchors, at)
    shown = [r for r in rows.values() if _wanted(r, query.status)]
    shown.sort(key=Row.rank)
    return Caseload(shown)


def _wanted(row: Row, status: Status) -> bool:
    if status is Status.ALERTS:
        return row.open_alerts > 0
    if status is Status.OUT_OF_RANGE:
        return bool(row.out_of_range)
    if status is Status.NO_READING_TODAY:
        return bool(row.missing_today)
    if status is Status.HUB_OFFLINE:
        return row.hub_status != "online"
    return True
