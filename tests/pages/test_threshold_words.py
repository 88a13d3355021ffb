"""What a limits form means, and the history in words, on the real default rules: which box
a problem is said beside, and that a change names only the edges that differ."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alerts.ruleset.loading import apply_override, default_ruleset
from alerts.ruleset.profiles import rules_for
from common.wire.vocabulary import Condition, Measure
from server.pages.thresholds import Limits, Source, history_in_words, limits, merged_changes, proposal


@dataclass
class _Row:
    id: int
    set_by: str
    set_at: datetime
    reason: str
    changes: dict[str, Any]


def _limits(changes: dict[str, Any], measure: Measure) -> Limits:
    effective = apply_override(default_ruleset(), changes)
    row = _Row(1, "nurse.jones", datetime(2026, 12, 3, tzinfo=UTC), "test", changes)
    return next(b for b in limits(effective, [row] if changes else []) if b.measure is measure)


def test_only_the_boxes_that_differ_are_changed_and_the_rest_kept() -> None:
    systolic = _limits({}, Measure.SYSTOLIC)
    boxes = {
        "red_below": "90",
        "amber_below": "100",
        "amber_above": "",  # no single-reading amber high edge by default (the average has it)
        "red_above": "170",
        "persistence": "1",
    }
    asked = proposal(systolic, boxes)
    assert (asked.edges, asked.persistence, asked.problems) == ({"red_above": 170.0}, None, [])
    kept = {"thresholds": {"spo2": {"red": {"at_or_below": 85}}, "systolic": {"amber": {"at_or_above": 140}}}}
    merged = merged_changes(kept, Measure.SYSTOLIC, asked.edges, asked.persistence)
    assert merged == {
        "thresholds": {
            "spo2": {"red": {"at_or_below": 85}},
            "systolic": {"amber": {"at_or_above": 140}, "red": {"at_or_above": 170.0}},
        }
    }
    after = _limits(merged, Measure.SYSTOLIC)
    assert after.values == {"red_below": 90.0, "amber_below": 100.0, "amber_above": 140.0, "red_above": 170.0}
    assert after.sources["red_above"].source is Source.PERSONAL
    assert after.sources["red_below"].source is Source.DEFAULT


def test_each_problem_is_said_beside_the_box_to_correct() -> None:
    systolic = _limits({}, Measure.SYSTOLIC)

    def said(**boxes: str) -> list[tuple[str | None, str]]:
        return [(p.field, p.text) for p in proposal(systolic, boxes).problems]

    assert said(red_below="") == [
        (
            "red_below",
            "Enter red at or below as a number. To take this limit away, use 'Remove' instead: "
            "an empty box does not remove it",
        )
    ]
    assert said(red_above="172.5") == [
        ("red_above", "Enter red at or above as a whole number: systolic is recorded to that precision")
    ]
    assert said(red_above="900") == [("red_above", "Red at or above must be between 0 mmHg and 400 mmHg")]
    assert said(red_below="105") == [
        (
            "red_below",
            "Red at or below must not be above amber at or below (100 mmHg): a low reading turns amber before red",
        )
    ]
    assert said(amber_below="185") == [
        (
            "amber_below",
            "Amber at or below (185 mmHg) overlaps red at or above (180 mmHg): "
            "no reading can be both too low and too high",
        )
    ]
    assert said(persistence="0") == [
        ("persistence", "Enter how many readings in a row as a whole number from 1 to 10")
    ]
    assert said(red_above="180") == [(None, "Nothing was changed: change a limit, then save")]
    temperature = _limits({}, Measure.TEMPERATURE)
    assert proposal(temperature, {"amber_above": "38.5"}).edges == {"amber_above": 38.5}
    assert temperature.box("red_below") == "35.0" and temperature.shown("red_above") == "no limit"


def test_the_history_says_what_each_version_changed() -> None:
    at = datetime(2026, 12, 3, tzinfo=UTC)
    first = {"thresholds": {"systolic": {"red": {"at_or_above": 170}}}}
    second = {"thresholds": {"systolic": {"red": {"at_or_above": None}, "persistence": 2}}}
    rows = [
        _Row(3, "matron.ali", at, "exacerbation over", {}),
        _Row(2, "nurse.jones", at, "palliative care plan", second),
        _Row(1, "nurse.jones", at, "usual BP high", first),
    ]
    words = [(v.version, v.lines) for v in history_in_words(rows)]
    assert words == [
        (
            3,
            [
                "Returned to the service defaults",
                "Systolic red at or above: no limit → 180 mmHg",
                "Systolic readings in a row before alerting: 2 → 1",
            ],
        ),
        (
            2,
            [
                "Systolic red at or above: 170 mmHg → no limit",
                "Systolic readings in a row before alerting: 1 → 2",
            ],
        ),
        (1, ["Systolic red at or above: 180 → 170 mmHg"]),
    ]


COPD_OWN_AMBER = {"thresholds": {"spo2": {"amber": {"at_or_below": 90}}}}


def test_a_copd_patients_history_is_said_against_their_profile_not_the_defaults() -> None:
    """Amber at or below 90 % sits under the defaults' red (91 %) but above COPD's red (88 %):
    said against the defaults it "no longer fits", though the patient is judged on it."""
    at = datetime(2026, 12, 3, tzinfo=UTC)
    rows = [
        _Row(2, "matron.ali", at, "exacerbation over", {}),
        _Row(1, "nurse.jones", at, "usual sats 90-92 %", COPD_OWN_AMBER),
    ]
    words = [(v.version, v.lines) for v in history_in_words(rows, [Condition.COPD])]
    assert words == [
        (2, ["Returned to the service defaults with the COPD profile", "SpO2 amber at or below: 90 → 91%"]),
        (1, ["SpO2 amber at or below: 91 → 90%"]),
    ]
    [(_, none_fit)] = [(v.version, v.lines) for v in history_in_words(rows[1:])]
    assert none_fit == [
        "These changes no longer fit the service defaults: the patient is judged on the service defaults"
    ]


def test_where_from_names_the_profile_with_its_sources_and_who_set_a_personal_limit() -> None:
    first, second = datetime(2026, 11, 2, 9, tzinfo=UTC), datetime(2026, 12, 3, 9, tzinfo=UTC)
    newer = {"thresholds": {**COPD_OWN_AMBER["thresholds"], "systolic": {"red": {"at_or_above": 170}}}}
    rows = [
        _Row(2, "matron.ali", second, "usual BP high", newer),
        _Row(1, "nurse.jones", first, "usual sats 90-92 %", COPD_OWN_AMBER),
    ]
    bands = {b.measure: b for b in limits(rules_for([Condition.COPD], newer), rows, [Condition.COPD])}
    spo2, systolic = bands[Measure.SPO2], bands[Measure.SYSTOLIC]
    profile = spo2.sources["red_below"]
    assert (profile.source, profile.name) == (Source.CONDITION_PROFILE, "COPD profile")
    assert "BTS 2015" in profile.detail
    own = spo2.sources["amber_below"]
    assert (own.source, own.name, own.set_by, own.set_at) == (
        Source.PERSONAL,
        "Personal",
        "nurse.jones",
        first,
    )
    assert (systolic.sources["red_above"].set_by, systolic.sources["red_above"].set_at) == (
        "matron.ali",
        second,
    )
    assert systolic.sources["red_below"].name == "Service default"
    assert [o.name for o in spo2.origins()] == ["Personal", "COPD profile", "Service default"]  # in a row
    assert [o.name for o in systolic.origins()] == ["Personal", "Service default"]
