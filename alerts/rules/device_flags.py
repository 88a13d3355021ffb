"""Repeated irregular-pulse flags from the BP monitor: possible atrial fibrillation.

One flagged reading is common (movement, an ectopic beat); repeated flags are worth a
clinician's look, but as a prompt (amber by default), not an emergency. A BP reading fires
when at least ``min_flagged`` of the patient's last ``last_n`` BP readings, up to and
including it, carry the flag; with fewer than ``last_n`` readings on record, those there
are count. One row stands for each BP reading: its systolic row (the measure every BP
reading must carry), whatever its value.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from alerts.columns import flag_bit
from alerts.rules.series import IntArray, Series
from alerts.rules.table import IrregularPulseParams
from common.wire.vocabulary import StatusFlag

Int8Array = npt.NDArray[np.int8]

IRREGULAR: int = flag_bit(StatusFlag.IRREGULAR_PULSE)


def repeated_irregular_pulse(series: Series, params: IrregularPulseParams) -> tuple[Int8Array, IntArray]:
    """Severity and the count of flagged readings in the run, per BP reading of ``series``."""
    patient = series.patient
    flagged = (series.flags & np.uint32(IRREGULAR)) != 0
    before = np.zeros(len(series) + 1, dtype=np.int64)
    np.cumsum(flagged, out=before[1:])
    end = np.arange(1, len(series) + 1)
    first = np.maximum(end - params.last_n[patient], series.group_start)
    count = before[end] - before[first]
    fires = params.enabled[patient] & (count >= params.min_flagged[patient])
    severity = np.where(fires, params.severity[patient], np.int8(0)).astype(np.int8)
    return severity, count
