"""All of an evaluation's readings sorted once, by measure, patient, time and input order, so
that each rule gets one measure's rows as a ``Series`` without sorting again.

Sorting dominates a full re-evaluation, so it packs the sort key into one int64 where it
fits (see ``SortedReadings``); pure NumPy.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.columns import MEASURES, ReadingColumns, measure_code
from alerts.rules.series import IntArray, Series
from common.wire.vocabulary import Measure

__all__ = ["SortedReadings", "concatenated", "radix_order"]

_INT64_LIMIT: Final[int] = 1 << 62


def concatenated(history: ReadingColumns | None, batch: ReadingColumns) -> tuple[ReadingColumns, int]:
    if history is None or len(history) == 0:
        return batch, 0
    joined = ReadingColumns(
        patient=np.concatenate([history.patient, batch.patient]),
        time=np.concatenate([history.time, batch.time]),
        kind=np.concatenate([history.kind, batch.kind]),
        measure=np.concatenate([history.measure, batch.measure]),
        value=np.concatenate([history.value, batch.value]),
        flags=np.concatenate([history.flags, batch.flags]),
    )
    return joined, len(history)


def radix_order(key: IntArray, widest: int) -> IntArray:
    """Stable argsort of non-negative ``key`` < ``widest``: 16-bit digits, least significant
    first, each with NumPy's linear-time stable radix sort."""
    order: IntArray = np.argsort((key & 0xFFFF).astype(np.uint16), kind="stable")
    shift = 16
    while widest >> shift:
        digit = ((key[order] >> shift) & 0xFFFF).astype(np.uint16)
        order = order[np.argsort(digit, kind="stable")]
        shift += 16
    return order


class SortedReadings:
    """All readings sorted once by measure, patient, time, then input order; hands each rule
    the ``Series`` of one measure.

    The sort key packs bit fields (measure, patient, time − t0, input index) into one
    int64, so the key is unique and a plain (SIMD, unstable) ``np.sort`` of the keys is the
    stable order: several times faster on a million rows than an argsort, and shifts and
    masks of the sorted keys give back patient, time and measure without gathering those
    columns. A key that would not fit in 63 bits (an absurd time span with a huge caseload)
    falls back to a 16-bit radix argsort, and beyond 62 bits to ``lexsort``.
    """

    def __init__(self, readings: ReadingColumns, n_history: int, n_patients: int) -> None:
        n = len(readings)
        n_measures = len(MEASURES)
        t0 = int(readings.time.min()) if n else 0
        span = int(readings.time.max()) - t0 + 1 if n else 1
        index_bits = max(1, (n - 1).bit_length())
        time_bits = max(1, (span - 1).bit_length())
        patient_bits = max(1, (n_patients - 1).bit_length())
        measure_bits = max(1, (n_measures - 1).bit_length())
        measure: npt.NDArray[np.integer]
        if n and index_bits + time_bits + patient_bits + measure_bits <= 63:
            key = readings.measure.astype(np.int64) << patient_bits
            key |= readings.patient
            key <<= time_bits
            key |= readings.time - t0
            key <<= index_bits
            key |= np.arange(n, dtype=np.int64)
            key.sort()
            order = key & ((1 << index_bits) - 1)
            key >>= index_bits
            self.time = (key & ((1 << time_bits) - 1)) + t0
            key >>= time_bits
            self.patient = key & ((1 << patient_bits) - 1)
            measure = key >> patient_bits
        else:
            widest = n_measures * n_patients * span
            if n == 0:
                order = np.zeros(0, dtype=np.int64)
            elif widest < _INT64_LIMIT:
                group = readings.measure.astype(np.int64) * n_patients + readings.patient
                order = radix_order(group * span + (readings.time - t0), widest)
            else:
                order = np.lexsort((readings.time, readings.patient, readings.measure)).astype(np.int64)
            self.patient = readings.patient[order].astype(np.int64)
            self.time = readings.time[order]
            measure = readings.measure[order]
        self.value = readings.value[order]
        self.flags = readings.flags[order]
        self.kind = readings.kind[order]
        self.source = order
        self.new = order >= n_history
        self.bounds = np.searchsorted(measure, np.arange(n_measures + 1)).tolist()
        self._cache: dict[Measure, Series] = {}

    def series(self, measure: Measure) -> Series:
        if measure not in self._cache:
            code = measure_code(measure)
            part = slice(self.bounds[code], self.bounds[code + 1])
            self._cache[measure] = Series.of(
                self.patient[part],
                self.time[part],
                self.value[part],
                self.flags[part],
                self.kind[part],
                self.source[part],
                self.new[part],
            )
        return self._cache[measure]
