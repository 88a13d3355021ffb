"""What the oracle's rules share: the reading and finding records, a patient's series of one
measure, persistence, the quality rule and a value's band (see ``alerts.reference.rules``).

Written from the rule descriptions, in plain Python, like the rest of the oracle.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from alerts.reference.news2 import as_recorded
from common.wire.vocabulary import QUALITY_FLAGS, Measure, ReadingKind, StatusFlag

if TYPE_CHECKING:
    from alerts.ruleset.models import AverageRule, QualityRule, ThresholdRule

DAY = 86400
MAD_SCALE = 1.4826
WEIGHT_EPSILON = 1e-9
AMBER = 1
RED = 2
SEVERITY = {"amber": AMBER, "red": RED}


@dataclass(frozen=True)
class Reading:
    patient: int
    time: int
    kind: ReadingKind
    measure: Measure
    value: float
    flags: frozenset[StatusFlag] = frozenset()


@dataclass(frozen=True)
class Finding:
    """Same fields, in the same order, as ``alerts.columns.FindingRecord``."""

    patient: int
    rule_id: str
    severity: int
    time: int
    reading: int | None
    reason: str
    value: float


@dataclass(frozen=True)
class _Row:
    """A reading in a patient's series, with where it came from."""

    time: int
    order: int  # position in history + batch: breaks ties in time
    value: float
    flags: frozenset[StatusFlag]
    batch_index: int | None  # None for history


def _series(rows: list[tuple[Reading, int, int | None]]) -> list[_Row]:
    out = [_Row(r.time, order, r.value, r.flags, batch_index) for r, order, batch_index in rows]
    return sorted(out, key=lambda row: (row.time, row.order))


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2.0


def _run_severity(severities: list[int], position: int, required: int) -> int:
    """Persistence: the weakest of the last ``required`` severities up to ``position``."""
    if position + 1 < required:
        return 0
    return min(severities[position + 1 - required : position + 1])


def _questioned(row: _Row) -> bool:
    return any(flag in QUALITY_FLAGS for flag in row.flags)


def _after_quality(series: list[_Row], position: int, raw: list[int], run: int, quality: QualityRule) -> int:
    """A flagged reading counts only if the one just before it (within the confirmation
    window) also offended, at the weaker of the two."""
    if not quality.enabled or not _questioned(series[position]):
        return run
    if position == 0:
        return 0
    before = series[position - 1]
    if series[position].time - before.time > round(quality.confirm_within_hours * 3600):
        return 0
    return min(run, raw[position - 1])


def threshold_severity(value: float, rule: ThresholdRule | AverageRule) -> tuple[int, str]:
    quantum = Decimal(1).scaleb(-rule.decimals)
    recorded = as_recorded(value, quantum)
    assert recorded is not None
    red_low, red_high = rule.red.at_or_below, rule.red.at_or_above
    amber_low, amber_high = rule.amber.at_or_below, rule.amber.at_or_above
    severity = 0
    above = False
    if red_low is not None and recorded <= Decimal(repr(float(red_low))):
        severity = RED
    elif red_high is not None and recorded >= Decimal(repr(float(red_high))):
        severity, above = RED, True
    elif amber_low is not None and recorded <= Decimal(repr(float(amber_low))):
        severity = AMBER
    elif amber_high is not None and recorded >= Decimal(repr(float(amber_high))):
        severity, above = AMBER, True
    return severity, "above_band" if above else "below_band"
