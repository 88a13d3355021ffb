"""Threshold bands per measure: red and amber edges, per patient, with persistence.

A value is compared at its measure's recording precision (``decimals``), rounded half-up
on the decimal it was written as, exactly as ``alerts.news2`` rounds before applying
NEWS2 chart 1: so a band written "at or below 91" agrees with the chart's "≤ 91" for SpO2
91.4 (recorded 91, red) and 91.5 (recorded 92, amber). Edges are inclusive. Infinite values
(a device or decoding fault) fall in the extreme band, loudly; NaN is "not measured".
A quality-flagged reading waits for confirmation (``alerts.rules.quality``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from alerts.columns import REASON_CODE
from alerts.rounding import recorded_units
from alerts.rules.persistence import persistent
from alerts.rules.quality import confirmed
from alerts.rules.series import FloatArray, IntArray, Series
from alerts.rules.table import AverageParams, QualityParams, ThresholdParams
from alerts.severity import Severity

Int8Array = npt.NDArray[np.int8]

BELOW: int = REASON_CODE["below_band"]
ABOVE: int = REASON_CODE["above_band"]


def edge_units(edges: FloatArray, decimals: IntArray) -> FloatArray:
    """Edges in recording units; exact, since the rule set only admits edges with at most
    ``decimals`` places (an absent edge stays NaN and never compares true)."""
    units: FloatArray = np.rint(edges * 10.0**decimals)
    return units


def classify(series: Series, params: ThresholdParams | AverageParams) -> tuple[Int8Array, Int8Array]:
    """Per-row severity (before persistence) and reason, for non-NaN rows of the measure."""
    return banded(series.value, series.patient, params)


def banded(
    values: FloatArray, patient: IntArray, params: ThresholdParams | AverageParams
) -> tuple[Int8Array, Int8Array]:
    """Severity and reason of each value under its patient's bands (an average is judged
    like a reading: at the recording precision, edges inclusive)."""
    value = recorded_units(values, params.decimals[patient])
    # Edges are converted per patient (thousands), then gathered per row (millions).
    red_low = edge_units(params.red_low, params.decimals)[patient]
    red_high = edge_units(params.red_high, params.decimals)[patient]
    amber_low = edge_units(params.amber_low, params.decimals)[patient]
    amber_high = edge_units(params.amber_high, params.decimals)[patient]
    low_red = value <= red_low
    high_red = value >= red_high
    low = low_red | (value <= amber_low)
    high = high_red | (value >= amber_high)
    severity = np.where(
        low_red | high_red, np.int8(Severity.RED), np.where(low | high, np.int8(Severity.AMBER), np.int8(0))
    ).astype(np.int8)
    severity[~params.enabled[patient]] = 0
    reason = np.where(high, np.int8(ABOVE), np.int8(BELOW)).astype(np.int8)
    return severity, reason


def evaluate(
    series: Series, params: ThresholdParams, quality: QualityParams
) -> tuple[Int8Array, Int8Array, FloatArray, Int8Array]:
    """Severity after persistence and the quality rule, reason, judged value, and each row's
    own severity (``raw``, what a retake request looks at), per row of ``series``.

    ``series`` must already exclude NaN values (not measured)."""
    raw, reason = classify(series, params)
    required = params.persistence[series.patient]
    run = persistent(series, raw, required)
    return confirmed(series, raw, run, quality), reason, series.value, raw
