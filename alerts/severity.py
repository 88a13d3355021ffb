"""Alert severities, ordered so that "rise, never silently fall" is a comparison."""

from __future__ import annotations

from enum import IntEnum


class Severity(IntEnum):
    NONE = 0
    AMBER = 1  # review today
    RED = 2  # act now: same-day clinical contact

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Severity:
        return cls[label.upper()]
