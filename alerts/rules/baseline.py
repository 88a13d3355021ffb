"""Deviation from the patient's own baseline: rolling median and MAD.

Fixed thresholds miss most decompensation that personal baselines catch (HeartPhone; the
2023 statistical-process-control study), and median/MAD rather than mean/SD because one
bad reading must not drag the baseline it is judged against.

For each reading: the baseline window is that measure's readings of the same patient from
``time − days`` (inclusive) up to, not including, this reading. With fewer than
``min_readings`` there is no baseline and no judgement. Otherwise, with ``m`` the median and
``MAD`` the median absolute deviation from ``m`` (even counts take the mean of the middle
two, ``(a + b) / 2``), the deviation ``x − m`` is judged against
``k × max(1.4826 × MAD, min_mad)``: 1.4826 makes MAD estimate the standard deviation of
normally distributed readings, so ``amber_k = 3`` reads as "three sigma"; ``min_mad`` stops
a very steady patient's zero MAD turning every wobble into an alert. ``direction`` says
which side counts (weight: up; SpO2: down; pulse and BP: both). Strictly greater fires.
Where guidance names a change that matters whatever the patient's noise (BTS: a fall in
saturation of 3 % or more), ``clinical_change`` makes a deviation of at least that amber.
Persistence then applies as for thresholds, then the quality rule (a flagged reading waits
for confirmation). Only finite values take part.

The window is exact, not approximated: windows of equal length are gathered into a matrix,
sorted row-wise and their middle elements picked, which is what the oracle does with
``sorted``.
"""

from __future__ import annotations

import itertools
from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.columns import REASON_CODE
from alerts.rules.persistence import needed_for, persistent
from alerts.rules.quality import confirmed
from alerts.rules.series import FloatArray, IntArray, Series, window_start
from alerts.rules.table import BaselineParams, QualityParams
from alerts.severity import Severity

Int8Array = npt.NDArray[np.int8]

MAD_SCALE: Final[float] = 1.4826
#: A clinical change is compared in the clinician's favour of the written numbers: a fall
#: from a median of 95.5 to 92.5 is the 3 points it was written as.
CHANGE_EPSILON: Final[float] = 1e-9
#: Bound on one gathered block (elements), to keep memory flat on large batches.
_BLOCK: Final[int] = 1 << 21

BELOW: int = REASON_CODE["below_baseline"]
ABOVE: int = REASON_CODE["above_baseline"]


def _by_length(count: IntArray) -> list[tuple[int, IntArray]]:
    """Rows grouped by exact window length, each group cut into blocks of bounded size."""
    order = np.argsort(count.astype(np.uint16) if int(count.max()) < 1 << 16 else count, kind="stable")
    lengths = count[order]
    cuts = [0, *(np.flatnonzero(lengths[1:] != lengths[:-1]) + 1).tolist(), len(lengths)]
    blocks = []
    for first, stop in itertools.pairwise(cuts):
        n = int(lengths[first])
        per_block = max(1, _BLOCK // max(n, 1))
        blocks += [
            (n, order[begin : min(stop, begin + per_block)]) for begin in range(first, stop, per_block)
        ]
    return blocks


def rolling_median(values: FloatArray, start: IntArray, count: IntArray) -> FloatArray:
    """Median of ``values[start[i] : start[i] + count[i]]`` for each i (count ≥ 1).

    Rows are bucketed by exact window length, so each bucket is a dense (rows × n) matrix
    cut from a sliding-window view with no padding, and the middle elements are two
    columns. Window lengths are few (about one per reading in the window), so the loop is
    short; a pathological caseload only makes it longer, never wrong.
    """
    median = np.empty(len(start), dtype=np.float64)
    if len(start) == 0:
        return median
    for n, rows in _by_length(count):
        block = np.lib.stride_tricks.sliding_window_view(values, n)[start[rows]]
        block.sort(axis=1)
        median[rows] = (block[:, (n - 1) // 2] + block[:, n // 2]) / 2.0
    return median


def rolling_mad(values: FloatArray, start: IntArray, count: IntArray, median: FloatArray) -> FloatArray:
    """Median absolute deviation from ``median`` of the same windows as ``rolling_median``."""
    mad = np.empty(len(start), dtype=np.float64)
    if len(start) == 0:
        return mad
    for n, rows in _by_length(count):
        block = np.lib.stride_tricks.sliding_window_view(values, n)[start[rows]]
        block -= median[rows, None]
        np.abs(block, out=block)
        block.sort(axis=1)
        mad[rows] = (block[:, (n - 1) // 2] + block[:, n // 2]) / 2.0
    return mad


def evaluate(
    series: Series, params: BaselineParams, quality: QualityParams
) -> tuple[Int8Array, Int8Array, FloatArray]:
    """Severity after persistence and the quality rule, reason and deviation from the
    median, per row of ``series`` (finite values of the measure only)."""
    patient = series.patient
    n = len(series)
    severity = np.zeros(n, dtype=np.int8)
    reason = np.zeros(n, dtype=np.int8)
    deviation = np.full(n, np.nan)
    required = params.persistence[patient]
    # A flagged row is confirmed by the row before it, so that row's own severity is needed.
    needed = needed_for(series, np.maximum(required, 2)) & params.enabled[patient]
    if not needed.any():
        return severity, reason, deviation
    start = window_start(series, params.window_s[patient])
    count = np.arange(n, dtype=np.int64) - start
    rows = np.flatnonzero(needed & (count >= params.min_readings[patient]))
    median = rolling_median(series.value, start[rows], count[rows])
    who = patient[rows]
    dev = series.value[rows] - median
    direction = params.direction[who]
    judged = np.where(direction == 1, dev, np.where(direction == -1, -dev, np.abs(dev)))
    # The limit is at least amber_k × min_mad, so a deviation within that cannot fire
    # whatever the MAD: only the others need it (exact, and most readings are within).
    mad = np.full(len(rows), np.nan)  # NaN compares false: those rows do not fire
    change = params.clinical_change[who]
    could = np.flatnonzero(judged > params.amber_k[who] * params.min_mad[who])
    mad[could] = rolling_mad(series.value, start[rows[could]], count[rows[could]], median[could])
    scale = np.maximum(MAD_SCALE * mad, params.min_mad[who])
    red = judged > params.red_k[who] * scale
    amber = (judged > params.amber_k[who] * scale) | (judged >= change - CHANGE_EPSILON)
    severity[rows] = np.where(
        red, np.int8(Severity.RED), np.where(amber, np.int8(Severity.AMBER), np.int8(0))
    )
    reason[rows] = np.where(dev > 0, np.int8(ABOVE), np.int8(BELOW))
    deviation[rows] = dev
    return confirmed(series, severity, persistent(series, severity, required), quality), reason, deviation
