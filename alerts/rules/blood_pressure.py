"""Single-reading blood-pressure thresholds (NICE NG136 and NEWS2), vectorised.

Red: systolic ≥ 180 or diastolic ≥ 120 (NICE "severe hypertension", same-day assessment),
or systolic ≤ 90 (NEWS2 scores it 3). Amber: systolic ≥ 150 or diastolic ≥ 95 (the HBPM
stage-2 threshold; one home reading cannot diagnose, so it asks for review, not action),
or systolic ≤ 100 (NEWS2 scores 91–100 as 2). Bands are data so a clinician can set a
patient's own; edges are inclusive as the guidance writes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from alerts.severity import Severity

RULE_ID = "bp_threshold"


@dataclass(frozen=True, slots=True)
class BloodPressureBands:
    red_systolic_high: float = 180
    red_diastolic_high: float = 120
    red_systolic_low: float = 90
    amber_systolic_high: float = 150
    amber_diastolic_high: float = 95
    amber_systolic_low: float = 100


DEFAULT_BANDS = BloodPressureBands()


def classify(
    systolic: ArrayLike, diastolic: ArrayLike, bands: BloodPressureBands = DEFAULT_BANDS
) -> NDArray[np.int8]:
    """Severity per reading (``Severity`` values); NaN in a field means that field is absent."""
    sys_ = np.asarray(systolic, dtype=np.float64)
    dia = np.asarray(diastolic, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        red = (
            (sys_ >= bands.red_systolic_high)
            | (dia >= bands.red_diastolic_high)
            | (sys_ <= bands.red_systolic_low)
        )
        amber = (
            (sys_ >= bands.amber_systolic_high)
            | (dia >= bands.amber_diastolic_high)
            | (sys_ <= bands.amber_systolic_low)
        )
    out = np.where(red, Severity.RED, np.where(amber, Severity.AMBER, Severity.NONE))
    return out.astype(np.int8)


def describe(systolic: float, diastolic: float, severity: Severity) -> str:
    """A one-line, value-bearing summary for clinicians (never sent by SMS or e-mail)."""
    return f"Blood pressure {systolic:.0f}/{diastolic:.0f} mmHg ({severity.label})"
