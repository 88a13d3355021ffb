"""The replay judges as the live server would: in arrival order, without hindsight, through
the real alert lifecycle; and its batched engine calls give exactly what one call per hour
gives."""

from __future__ import annotations

import dataclasses

import numpy as np

from alerts.columns import KINDS, NEVER, ReadingColumns
from alerts.engine import evaluate
from alerts.evaluation import replay as replay_module
from alerts.evaluation.alert_log import AlertLog
from alerts.evaluation.cohort import generate
from alerts.evaluation.profiles import naive_rules_for, rules_for
from alerts.evaluation.replay import lookback_s, replay, rule_table
from alerts.lifecycle import Action
from alerts.ruleset.loading import apply_override, default_ruleset
from common.wire.vocabulary import Measure, ReadingKind
from server.judging.readings import lookback
from tests.alerts.evaluation_support import DAY, HOUR, T0, Row, hand_cohort

W = ReadingKind.WEIGHT
S = ReadingKind.SPO2


def weight(day: int, kg: float, arrives: int | None = None) -> Row:
    taken = T0 + day * DAY + 8 * HOUR
    return (0, taken, taken + 60 if arrives is None else arrives, W, {Measure.WEIGHT: kg})


def spo2(at: int, value: float, arrives: int | None = None) -> Row:
    return (0, at, at + 60 if arrives is None else arrives, S, {Measure.SPO2: value, Measure.PULSE: 80})


def opened(log: AlertLog, rule: str) -> list[int]:
    return [
        int(t)
        for t, r, a in zip(log.time, log.rule, log.action, strict=True)
        if r == rule and a is Action.OPEN
    ]


def test_a_reading_that_arrives_late_is_not_history_before_it_arrives() -> None:
    # Day 4's 77.0 kg reaches the server only on day 6. Judged with hindsight, day 5's 79.5 kg
    # is 2.5 kg above it (> 2 kg in 3 days); as the server saw it, day 5 is below days 2-3.
    late = weight(4, 77.0, arrives=T0 + 6 * DAY + 12 * HOUR)
    rows = [weight(1, 80.0), weight(2, 80.0), weight(3, 80.0), late, weight(5, 79.5)]
    as_served = replay(hand_cohort(rows))
    with_hindsight = replay(hand_cohort([*rows[:3], weight(4, 77.0), rows[4]]))
    assert opened(as_served, "trend.weight_gain") == []
    assert opened(with_hindsight, "trend.weight_gain") == [T0 + 5 * DAY + 9 * HOUR]


def test_a_late_reading_is_judged_when_it_arrives() -> None:
    taken = T0 + 2 * DAY + 8 * HOUR
    log = replay(hand_cohort([weight(1, 80.0), spo2(taken, 88, arrives=T0 + 3 * DAY + 12 * HOUR + 5)]))
    assert opened(log, "threshold.spo2") == [T0 + 3 * DAY + 13 * HOUR]


def test_a_second_finding_attaches_and_after_review_a_new_alert_opens() -> None:
    day1 = T0 + DAY
    rows = [spo2(day1 + 9 * HOUR, 90), spo2(day1 + 15 * HOUR, 90), spo2(day1 + DAY + 16 * HOUR, 90)]
    log = replay(hand_cohort(rows), review_delay_s=24 * HOUR)
    assert opened(log, "threshold.spo2") == [day1 + 10 * HOUR, day1 + DAY + 17 * HOUR]
    assert log.attached == 1
    slow_review = replay(hand_cohort(rows), review_delay_s=72 * HOUR)
    assert opened(slow_review, "threshold.spo2") == [day1 + 10 * HOUR]
    assert slow_review.attached == 2


def test_a_worse_finding_escalates_the_open_alert() -> None:
    day1 = T0 + DAY
    log = replay(hand_cohort([spo2(day1 + 9 * HOUR, 93), spo2(day1 + 15 * HOUR, 90)]))
    events = [
        (r, a, int(s))
        for r, a, s in zip(log.rule, log.action, log.severity, strict=True)
        if r == "threshold.spo2"
    ]
    assert events == [("threshold.spo2", Action.OPEN, 1), ("threshold.spo2", Action.ESCALATE, 2)]


def test_a_run_of_missed_readings_is_one_alert_even_after_it_is_resolved() -> None:
    # One weight on day 0, then none: day 2's 11:00 deadline is the second missed morning
    # (the default wants two), day 3's the third. Every hourly tick after finds the run
    # still missed; reviewed after 2 h, the alert must not reopen for it (the server keys
    # clock evidence by the last reading before the run).
    log = replay(hand_cohort([weight(0, 80.0)], days=4), review_delay_s=2 * HOUR)
    assert opened(log, "missed.weight") == [T0 + 2 * DAY + 11 * HOUR]


def test_a_missed_schedule_applies_only_to_kinds_the_patient_has_sent() -> None:
    log = replay(hand_cohort([spo2(T0 + 8 * HOUR + d * DAY, 96) for d in range(3)], days=3))
    assert opened(log, "missed.weight") == []


def test_a_hub_silent_for_over_26_hours_raises_one_alert_for_that_silence() -> None:
    outage = (0, T0 + DAY + 6 * HOUR, T0 + 3 * DAY + 6 * HOUR)
    log = replay(hand_cohort([weight(0, 80.0)], days=4, outages=[outage]))
    assert opened(log, "hub.silent") == [T0 + 2 * DAY + 9 * HOUR]  # 26 h after 06:00, at the next tick


def test_the_naive_baseline_uses_only_fixed_thresholds() -> None:
    day1 = T0 + DAY
    rows = [spo2(day1 + 9 * HOUR, 93), spo2(day1 + 2 * DAY + 9 * HOUR, 91)]
    engine, naive = replay(hand_cohort(rows)), replay(hand_cohort(rows), naive_rules_for)
    assert opened(engine, "threshold.spo2") == [day1 + 10 * HOUR, day1 + 2 * DAY + 10 * HOUR]
    assert opened(naive, "threshold.spo2") == [day1 + 2 * DAY + 10 * HOUR]
    assert set(naive.rule) == {"threshold.spo2"}


def test_lookback_is_the_servers() -> None:
    longer = apply_override(default_ruleset(), {"baselines": {"weight": {"days": 30}}})
    for rules in (default_ruleset(), longer):
        assert lookback_s(rules) == int(lookback(rules).total_seconds())
    assert lookback_s(longer) == 31 * DAY


def test_batched_replay_gives_exactly_the_findings_of_one_engine_call_per_hour() -> None:
    cohort = generate(5, n_patients=20, days=30)
    rulesets = [rules_for(cohort.conditions(p)) for p in range(cohort.n_patients)]
    table = rule_table(rulesets)
    back = np.array([lookback_s(r) for r in rulesets])
    batched = replay_module._batch_events(cohort, table, back)
    r = cohort.readings
    hour_of = (r.arrives_at - cohort.start) // HOUR
    one_by_one = []
    for hour in np.unique(hour_of).tolist():
        batch = np.flatnonzero(hour_of == hour)
        history = []
        for p in np.unique(r.patient[batch]).tolist():
            mine = batch[r.patient[batch] == p]
            since = r.taken_at[mine].min() - back[p]
            until = r.taken_at[mine].max() + 1
            history += np.flatnonzero(
                (r.patient == p) & (hour_of < hour) & (r.taken_at >= since) & (r.taken_at < until)
            ).tolist()
        past = r.columns(np.array(history, dtype=np.int64)) if history else ReadingColumns.empty()
        findings = evaluate(table, r.columns(batch), past)
        now = cohort.start + (hour + 1) * HOUR
        for record in findings.records():
            assert record.reading is not None
            row = int(batch[record.reading])
            one_by_one.append(
                (now, record.rule_id, record.patient, int(record.severity), int(r.reading[row]))
            )
    assert len(one_by_one) > 20
    assert sorted((e[0], e[3], e[4], e[5], e[6]) for e in batched) == sorted(one_by_one)


def test_the_same_seed_gives_the_same_alerts() -> None:
    first = replay(generate(4, n_patients=15, days=20))
    again = replay(generate(4, n_patients=15, days=20))
    other = replay(generate(5, n_patients=15, days=20))
    for field in dataclasses.fields(first):
        assert np.array_equal(np.asarray(getattr(first, field.name)), np.asarray(getattr(again, field.name)))
    assert first.rule != other.rule or not np.array_equal(first.time, other.time)


def test_a_day_of_ticks_in_one_call_gives_exactly_what_one_tick_per_hour_gives() -> None:
    cohort = generate(6, n_patients=25, days=12)  # outages, missed days and late bursts
    rulesets = [rules_for(cohort.conditions(p)) for p in range(cohort.n_patients)]
    table = rule_table(rulesets)
    batched = replay_module._clock_events(cohort, table, rulesets)
    r, o, n = cohort.readings, cohort.outages, cohort.n_patients
    hour_of = (r.arrives_at - cohort.start) // HOUR
    last = np.full((n, len(KINDS)), NEVER, dtype=np.int64)
    seen: set[tuple[int, str, int]] = set()
    hourly = []
    for hour in range(cohort.days * 24):
        now = cohort.start + (hour + 1) * HOUR
        arrived = np.flatnonzero(hour_of == hour)
        np.maximum.at(last, (r.patient[arrived], r.kind[arrived].astype(np.int64)), r.taken_at[arrived])
        contact = np.full(n, now, dtype=np.int64)
        down = (o.start <= now) & (now < o.end)
        contact[o.patient[down]] = o.start[down]
        clock = evaluate(table, ReadingColumns.empty(), tick=now, last_reading=last, last_hub_contact=contact)
        for record in clock.records():
            if (
                record.rule_id == "missed.weight"
                and last[record.patient, KINDS.index(ReadingKind.WEIGHT)] == NEVER
            ):
                continue
            evidence = (
                record.time - int(record.value)
                if record.rule_id == "hub.silent"
                else int(last[record.patient, KINDS.index(ReadingKind.WEIGHT)])
            )
            if (record.patient, record.rule_id, evidence) not in seen:
                seen.add((record.patient, record.rule_id, evidence))
                hourly.append(
                    (now, 1, record.time, record.rule_id, record.patient, int(record.severity), -1, 0)
                )
    assert {e[3] for e in hourly} == {"missed.weight", "hub.silent"}
    assert batched == hourly


def test_the_naive_baseline_switches_off_every_rule_it_does_not_name() -> None:
    """A rule added to the defaults later must not join the naive comparison by default (the
    weekly weight window and the NICE averages once did, and the naive figure rose with them)."""
    naive = naive_rules_for(())
    named = {("thresholds", "systolic"), ("thresholds", "spo2"), ("weight_gain", "window")}
    enabled = set()
    for family in ("thresholds", "weight_gain", "baselines", "averages", "missed_readings"):
        for name, rule in dict(getattr(naive, family)).items():
            if getattr(rule, "enabled", False):
                enabled.add((family, str(name)))
    for single_rule in ("hub_silence", "irregular_pulse", "news2", "quality"):
        if getattr(naive, single_rule).enabled:
            enabled.add((single_rule, ""))
    assert enabled == named
