"""The issue's scenarios, on the default rule set, through the engine (and the oracle)."""

from __future__ import annotations

from alerts.judge import judge
from alerts.lifecycle import Action
from alerts.ruleset.compiling import compile_rules
from alerts.ruleset.loading import apply_override, default_ruleset
from alerts.severity import Severity
from common.wire.vocabulary import Measure
from tests.alerts.test_rules_support import DAY, HOUR, T0, columns, reading, single

COPD_SCALE_2 = apply_override(
    default_ruleset(),
    {
        "thresholds": {
            "spo2": {
                "source": "BTS 88–92 % target; NEWS2 scale 2",
                "red": {"at_or_below": 83},
                "amber": {"at_or_below": 85},
            }
        }
    },
)


def test_heart_failure_patient_gaining_2_4kg_over_3_days_gets_one_alert_finding() -> None:
    morning = T0 + 7 * HOUR
    weights = [80.0, 80.9, 81.7, 82.4]
    history = [(0, morning + i * DAY, Measure.WEIGHT, w) for i, w in enumerate(weights[:-1])]
    batch = [
        (0, morning + 3 * DAY, Measure.WEIGHT, weights[-1]),
        (0, morning + 3 * DAY + 60, Measure.WEIGHT, 82.4),
    ]  # a re-weigh a minute later
    findings = single(default_ruleset(), batch, history=history)
    gains = {(f.rule_id, f.reading) for f in findings if f.rule_id.startswith("trend.")}
    # 82.4 is 2.4 kg over 3 days and over the week; the re-weigh a minute later has 80.0 just
    # out of its 3-day window, so only the week sees it: three findings...
    assert gains == {("trend.weight_gain", 0), ("trend.weight_gain_week", 0), ("trend.weight_gain_week", 1)}
    # ... and one alert: the judge opens it once and attaches the rest as evidence.
    judgement = judge(
        compile_rules(default_ruleset(), 1),
        columns([reading(r) for r in batch]),
        columns([reading(r) for r in history]),
    )
    weight = [d for d in judgement.decisions if d.alert_rule == "trend.weight_gain"]
    assert [d.action for d in weight] == [Action.OPEN, Action.ATTACH]
    assert {d.finding.reading for d in weight} == {0, 1}


def test_copd_patient_on_scale_2_at_89_gets_none_at_85_gets_one() -> None:
    assert single(COPD_SCALE_2, [(0, T0, Measure.SPO2, 89)]) == []
    (finding,) = single(COPD_SCALE_2, [(0, T0, Measure.SPO2, 85)])
    assert (finding.rule_id, finding.severity) == ("threshold.spo2", Severity.AMBER)
    # The same 89 % on the default (scale 1) bands is red: the override is what spares her.
    assert [f.severity for f in single(default_ruleset(), [(0, T0, Measure.SPO2, 89)])] == [Severity.RED]


def test_a_second_missed_morning_weight_creates_one_missed_reading_finding() -> None:
    # The first missed morning is the hub's to remind; the team hears after the second.
    one_day = [(0, T0 - DAY + 8 * HOUR, Measure.WEIGHT, 80.0), (0, T0 + 8 * HOUR, Measure.SYSTOLIC, 128.0)]
    assert single(default_ruleset(), [], history=one_day, tick=T0 + 11 * HOUR + 300) == []
    two_days = [
        (0, T0 - 2 * DAY + 8 * HOUR, Measure.WEIGHT, 80.0),
        (0, T0 + 8 * HOUR, Measure.SYSTOLIC, 128.0),
    ]
    findings = single(default_ruleset(), [], history=two_days, tick=T0 + 11 * HOUR + 300)
    assert [(f.rule_id, f.time) for f in findings] == [("missed.weight", T0 + 11 * HOUR)]
