"""Heart-failure weight trends: a gain within a time window, or day-on-day gains.

Window rule (ESC/HFA "more than 2 kg in 3 days"): the reading is compared with the
*lowest* weight the patient recorded in the window before it (from ``time − days`` inclusive
up to, not including, this reading), so a gain is caught whichever day it started on. No
earlier reading in the window, no finding.

Consecutive-days rule (local plans' "1 kg or more on 2 consecutive days"): each local
calendar day's weight is its last reading so far; the reading fires when its weight is at
least ``gain_kg`` above the previous day's, and that day's above the day before, for
``consecutive_days`` gains over consecutive calendar days (a missing day breaks the run).

Gains are differences of stored doubles, so they are compared with a 1e-9 kg tolerance in
the clinician's favour of the written numbers: 80.3 − 79.3 is the 1 kg it was written as,
82.1 − 80.1 is not "more than 2 kg".
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.columns import REASON_CODE
from alerts.rules.series import (
    FloatArray,
    IntArray,
    Series,
    last_row_of_previous_day,
    range_min,
    window_start,
)
from alerts.rules.table import WeightGainDailyParams, WeightGainWindowParams

Int8Array = npt.NDArray[np.int8]

#: Tolerance for comparing weight differences (kg); see the module docstring.
WEIGHT_EPSILON: Final[float] = 1e-9
SECONDS_PER_DAY: Final[int] = 86400

GAIN_IN_WINDOW: int = REASON_CODE["gain_in_window"]
GAIN_ON_DAYS: int = REASON_CODE["gain_on_consecutive_days"]


def gain_in_window(series: Series, params: WeightGainWindowParams) -> tuple[Int8Array, FloatArray]:
    """Severity and gain (kg, NaN when not computed) per row; ``series`` holds finite weights."""
    patient = series.patient
    severity = np.zeros(len(series), dtype=np.int8)
    gain = np.full(len(series), np.nan)
    start = window_start(series, params.window_s[patient])
    rows = np.flatnonzero(series.new & params.enabled[patient] & (start < np.arange(len(series))))
    if len(rows) == 0:
        return severity, gain
    lowest = range_min(series.value, start[rows], rows)
    gain[rows] = series.value[rows] - lowest
    fires = gain[rows] > params.gain_kg[patient[rows]] + WEIGHT_EPSILON
    severity[rows[fires]] = params.severity[patient[rows[fires]]]
    return severity, gain


def local_day(time: IntArray, utc_offset_s: IntArray) -> IntArray:
    """Local calendar day number; ``utc_offset_s`` per row (local = UTC + offset)."""
    day: IntArray = np.floor_divide(time + utc_offset_s, SECONDS_PER_DAY)
    return day


def gain_on_consecutive_days(
    series: Series, params: WeightGainDailyParams, utc_offset_s: IntArray
) -> tuple[Int8Array, FloatArray]:
    """Severity and total gain over the run (kg, NaN when not computed) per row."""
    patient = series.patient
    n = len(series)
    severity = np.zeros(n, dtype=np.int8)
    gain = np.full(n, np.nan)
    candidates = series.new & params.enabled[patient]
    if not candidates.any():
        return severity, gain
    day = local_day(series.time, utc_offset_s[patient])
    needed = params.consecutive_days[patient]
    threshold = params.gain_kg[patient] - WEIGHT_EPSILON
    current = np.arange(n, dtype=np.int64)
    ok = candidates.copy()
    previous_day = last_row_of_previous_day(series, day)
    for step in range(int(needed[candidates].max())):
        active = ok & (needed > step)
        safe = np.maximum(current, 0)
        previous = previous_day[safe]
        found = previous >= 0
        step_ok = found & (series.value[safe] - series.value[np.maximum(previous, 0)] >= threshold)
        ok = np.where(active, step_ok, ok)
        current = np.where(active & step_ok, previous, current)
    fires = np.flatnonzero(ok)
    gain[fires] = series.value[fires] - series.value[current[fires]]
    severity[fires] = params.severity[patient[fires]]
    return severity, gain
