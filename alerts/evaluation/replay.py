"""Replay a cohort through the engine and the alert lifecycle exactly as the live server
would have met it: never with hindsight.

Readings are judged in order of *arrival*, hour by hour: each hour's arrivals are one engine
batch (all patients at once), with as history only what had already arrived and was taken
within the lookback window (``server/judging/readings.py``'s ``lookback``: the longest rule
window plus a day). A reading delayed by a hub outage is therefore judged late, against the
history the server had then, and is missing from the history of everything judged before it
arrived. After each batch the clock ticks (missed readings, silent hubs). Findings go through
``alerts.lifecycle``: one open alert per patient and alert rule, later findings attach or
escalate, and each alert is reviewed and resolved ``review_delay_s`` after it opened.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from alerts.backtest import lookback_s
from alerts.columns import KINDS, NEVER, ReadingColumns
from alerts.engine import evaluate
from alerts.evaluation.alert_log import AlertLog
from alerts.evaluation.cohort import Cohort
from alerts.evaluation.profiles import RulesFor, rules_for
from alerts.lifecycle import Action, alert_rule_id, decide
from alerts.rules.table import RuleTable
from alerts.ruleset.compiling import compile_rules
from alerts.ruleset.loading import default_ruleset
from alerts.ruleset.models import RuleSet
from alerts.severity import Severity
from common.wire.vocabulary import ReadingKind

__all__ = ["Event", "clock_events", "lookback_s", "replay", "rule_table"]

HOUR: Final = 3600
DAY: Final = 86400
REVIEW_DELAY_S: Final = 24 * HOUR
_SPAN: Final = 1 << 36  # packs (patient, time) into one sortable int64
#: (server time, 0 batch / 1 tick, finding time, engine rule, patient, severity, reading id, artefact)
Event = tuple[int, int, int, str, int, int, int, int]


def rule_table(rulesets: list[RuleSet]) -> RuleTable:
    """Compile per-patient rule sets, the most common one as the defaults."""
    distinct: list[RuleSet] = []
    which: list[int] = []
    for ruleset in rulesets:
        for i, known in enumerate(distinct):
            if known is ruleset or known == ruleset:
                which.append(i)
                break
        else:
            distinct.append(ruleset)
            which.append(len(distinct) - 1)
    common = int(np.bincount(which).argmax()) if which else 0
    defaults = distinct[common] if distinct else default_ruleset()
    overrides = {p: distinct[w] for p, w in enumerate(which) if w != common}
    return compile_rules(defaults, len(rulesets), overrides)


class _Lifecycle:
    """Open alerts per (patient, alert rule), each resolved ``review_delay_s`` after opening."""

    def __init__(self, review_delay_s: int) -> None:
        self.review_delay_s = review_delay_s
        self.open: dict[tuple[int, str], tuple[Severity, int]] = {}
        self.events: list[tuple[int, int, str, str, Action, int, int, int]] = []
        self.attached = 0

    def apply(
        self, patient: int, engine_rule: str, severity: Severity, at: int, reading: int, artefact: int
    ) -> None:
        rule = alert_rule_id(engine_rule)
        held = self.open.get((patient, rule))
        if held is not None and at >= held[1] + self.review_delay_s:
            held = None  # reviewed and resolved: the next finding is a new alert
        decision = decide(None if held is None else held[0], severity)
        if decision is None:
            return
        if decision.action is Action.ATTACH:
            self.attached += 1
            return
        opened_at = at if held is None else held[1]
        self.open[(patient, rule)] = (decision.severity, opened_at)
        self.events.append(
            (patient, at, rule, engine_rule, decision.action, int(decision.severity), reading, artefact)
        )

    def log(self) -> AlertLog:
        events = sorted(self.events, key=lambda e: e[1])  # stable: same-time events keep order
        return AlertLog(
            patient=np.array([e[0] for e in events], dtype=np.int64),
            time=np.array([e[1] for e in events], dtype=np.int64),
            rule=tuple(e[2] for e in events),
            engine_rule=tuple(e[3] for e in events),
            action=tuple(e[4] for e in events),
            severity=np.array([e[5] for e in events], dtype=np.int8),
            reading=np.array([e[6] for e in events], dtype=np.int64),
            artefact=np.array([e[7] for e in events], dtype=np.int8),
            attached=self.attached,
        )


def _ranges(lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The concatenation of ``range(lo[i], hi[i])`` for all i, without a Python loop."""
    length = np.maximum(hi - lo, 0)
    total = int(length.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(lo - np.concatenate(([0], np.cumsum(length)[:-1])), length)
    return starts + np.arange(total, dtype=np.int64)


def _expected(rulesets: list[RuleSet]) -> dict[tuple[int, ReadingKind], bool]:
    """Schedules a clinician set explicitly (the server's ``expects``): a kind named in a
    patient's rules that the defaults do not name in the same way."""
    defaults = default_ruleset().missed_readings
    return {
        (p, kind): True
        for p, ruleset in enumerate(rulesets)
        for kind, schedule in ruleset.missed_readings.items()
        if defaults.get(kind) != schedule
    }


def _virtual(table: RuleTable, patients: npt.NDArray[np.int64]) -> RuleTable:
    """The table for "virtual patients": entry v has the rules of patient ``patients[v]``.

    Every parameter is a per-patient array, so indexing each one with ``patients`` gives a
    table in which several batches of one patient can be judged side by side, each with its
    own history, in one engine call.
    """

    def indexed(value: Any) -> Any:
        if isinstance(value, np.ndarray) and value.shape[:1] == (table.n_patients,):
            return value[patients]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: indexed(getattr(value, f.name)) for f in dataclasses.fields(value)}
            return dataclasses.replace(value, **fields)
        if isinstance(value, tuple):
            return tuple(indexed(item) for item in value)
        return value  # a measure, a kind, a rule id: the same for every patient

    changes = {f.name: indexed(getattr(table, f.name)) for f in dataclasses.fields(table)}
    changes["n_patients"] = len(patients)
    return dataclasses.replace(table, **changes)


#: Batches judged in one engine call: bounded so memory stays flat on a big cohort.
_GROUPS_PER_CALL: Final = 4000
#: Hourly ticks judged in one engine call (as virtual patients, see ``_clock_events``).
_TICKS_PER_CALL: Final = 24


def _batch_events(cohort: Cohort, table: RuleTable, lookback: npt.NDArray[np.int64]) -> list[Event]:
    """Findings on arriving readings, per hourly batch, as the server makes them.

    A batch is one patient's readings that arrived in one hour; its history is what of that
    patient had arrived in earlier hours and was taken from ``lookback`` before the batch's
    earliest reading up to its latest (the server's query). Many batches go to the engine at
    once as virtual patients (``_virtual``): the engine judges patients independently, so
    this gives exactly the findings of one call per hour, far faster.
    """
    r = cohort.readings
    n = cohort.n_patients
    patient = r.patient.astype(np.int64)
    key = patient * _SPAN + r.taken_at  # rows are sorted by patient, then time taken
    arrival_hour = (r.arrives_at - cohort.start) // HOUR
    group_of_row = arrival_hour * n + patient
    order = np.lexsort((np.arange(len(r)), group_of_row))
    groups, first = np.unique(group_of_row[order], return_index=True)
    bounds = np.append(first, len(order))
    events: list[Event] = []
    for g0 in range(0, len(groups), _GROUPS_PER_CALL):
        g1 = min(g0 + _GROUPS_PER_CALL, len(groups))
        who = groups[g0:g1] % n
        hour = groups[g0:g1] // n
        batch = order[bounds[g0] : bounds[g1]]
        size = np.diff(bounds[g0 : g1 + 1])
        virtual = np.repeat(np.arange(g1 - g0), size)
        starts = bounds[g0:g1] - bounds[g0]
        earliest = np.minimum.reduceat(r.taken_at[batch], starts)
        latest = np.maximum.reduceat(r.taken_at[batch], starts)
        lo = np.searchsorted(key, who * _SPAN + earliest - lookback[who])
        hi = np.searchsorted(key, who * _SPAN + latest + 1)
        history = _ranges(lo, hi)
        owner = np.repeat(np.arange(g1 - g0), np.maximum(hi - lo, 0))
        before = arrival_hour[history] < hour[owner]  # only what had already arrived
        history, owner = history[before], owner[before]
        columns = dataclasses.replace(r.columns(batch), patient=virtual.astype(np.int32))
        past = dataclasses.replace(r.columns(history), patient=owner.astype(np.int32))
        findings = evaluate(_virtual(table, who), columns, past)
        for v, rule, severity, time, reading in zip(
            findings.patient.tolist(),
            findings.rule.tolist(),
            findings.severity.tolist(),
            findings.time.tolist(),
            findings.reading.tolist(),
            strict=True,
        ):
            row = int(batch[reading])
            now = cohort.start + (int(hour[v]) + 1) * HOUR
            rule_id = findings.rule_ids[rule]
            events.append(
                (now, 0, time, rule_id, int(who[v]), severity, int(r.reading[row]), int(r.artefact[row]))
            )
    return events


def clock_events(cohort: Cohort, rules: RulesFor = rules_for) -> list[Event]:
    """The clock's findings under ``rules``: computed once and handed to several replays
    whose rule variants leave the schedules and hub silence alone (the sweeps)."""
    rulesets = [rules(cohort.conditions(p)) for p in range(cohort.n_patients)]
    return _clock_events(cohort, rule_table(rulesets), rulesets)


def _clock_events(cohort: Cohort, table: RuleTable, rulesets: list[RuleSet]) -> list[Event]:
    """Findings of the hourly clock tick: missed readings (only of kinds the patient has
    sent, or was explicitly asked for: the server's ``expects``) and hub silence, each
    occurrence once (the server keys them by deadline, or by when the silence began).

    A day of ticks goes to the engine in one call: the clock rules see the tick only as
    local time (tick + UTC offset) and as time since the last reading or contact, so a
    patient judged at hour h is a virtual patient whose offset is h's distance from the
    call's tick and whose last-reading and contact times are moved by the same amount.
    ``tests/alerts/test_evaluation_replay.py`` checks this against one call per hour.
    """
    r = cohort.readings
    n = cohort.n_patients
    explicit = _expected(rulesets)
    kind_index = {kind: i for i, kind in enumerate(KINDS)}
    arrival_hour = (r.arrives_at - cohort.start) // HOUR
    by_arrival = np.argsort(arrival_hour, kind="stable")
    ticks = cohort.days * 24
    hour_bounds = np.searchsorted(arrival_hour[by_arrival], np.arange(ticks + 1))
    last_reading = np.full((n, len(KINDS)), NEVER, dtype=np.int64)
    outages = cohort.outages
    empty = ReadingColumns.empty()
    seen: set[tuple[int, str, int]] = set()
    events: list[Event] = []
    if not (any(s.enabled.any() for s in table.schedules) or table.hub_silence.enabled.any()):
        return events  # no clock rule for anyone: every tick would find nothing
    for h0 in range(0, ticks, _TICKS_PER_CALL):
        hours = range(h0, min(h0 + _TICKS_PER_CALL, ticks))
        snapshots, contacts = [], []
        for hour in hours:
            now = cohort.start + (hour + 1) * HOUR
            arrived = by_arrival[hour_bounds[hour] : hour_bounds[hour + 1]]
            np.maximum.at(
                last_reading, (r.patient[arrived], r.kind[arrived].astype(np.int64)), r.taken_at[arrived]
            )
            snapshots.append(last_reading.copy())
            contact = np.full(n, now, dtype=np.int64)
            down = (outages.start <= now) & (now < outages.end)
            contact[outages.patient[down]] = outages.start[down]
            contacts.append(contact)
        # Virtual patient v = (hour v // n, patient v % n). The engine sees one tick, the
        # last; each virtual patient's clock is set back to its own hour by a UTC offset,
        # and its times shifted with it, so each judges exactly as its own tick would.
        tick = cohort.start + hours[-1] * HOUR + HOUR
        now_v = cohort.start + (np.repeat(np.array(hours), n) + 1) * HOUR
        offset = now_v - tick
        last_v = np.concatenate(snapshots)
        last_v = np.where(last_v == NEVER, NEVER, last_v - offset[:, None])
        contact_v = np.concatenate(contacts) - offset
        patients = np.tile(np.arange(n), len(hours))
        clock = evaluate(
            _virtual(table, patients),
            empty,
            None,
            tick=tick,
            utc_offset_s=offset,
            last_reading=last_v,
            last_hub_contact=contact_v,
        )
        found = sorted(
            zip(
                clock.patient.tolist(),
                clock.rule.tolist(),
                clock.severity.tolist(),
                clock.time.tolist(),
                clock.value.tolist(),
                strict=True,
            )
        )  # virtual patients are hour-major, so this is hour by hour
        for v, rule, severity, shifted, value in found:
            p, now, time = v % n, int(now_v[v]), shifted + int(offset[v])
            rule_id = clock.rule_ids[rule]
            evidence = time - int(value)  # a silence: when it began
            if rule_id.startswith("missed."):
                kind = ReadingKind(rule_id.removeprefix("missed."))
                last = int(snapshots[v // n][p, kind_index[kind]])
                if last == NEVER and not explicit.get((p, kind)):
                    continue
                evidence = last  # a run of missed readings: the last reading before it
            if (p, rule_id, evidence) in seen:
                continue
            seen.add((p, rule_id, evidence))
            events.append((now, 1, time, rule_id, p, severity, -1, 0))
    return events


def replay(
    cohort: Cohort,
    rules: RulesFor = rules_for,
    review_delay_s: int = REVIEW_DELAY_S,
    clock: list[Event] | None = None,
) -> AlertLog:
    """Every alert the server would have raised on ``cohort`` under ``rules``.

    Within an hour the batch is judged before the tick, and each one's findings are applied
    in time order (the stronger first on a tie, as the server does), one by one, whether the engine returns one finding per patient and rule
    or one per offending reading. ``clock``: the tick's findings from ``clock_events``, if
    already computed under the same schedules and hub-silence rules.
    """
    n = cohort.n_patients
    rulesets = [rules(cohort.conditions(p)) for p in range(n)]
    table = rule_table(rulesets)
    lookback = np.array([lookback_s(r) for r in rulesets], dtype=np.int64)
    if clock is None:
        clock = _clock_events(cohort, table, rulesets)
    events = _batch_events(cohort, table, lookback) + clock
    events.sort(key=lambda e: (e[0], e[1], e[2], -e[5], e[4], e[3]))
    life = _Lifecycle(review_delay_s)
    for now, _, _, rule_id, patient, severity, reading, artefact in events:
        life.apply(patient, rule_id, Severity(severity), now, reading, artefact)
    return life.log()
