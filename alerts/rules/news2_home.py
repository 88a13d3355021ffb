"""NEWS2 on the parameters measured at home, for each new reading.

For a reading at time t the score takes, for every NEWS2 parameter a device measures
(respiration rate, SpO2, systolic pressure, pulse, temperature), the patient's latest
*confirmed* value taken in [t − window, t] (quality-flagged values are left out: a loose
cuff must not score), and scores them with ``alerts.news2.score`` (chart 1; SpO2 scale 2
per patient). Consciousness and air/oxygen are not measured at home and score nothing:
the total is a partial score, never presented as the full NEWS2 (``n_scored`` of 7).

It fires on the aggregate: amber at ``amber_at`` or more, red at ``red_at`` or more, and
only when at least ``min_parameters`` were scored (one parameter alone is the threshold
rules' business). A single parameter scoring 3 raises ``single_3`` if set. A flagged reading
triggers no score of its own (its retake will). One finding per reading: the rows of one
reading (a BP reading's systolic and pulse) share a score, which is reported on the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.news2 import score
from alerts.rules.quality import unconfirmed
from alerts.rules.series import FloatArray, IntArray, Series
from alerts.rules.table import News2Params, QualityParams
from alerts.severity import Severity
from common.wire.vocabulary import Measure

Int8Array = npt.NDArray[np.int8]

#: The NEWS2 parameters a home device can measure, by ``alerts.news2.score`` keyword.
HOME_PARAMETERS: Final[dict[str, Measure]] = {
    "respiration_rate": Measure.RESPIRATION_RATE,
    "spo2": Measure.SPO2,
    "systolic": Measure.SYSTOLIC,
    "pulse": Measure.PULSE,
    "temperature": Measure.TEMPERATURE,
}
_KEY_LIMIT: Final[int] = 1 << 62


@dataclass(frozen=True, slots=True)
class HomeScores:
    """One row per scored reading."""

    patient: IntArray
    time: IntArray
    source: IntArray  # the reading's first row in the engine's input
    severity: Int8Array
    single: npt.NDArray[np.bool_]  # raised by a single parameter scoring 3, not the aggregate
    total: FloatArray
    n_scored: IntArray


def _latest(series: Series, patient: IntArray, time: IntArray, window_s: IntArray) -> FloatArray:
    """The series' last value at or before ``time`` and within ``window_s``, per query (NaN
    when none). Ties in time: the last row in input order, as the series is sorted."""
    out = np.full(len(patient), np.nan)
    if len(series) == 0 or len(patient) == 0:
        return out
    t0 = min(int(series.time.min()), int(time.min()))
    span = max(int(series.time.max()), int(time.max())) - t0 + 1
    n_patients = max(int(series.patient.max()), int(patient.max())) + 1
    if n_patients * span >= _KEY_LIMIT:
        raise ValueError("readings span too long a time for one evaluation; evaluate in smaller batches")
    key = series.patient * span + (series.time - t0)
    at = np.searchsorted(key, patient * span + (time - t0), side="right") - 1
    safe = np.maximum(at, 0)
    found = (at >= 0) & (series.patient[safe] == patient) & (series.time[safe] >= time - window_s)
    out[found] = series.value[safe[found]]
    return out


def _first_row_per_reading(
    patient: IntArray, time: IntArray, source: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """Sorted by patient, time and source: one packed int64 key sorted when it fits (several
    times faster than a three-key lexsort on a full re-evaluation), else the lexsort."""
    if len(patient) == 0:
        return patient, time, source
    t0 = int(time.min())
    bits = [
        int(patient.max()).bit_length(),
        (int(time.max()) - t0).bit_length(),
        int(source.max()).bit_length(),
    ]
    if sum(bits) <= 62:
        key = ((patient << bits[1]) | (time - t0)) << bits[2] | source
        key.sort()
        source = key & ((1 << bits[2]) - 1)
        key >>= bits[2]
        return key >> bits[1], (key & ((1 << bits[1]) - 1)) + t0, source
    order = np.lexsort((source, time, patient))
    return patient[order], time[order], source[order]


def evaluate(by_measure: dict[Measure, Series], params: News2Params, quality: QualityParams) -> HomeScores:
    """Score every new, unflagged reading of a NEWS2 parameter; ``by_measure`` holds each
    parameter's finite rows."""
    clean = {measure: series.where(~unconfirmed(series, quality)) for measure, series in by_measure.items()}
    patient_parts, time_parts, source_parts = [], [], []
    for series in clean.values():
        new = np.flatnonzero(series.new)
        patient_parts.append(series.patient[new])
        time_parts.append(series.time[new])
        source_parts.append(series.source[new])
    patient = np.concatenate(patient_parts) if patient_parts else np.zeros(0, dtype=np.int64)
    time = np.concatenate(time_parts) if time_parts else np.zeros(0, dtype=np.int64)
    source = np.concatenate(source_parts) if source_parts else np.zeros(0, dtype=np.int64)
    keep = params.enabled[patient]
    patient, time, source = _first_row_per_reading(patient[keep], time[keep], source[keep])
    first = np.ones(len(patient), dtype=np.bool_)
    first[1:] = (patient[1:] != patient[:-1]) | (time[1:] != time[:-1])
    patient, time, source = patient[first], time[first], source[first]

    window = params.window_s[patient]
    values = {
        name: _latest(clean[measure], patient, time, window)
        if measure in clean
        else np.full(len(patient), np.nan)
        for name, measure in HOME_PARAMETERS.items()
    }
    result = score(spo2_scale=np.where(params.scale_2[patient], 2, 1), **values)
    total = np.asarray(result.total, dtype=np.float64).reshape(len(patient))
    n_scored = np.asarray(result.n_scored, dtype=np.int64).reshape(len(patient))
    single_3 = np.asarray(result.any_single_3, dtype=np.bool_).reshape(len(patient))
    enough = n_scored >= params.min_parameters[patient]
    aggregate = np.where(
        enough & (total >= params.red_at[patient]),
        np.int8(Severity.RED),
        np.where(enough & (total >= params.amber_at[patient]), np.int8(Severity.AMBER), np.int8(0)),
    ).astype(np.int8)
    from_single = np.where(single_3, params.single_3[patient], np.int8(0)).astype(np.int8)
    severity = np.maximum(aggregate, from_single)
    return HomeScores(patient, time, source, severity, from_single > aggregate, total, n_scored)
