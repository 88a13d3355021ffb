"""An alert's life: which alert a finding belongs to, what a new finding does to it, and
the states a clinician moves it through.

One open alert per patient and clinical question. Later findings attach to the open alert
as evidence; severity may rise but never silently fall (a lower reading does not make an
unreviewed red alert look amber). Pure decision logic: the server applies it inside its
database transaction, and the cohort evaluation replays it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from alerts.severity import Severity
from common.wire.vocabulary import KIND_REQUIRED, Measure, ReadingKind


class Action(StrEnum):
    OPEN = "open"  # no open alert for this patient and rule: raise one
    ATTACH = "attach"  # add as evidence, severity unchanged
    ESCALATE = "escalate"  # add as evidence and raise the alert's severity


class AlertState(StrEnum):
    """Where an alert is in its review; the values are what the server stores."""

    OPEN = "open"  # raised, nobody has taken it yet
    ACKNOWLEDGED = "acknowledged"  # a clinician has seen it and owns it
    RESOLVED = "resolved"  # closed with an outcome; a new finding opens a new alert

    @property
    def is_open(self) -> bool:
        """Open for new evidence: an acknowledged alert still collects what follows."""
        return self is not AlertState.RESOLVED


class AlertTransitionError(ValueError):
    """A change the alert's current state does not allow (e.g. resolving twice)."""


#: Who may move an alert where. A worse finding re-opens an acknowledged alert (it needs a
#: fresh look); nothing leaves RESOLVED.
TRANSITIONS: Final = MappingProxyType(
    {
        AlertState.OPEN: frozenset({AlertState.ACKNOWLEDGED, AlertState.RESOLVED}),
        AlertState.ACKNOWLEDGED: frozenset({AlertState.OPEN, AlertState.RESOLVED}),
        AlertState.RESOLVED: frozenset[AlertState](),
    }
)


def transition(current: AlertState, to: AlertState) -> AlertState:
    """``to`` if the move is allowed; staying put (acknowledging twice) is always allowed."""
    if to is current or to in TRANSITIONS[current]:
        return to
    raise AlertTransitionError(f"an alert cannot go from {current} to {to}")


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    severity: Severity


def decide(open_severity: Severity | None, finding: Severity) -> Decision | None:
    """None when the finding is not an alert at all."""
    if finding is Severity.NONE:
        return None
    if open_severity is None:
        return Decision(Action.OPEN, finding)
    if finding > open_severity:
        return Decision(Action.ESCALATE, finding)
    return Decision(Action.ATTACH, open_severity)


#: Engine rules that answer the same clinical question share one alert.
_ALERT_RULE: Final = MappingProxyType(
    {
        "threshold.systolic": "threshold.blood_pressure",
        "threshold.diastolic": "threshold.blood_pressure",
        "average.systolic": "threshold.blood_pressure",
        "average.diastolic": "threshold.blood_pressure",
        "trend.weight_gain_week": "trend.weight_gain",
    }
)


def alert_rule_id(engine_rule_id: str) -> str:
    """The alert a finding belongs to: one blood-pressure alert (a reading or an average, high
    or low, systolic or diastolic), one weight-gain alert whichever window saw it."""
    return _ALERT_RULE.get(engine_rule_id, engine_rule_id)


#: Alert rules named after something other than the one measure they judge.
_RULE_MEASURES: Final = MappingProxyType(
    {
        "blood_pressure": KIND_REQUIRED[ReadingKind.BLOOD_PRESSURE],
        "weight_gain": frozenset({Measure.WEIGHT}),
        "irregular_pulse": frozenset({Measure.PULSE}),
    }
)


def measures_judged(alert_rule: str) -> frozenset[Measure] | None:
    """The measures an alert of this rule is about, so a chart marks its readings on those
    lines only (an SpO2 alert's reading carries a pulse too, and that pulse raised nothing).
    None when the rule judges the reading as a whole (NEWS2) or is not known here."""
    name = alert_rule.partition(".")[2]
    if name in _RULE_MEASURES:
        return _RULE_MEASURES[name]
    try:
        return frozenset({Measure(name)})
    except ValueError:
        return None
