"""What a patient's rules, now and with a proposed change, would have raised on their own
recent readings: the one replay behind the API's rule preview and the threshold page's
check step, so the figure a clinician reads before saving is the figure the API gives.

The replay itself is ``alerts.backtest`` (pure); this module reads the rules in force and
the stored readings, and counts what the backtest opens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from alerts.backtest import Opening, backtest, lookback_s
from alerts.lifecycle import Action
from alerts.ruleset.compiling import compile_rules
from alerts.ruleset.models import RuleSet
from alerts.ruleset.profiles import rules_for
from common.wire.vocabulary import Condition
from server.judging.readings import EngineRows
from server.store.influx.influxql import MAX_QUERY_LIMIT
from server.store.influx.schema import StoredReading
from server.store.influx.store import InfluxStore
from server.store.overrides import conditions_of, current_rules

#: How much history a preview replays unless asked otherwise.
DAYS = 90
NOTE = (
    "readings replayed hour by hour without hindsight; alerts resolved a day after opening; "
    "missed readings and hub silence are not replayed"
)


@dataclass(frozen=True, slots=True)
class Count:
    """What one rule set would have raised: alerts opened (by alert rule, and by the
    severity they opened at) and open alerts whose severity would have risen."""

    opened: int
    escalated: int
    by_rule: dict[str, int] = field(default_factory=dict)
    by_severity: dict[str, int] = field(default_factory=dict)


def count(openings: Sequence[Opening]) -> Count:
    opened = [o for o in openings if o.action is Action.OPEN]
    return Count(
        opened=len(opened),
        escalated=len(openings) - len(opened),
        by_rule=dict(Counter(o.alert_rule for o in opened)),
        by_severity=dict(Counter(o.severity.label for o in opened)),
    )


@dataclass(frozen=True, slots=True)
class RulesNow:
    """A patient's rules in force, with what a change is made on: their personal override's
    changes and their conditions (whose profiles sit under the override)."""

    current: RuleSet
    personal: dict[str, Any]
    conditions: list[Condition]

    def with_personal(self, changes: Mapping[str, Any]) -> RuleSet:
        """The rules the patient would be judged by with ``changes`` as their whole personal
        override (raises ``RuleSetError`` when they do not fit together)."""
        return rules_for(self.conditions, dict(changes))


def rules_now(s: Session, patient_id: str) -> RulesNow:
    current, history = current_rules(s, patient_id)
    conditions = conditions_of(s, [patient_id]).get(patient_id, [])
    return RulesNow(current, dict(history[0].changes) if history else {}, conditions)


def history(store: InfluxStore, patient_id: str, until: datetime, days: int = DAYS) -> list[StoredReading]:
    """The patient's readings of the last ``days`` before ``until``, oldest first (raises the
    store's errors: a preview without the readings is no preview)."""
    return store.query_readings(
        patient_id, since=until - timedelta(days=days), until=until, limit=MAX_QUERY_LIMIT
    )


def replay(rule_sets: Sequence[RuleSet], readings: Sequence[StoredReading]) -> list[Count]:
    """What each rule set would have raised on ``readings`` (one patient's)."""
    rows = EngineRows()
    for reading in readings:
        rows.add(0, reading.kind, reading.taken_at, reading.values, reading.flags)
    columns = rows.columns()
    return [count(backtest(compile_rules(rules, 1), columns, lookback_s(rules))) for rules in rule_sets]
