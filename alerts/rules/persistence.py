"""Persistence: alert only after N consecutive out-of-band readings of the same measure.

A single odd reading (a cuff put on badly, a cold finger on the oximeter) is the commonest
false alarm in remote monitoring, so each per-reading rule can ask for N in a row before it
alerts. "In a row" counts readings, not days: the N most recent readings of that measure up
to and including this one, however far apart. The run's severity is the *weakest* of the N
(amber, amber, red with N = 3 is amber): a red alert needs N red readings. With fewer than N
readings on record there is no run, so nothing fires.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from alerts.rules.series import IntArray, Series, shifted_within_group

Int8Array = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]


def persistent(series: Series, severity: Int8Array, required: IntArray) -> Int8Array:
    """Each row's severity over its run of ``required[i]`` readings (0 if the run is short)."""
    out = severity.copy()
    most = int(required.max()) if len(required) else 1
    for k in range(1, most):
        earlier = shifted_within_group(series, severity, k, 0)
        out = np.where(required > k, np.minimum(out, earlier), out).astype(np.int8)
    return out


def needed_for(series: Series, required: IntArray) -> BoolArray:
    """Rows whose own severity a new row's run looks at: a new row and the ``required − 1``
    rows before it. Expensive rules (baselines) evaluate only these."""
    needed = series.new.copy()
    most = int(required.max()) if len(required) else 1
    if most <= 1:
        return needed
    # Row j is needed when some new row i = j + k (same patient) has required[i] > k.
    n = len(series)
    index = np.arange(n)
    for k in range(1, most):
        if k >= n:
            break
        later = index[: n - k] + k
        same = series.group_start[later] <= index[: n - k]
        hit = same & series.new[later] & (required[later] > k)
        needed[: n - k] |= hit
    return needed
