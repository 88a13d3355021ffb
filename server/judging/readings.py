"""Judge a batch of freshly stored readings with the full rule engine.

Trends and baselines need what came before, so each involved patient's recent readings are
read back from InfluxDB (once per patient per batch, far enough back for that patient's
longest rule) and handed with the patients' open alerts to ``alerts.judge.judge``; only the
batch itself can raise findings, and the judge decides what each does to the alerts. History is required, not optional: judging a weight without the days
before it would silently miss a heart-failure patient's fluid gain, so if InfluxDB cannot
be read the ``StoreUnavailable`` propagates and the message is delivered again later.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy.orm import Session

from alerts.backtest import lookback_s
from alerts.columns import ReadingColumns, flag_bit, kind_code, measure_code
from alerts.judge import judge
from alerts.ruleset.models import RuleSet
from common.wire.commands import RetakeReason, RetakeRequest
from common.wire.messages import Reading
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag
from server.hub_commands import retake_request
from server.judging.findings import PatientRules, utc_offset_s
from server.store.alerts import apply_finding, open_alerts
from server.store.influx.influxql import MAX_QUERY_LIMIT
from server.store.influx.schema import StoredReading

log = logging.getLogger(__name__)


_FLAG_BITS = {flag.value: flag_bit(flag) for flag in StatusFlag}


class HistorySource(Protocol):
    def query_readings(
        self,
        patient_id: str,
        kind: ReadingKind | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
        *,
        newest_first: bool = False,
    ) -> list[StoredReading]: ...


def lookback(rules: RuleSet) -> timedelta:
    """How far back a reading's judgement can look under these rules, plus a day's margin
    (``alerts.backtest.lookback_s``: the same span the preview and the evaluation read)."""
    return timedelta(seconds=lookback_s(rules))


@dataclass
class EngineRows:
    """Engine rows (one per measured value) built up reading by reading."""

    patient: list[int] = field(default_factory=list)
    time: list[int] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    measure: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)

    def add(
        self,
        patient: int,
        kind: ReadingKind,
        taken_at: datetime,
        values: dict[Measure, float],
        flags: Sequence[str],
    ) -> int:
        """Append one reading; returns how many rows it became."""
        bits = 0
        for flag in flags:
            bits |= _FLAG_BITS.get(flag, 0)  # a flag this server does not know judges nothing
        for measure, value in values.items():
            self.patient.append(patient)
            self.time.append(int(taken_at.timestamp()))
            self.kind.append(kind_code(kind))
            self.measure.append(measure_code(measure))
            self.value.append(value)
            self.flags.append(bits)
        return len(values)

    def columns(self) -> ReadingColumns:
        return ReadingColumns(
            patient=np.array(self.patient, dtype=np.int32),
            time=np.array(self.time, dtype=np.int64),
            kind=np.array(self.kind, dtype=np.int8),
            measure=np.array(self.measure, dtype=np.int8),
            value=np.array(self.value, dtype=np.float64),
            flags=np.array(self.flags, dtype=np.uint32),
        )


def _values(reading: Reading) -> dict[Measure, float]:
    return {measure: q.value for measure, q in reading.values.items()}


@dataclass
class Judged:
    """What judging a batch did: the alerts it opened, raised or added evidence to, and the
    retakes the hub should ask for."""

    alerts: list[int] = field(default_factory=list)
    retakes: list[RetakeRequest] = field(default_factory=list)


#: A retake is asked for only while the patient may still be beside the device: a reading
#: that arrives late (a hub back from an outage) is not worth a prompt about.
RETAKE_FRESH_FOR = timedelta(minutes=15)


class Judge:
    """Turns fresh readings into alert changes inside the ingest transaction."""

    def __init__(self, history: HistorySource, tz: ZoneInfo) -> None:
        self.history = history
        self.tz = tz

    def __call__(
        self, s: Session, fresh: Sequence[tuple[str, Reading]], at: datetime, hub_id: str | None = None
    ) -> Judged:
        """Load the rules, open alerts and history these readings need; judge; store."""
        out = Judged()
        if not fresh:
            return out
        rules = PatientRules.load(s, (patient_id for patient_id, _ in fresh))
        index = rules.index()
        batch = EngineRows()
        triggers: list[tuple[Reading, float]] = []  # per batch row: its reading and value
        for patient_id, reading in fresh:
            values = _values(reading)
            batch.add(index[patient_id], reading.kind, reading.taken_at, values, reading.flags)
            triggers.extend((reading, value) for value in values.values())
        history = self._history(rules, fresh)
        judgement = judge(
            rules.table(),
            batch.columns(),
            history.columns(),
            open_alerts={
                (index[patient_id], rule_id): severity
                for patient_id, rule_id, severity in open_alerts(s, rules.patients)
            },
            utc_offset_s=utc_offset_s(self.tz, at),
        )
        for decision in judgement.decisions:
            record = decision.finding
            assert record.reading is not None  # no clock findings without a tick
            reading, value = triggers[record.reading]
            patient_id = rules.patients[record.patient]
            alert = apply_finding(
                s,
                patient_id=patient_id,
                rule_id=decision.alert_rule,
                severity=record.severity,
                reading_id=str(reading.reading_id),
                summary=rules.summary(record, patient_id, self.tz, value),
                at=at,
            )
            if alert is not None and alert.id not in out.alerts:
                out.alerts.append(alert.id)
        if hub_id is not None:
            for record in judgement.retakes:
                assert record.reading is not None
                reading, _ = triggers[record.reading]
                if reading.taken_at >= at - RETAKE_FRESH_FOR:
                    reason = (
                        RetakeReason.QUALITY_FLAG
                        if record.reason == "retake_flagged"
                        else RetakeReason.OUT_OF_RANGE
                    )
                    out.retakes.append(
                        retake_request(
                            hub_id, reading.reading_id, reading.kind, reason, retake_after_s=int(record.value)
                        )
                    )
        return out

    def _history(self, rules: PatientRules, fresh: Sequence[tuple[str, Reading]]) -> EngineRows:
        """Each patient's readings from before the batch (and not in it), read once."""
        in_batch = {reading.reading_id for _, reading in fresh}
        rows = EngineRows()
        for patient, patient_id in enumerate(rules.patients):
            times = [reading.taken_at for pid, reading in fresh if pid == patient_id]
            since = min(times) - lookback(rules.of(patient_id))
            until = max(times) + timedelta(seconds=1)
            stored = self.history.query_readings(
                patient_id, since=since, until=until, limit=MAX_QUERY_LIMIT, newest_first=True
            )
            if len(stored) == MAX_QUERY_LIMIT:
                log.warning(
                    "patient %s: history truncated to the newest %d readings", patient_id, len(stored)
                )
            for old in stored:
                if old.reading_id not in in_batch:
                    rows.add(patient, old.kind, old.taken_at, old.values, old.flags)
        return rows
