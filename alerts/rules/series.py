"""The sorted per-measure view every rule works on, and the window arithmetic they share.

The engine sorts all readings once; a rule then sees one measure's rows grouped by patient
and ordered by time, so "this patient's previous readings" is a contiguous run ending just
before the row, and a time window is a ``searchsorted`` away. Ties in time keep input order
(history before batch), which is also how the oracle breaks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_KEY_LIMIT: Final[int] = 1 << 62


@dataclass(frozen=True, slots=True)
class Series:
    """Rows of one measure, sorted by patient then time.

    ``source`` is the row's index in the engine's input (history rows first, then batch);
    ``new`` marks batch rows, the only ones a finding may be raised on; ``group_start`` is
    the index of the first row of the same patient, so ``range(group_start[i], i)`` is
    everything that patient measured before row i.
    """

    patient: IntArray
    time: IntArray
    value: FloatArray
    flags: npt.NDArray[np.uint32]
    kind: npt.NDArray[np.int8]
    source: IntArray
    new: BoolArray
    group_start: IntArray
    group_id: IntArray

    def __len__(self) -> int:
        return len(self.patient)

    @classmethod
    def of(
        cls,
        patient: IntArray,
        time: IntArray,
        value: FloatArray,
        flags: npt.NDArray[np.uint32],
        kind: npt.NDArray[np.int8],
        source: IntArray,
        new: BoolArray,
    ) -> Series:
        """Wrap rows that are already sorted by patient then time."""
        n = len(patient)
        starts = np.ones(n, dtype=np.bool_)
        if n:
            np.not_equal(patient[1:], patient[:-1], out=starts[1:])
        group_id = np.cumsum(starts, dtype=np.int64) - 1
        first_rows = np.flatnonzero(starts)
        return cls(patient, time, value, flags, kind, source, new, first_rows[group_id], group_id)

    def where(self, keep: BoolArray) -> Series:
        """The rows where ``keep`` holds, still sorted; a no-op copy-free path when all do."""
        if bool(keep.all()):
            return self
        return Series.of(
            self.patient[keep],
            self.time[keep],
            self.value[keep],
            self.flags[keep],
            self.kind[keep],
            self.source[keep],
            self.new[keep],
        )


def window_start(series: Series, window_s: IntArray) -> IntArray:
    """First row of the same patient with time ≥ time[i] − window_s[i] (the window is
    inclusive at its start); rows before i from there on are the row's window."""
    n = len(series)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    t0 = int(series.time.min())
    span = int(series.time.max()) - t0 + 1
    n_groups = int(series.group_id[-1]) + 1
    if n_groups * span >= _KEY_LIMIT:
        raise ValueError("readings span too long a time for one evaluation; evaluate in smaller batches")
    relative = series.time - t0
    key = series.group_id * span + relative
    lower = series.group_id * span + np.maximum(relative - window_s, 0)
    start: IntArray = np.searchsorted(key, lower, side="left").astype(np.int64)
    return start


def last_row_of_previous_day(series: Series, day: IntArray) -> IntArray:
    """For each row i: the index of the last row of row i's patient on day ``day[i] − 1``,
    or −1 if there is none.

    ``day`` must be non-decreasing within each patient (it is, for a fixed UTC offset), so
    a patient's rows of one day are a contiguous run and the row just before a run is the
    last row of the latest earlier day: one linear pass, no search.
    """
    n = len(series)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    run_starts = np.ones(n, dtype=np.bool_)
    run_starts[1:] = (series.group_id[1:] != series.group_id[:-1]) | (day[1:] != day[:-1])
    index = np.arange(n, dtype=np.int64)
    before = np.maximum.accumulate(np.where(run_starts, index, 0)) - 1
    safe = np.maximum(before, 0)
    found = (before >= 0) & (series.group_id[safe] == series.group_id) & (day[safe] == day - 1)
    return np.where(found, before, -1)


def range_min(values: FloatArray, lo: IntArray, hi: IntArray) -> FloatArray:
    """``min(values[lo[i]:hi[i]])`` for every i, by a sparse table (exact; ranges non-empty).

    Windows can hold any number of rows (a scale used ten times in a day), so a fixed
    number of shifted comparisons would be wrong; the table answers each range with two
    lookups at one level.
    """
    length = hi - lo
    out = np.empty(len(lo), dtype=np.float64)
    if len(lo) == 0:
        return out
    if int(length.min()) < 1:
        raise ValueError("range_min needs non-empty ranges")
    # floor(log2(length)) exactly: frexp gives length = m · 2**e with 0.5 ≤ m < 1.
    level = np.frexp(length.astype(np.float64))[1].astype(np.int64) - 1
    table = values
    for k in range(int(level.max()) + 1):
        if k:
            half = 1 << (k - 1)
            table = np.minimum(table[:-half], table[half:])
        at = np.flatnonzero(level == k)
        if len(at):
            width = 1 << k
            out[at] = np.minimum(table[lo[at]], table[hi[at] - width])
    return out


def shifted_within_group(
    series: Series, values: npt.NDArray[np.generic], k: int, fill: object
) -> npt.NDArray[np.generic]:
    """``values[i − k]`` when that row is the same patient's, else ``fill``."""
    n = len(series)
    out = np.full(n, fill, dtype=values.dtype)
    if k < n:
        index = np.arange(k, n)
        same = index - k >= series.group_start[k:]
        out[k:] = np.where(same, values[: n - k], out[k:])
    return out
