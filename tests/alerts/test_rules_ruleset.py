"""The rule file, overrides and compiling: loud errors, JSON round trips, no drift."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alerts.ruleset.compiling import compile_rules
from alerts.ruleset.loading import apply_override, default_ruleset, load_ruleset
from alerts.ruleset.models import PatientOverride, RuleSetError
from common.wire.vocabulary import Measure, ReadingKind


def test_defaults_load_and_every_threshold_cites_a_source() -> None:
    rules = default_ruleset()
    assert rules.thresholds[Measure.SPO2].red.at_or_below == 91
    assert all(rule.source for rule in rules.thresholds.values())
    assert rules.weight_gain.window.gain_kg == 2.0 and rules.weight_gain.window.days == 3
    assert rules.missed_readings[ReadingKind.WEIGHT].due_by_s == 11 * 3600


def test_override_round_trips_as_json_and_merges_partially() -> None:
    override = PatientOverride(
        changes={"thresholds": {"spo2": {"red": {"at_or_below": 83}, "amber": {"at_or_below": 85}}}},
        reason="COPD, BTS target 88–92 %",
        set_by="Dr A",
    )
    stored = override.model_dump_json()
    rules = apply_override(default_ruleset(), PatientOverride.model_validate_json(stored))
    assert rules.thresholds[Measure.SPO2].amber.at_or_below == 85
    assert rules.thresholds[Measure.SPO2].decimals == 0  # untouched keys keep the default
    assert rules.thresholds[Measure.PULSE] == default_ruleset().thresholds[Measure.PULSE]


def test_explicit_null_removes_an_edge() -> None:
    rules = apply_override(default_ruleset(), {"thresholds": {"systolic": {"red": {"at_or_above": None}}}})
    assert rules.thresholds[Measure.SYSTOLIC].red.at_or_above is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"thresholds": {"spo2": {"red": {"at_or_below": 95}}}}, "must not be above amber"),
        ({"thresholds": {"spo2": {"amber": {"at_or_below": 93.5}}}}, "decimal places"),
        ({"thresholds": {"spo2": {"persistance": 2}}}, "persistance"),
        ({"weight_gain": {"window": {"days": 0}}}, "weight_gain.window.days"),
        ({"missed_readings": {"weight": {"due_by": "25:00"}}}, "HH:MM"),
        ({"missed_readings": {"weight": {"window_start": "12:00"}}}, "must be before due_by"),
        ({"irregular_pulse": {"min_flagged": 4}}, "cannot exceed last_n"),
        ({"baselines": {"pulse": {"red_k": 2.0}}}, "greater than amber_k"),
        ({"thresholds": {"heart_rate": {"decimals": 0}}}, "heart_rate"),
    ],
)
def test_invalid_overrides_fail_loudly_naming_the_key(changes: dict[str, object], message: str) -> None:
    with pytest.raises(RuleSetError, match=message):
        apply_override(default_ruleset(), changes)


def test_a_broken_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("version: 1\nthresholds: [\n", encoding="utf-8")
    with pytest.raises(RuleSetError, match="not valid YAML"):
        load_ruleset(path)
    path.write_text("version: 2\n", encoding="utf-8")
    with pytest.raises(RuleSetError, match=str(path)):
        load_ruleset(path)


def test_compile_broadcasts_defaults_and_writes_only_overridden_patients() -> None:
    copd = apply_override(
        default_ruleset(),
        {"thresholds": {"spo2": {"amber": {"at_or_below": 85}, "red": {"at_or_below": 83}}}},
    )
    extra = apply_override(default_ruleset(), {"missed_readings": {"blood_pressure": {"due_by": "20:00"}}})
    table = compile_rules(default_ruleset(), 4, {1: copd, 3: extra})
    (spo2,) = [params for params in table.thresholds if params.measure is Measure.SPO2]
    assert spo2.amber_low.tolist() == [93, 85, 93, 93]
    (bp,) = [params for params in table.schedules if params.kind is ReadingKind.BLOOD_PRESSURE]
    assert bp.enabled.tolist() == [False, False, False, True]
    assert len(set(table.rule_ids)) == len(table.rule_ids)
    assert not spo2.amber_low.flags.writeable
    with pytest.raises(ValueError, match="override patient indices"):
        compile_rules(default_ruleset(), 2, {2: copd})
    assert np.isnan(spo2.red_high).all()
