"""What a trend chart shows, as plain values: the renderer and the table view read the same
objects, so the picture and the table cannot disagree.

Pure: no I/O, no clock. Times are aware and already in the team's zone (the caller converts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Edge(StrEnum):
    """Which side of a limit alerts: "red at or below 90" is ``BELOW``."""

    BELOW = "below"
    ABOVE = "above"


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit of the patient's own rules, for one line of the chart."""

    series: str  # the line it applies to ("Systolic")
    severity: str  # "red" or "amber"
    edge: Edge
    value: float

    def words(self, unit: str) -> str:
        side = "at or below" if self.edge is Edge.BELOW else "at or above"
        return f"{self.series} {self.severity} {side} {self.value:g} {unit}"


@dataclass(frozen=True, slots=True)
class Point:
    """One reading's value on one line. ``alerting``: the reading is evidence of an alert;
    ``flags``: the quality flags that make the value doubtful (empty when none)."""

    at: datetime
    value: float
    alerting: bool = False
    flags: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


@dataclass(frozen=True, slots=True)
class Series:
    label: str  # the vocabulary's label: "Systolic", "SpO2"
    points: tuple[Point, ...]  # oldest first


@dataclass(frozen=True, slots=True)
class Chart:
    """A measure (or blood pressure's two) over a period, with the limits in force."""

    key: str  # for ids and tests: "blood_pressure", "spo2"
    title: str  # "Blood pressure"
    unit: str  # "mmHg"
    start: datetime
    end: datetime
    series: tuple[Series, ...]
    limits: tuple[Limit, ...] = ()

    @property
    def empty(self) -> bool:
        return not any(s.points for s in self.series)
