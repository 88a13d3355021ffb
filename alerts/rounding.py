"""Rounding a measured value to its recording precision, half-up, exactly as a person would.

NEWS2 and the threshold bands are written for observations recorded as integers (or one
decimal for temperature), and ``decimal.ROUND_HALF_UP`` on the value as written is what a
nurse charting 36.05 °C does. Floats make that subtle (36.05 is 36.04999… in binary), so
the one correct method lives here and every rule uses it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def recorded_units(values: FloatArray, decimals: npt.ArrayLike) -> FloatArray:
    """``values`` rounded half-up to ``decimals`` places (scalar or per row), returned in
    recording units (whole tenths for one decimal) so comparisons with band edges are
    between exact integers.

    Works on magnitudes so ties go away from zero like ``decimal.ROUND_HALF_UP``. The
    half-way point ``(2k+1) / (2·10^d)`` is one correctly rounded division of exact integers,
    i.e. the double nearest the decimal half-way point, so ``x >= halfway`` is true exactly
    when the decimal ``repr(x)`` is at or above it. ``floor(x·10^d)`` may land one step high
    when ``x`` is within an ulp below a step, which the comparison then rounds correctly.
    """
    scale = 10.0 ** np.asarray(decimals, dtype=np.float64)
    magnitude = np.abs(values)
    with np.errstate(over="ignore", invalid="ignore"):
        steps = np.floor(magnitude * scale)
        halfway = (2.0 * steps + 1.0) / (2.0 * scale)
        rounded = steps + (magnitude >= halfway)
    signed: FloatArray = np.copysign(rounded, values)
    return signed
