"""The one line a clinician reads about a finding: value, unit, the rule and where its band
comes from. Never sent by SMS or e-mail (those say only that there is an alert).

Pure: the finding, the rule set it was judged by and the service's time zone in, a sentence
out; the live server, the preview of a rule change and the cohort report say it alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerts.columns import FindingRecord
from alerts.rules.table import (
    HUB_SILENCE_ID,
    IRREGULAR_PULSE_ID,
    NEWS2_ID,
    RETAKE_ID,
    WEIGHT_GAIN_DAILY_ID,
    WEIGHT_GAIN_WINDOW_ID,
)
from alerts.ruleset.models import RuleSet
from common.wire.vocabulary import KIND_LABELS, MEASURES, Measure, ReadingKind

__all__ = ["kind_noun", "label", "rule_title", "summary"]

_MEASURE_NAMES = frozenset(m.value for m in Measure)


def label(measure: Measure) -> str:
    return MEASURES[measure].label


def kind_noun(kind: ReadingKind) -> str:
    return KIND_LABELS[kind]


def _source_label(source: str) -> str:
    """The guidance a band comes from: 'NEWS2 chart 1 (…); NICE NG136 (…)' → 'NEWS2/NICE'."""
    return "/".join(part.split()[0] for part in source.split(";") if part.strip())


def _threshold(record: FindingRecord, rules: RuleSet, changes: Mapping[str, Any], measure: Measure) -> str:
    rule = rules.thresholds.get(measure)
    decimals = 0 if rule is None else rule.decimals
    changed = measure.value in changes.get("thresholds", {})
    sets_source = changed and "source" in changes["thresholds"][measure.value]
    source = (
        "patient's own band" if changed and not sets_source else _source_label(rule.source if rule else "")
    )
    unit = MEASURES[measure].unit.label
    sep = "" if unit == "%" else " "
    why = f"{record.severity.label}, {source}" if source else record.severity.label
    return f"{label(measure)} {record.value:.{decimals}f}{sep}{unit} ({why})"


def summary(
    record: FindingRecord,
    rules: RuleSet,
    changes: Mapping[str, Any],
    tz: ZoneInfo,
    value: float | None = None,
) -> str:
    """One line a clinician can act on, with the value and unit (never sent by SMS or e-mail).

    ``value`` is the triggering reading's own value, for rules whose finding value is
    something else (a baseline's deviation).
    """
    rule_id, severity = record.rule_id, record.severity.label
    family, _, name = rule_id.partition(".")
    if family == "threshold" and name in _MEASURE_NAMES:
        return _threshold(record, rules, changes, Measure(name))
    if rule_id == WEIGHT_GAIN_WINDOW_ID:
        return f"Weight +{record.value:.1f} kg in {rules.weight_gain.window.days} days ({severity})"
    if rule_id == WEIGHT_GAIN_DAILY_ID:
        days = rules.weight_gain.daily.consecutive_days
        return f"Weight up {rules.weight_gain.daily.gain_kg:g} kg or more a day for {days} days ({severity})"
    if family == "baseline" and name in _MEASURE_NAMES:
        measure = Measure(name)
        unit = MEASURES[measure].unit.label
        base = rules.baselines.get(measure)
        window = f"{base.days}-day " if base else ""
        shown = "" if value is None else f" {value:g} {unit},"
        return f"{label(measure)}{shown} {record.value:+.1f} {unit} from own {window}baseline ({severity})"
    if family == "missed" and ReadingKind.named(name) is not None:
        due = datetime.fromtimestamp(record.time, UTC).astimezone(tz)
        return f"No {kind_noun(ReadingKind(name))} reading by {due:%H:%M} on {due:%a %d %b} ({severity})"
    if rule_id == HUB_SILENCE_ID:
        return f"Hub not heard from for {record.value / 3600:.0f} h ({severity})"
    if rule_id == NEWS2_ID:
        scale = " (SpO2 scale 2)" if rules.news2.spo2_scale == 2 else ""
        return (
            f"NEWS2 {record.value:.0f}{scale}: partial score from home readings, without "
            f"respiration rate, consciousness or oxygen ({severity})"
        )
    if rule_id == IRREGULAR_PULSE_ID:
        last_n = rules.irregular_pulse.last_n
        return f"Irregular pulse flagged in {record.value:.0f} of the last {last_n} BP readings ({severity})"
    return f"{rule_id}: {record.reason} {record.value:g} ({severity})"


_FIXED_TITLES: Mapping[str, str] = {
    "threshold.blood_pressure": "Blood pressure outside its limits",
    WEIGHT_GAIN_WINDOW_ID: "Weight gain",
    WEIGHT_GAIN_DAILY_ID: "Weight gain, day after day",
    HUB_SILENCE_ID: "Hub not heard from",
    NEWS2_ID: "NEWS2 from home readings",
    IRREGULAR_PULSE_ID: "Irregular pulse",
    RETAKE_ID: "Reading to be retaken",
}


def rule_title(alert_rule_id: str) -> str:
    """What an alert's rule is called on a clinician's page: 'Blood pressure outside its
    limits', not 'threshold.blood_pressure'. An id this does not know (a rule added later)
    is still shown, as itself, rather than hidden."""
    if alert_rule_id in _FIXED_TITLES:
        return _FIXED_TITLES[alert_rule_id]
    family, _, name = alert_rule_id.partition(".")
    if name in _MEASURE_NAMES:
        measure = label(Measure(name))
        if family == "threshold":
            return f"{measure} outside its limits"
        if family == "baseline":
            return f"{measure} away from the patient's own baseline"
        if family == "average":
            return f"Average {measure[:1].lower()}{measure[1:]} outside its limits"
    if family == "missed" and (kind := ReadingKind.named(name)) is not None:
        return f"Missed {kind_noun(kind)} reading"
    return alert_rule_id
