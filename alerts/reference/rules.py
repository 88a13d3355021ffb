"""Every alert rule, one reading at a time, in plain Python: the oracle for ``alerts.engine``.

Written from the rule descriptions, not from the engine: lists, dicts, loops and ``sorted``,
no NumPy, no shared helpers. It reads the validated ``RuleSet`` of each patient directly
(the engine reads compiled arrays), so a compile bug shows up as a disagreement too.

The decisions are the engine's and are explained in its rule modules
(``alerts.rules.thresholds``, ``trends``, ``baseline``, ``persistence``, ``missed``,
``device_flags``); each function below restates the one it checks in a line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from alerts.reference.aggregates import average_findings, news2_findings, retake_findings
from alerts.reference.basics import (
    AMBER,
    DAY,
    MAD_SCALE,
    RED,
    SEVERITY,
    WEIGHT_EPSILON,
    Finding,
    Reading,
    _after_quality,
    _median,
    _questioned,
    _Row,
    _run_severity,
    _series,
    threshold_severity,
)
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag

if TYPE_CHECKING:
    from alerts.ruleset.models import BaselineRule, QualityRule, RuleSet, ThresholdRule

__all__ = ["Finding", "Reading", "evaluate"]

# -- per-reading rules -----------------------------------------------------------------------


def threshold_findings(
    patient: int, measure: Measure, rule: ThresholdRule, series: list[_Row], quality: QualityRule
) -> list[Finding]:
    series = [row for row in series if not math.isnan(row.value)]
    judged = [threshold_severity(row.value, rule) for row in series]
    severities = [severity for severity, _ in judged]
    out = []
    for position, row in enumerate(series):
        if row.batch_index is None:
            continue
        run = _run_severity(severities, position, rule.persistence)
        severity = _after_quality(series, position, severities, run, quality)
        if severity:
            out.append(
                Finding(
                    patient,
                    f"threshold.{measure.value}",
                    severity,
                    row.time,
                    row.batch_index,
                    judged[position][1],
                    row.value,
                )
            )
    return out


def baseline_judgement(window: list[float], value: float, rule: BaselineRule) -> tuple[int, str, float]:
    median = _median(window)
    mad = _median([abs(v - median) for v in window])
    deviation = value - median
    if rule.direction == "up":
        judged = deviation
    elif rule.direction == "down":
        judged = -deviation
    else:
        judged = abs(deviation)
    scale = max(MAD_SCALE * mad, rule.min_mad)
    severity = 0
    if rule.red_k is not None and judged > rule.red_k * scale:
        severity = RED
    elif judged > rule.amber_k * scale or (
        rule.clinical_change is not None and judged >= rule.clinical_change - 1e-9
    ):
        severity = AMBER
    return severity, "above_baseline" if deviation > 0 else "below_baseline", deviation


def baseline_findings(
    patient: int, measure: Measure, rule: BaselineRule, series: list[_Row], quality: QualityRule
) -> list[Finding]:
    series = [row for row in series if math.isfinite(row.value)]
    window_s = rule.days * DAY
    judged: list[tuple[int, str, float]] = []
    for position, row in enumerate(series):
        window = [earlier.value for earlier in series[:position] if earlier.time >= row.time - window_s]
        if len(window) < rule.min_readings:
            judged.append((0, "", math.nan))
        else:
            judged.append(baseline_judgement(window, row.value, rule))
    severities = [severity for severity, _, _ in judged]
    out = []
    for position, row in enumerate(series):
        if row.batch_index is None:
            continue
        run = _run_severity(severities, position, rule.persistence)
        severity = _after_quality(series, position, severities, run, quality)
        if severity:
            _, reason, deviation = judged[position]
            out.append(
                Finding(
                    patient,
                    f"baseline.{measure.value}",
                    severity,
                    row.time,
                    row.batch_index,
                    reason,
                    deviation,
                )
            )
    return out


def weight_gain_findings(
    patient: int, rules: RuleSet, series: list[_Row], utc_offset_s: int
) -> list[Finding]:
    questioned = rules.quality.enabled
    series = [row for row in series if math.isfinite(row.value) and not (questioned and _questioned(row))]
    daily_rule = rules.weight_gain.daily
    out = []
    windows = (
        ("trend.weight_gain", rules.weight_gain.window),
        ("trend.weight_gain_week", rules.weight_gain.week),
    )
    for position, row in enumerate(series):
        if row.batch_index is None:
            continue
        for rule_id, window_rule in windows:
            if not window_rule.enabled:
                continue
            earlier = [e.value for e in series[:position] if e.time >= row.time - window_rule.days * DAY]
            if earlier:
                gain = row.value - min(earlier)
                if gain > window_rule.gain_kg + WEIGHT_EPSILON:
                    out.append(
                        Finding(
                            patient,
                            rule_id,
                            SEVERITY[window_rule.severity],
                            row.time,
                            row.batch_index,
                            "gain_in_window",
                            gain,
                        )
                    )
        if daily_rule.enabled:
            day_of = [(e.time + utc_offset_s) // DAY for e in series]
            current = position
            fires = True
            for _ in range(daily_rule.consecutive_days):
                wanted = day_of[current] - 1
                on_day = [i for i in range(len(series)) if day_of[i] == wanted]
                if not on_day:
                    fires = False
                    break
                previous = max(on_day)
                if series[current].value - series[previous].value < daily_rule.gain_kg - WEIGHT_EPSILON:
                    fires = False
                    break
                current = previous
            if fires:
                out.append(
                    Finding(
                        patient,
                        "trend.weight_gain_daily",
                        SEVERITY[daily_rule.severity],
                        row.time,
                        row.batch_index,
                        "gain_on_consecutive_days",
                        row.value - series[current].value,
                    )
                )
    return out


def irregular_pulse_findings(patient: int, rules: RuleSet, series: list[_Row]) -> list[Finding]:
    rule = rules.irregular_pulse
    if not rule.enabled:
        return []
    out = []
    for position, row in enumerate(series):
        if row.batch_index is None:
            continue
        recent = series[max(0, position + 1 - rule.last_n) : position + 1]
        flagged = sum(1 for r in recent if StatusFlag.IRREGULAR_PULSE in r.flags)
        if flagged >= rule.min_flagged:
            out.append(
                Finding(
                    patient,
                    "device.irregular_pulse",
                    SEVERITY[rule.severity],
                    row.time,
                    row.batch_index,
                    "irregular_pulse_repeated",
                    float(flagged),
                )
            )
    return out


# -- clock rules -----------------------------------------------------------------------------


def missed_findings(
    patient: int, rules: RuleSet, tick: int, last_by_kind: Mapping[ReadingKind, int], utc_offset_s: int
) -> list[Finding]:
    out = []
    local_now = tick + utc_offset_s
    today = local_now // DAY
    seconds_into_today = local_now - today * DAY
    for kind, schedule in rules.missed_readings.items():
        if not schedule.enabled:
            continue
        deadline_day = today if seconds_into_today >= schedule.due_by_s else today - 1
        local_midnight_in_utc = deadline_day * DAY - utc_offset_s
        opens = local_midnight_in_utc - (schedule.days - 1) * DAY + schedule.window_start_s
        deadline = local_midnight_in_utc + schedule.due_by_s
        last = last_by_kind.get(kind)
        if last is None or last < opens:
            out.append(
                Finding(
                    patient,
                    f"missed.{kind.value}",
                    SEVERITY[schedule.severity],
                    deadline,
                    None,
                    "missed_reading",
                    float(tick - deadline),
                )
            )
    return out


def hub_silence_findings(patient: int, rules: RuleSet, tick: int, last_contact: int | None) -> list[Finding]:
    rule = rules.hub_silence
    if not rule.enabled or last_contact is None:
        return []
    silence = tick - last_contact
    if silence > rule.max_silence_s:
        return [
            Finding(patient, "hub.silent", SEVERITY[rule.severity], tick, None, "hub_silent", float(silence))
        ]
    return []


# -- everything ------------------------------------------------------------------------------


def evaluate(
    rulesets: Sequence[RuleSet],
    batch: Iterable[Reading],
    history: Iterable[Reading] = (),
    *,
    tick: int | None = None,
    utc_offset_s: Sequence[int] | None = None,
    last_reading: Mapping[tuple[int, ReadingKind], int] | None = None,
    last_hub_contact: Mapping[int, int] | None = None,
) -> list[Finding]:
    """Every finding: one per offending batch reading and rule, and the clock's, sorted by
    patient, rule id, time and batch index. ``rulesets[p]`` is patient p's effective rule set."""
    history = list(history)
    batch = list(batch)
    offsets = list(utc_offset_s) if utc_offset_s is not None else [0] * len(rulesets)
    tagged: list[tuple[Reading, int, int | None]] = [(r, i, None) for i, r in enumerate(history)]
    tagged += [(r, len(history) + i, i) for i, r in enumerate(batch)]

    by_patient_measure: dict[tuple[int, Measure], list[tuple[Reading, int, int | None]]] = {}
    bp_by_patient: dict[int, list[tuple[Reading, int, int | None]]] = {}
    by_patient: dict[int, list[Reading]] = {}
    for item in tagged:
        reading = item[0]
        by_patient.setdefault(reading.patient, []).append(reading)
        by_patient_measure.setdefault((reading.patient, reading.measure), []).append(item)
        if reading.kind is ReadingKind.BLOOD_PRESSURE and reading.measure is Measure.SYSTOLIC:
            bp_by_patient.setdefault(reading.patient, []).append(item)

    candidates: list[Finding] = []
    for patient, rules in enumerate(rulesets):

        def series(measure: Measure, patient: int = patient) -> list[_Row]:
            return _series(by_patient_measure.get((patient, measure), []))

        for measure, threshold in rules.thresholds.items():
            if threshold.enabled:
                candidates += threshold_findings(patient, measure, threshold, series(measure), rules.quality)
        candidates += weight_gain_findings(patient, rules, series(Measure.WEIGHT), offsets[patient])
        for measure, base in rules.baselines.items():
            if base.enabled:
                candidates += baseline_findings(patient, measure, base, series(measure), rules.quality)
        candidates += irregular_pulse_findings(patient, rules, _series(bp_by_patient.get(patient, [])))
        for measure, average in rules.averages.items():
            if average.enabled:
                candidates += average_findings(patient, measure, average, series(measure), rules.quality)
        mine = [item for item in tagged if item[0].patient == patient]
        candidates += news2_findings(patient, rules, mine)
        candidates += retake_findings(
            patient, rules, {m: series(m) for m in rules.thresholds}, {order: r.kind for r, order, _ in mine}
        )

        if tick is not None:
            last_by_kind: dict[ReadingKind, int] = {}
            for (who, kind), when in (last_reading or {}).items():
                if who == patient:
                    last_by_kind[kind] = when
            for reading in by_patient.get(patient, []):
                known = last_by_kind.get(reading.kind)
                last_by_kind[reading.kind] = reading.time if known is None else max(known, reading.time)
            candidates += missed_findings(patient, rules, tick, last_by_kind, offsets[patient])
            contacts = list(last_by_kind.values())
            if last_hub_contact is not None and patient in last_hub_contact:
                contacts.append(last_hub_contact[patient])
            candidates += hub_silence_findings(patient, rules, tick, max(contacts) if contacts else None)

    return sorted(
        candidates, key=lambda f: (f.patient, f.rule_id, f.time, -1 if f.reading is None else f.reading)
    )
