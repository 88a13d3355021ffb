"""What a new finding does to a patient's alerts: one open alert per patient and rule.

Pure decision logic, applied by the server inside its database transaction. Later
findings attach to the open alert as evidence; severity may rise but never silently fall
(a lower reading does not make an unreviewed red alert look amber).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from alerts.severity import Severity


class Action(StrEnum):
    OPEN = "open"  # no open alert for this patient and rule: raise one
    ATTACH = "attach"  # add as evidence, severity unchanged
    ESCALATE = "escalate"  # add as evidence and raise the alert's severity


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    severity: Severity


def decide(open_severity: Severity | None, finding: Severity) -> Decision | None:
    """None when the finding is not an alert at all."""
    if finding is Severity.NONE:
        return None
    if open_severity is None:
        return Decision(Action.OPEN, finding)
    if finding > open_severity:
        return Decision(Action.ESCALATE, finding)
    return Decision(Action.ATTACH, open_severity)
