"""The oracle for the rules that look at several readings at once or at a reading's quality:
the home blood-pressure average, NEWS2 on the home parameters and the retake requests.

Written from the rule descriptions (``alerts.rules.averages``, ``news2_home``, ``quality``),
in plain Python: lists, loops and ``sorted``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import TYPE_CHECKING

from alerts.reference.basics import (
    AMBER,
    DAY,
    RED,
    SEVERITY,
    Finding,
    Reading,
    _questioned,
    _Row,
    threshold_severity,
)
from alerts.reference.news2 import as_recorded, score_reading
from common.wire.vocabulary import QUALITY_FLAGS, Measure, ReadingKind

if TYPE_CHECKING:
    from alerts.ruleset.models import AverageRule, QualityRule, RuleSet


def average_findings(
    patient: int, measure: Measure, rule: AverageRule, series: list[_Row], quality: QualityRule
) -> list[Finding]:
    """The mean of the measure's readings in [time − days, time] (this one included, flagged
    ones left out), judged against the average's bands once there are min_readings; a
    reading fires when its average is in a worse band than the previous reading's."""
    series = [
        row for row in series if math.isfinite(row.value) and not (quality.enabled and _questioned(row))
    ]
    judged: list[tuple[int, str, float]] = []
    for position, row in enumerate(series):
        quantum = Decimal(1).scaleb(-rule.decimals)
        window = [
            int(as_recorded(e.value, quantum).scaleb(rule.decimals))  # type: ignore[union-attr]
            for e in series[: position + 1]
            if e.time >= row.time - rule.days * DAY
        ]
        mean = sum(window) / len(window) / 10**rule.decimals
        if len(window) < rule.min_readings:
            judged.append((0, "", mean))
        else:
            judged.append((*threshold_severity(mean, rule), mean))
    out = []
    for position, row in enumerate(series):
        severity, reason, mean = judged[position]
        previous = judged[position - 1][0] if position else 0
        if row.batch_index is not None and severity > previous:
            out.append(
                Finding(
                    patient, f"average.{measure.value}", severity, row.time, row.batch_index, reason, mean
                )
            )
    return out


NEWS2_MEASURES = {
    "respiration_rate": Measure.RESPIRATION_RATE,
    "spo2": Measure.SPO2,
    "systolic": Measure.SYSTOLIC,
    "pulse": Measure.PULSE,
    "temperature": Measure.TEMPERATURE,
}


def news2_findings(
    patient: int, rules: RuleSet, rows: list[tuple[Reading, int, int | None]]
) -> list[Finding]:
    """Partial NEWS2 for each new unflagged reading of a parameter: the latest unflagged value
    of each parameter within the window up to the reading's time; one finding per reading
    (patient and time), on its first row."""
    rule = rules.news2
    if not rule.enabled:
        return []
    usable = [
        (reading, order, index)
        for reading, order, index in rows
        if reading.measure in NEWS2_MEASURES.values()
        and math.isfinite(reading.value)
        and not (rules.quality.enabled and any(flag in QUALITY_FLAGS for flag in reading.flags))
    ]
    out = []
    done: set[int] = set()
    for reading, _order, index in sorted(usable, key=lambda item: (item[0].time, item[1])):
        if index is None or reading.time in done:
            continue
        done.add(reading.time)
        latest: dict[str, float] = {}
        for name, measure in NEWS2_MEASURES.items():
            candidates = [
                (r.time, o, r.value)
                for r, o, _ in usable
                if r.measure is measure and reading.time - rule.window_minutes * 60 <= r.time <= reading.time
            ]
            if candidates:
                latest[name] = max(candidates)[2]
        result = score_reading(spo2_scale=rule.spo2_scale, **latest)
        severity = 0
        if len(latest) >= rule.min_parameters:
            if rule.red_at is not None and result.total >= rule.red_at:
                severity = RED
            elif result.total >= rule.amber_at:
                severity = AMBER
        single = 0
        if result.any_single_3 and rule.single_parameter_3 is not None:
            single = SEVERITY[rule.single_parameter_3]
        if max(severity, single):
            reason = "news2_single_parameter" if single > severity else "news2_aggregate"
            out.append(
                Finding(
                    patient,
                    "news2.home",
                    max(severity, single),
                    reading.time,
                    index,
                    reason,
                    float(result.total),
                )
            )
    return out


RETAKE_WINDOW_S = 3600


def retake_findings(
    patient: int, rules: RuleSet, series_of: dict[Measure, list[_Row]], kind_of: dict[int, ReadingKind]
) -> list[Finding]:
    """One retake request per new reading that is flagged, or (if asked) out of a threshold
    band, unless the same measure was taken within the hour before (it is the retake)."""
    wanted: dict[tuple[int, ReadingKind], tuple[int, bool]] = {}
    if not rules.quality.enabled:
        return []
    for measure, rule in rules.thresholds.items():
        if not rule.enabled:
            continue
        series = [row for row in series_of.get(measure, []) if not math.isnan(row.value)]
        for position, row in enumerate(series):
            if row.batch_index is None:
                continue
            if position > 0 and row.time - series[position - 1].time <= RETAKE_WINDOW_S:
                continue
            flagged = _questioned(row)
            out_of_range = rules.quality.retake_out_of_range and threshold_severity(row.value, rule)[0] > 0
            if flagged or out_of_range:
                key = (row.time, kind_of[row.order])
                first, any_flag = wanted.get(key, (row.batch_index, False))
                wanted[key] = (min(first, row.batch_index), any_flag or flagged)
    return [
        Finding(
            patient,
            "quality.retake",
            0,
            time,
            index,
            "retake_flagged" if flagged else "retake_out_of_range",
            float(rules.quality.retake_after_minutes * 60),
        )
        for (time, _kind), (index, flagged) in wanted.items()
    ]
