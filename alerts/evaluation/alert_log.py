"""What a replay produces: every alert opened or escalated, with the reading behind it.

Kept apart from the replay so that scoring reads it without importing the engine's rule
loading.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.lifecycle import Action

__all__ = ["OPERATIONAL_PREFIXES", "AlertLog", "is_clinical"]

#: Alerts about the service (a reading not sent, a hub not heard from) rather than the body.
OPERATIONAL_PREFIXES: Final = ("missed.", "hub.")


def is_clinical(rule_id: str) -> bool:
    return not rule_id.startswith(OPERATIONAL_PREFIXES)


@dataclass(frozen=True, slots=True)
class AlertLog:
    """Every alert opened or escalated, in the order the server would have done it.

    ``time`` is when the server acted (the end of the batch's hour, or the tick);
    ``reading`` the triggering reading id (−1 for a clock finding); ``artefact`` that
    reading's ground truth (0 = a true reading, or a clock finding); ``attached`` counts
    findings that only added evidence to an open alert.
    """

    patient: npt.NDArray[np.int64]
    time: npt.NDArray[np.int64]
    rule: tuple[str, ...]  # alert rule id, per event
    engine_rule: tuple[str, ...]
    action: tuple[Action, ...]
    severity: npt.NDArray[np.int8]
    reading: npt.NDArray[np.int64]
    artefact: npt.NDArray[np.int8]
    attached: int

    def __len__(self) -> int:
        return len(self.patient)

    @property
    def clinical(self) -> npt.NDArray[np.bool_]:
        return np.array([is_clinical(r) for r in self.rule], dtype=np.bool_)

    @property
    def opened(self) -> npt.NDArray[np.bool_]:
        return np.array([a is Action.OPEN for a in self.action], dtype=np.bool_)
