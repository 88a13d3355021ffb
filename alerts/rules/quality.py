"""Unconfirmed readings: a value the device or the hub questioned raises nothing on its own.

A loose cuff, movement, a cold finger on the oximeter or an implausible value is the
commonest false alarm in remote monitoring; such a reading is still kept and shown, but it
counts only when the reading of the same measure just before it (within
``confirm_within_hours``) also offended, at the weaker of the two: the patient's clean
retake raises on its own merits, and two questionable readings in a row are taken as real.

The hub is asked for a retake (``quality.retake``, a finding of no severity) for every
flagged reading and, if the rule set says so, for a clean reading out of its bands — unless
the reading already is a retake (the same measure was taken within the hour before), so a
patient is never asked twice in a row.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.columns import flag_bit
from alerts.rules.series import BoolArray, Series, shifted_within_group
from alerts.rules.table import QualityParams
from common.wire.vocabulary import QUALITY_FLAGS

Int8Array = npt.NDArray[np.int8]

QUALITY_MASK: Final[int] = sum(flag_bit(flag) for flag in QUALITY_FLAGS)
#: A reading within this long after the previous one of its measure is taken as a retake.
RETAKE_WINDOW_S: Final[int] = 3600
_LONG_AGO: Final[int] = -(1 << 62)


def unconfirmed(series: Series, params: QualityParams | None = None) -> BoolArray:
    """Rows a device or the hub questioned (and, given ``params``, whose patient's rules
    hold such readings back)."""
    flagged: BoolArray = (series.flags & np.uint32(QUALITY_MASK)) != 0
    if params is not None:
        flagged &= params.enabled[series.patient]
    return flagged


def confirmed(series: Series, raw: Int8Array, run: Int8Array, params: QualityParams) -> Int8Array:
    """``run`` (a rule's severity after persistence) with flagged rows held back unless the
    previous reading of the measure, within the confirmation window, also offended (``raw``)."""
    flagged = unconfirmed(series, params)
    if not flagged.any():
        return run
    previous = shifted_within_group(series, raw, 1, np.int8(0))
    previous_time = shifted_within_group(series, series.time, 1, _LONG_AGO).astype(np.int64)
    recent = series.time - previous_time <= params.confirm_s[series.patient]
    held: Int8Array = np.where(flagged, np.where(recent, np.minimum(run, previous), 0), run).astype(np.int8)
    return held


def retake_wanted(
    series: Series, raw: Int8Array, enabled: BoolArray, params: QualityParams
) -> tuple[BoolArray, BoolArray]:
    """New rows for which the hub should ask for a retake, and whether each is for a flag
    (else for being out of range)."""
    flagged = unconfirmed(series, params)
    previous_time = shifted_within_group(series, series.time, 1, _LONG_AGO).astype(np.int64)
    first_try = series.time - previous_time > RETAKE_WINDOW_S
    out_of_range = (raw > 0) & params.retake_out_of_range[series.patient]
    on = enabled[series.patient] & params.enabled[series.patient]
    wanted: BoolArray = series.new & on & first_try & (flagged | out_of_range)
    return wanted, flagged
