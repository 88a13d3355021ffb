"""What a patient's rules would have raised on their own history: the preview a clinician
sees before saving a threshold ("this change would have raised 3 alerts in the last 90
days, against 11 now").

The readings are replayed as the live server meets them, never with hindsight: hour by
hour in the order they were taken, each hour's readings one batch judged by
``alerts.judge.judge`` against only what came before (within the rules' lookback), with one
open alert per alert rule that a clinician reviews and resolves ``review_delay_s`` after it
opened. Clock rules (missed readings, a silent hub) are not replayed: they depend on when
readings arrived, which the history does not say. Pure: NumPy in, openings out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from alerts.columns import ReadingColumns
from alerts.judge import judge
from alerts.lifecycle import Action
from alerts.rules.table import RuleTable
from alerts.ruleset.models import RuleSet
from alerts.severity import Severity

__all__ = ["REVIEW_DELAY_S", "Opening", "backtest", "lookback_s"]

HOUR: Final = 3600
DAY: Final = 86400
#: A stated review delay: an alert is resolved a day after it opened.
REVIEW_DELAY_S: Final = DAY


def lookback_s(rules: RuleSet) -> int:
    """How far back a reading's judgement can look under these rules, plus a day's margin
    (the server reads this much history for each patient in a batch)."""
    days = [
        rules.weight_gain.window.days,
        rules.weight_gain.week.days,
        rules.weight_gain.daily.consecutive_days + 1,
    ]
    days += [base.days for base in rules.baselines.values() if base.enabled]
    days += [average.days for average in rules.averages.values() if average.enabled]
    return (max(days) + 1) * DAY


@dataclass(frozen=True, slots=True)
class Opening:
    """An alert the rules would have opened (or raised in severity)."""

    at: int  # Unix seconds: the end of the hour whose readings raised it
    alert_rule: str
    severity: Severity
    action: Action
    reading_time: int


def backtest(
    rules: RuleTable, readings: ReadingColumns, lookback: int, *, review_delay_s: int = REVIEW_DELAY_S
) -> list[Opening]:
    """Every alert one patient's (index 0) ``readings`` would have opened or escalated."""
    if rules.n_patients != 1:
        raise ValueError("backtest judges one patient: compile the rules for one")
    if len(readings.time) == 0:
        return []  # no history, nothing raised (and no first hour to start from)
    order = np.argsort(readings.time, kind="stable")
    time = readings.time[order]
    columns = _take(readings, order)
    hours = time // HOUR
    cuts = np.flatnonzero(np.diff(hours)) + 1
    starts = np.concatenate(([0], cuts)).astype(np.int64)
    stops = np.concatenate((cuts, [len(time)])).astype(np.int64)
    open_alerts: dict[str, tuple[Severity, int]] = {}
    out: list[Opening] = []
    for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
        now = (int(hours[start]) + 1) * HOUR
        first = int(np.searchsorted(time, int(time[start]) - lookback, side="left"))
        for rule, (_, opened) in list(open_alerts.items()):
            if now >= opened + review_delay_s:
                del open_alerts[rule]  # reviewed and resolved: the next finding is a new alert
        judgement = judge(
            rules,
            _take(columns, np.arange(start, stop)),
            _take(columns, np.arange(first, start)),
            open_alerts={(0, rule): severity for rule, (severity, _) in open_alerts.items()},
        )
        for decision in judgement.decisions:
            if decision.action is Action.ATTACH:
                continue
            opened = now if decision.action is Action.OPEN else open_alerts[decision.alert_rule][1]
            open_alerts[decision.alert_rule] = (decision.severity, opened)
            out.append(
                Opening(now, decision.alert_rule, decision.severity, decision.action, decision.finding.time)
            )
    return out


def _take(columns: ReadingColumns, rows: np.ndarray) -> ReadingColumns:
    return replace(
        columns,
        patient=columns.patient[rows],
        time=columns.time[rows],
        kind=columns.kind[rows],
        measure=columns.measure[rows],
        value=columns.value[rows],
        flags=columns.flags[rows],
    )
