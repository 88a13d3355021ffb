"""Missed readings and silent hubs, judged on a clock tick rather than on arrival.

A reading that never comes triggers nothing on arrival, so these rules run when the
server's clock ticks, from the last time each patient sent each kind of reading.

Missed reading: a schedule expects a reading of a kind every local day in
[``window_start``, ``due_by``). At tick T, the schedule's most recent deadline at or before
T (today's if T is at or past ``due_by``, else yesterday's) is missed when the patient's
last reading of that kind is before that day's ``window_start``. A late reading (after
``due_by``, before the tick) therefore clears it: the service wanted the reading, not
punctuality. With ``days`` = N the reading is missed only when none came since the window
of N − 1 days before (N consecutive scheduled days without one). Local time is UTC + ``utc_offset_s`` for the patient at the tick (the server
looks the offset up in the patient's zone, e.g. Europe/London, so this module needs no tz
database). A patient with no reading ever is missing one.

Hub silence: more than ``max_hours`` since the hub was last heard from (a heartbeat or any
reading). A patient whose hub has never been heard from has nothing to fall silent: that
is an installation problem, reported elsewhere, so no finding.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.columns import NEVER
from alerts.rules.series import BoolArray, IntArray
from alerts.rules.table import HubSilenceParams, ScheduleParams

SECONDS_PER_DAY: Final[int] = 86400


def missed(
    params: ScheduleParams, tick: int, last_reading: IntArray, utc_offset_s: IntArray
) -> tuple[BoolArray, IntArray, IntArray]:
    """Per patient: missed?, the missed deadline (UTC s) and seconds since it.

    ``last_reading`` is each patient's last reading time of the schedule's kind (``NEVER``).
    """
    local = tick + utc_offset_s
    day = np.floor_divide(local, SECONDS_PER_DAY)
    due_today = local - day * SECONDS_PER_DAY >= params.due_by_s
    deadline_day = np.where(due_today, day, day - 1)
    midnight = deadline_day * SECONDS_PER_DAY - utc_offset_s
    opens = midnight - (params.days - 1) * SECONDS_PER_DAY + params.window_start_s
    deadline = midnight + params.due_by_s
    is_missed = params.enabled & (last_reading < opens)
    return is_missed, deadline, tick - deadline


def hub_silent(params: HubSilenceParams, tick: int, last_contact: IntArray) -> tuple[BoolArray, IntArray]:
    """Per patient: silent?, and seconds since the hub was last heard from (0 if never)."""
    heard = last_contact != NEVER
    silence = np.where(heard, tick - np.where(heard, last_contact, tick), 0)
    return params.enabled & heard & (silence > params.max_silence_s), silence


def last_times(
    patient: IntArray, code: npt.NDArray[np.integer], time: IntArray, n_patients: int, n_codes: int
) -> IntArray:
    """Latest time per (patient, code) as an (n_patients, n_codes) array, ``NEVER`` if none."""
    latest = np.full(n_patients * n_codes, NEVER, dtype=np.int64)
    np.maximum.at(latest, patient * n_codes + code.astype(np.int64), time)
    return latest.reshape(n_patients, n_codes)
