"""Bands on a patient's recent average: NICE NG136 judges home blood pressure on the mean
of several days' readings, so one high reading after a brisk walk is not hypertension.

For each new reading: the mean of the same measure's readings of the patient taken in
[time − days, time] (inclusive at both ends, this reading included), once there are at
least ``min_readings`` of them, judged against the average's bands exactly as a reading is
against threshold bands (recording precision, inclusive edges). Readings are averaged as
recorded (rounded to the recording precision first), so the sum is exact. A reading raises only when
its average enters a worse band than the previous reading's average was in: a patient whose
week averages high is one finding when it becomes so, not one a day for as long as it stays
so (a clinician's care plan answers a lasting state, not a daily alert). Quality-flagged
readings take no part (the caller leaves them out). No persistence: an average already is one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from alerts.rounding import recorded_units
from alerts.rules.series import FloatArray, Series, shifted_within_group, window_start
from alerts.rules.table import AverageParams
from alerts.rules.thresholds import banded

Int8Array = npt.NDArray[np.int8]


def evaluate(series: Series, params: AverageParams) -> tuple[Int8Array, Int8Array, FloatArray]:
    """Severity, reason and the average, per row of ``series`` (finite, unflagged values)."""
    patient = series.patient
    n = len(series)
    severity = np.zeros(n, dtype=np.int8)
    reason = np.zeros(n, dtype=np.int8)
    mean = np.full(n, np.nan)
    if not (series.new & params.enabled[patient]).any():
        return severity, reason, mean
    # Every row's average (a cumulative sum makes each one O(1)): a new row fires only
    # when its average is in a worse band than the previous reading's.
    # Averaged as recorded (whole units of the recording precision): sums of whole numbers
    # are exact, so the mean does not depend on the order it was summed in.
    decimals = params.decimals[patient]
    start = window_start(series, params.window_s[patient])
    before = np.zeros(n + 1)
    np.cumsum(recorded_units(series.value, decimals), out=before[1:])
    rows = np.arange(n)
    count = rows + 1 - start
    mean = (before[rows + 1] - before[start]) / count / 10.0**decimals
    enough = np.flatnonzero((count >= params.min_readings[patient]) & params.enabled[patient])
    banded_severity = np.zeros(n, dtype=np.int8)
    banded_severity[enough], reason[enough] = banded(mean[enough], patient[enough], params)
    previous = shifted_within_group(series, banded_severity, 1, np.int8(0)).astype(np.int8)
    rising = series.new & (banded_severity > previous)
    severity[rising] = banded_severity[rising]
    return severity, reason, mean
