"""The alert engine: every rule over a batch of new readings and each patient's recent window.

The server calls ``evaluate`` with the readings that just arrived (``batch``), the recent
readings it already holds for the same patients (``history``: at least the longest rule
window, 14 days by default, plus a few readings for persistence), and on its clock tick the
tick time. Only batch readings raise findings; history is context. The result holds one
finding per offending batch reading and rule, so a full re-evaluation of a patient's
history says what each rule would have raised and when (a clinician trying a threshold
needs exactly that); the lifecycle (``alerts.lifecycle``, applied by ``alerts.judge``)
turns a burst of findings into one alert per patient and clinical question.

Pure: NumPy in, NumPy out, no I/O; the oracle is ``alerts.reference.rules``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.columns import (
    KINDS,
    NEVER,
    REASON_CODE,
    Findings,
    ReadingColumns,
    kind_code,
)
from alerts.rules import averages, baseline, device_flags, missed, news2_home, quality, thresholds, trends
from alerts.rules.series import BoolArray, FloatArray, IntArray, Series
from alerts.rules.table import (
    HUB_SILENCE_ID,
    IRREGULAR_PULSE_ID,
    NEWS2_ID,
    RETAKE_ID,
    WEIGHT_GAIN_DAILY_ID,
    WEIGHT_GAIN_WEEK_ID,
    WEIGHT_GAIN_WINDOW_ID,
    RuleTable,
)
from alerts.sorted_readings import SortedReadings, concatenated
from common.wire.vocabulary import Measure, ReadingKind

__all__ = ["evaluate"]

_NEWS2_AGGREGATE: Final[int] = REASON_CODE["news2_aggregate"]
_NEWS2_SINGLE: Final[int] = REASON_CODE["news2_single_parameter"]
_RETAKE_FLAGGED: Final[int] = REASON_CODE["retake_flagged"]
_RETAKE_OUT_OF_RANGE: Final[int] = REASON_CODE["retake_out_of_range"]


@dataclass(slots=True)
class _Candidates:
    """Findings as they are found, rule by rule, before the one sort that orders them."""

    patient: list[IntArray] = field(default_factory=list)
    rule: list[IntArray] = field(default_factory=list)
    severity: list[npt.NDArray[np.int8]] = field(default_factory=list)
    time: list[IntArray] = field(default_factory=list)
    reading: list[IntArray] = field(default_factory=list)
    reason: list[npt.NDArray[np.int8]] = field(default_factory=list)
    value: list[FloatArray] = field(default_factory=list)

    def add(
        self,
        rule: int,
        patient: IntArray,
        severity: npt.NDArray[np.int8],
        time: IntArray,
        reading: IntArray,
        reason: npt.NDArray[np.int8] | int,
        value: npt.ArrayLike,
    ) -> None:
        n = len(patient)
        if n == 0:
            return
        self.patient.append(patient.astype(np.int64, copy=False))
        self.rule.append(np.full(n, rule, dtype=np.int64))
        self.severity.append(severity.astype(np.int8, copy=False))
        self.time.append(time.astype(np.int64, copy=False))
        self.reading.append(reading.astype(np.int64, copy=False))
        self.reason.append(np.broadcast_to(np.asarray(reason, dtype=np.int8), (n,)))
        self.value.append(np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)))

    def add_rows(
        self,
        rule: int,
        series: Series,
        severity: npt.NDArray[np.int8],
        reason: npt.NDArray[np.int8] | int,
        value: FloatArray,
        n_history: int,
    ) -> None:
        """Keep every new row that fired: each offending reading is a finding of its own."""
        rows = np.flatnonzero(series.new & (severity > 0))
        if len(rows) == 0:
            return
        reasons = reason if isinstance(reason, int) else reason[rows]
        self.add(
            rule,
            series.patient[rows],
            severity[rows],
            series.time[rows],
            series.source[rows] - n_history,
            reasons,
            value[rows],
        )

    def findings(self, rule_ids: tuple[str, ...]) -> Findings:
        """Sorted by patient, rule, time, then batch row (clock findings, row −1, first)."""
        if not self.patient:
            empty = np.zeros(0, dtype=np.int64)
            return Findings(
                rule_ids,
                empty.astype(np.int32),
                empty.astype(np.int16),
                empty.astype(np.int8),
                empty,
                empty,
                empty.astype(np.int8),
                empty.astype(np.float64),
            )
        patient = np.concatenate(self.patient)
        rule = np.concatenate(self.rule)
        time = np.concatenate(self.time)
        reading = np.concatenate(self.reading)
        order = np.lexsort((reading, time, rule, patient))
        return Findings(
            rule_ids=rule_ids,
            patient=patient[order].astype(np.int32),
            rule=rule[order].astype(np.int16),
            severity=np.concatenate(self.severity)[order],
            time=time[order],
            reading=reading[order],
            reason=np.concatenate(self.reason)[order],
            value=np.concatenate(self.value)[order],
        )


@dataclass(slots=True)
class _Retakes:
    """Retake requests gathered from every threshold measure, then one per reading."""

    patient: list[IntArray] = field(default_factory=list)
    time: list[IntArray] = field(default_factory=list)
    kind: list[npt.NDArray[np.int8]] = field(default_factory=list)
    source: list[IntArray] = field(default_factory=list)
    flagged: list[BoolArray] = field(default_factory=list)

    def add(self, series: Series, wanted: BoolArray, flagged: BoolArray) -> None:
        rows = np.flatnonzero(wanted)
        self.patient.append(series.patient[rows])
        self.time.append(series.time[rows])
        self.kind.append(series.kind[rows])
        self.source.append(series.source[rows])
        self.flagged.append(flagged[rows])

    def report(self, found: _Candidates, rule: int, rules: RuleTable, n_history: int) -> None:
        """One request per reading (its rows share patient, time and kind), on its first row;
        the value is how long the patient should wait before measuring again (s)."""
        if not self.patient:
            return
        patient = np.concatenate(self.patient).astype(np.int64)
        time = np.concatenate(self.time)
        kind = np.concatenate(self.kind).astype(np.int64)
        source = np.concatenate(self.source)
        flagged = np.concatenate(self.flagged)
        order = np.lexsort((~flagged, source, kind, time, patient))
        patient, time, kind = patient[order], time[order], kind[order]
        first = np.ones(len(order), dtype=np.bool_)
        first[1:] = (patient[1:] != patient[:-1]) | (time[1:] != time[:-1]) | (kind[1:] != kind[:-1])
        keep = order[first]
        any_flag = np.logical_or.reduceat(flagged[order], np.flatnonzero(first)) if len(order) else flagged
        who = patient[first]
        found.add(
            rule,
            who,
            np.zeros(len(who), dtype=np.int8),
            time[first],
            source[keep] - n_history,
            np.where(any_flag, _RETAKE_FLAGGED, _RETAKE_OUT_OF_RANGE).astype(np.int8),
            rules.quality.retake_after_s[who].astype(np.float64),
        )


def _per_patient(values: npt.ArrayLike | None, n_patients: int, fill: int, name: str) -> IntArray:
    if values is None:
        return np.full(n_patients, fill, dtype=np.int64)
    array = np.broadcast_to(np.asarray(values, dtype=np.int64), (n_patients,))
    if array.shape != (n_patients,):
        raise ValueError(f"{name} must have one entry per patient")
    return array


def evaluate(
    rules: RuleTable,
    batch: ReadingColumns,
    history: ReadingColumns | None = None,
    *,
    tick: int | None = None,
    utc_offset_s: npt.ArrayLike = 0,
    last_reading: npt.NDArray[np.int64] | None = None,
    last_hub_contact: npt.ArrayLike | None = None,
) -> Findings:
    """Run every rule; see the module docstring.

    ``utc_offset_s`` (one for all, or per patient) places local days for the daily weight
    rule and missed-reading schedules. With ``tick`` (Unix seconds) the clock rules run too:
    ``last_reading`` (n_patients × len(KINDS), ``NEVER`` for none) and ``last_hub_contact``
    (per patient) are what the server knows beyond ``history`` and ``batch``; the later of
    the two sources wins.
    """
    n_patients = rules.n_patients
    for name, part in (("batch", batch), ("history", history)):
        if part is not None and len(part) and int(part.patient.max()) >= n_patients:
            raise ValueError(f"{name} refers to a patient index ≥ n_patients ({n_patients})")
    offsets = _per_patient(utc_offset_s, n_patients, 0, "utc_offset_s")
    readings, n_history = concatenated(history, batch)
    rows = SortedReadings(readings, n_history, n_patients)
    rule_ids = rules.rule_ids
    rule_index = {rule_id: index for index, rule_id in enumerate(rule_ids)}
    found = _Candidates()

    retakes = _Retakes()
    for params in rules.thresholds:
        series = rows.series(params.measure)
        series = series.where(~np.isnan(series.value))
        severity, reason, value, raw = thresholds.evaluate(series, params, rules.quality)
        found.add_rows(rule_index[params.rule_id], series, severity, reason, value, n_history)
        retakes.add(series, *quality.retake_wanted(series, raw, params.enabled, rules.quality))

    # A weight the scale itself questioned is not a weight: it neither raises nor sets a window.
    weights = rows.series(Measure.WEIGHT)
    weights = weights.where(np.isfinite(weights.value) & ~quality.unconfirmed(weights, rules.quality))
    severity, gain = trends.gain_in_window(weights, rules.weight_gain_window)
    found.add_rows(
        rule_index[WEIGHT_GAIN_WINDOW_ID], weights, severity, trends.GAIN_IN_WINDOW, gain, n_history
    )
    severity, gain = trends.gain_in_window(weights, rules.weight_gain_week)
    found.add_rows(rule_index[WEIGHT_GAIN_WEEK_ID], weights, severity, trends.GAIN_IN_WINDOW, gain, n_history)
    severity, gain = trends.gain_on_consecutive_days(weights, rules.weight_gain_daily, offsets)
    found.add_rows(rule_index[WEIGHT_GAIN_DAILY_ID], weights, severity, trends.GAIN_ON_DAYS, gain, n_history)

    for base in rules.baselines:
        series = rows.series(base.measure)
        series = series.where(np.isfinite(series.value))
        severity, reason, deviation = baseline.evaluate(series, base, rules.quality)
        found.add_rows(rule_index[base.rule_id], series, severity, reason, deviation, n_history)

    for average in rules.averages:
        series = rows.series(average.measure)
        series = series.where(np.isfinite(series.value) & ~quality.unconfirmed(series, rules.quality))
        severity, reason, mean = averages.evaluate(series, average)
        found.add_rows(rule_index[average.rule_id], series, severity, reason, mean, n_history)

    vitals = {}
    for measure in news2_home.HOME_PARAMETERS.values():
        series = rows.series(measure)
        vitals[measure] = series.where(np.isfinite(series.value))
    scores = news2_home.evaluate(vitals, rules.news2, rules.quality)
    fired = scores.severity > 0
    found.add(
        rule_index[NEWS2_ID],
        scores.patient[fired],
        scores.severity[fired],
        scores.time[fired],
        scores.source[fired] - n_history,
        np.where(scores.single[fired], _NEWS2_SINGLE, _NEWS2_AGGREGATE).astype(np.int8),
        scores.total[fired],
    )
    retakes.report(found, rule_index[RETAKE_ID], rules, n_history)

    systolic = rows.series(Measure.SYSTOLIC)
    bp = systolic.where(systolic.kind == kind_code(ReadingKind.BLOOD_PRESSURE))
    severity, count = device_flags.repeated_irregular_pulse(bp, rules.irregular_pulse)
    found.add_rows(
        rule_index[IRREGULAR_PULSE_ID],
        bp,
        severity,
        REASON_CODE["irregular_pulse_repeated"],
        count.astype(np.float64),
        n_history,
    )

    if tick is not None:
        _clock_rules(rules, readings, found, rule_index, int(tick), offsets, last_reading, last_hub_contact)
    return found.findings(rule_ids)


def _clock_rules(
    rules: RuleTable,
    readings: ReadingColumns,
    found: _Candidates,
    rule_index: dict[str, int],
    tick: int,
    offsets: IntArray,
    last_reading: npt.NDArray[np.int64] | None,
    last_hub_contact: npt.ArrayLike | None,
) -> None:
    n_patients = rules.n_patients
    latest = missed.last_times(
        readings.patient.astype(np.int64), readings.kind, readings.time, n_patients, len(KINDS)
    )
    if last_reading is not None:
        given = np.asarray(last_reading, dtype=np.int64)
        if given.shape != latest.shape:
            raise ValueError(f"last_reading must have shape {latest.shape}")
        latest = np.maximum(latest, given)
    everyone = np.arange(n_patients, dtype=np.int64)
    no_reading = np.full(n_patients, -1, dtype=np.int64)
    for schedule in rules.schedules:
        is_missed, deadline, overdue = missed.missed(
            schedule, tick, latest[:, kind_code(schedule.kind)], offsets
        )
        who: BoolArray = is_missed
        found.add(
            rule_index[schedule.rule_id],
            everyone[who],
            schedule.severity[who],
            deadline[who],
            no_reading[who],
            REASON_CODE["missed_reading"],
            overdue[who].astype(np.float64),
        )
    contact = latest.max(axis=1)
    contact = np.maximum(contact, _per_patient(last_hub_contact, n_patients, NEVER, "last_hub_contact"))
    silent, silence = missed.hub_silent(rules.hub_silence, tick, contact)
    found.add(
        rule_index[HUB_SILENCE_ID],
        everyone[silent],
        rules.hub_silence.severity[silent],
        np.full(int(silent.sum()), tick, dtype=np.int64),
        no_reading[silent],
        REASON_CODE["hub_silent"],
        silence[silent].astype(np.float64),
    )
