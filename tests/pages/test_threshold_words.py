"""What a limits form means, and the history in words, on the real default rules: which box
a problem is said beside, and that a change names only the edges that differ."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alerts.ruleset.loading import apply_override, default_ruleset
from common.wire.vocabulary import Measure
from server.pages.thresholds import Limits, Source, history_in_words, limits, merged_changes, proposal


def _limits(changes: dict[str, Any], measure: Measure) -> Limits:
    effective = apply_override(default_ruleset(), changes)
    return next(b for b in limits(effective, changes) if b.measure is measure)


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
    assert after.sources["red_above"] is Source.PERSONAL and after.sources["red_below"] is Source.DEFAULT


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


@dataclass
class _Row:
    id: int
    set_by: str
    set_at: datetime
    reason: str
    changes: dict[str, Any]


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
