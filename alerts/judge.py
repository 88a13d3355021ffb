"""One pure judging step: readings, history, rules, the clock and the open alerts in; the
findings and what each does to the patient's alerts out.

The live server (on arriving readings and on its clock tick), the cohort evaluation and the
"what would this change have raised" preview all call this one function, so they cannot
disagree about clinical policy: which alert a finding belongs to (``alert_rule_id``), the
order evidence is applied in, whether a missed-reading schedule applies to a patient, how a
clock finding is recognised when it comes back on the next tick, and what is a retake
request rather than an alert. The server only loads what this needs and stores what it says.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.columns import KINDS, NEVER, FindingRecord, Findings, ReadingColumns, kind_code
from alerts.engine import evaluate
from alerts.lifecycle import Action, alert_rule_id, decide
from alerts.rules.table import HUB_SILENCE_ID, RETAKE_ID, RuleTable
from alerts.severity import Severity
from common.wire.vocabulary import ReadingKind

__all__ = ["AlertDecision", "Judgement", "clock_evidence", "judge", "no_reading_yet"]

_MISSED_PREFIX: Final = "missed."


@dataclass(frozen=True, slots=True)
class AlertDecision:
    """What one finding does: open the patient's alert for ``alert_rule``, raise its severity,
    or attach to it as evidence. ``evidence`` is the batch row (``finding.reading``) or, for a
    clock finding, its occurrence key (``clock_evidence``)."""

    patient: int
    alert_rule: str
    action: Action
    severity: Severity  # the alert's severity after this decision
    finding: FindingRecord
    evidence: str | None


@dataclass(frozen=True, slots=True)
class Judgement:
    findings: Findings  # every finding, one per offending reading and rule
    decisions: tuple[AlertDecision, ...]  # in the order they must be applied
    retakes: tuple[FindingRecord, ...]  # readings the hub should ask the patient to retake


def clock_evidence(record: FindingRecord, last_of_kind: int = NEVER) -> str:
    """What identifies one occurrence of a clock finding, which comes back on every tick until
    it clears: a silence by when it began, a run of missed readings by the last reading before
    it (``last_of_kind``), so a patient who stops weighing for a week is one alert, not one
    a day, and a clinician who resolved it is not asked again until the next run. Fits the
    36-character evidence column and reads well in the API."""
    if record.rule_id == HUB_SILENCE_ID:
        return f"silent-since:{_iso(record.time - int(record.value))}"
    return "missed-after:" + ("never" if last_of_kind == NEVER else _iso(last_of_kind))


def _iso(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _expected(
    record: FindingRecord, last: npt.NDArray[np.int64] | None, explicit: Collection[ReadingKind]
) -> bool:
    """Is the patient expected to send this kind at all? The default schedules (a morning
    weight) suit most heart-failure patients but not a COPD patient with no scale, who would
    otherwise get a "missed weight" alert every day: so a schedule applies to a kind the
    patient has sent before, or one a clinician set for them explicitly."""
    if not record.rule_id.startswith(_MISSED_PREFIX):
        return True
    kind = ReadingKind.named(record.rule_id.removeprefix(_MISSED_PREFIX))
    if kind is None:
        return True
    if last is not None and last[kind_code(kind)] != NEVER:
        return True
    return kind in explicit


def _last_of_kind(record: FindingRecord, last: npt.NDArray[np.int64] | None) -> int:
    kind = ReadingKind.named(record.rule_id.removeprefix(_MISSED_PREFIX))
    if kind is None or last is None:
        return NEVER
    return int(last[kind_code(kind)])


def judge(
    rules: RuleTable,
    batch: ReadingColumns,
    history: ReadingColumns | None = None,
    *,
    open_alerts: Mapping[tuple[int, str], Severity] | None = None,
    tick: int | None = None,
    utc_offset_s: npt.ArrayLike = 0,
    last_reading: npt.NDArray[np.int64] | None = None,
    last_hub_contact: npt.ArrayLike | None = None,
    explicit_schedules: Mapping[int, Collection[ReadingKind]] | None = None,
    reported: Collection[tuple[int, str, str]] = (),
) -> Judgement:
    """Judge ``batch`` (and, with ``tick``, the clock) and decide the alerts.

    ``open_alerts`` maps (patient, alert rule) to the severity of that patient's open alert;
    ``reported`` holds (patient, alert rule, evidence) already recorded, so a clock finding
    that is back on the next tick, or came back after a clinician resolved it, does nothing.
    Within a patient's alert the strongest finding goes first, then by time: a backlog
    arriving at once opens (or raises) the alert once and the rest attach to it.
    """
    findings = evaluate(
        rules,
        batch,
        history,
        tick=tick,
        utc_offset_s=utc_offset_s,
        last_reading=last_reading,
        last_hub_contact=last_hub_contact,
    )
    explicit = explicit_schedules or {}
    seen = set(reported)
    alerts = dict(open_alerts or {})
    candidates: list[tuple[str, FindingRecord, str | None]] = []
    retakes: list[FindingRecord] = []
    for record in findings.records():
        if record.rule_id == RETAKE_ID:
            retakes.append(record)
            continue
        evidence = None
        if record.reading is None:
            last = None if last_reading is None else last_reading[record.patient]
            if not _expected(record, last, explicit.get(record.patient, ())):
                continue
            evidence = clock_evidence(record, _last_of_kind(record, last))
        candidates.append((alert_rule_id(record.rule_id), record, evidence))
    candidates.sort(
        key=lambda c: (
            c[1].patient,
            c[0],
            -c[1].severity,
            c[1].time,
            -1 if c[1].reading is None else c[1].reading,
        )
    )
    decisions: list[AlertDecision] = []
    judged_readings: set[tuple[int, str, int]] = set()
    for alert_rule, record, evidence in candidates:
        key = (record.patient, alert_rule)
        if evidence is None:
            # One piece of evidence per reading and alert: a BP reading's high systolic and
            # high diastolic (rows of one reading share its time) are one blood-pressure
            # alert, at the stronger severity, which sorts first.
            if (record.patient, alert_rule, record.time) in judged_readings:
                continue
            judged_readings.add((record.patient, alert_rule, record.time))
        else:
            if (record.patient, alert_rule, evidence) in seen:
                continue
            seen.add((record.patient, alert_rule, evidence))
        decision = decide(alerts.get(key), record.severity)
        if decision is None:
            continue
        alerts[key] = decision.severity
        decisions.append(
            AlertDecision(record.patient, alert_rule, decision.action, decision.severity, record, evidence)
        )
    return Judgement(findings, tuple(decisions), tuple(retakes))


def no_reading_yet(n_patients: int) -> npt.NDArray[np.int64]:
    """A ``last_reading`` array for patients who have sent nothing."""
    return np.full((n_patients, len(KINDS)), NEVER, dtype=np.int64)
