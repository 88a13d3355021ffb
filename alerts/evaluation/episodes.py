"""Labelled deteriorations: which patients get one, when, and how it bends their signs.

An episode rises linearly from ``onset`` over its ramp, holds until ``end`` (when a
clinician would have had to act: the detection window is [onset, end]) and then recovers
linearly. Episodes go only to patients for whom they make sense *and* who measure the signs
that show them: a COPD exacerbation to a COPD patient with an oximeter, never a weight-only
heart-failure patient. One episode per patient at most, after two weeks of history so that
personal baselines have something to stand on. Pure: NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.evaluation.physiology import Patients
from common.wire.vocabulary import Measure, ReadingKind

__all__ = ["EPISODE_TYPES", "Episodes", "assign_episodes", "episode_shift"]

DAY: Final = 86400

EPISODE_TYPES: Final[tuple[str, ...]] = (
    "hf_decompensation",
    "copd_exacerbation",
    "hypertensive_crisis",
    "sepsis_like",
    "slow_drift",
)
#: Episodes per 500 patients × 90 days (about 120 in all), scaled with patient-days.
BASE_COUNT: Final[dict[str, int]] = {
    "hf_decompensation": 35,
    "copd_exacerbation": 35,
    "hypertensive_crisis": 15,
    "sepsis_like": 15,
    "slow_drift": 20,
}
BASE_PATIENT_DAYS: Final = 500 * 90
#: The first day an episode may start: the baselines need 14 days (7 readings) first.
FIRST_ONSET_DAY: Final = 15
_SHIFTED: Final = (
    Measure.SYSTOLIC,
    Measure.DIASTOLIC,
    Measure.PULSE,
    Measure.SPO2,
    Measure.WEIGHT,
    Measure.TEMPERATURE,
)


@dataclass(frozen=True, slots=True)
class Episodes:
    """One row per episode; ``amplitude[measure]`` is the full shift at the plateau."""

    patient: npt.NDArray[np.int64]
    kind: npt.NDArray[np.int8]  # index into EPISODE_TYPES
    onset: npt.NDArray[np.int64]
    ramp_end: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]
    recovered: npt.NDArray[np.int64]
    amplitude: dict[Measure, npt.NDArray[np.float64]]

    def __len__(self) -> int:
        return len(self.patient)

    def type_name(self, i: int) -> str:
        return EPISODE_TYPES[int(self.kind[i])]


def _eligible(patients: Patients, episode_type: str) -> npt.NDArray[np.bool_]:
    n = len(patients)
    kinds = [patients.measures(p) for p in range(n)]
    bp, spo2, weight, temperature = (
        np.array([kind in k for k in kinds], dtype=np.bool_)
        for kind in (
            ReadingKind.BLOOD_PRESSURE,
            ReadingKind.SPO2,
            ReadingKind.WEIGHT,
            ReadingKind.TEMPERATURE,
        )
    )
    if episode_type == "hf_decompensation":
        return patients.has("hf") & weight
    if episode_type == "copd_exacerbation":
        return patients.has("copd") & spo2
    if episode_type == "hypertensive_crisis":
        return patients.has("hypertension") & bp
    if episode_type == "sepsis_like":
        return temperature & (bp | spo2)
    return bp | weight  # slow_drift


def _profile(
    rng: np.random.Generator, episode_type: str, patients: Patients, patient: int
) -> tuple[float, float, float, dict[Measure, float]]:
    """(ramp, plateau, recovery) in days and the plateau shifts, from the brief's ranges."""
    u = rng.uniform
    sp = patients.set_point
    shift: dict[Measure, float] = {}
    if episode_type == "hf_decompensation":
        ramp, plateau, recovery = u(4, 10), u(0.5, 2), u(4, 10)
        shift = {Measure.WEIGHT: u(2, 5), Measure.PULSE: u(5, 12), Measure.SPO2: -u(1, 2)}
    elif episode_type == "copd_exacerbation":
        ramp, plateau, recovery = u(1, 4), u(2, 5), u(5, 14)
        shift = {Measure.SPO2: -u(3, 7), Measure.PULSE: u(8, 18)}
        if rng.random() < 0.3:
            shift[Measure.TEMPERATURE] = u(0.8, 1.6)
    elif episode_type == "hypertensive_crisis":
        ramp, plateau, recovery = u(0.25, 0.75), u(1, 3), u(1, 3)
        shift = {Measure.SYSTOLIC: max(0.0, u(185, 210) - sp[Measure.SYSTOLIC][patient])}
        if rng.random() < 0.5:
            shift[Measure.DIASTOLIC] = max(0.0, u(112, 128) - sp[Measure.DIASTOLIC][patient])
        else:
            shift[Measure.DIASTOLIC] = shift[Measure.SYSTOLIC] * 0.4
    elif episode_type == "sepsis_like":
        ramp, plateau, recovery = u(1, 2), u(1, 2), u(3, 7)
        fall = u(15, 30)
        shift = {
            Measure.TEMPERATURE: u(38, 39.5) - sp[Measure.TEMPERATURE][patient],
            Measure.PULSE: u(20, 30),
            Measure.SYSTOLIC: -fall,
            Measure.DIASTOLIC: -fall / 2,
            Measure.SPO2: -u(2, 4),
        }
    else:  # slow_drift: systolic or weight, whichever the patient measures (both: either)
        ramp, plateau, recovery = u(14, 21), u(2, 5), 7.0
        kinds = patients.measures(patient)
        on_weight = ReadingKind.WEIGHT in kinds and (
            ReadingKind.BLOOD_PRESSURE not in kinds or rng.random() < 0.5
        )
        if on_weight:
            ramp = 21.0
            shift = {Measure.WEIGHT: u(2.5, 3.5)}
        else:
            rise = u(20, 30)
            shift = {Measure.SYSTOLIC: rise, Measure.DIASTOLIC: rise / 2}
    return ramp, plateau, recovery, shift


def assign_episodes(rng: np.random.Generator, patients: Patients, days: int, start: int) -> Episodes:
    """Place the scaled number of each type; a type whose episodes cannot fit in the
    cohort's days (after the baseline fortnight) is left out rather than truncated."""
    n = len(patients)
    scale = n * days / BASE_PATIENT_DAYS
    free = np.ones(n, dtype=np.bool_)
    rows: list[tuple[int, int, int, int, int, int, dict[Measure, float]]] = []
    # Smallest pools first, so a broad type (slow drift) does not take a scarce one's patients.
    order = sorted(EPISODE_TYPES, key=lambda t: int(_eligible(patients, t).sum()))
    for episode_type in order:
        pool = np.flatnonzero(_eligible(patients, episode_type) & free)
        wanted = min(len(pool), max(1, round(BASE_COUNT[episode_type] * scale)))
        for patient in rng.permutation(pool)[:wanted]:
            ramp, plateau, recovery, shift = _profile(rng, episode_type, patients, int(patient))
            latest = days - (ramp + plateau) - 1
            if latest <= FIRST_ONSET_DAY:
                continue
            onset = start + round(rng.uniform(FIRST_ONSET_DAY, latest) * DAY)
            ramp_end = onset + round(ramp * DAY)
            end = ramp_end + round(plateau * DAY)
            recovered = end + round(recovery * DAY)
            code = EPISODE_TYPES.index(episode_type)
            rows.append((int(patient), code, onset, ramp_end, end, recovered, shift))
            free[patient] = False
    rows.sort(key=lambda row: (row[0], row[2]))
    amplitude = {m: np.array([row[6].get(m, 0.0) for row in rows], dtype=np.float64) for m in _SHIFTED}
    column = [np.array([row[i] for row in rows], dtype=np.int64) for i in range(6)]
    return Episodes(
        patient=column[0],
        kind=column[1].astype(np.int8),
        onset=column[2],
        ramp_end=column[3],
        end=column[4],
        recovered=column[5],
        amplitude=amplitude,
    )


def episode_shift(
    episodes: Episodes,
    n_patients: int,
    measure: Measure,
    patient: npt.NDArray[np.int64],
    time: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """The episode's shift of ``measure`` for each (patient, time): zero outside episodes."""
    which = np.full(n_patients, -1, dtype=np.int64)
    which[episodes.patient] = np.arange(len(episodes))
    shift = np.zeros(len(patient), dtype=np.float64)
    e = which[patient]
    has = e >= 0
    if not has.any() or measure not in episodes.amplitude:
        return shift
    e, t = e[has], time[has]
    onset, ramp_end = episodes.onset[e], episodes.ramp_end[e]
    end, recovered = episodes.end[e], episodes.recovered[e]
    rising = np.clip((t - onset) / np.maximum(ramp_end - onset, 1), 0.0, 1.0)
    falling = np.clip((recovered - t) / np.maximum(recovered - end, 1), 0.0, 1.0)
    fraction = np.where(t < end, rising, falling)
    fraction = np.where(t < onset, 0.0, fraction)
    shift[has] = episodes.amplitude[measure][e] * fraction
    return shift
