"""Scoring on alert logs built by hand: what counts as detected, how late, and what is a
false alert."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from alerts.evaluation.alert_log import AlertLog
from alerts.evaluation.scoring import RECOVERY_MARGIN_S, rule_measures, score
from alerts.lifecycle import Action
from common.wire.vocabulary import Measure
from tests.alerts.evaluation_support import DAY, T0, make_episodes

ONSET = T0 + 20 * DAY
END = ONSET + 6 * DAY
EPISODE = [(0, "hf_decompensation", ONSET, END)]
CONDITIONS = [("hf",), ("hf", "af")]


def log(events: Sequence[tuple[int, int, str, Action]], artefact: Sequence[int] = ()) -> AlertLog:
    """(patient, time, alert rule, action) events."""
    return AlertLog(
        patient=np.array([e[0] for e in events], dtype=np.int64),
        time=np.array([e[1] for e in events], dtype=np.int64),
        rule=tuple(e[2] for e in events),
        engine_rule=tuple(e[2] for e in events),
        action=tuple(e[3] for e in events),
        severity=np.ones(len(events), dtype=np.int8),
        reading=np.zeros(len(events), dtype=np.int64),
        artefact=np.array(list(artefact) or [0] * len(events), dtype=np.int8),
        attached=0,
    )


def test_an_alert_inside_the_episode_detects_it_with_its_delay() -> None:
    found = score(
        log([(0, ONSET + 2 * DAY, "trend.weight_gain", Action.OPEN)]), make_episodes(EPISODE), CONDITIONS, 70
    )
    assert found.sensitivity == 1.0
    assert found.overall.median_delay_days == pytest.approx(2.0)
    assert found.by_type["hf_decompensation"].detected == 1
    assert found.episodes[0].first_rule == "trend.weight_gain"
    assert found.clinical_false == 0 and found.clinical_opened == 1


def test_an_escalation_inside_the_episode_detects_it_too() -> None:
    events = [
        (0, ONSET - 5 * DAY, "threshold.blood_pressure", Action.OPEN),
        (0, ONSET + DAY, "threshold.blood_pressure", Action.ESCALATE),
    ]
    found = score(log(events), make_episodes(EPISODE), CONDITIONS, 70)
    assert found.overall.median_delay_days == pytest.approx(1.0)
    assert found.clinical_false == 1  # the opening, five days before onset


def test_an_alert_outside_every_episode_is_false_and_one_in_the_recovery_margin_is_not() -> None:
    events = [
        (0, END + RECOVERY_MARGIN_S - 1, "baseline.weight", Action.OPEN),  # still recovering
        (0, END + RECOVERY_MARGIN_S + DAY, "baseline.weight", Action.OPEN),
        (1, ONSET + DAY, "threshold.spo2", Action.OPEN),  # another patient: no episode of theirs
    ]
    found = score(log(events), make_episodes(EPISODE), CONDITIONS, 70)
    assert found.sensitivity == 0.0  # after the end does not detect
    assert math.isnan(found.overall.median_delay_days)
    assert found.clinical_false == 2
    assert found.clinical_fa_per_pw == pytest.approx(2 / (2 * 70 / 7))
    assert found.by_rule["baseline.weight"].false == 1
    assert found.by_rule["threshold.spo2"].per_patient_week == pytest.approx(1 / 20)
    assert found.by_condition["af"] == pytest.approx((10.0, 0.1, 0.1))
    assert found.by_condition["hf"] == pytest.approx((20.0, 0.1, 0.1))


def test_operational_alerts_detect_nothing_and_count_only_in_the_all_alerts_figure() -> None:
    events = [(0, ONSET + DAY, "missed.weight", Action.OPEN), (1, ONSET, "hub.silent", Action.OPEN)]
    found = score(log(events), make_episodes(EPISODE), CONDITIONS, 70)
    assert found.sensitivity == 0.0
    assert found.clinical_false == 0
    assert found.all_false == 1  # patient 1's silent hub; patient 0's missed weight is inside the episode
    assert found.all_fa_per_pw == pytest.approx(1 / 20)


def test_an_alert_on_another_sign_detects_but_not_on_the_episodes_signs() -> None:
    found = score(
        log([(0, ONSET + DAY, "device.irregular_pulse", Action.OPEN)]), make_episodes(EPISODE), CONDITIONS, 70
    )
    assert found.sensitivity == 1.0
    assert found.on_signs.sensitivity == 0.0
    assert rule_measures("threshold.blood_pressure") == {Measure.SYSTOLIC, Measure.DIASTOLIC}
    assert rule_measures("trend.weight_gain") == {Measure.WEIGHT}
    assert rule_measures("device.irregular_pulse") == frozenset()


def test_alerts_on_artefact_readings_are_counted() -> None:
    events = [
        (1, ONSET, "threshold.blood_pressure", Action.OPEN),
        (1, ONSET + DAY, "threshold.spo2", Action.OPEN),
    ]
    found = score(log(events, artefact=[1, 0]), make_episodes(EPISODE), CONDITIONS, 70)
    assert found.artefact_alerts == 1 and found.artefact_false == 1
    assert found.by_rule["threshold.blood_pressure"].on_artefacts == 1
