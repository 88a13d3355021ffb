"""The engine's one sort: every path (packed SIMD key, 16-bit radix, lexsort) gives the
stable order by measure, patient, time, then input order, and decodes the same columns.

The paths are chosen by how wide the key is, so the cases pick caseload sizes and time
spans that force each one.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.columns import MEASURES, ReadingColumns
from alerts.rules.series import Series, last_row_of_previous_day
from alerts.sorted_readings import SortedReadings

PATHS = {
    # (n_patients, largest time offset; times stay below alerts.columns.MAX_TIME): the
    # packed key needs its bit fields to fit in 63 bits, the radix key in 62
    "packed": (1_000, 30 * 86400),
    "radix": (1 << 18, (1 << 40) - 1_800_000_000),
    "lexsort": (1 << 21, (1 << 40) - 1_800_000_000),
}


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_sort_path_gives_the_stable_order(path: str, data: st.DataObject) -> None:
    n_patients, span = PATHS[path]
    n = data.draw(st.integers(1, 60))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    # Few distinct patients and times so that ties (same measure, patient and time) occur.
    patient = rng.choice([0, 1, n_patients - 1], n).astype(np.int32)
    time = (1_700_000_000 + rng.choice([0, 1, span], n)).astype(np.int64)
    measure = rng.integers(0, len(MEASURES), n).astype(np.int8)
    readings = ReadingColumns(
        patient=patient,
        time=time,
        kind=rng.integers(0, 3, n).astype(np.int8),
        measure=measure,
        value=rng.random(n),
        flags=rng.integers(0, 4, n).astype(np.uint32),
    )
    n_history = data.draw(st.integers(0, n))
    rows = SortedReadings(readings, n_history, n_patients)
    expected = np.lexsort((np.arange(n), time, patient, measure))
    assert rows.source.tolist() == expected.tolist()
    assert rows.patient.tolist() == patient[expected].tolist()
    assert rows.time.tolist() == time[expected].tolist()
    assert rows.value.tolist() == readings.value[expected].tolist()
    assert rows.new.tolist() == (expected >= n_history).tolist()
    for code in range(len(MEASURES)):
        part = slice(rows.bounds[code], rows.bounds[code + 1])
        assert (measure[expected][part] == code).all()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 6)), max_size=40))
def test_last_row_of_previous_day_matches_a_scan(rows: list[tuple[int, int]]) -> None:
    rows = sorted(rows)  # by patient, then day (non-decreasing within a patient)
    n = len(rows)
    patient = np.array([p for p, _ in rows], dtype=np.int64)
    day = np.array([d for _, d in rows], dtype=np.int64)
    series = Series.of(
        patient,
        day * 86400,
        np.zeros(n),
        np.zeros(n, dtype=np.uint32),
        np.zeros(n, dtype=np.int8),
        np.arange(n, dtype=np.int64),
        np.ones(n, dtype=np.bool_),
    )
    expected = [max((j for j in range(n) if rows[j] == (p, d - 1)), default=-1) for p, d in rows]
    assert last_row_of_previous_day(series, day).tolist() == expected
