"""A seeded synthetic cohort: patients, every reading they take (when taken, when it reaches
the server), and the deteriorations hidden in them.

Realism over convenience: readings wander by the published within-person variability
(``physiology``), people miss days and whole runs of days, hubs go offline for hours to days
and then deliver their backlog in one late burst, devices and users produce artefacts
(``artefacts``), and labelled episodes (``episodes``) bend the signs they would bend. The
same seed gives the same cohort, bit for bit. Pure: no I/O, no logging.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.columns import ReadingColumns, kind_code, measure_code
from alerts.evaluation.artefacts import draw_artefacts, irregular_pulse_flags
from alerts.evaluation.episodes import Episodes, assign_episodes, episode_shift
from alerts.evaluation.physiology import (
    AF_PULSE_READING_SD,
    MORNING_SYSTOLIC_EXCESS,
    SECOND_READING_SYSTOLIC,
    VARIABILITY,
    WEEKEND_WEIGHT_GAIN_FRACTION,
    Patients,
    day_effects,
    draw_patients,
)
from common.wire.vocabulary import Measure, ReadingKind

__all__ = ["DEFAULT_START", "Cohort", "Outages", "Readings", "generate"]

DAY: Final = 86400
HOUR: Final = 3600
#: Monday 5 January 2026, 00:00 UTC: winter, so Europe/London local time is UTC.
DEFAULT_START: Final = 1_767_571_200
AWAY_START: Final = 1 / 40  # SOURCES["away_streaks"]
AWAY_END: Final = 1 / 3
OUTAGE_EVERY_DAYS: Final = 45.0  # SOURCES["hub_outages"]
OUTAGE_MEDIAN_H: Final = 8.0
OUTAGE_SIGMA: Final = 1.1
OUTAGE_LIMITS_H: Final = (1.0, 96.0)
UPLOAD_DELAY_S: Final = (5, 90)  # online: the hub forwards within seconds
BURST_SPREAD_S: Final = 600  # back online: the backlog drains within ten minutes

KIND_MEASURES: Final[dict[ReadingKind, tuple[Measure, ...]]] = {
    ReadingKind.BLOOD_PRESSURE: (Measure.SYSTOLIC, Measure.DIASTOLIC, Measure.PULSE),
    ReadingKind.SPO2: (Measure.SPO2, Measure.PULSE),
    ReadingKind.WEIGHT: (Measure.WEIGHT,),
    ReadingKind.TEMPERATURE: (Measure.TEMPERATURE,),
}
_SPO2 = measure_code(Measure.SPO2)


@dataclass(frozen=True, slots=True)
class Outages:
    """Hub outages: no contact in [start, end); readings taken then arrive just after end."""

    patient: npt.NDArray[np.int64]
    start: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Readings:
    """One row per measured value, sorted by patient, time taken, reading id, measure.

    ``reading`` is the reading id (a BP reading's systolic, diastolic and pulse rows share
    it); ``artefact`` is the ground truth the engine never sees (index into
    ``artefacts.ARTEFACT_NAMES``, 0 = a true reading); ``retake`` marks a clean repeat.
    """

    reading: npt.NDArray[np.int64]
    patient: npt.NDArray[np.int32]
    taken_at: npt.NDArray[np.int64]
    arrives_at: npt.NDArray[np.int64]
    kind: npt.NDArray[np.int8]
    measure: npt.NDArray[np.int8]
    value: npt.NDArray[np.float64]
    flags: npt.NDArray[np.uint32]
    artefact: npt.NDArray[np.int8]
    retake: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.reading)

    def columns(self, rows: npt.NDArray[np.int64] | slice = slice(None)) -> ReadingColumns:
        """The engine's view of some rows (everything but arrival and the ground truth)."""
        return ReadingColumns(
            patient=self.patient[rows],
            time=self.taken_at[rows],
            kind=self.kind[rows],
            measure=self.measure[rows],
            value=self.value[rows],
            flags=self.flags[rows],
        )


@dataclass(frozen=True, slots=True)
class Cohort:
    seed: int
    days: int
    start: int
    patients: Patients
    episodes: Episodes
    outages: Outages
    readings: Readings

    @property
    def n_patients(self) -> int:
        return len(self.patients)

    def conditions(self, patient: int) -> tuple[str, ...]:
        """The patient's conditions, with ``"af"`` for known atrial fibrillation and
        ``"hypercapnic"`` for the patients whose clinician has prescribed 88–92 %."""
        extra: tuple[str, ...] = ("af",) if self.patients.af[patient] else ()
        if self.patients.hypercapnic(patient):
            extra += ("hypercapnic",)
        return self.patients.names(patient) + extra


@dataclass(frozen=True, slots=True)
class _Taken:
    """Reading-level arrays while the cohort is being built."""

    patient: npt.NDArray[np.int64]
    time: npt.NDArray[np.int64]
    kind: npt.NDArray[np.int8]
    repeat: npt.NDArray[np.int64]
    evening: npt.NDArray[np.bool_]

    def take(self, rows: npt.NDArray[np.int64]) -> _Taken:
        return _Taken(
            self.patient[rows], self.time[rows], self.kind[rows], self.repeat[rows], self.evening[rows]
        )

    def joined(self, other: _Taken) -> _Taken:
        return _Taken(
            *(np.concatenate([getattr(self, f), getattr(other, f)]) for f in _Taken.__dataclass_fields__)
        )


def _measuring_days(rng: np.random.Generator, patients: Patients, days: int) -> npt.NDArray[np.bool_]:
    """(n, days): did the patient measure at all that day? Adherence falls over the weeks,
    and runs of days away come and go as a two-state Markov chain."""
    n = len(patients)
    away = np.zeros((n, days), dtype=np.bool_)
    state = np.zeros(n, dtype=np.bool_)
    for day in range(days):
        starts = rng.random(n) < AWAY_START
        stops = rng.random(n) < AWAY_END
        state = np.where(state, ~stops, starts)
        away[:, day] = state
    chance = patients.adherence[:, None] * (1 - patients.decline[:, None] * np.arange(days) / 90)
    return ~away & (rng.random((n, days)) < chance)


def _scheduled(rng: np.random.Generator, patients: Patients, days: int, start: int) -> _Taken:
    measuring = _measuring_days(rng, patients, days)
    parts: list[tuple[npt.NDArray[np.int64], ...]] = []
    for patient in range(len(patients)):
        for session in patients.sessions(patient):
            on = np.flatnonzero(measuring[patient] & (rng.random(days) >= session.skip))
            offset = session.hour * HOUR + rng.normal(0, session.spread_min * 60, len(on))
            first = start + on * DAY + np.clip(np.round(offset), 5 * HOUR, 23.75 * HOUR).astype(np.int64)
            for repeat in range(session.repeats):
                gap = repeat * rng.integers(60, 91, len(on))
                parts.append(
                    (
                        np.full(len(on), patient),
                        first + gap,
                        np.full(len(on), kind_code(session.kind)),
                        np.full(len(on), repeat),
                        np.full(len(on), int(session.hour >= 12)),
                    )
                )
    columns = [np.concatenate([part[i] for part in parts]).astype(np.int64) for i in range(5)]
    return _Taken(columns[0], columns[1], columns[2].astype(np.int8), columns[3], columns[4].astype(np.bool_))


def _outages(rng: np.random.Generator, n: int, days: int, start: int) -> Outages:
    counts = rng.poisson(days / OUTAGE_EVERY_DAYS, n)
    patient = np.repeat(np.arange(n), counts)
    begin = start + rng.integers(0, days * DAY, len(patient))
    hours = np.clip(rng.lognormal(np.log(OUTAGE_MEDIAN_H), OUTAGE_SIGMA, len(patient)), *OUTAGE_LIMITS_H)
    end = begin + np.round(hours * HOUR).astype(np.int64)
    order = np.lexsort((begin, patient))
    merged: list[list[int]] = []
    for p, b, e in zip(patient[order].tolist(), begin[order].tolist(), end[order].tolist(), strict=True):
        if merged and merged[-1][0] == p and b <= merged[-1][2]:
            merged[-1][2] = max(merged[-1][2], e)
        else:
            merged.append([p, b, e])
    table = np.array(merged, dtype=np.int64).reshape(-1, 3)
    return Outages(table[:, 0], table[:, 1], table[:, 2])


def arrival_times(
    rng: np.random.Generator, outages: Outages, patient: npt.NDArray[np.int64], time: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """When each reading reaches the server: seconds after it is taken, or, taken while its
    hub is offline, in the burst just after the hub comes back."""
    online = time + rng.integers(UPLOAD_DELAY_S[0], UPLOAD_DELAY_S[1] + 1, len(time))
    if len(outages.patient) == 0:
        return online.astype(np.int64)
    span = 1 << 40
    keys = outages.patient * span + outages.start
    at = np.searchsorted(keys, patient * span + time, side="right") - 1
    safe = np.maximum(at, 0)
    inside = (at >= 0) & (outages.patient[safe] == patient) & (time < outages.end[safe])
    burst = outages.end[safe] + rng.integers(0, BURST_SPREAD_S + 1, len(time))
    return np.where(inside, burst, online).astype(np.int64)


def _values(
    rng: np.random.Generator,
    cohort_parts: tuple[Patients, Episodes, dict[Measure, npt.NDArray[np.float64]]],
    taken: _Taken,
    measure: Measure,
    start: int,
) -> npt.NDArray[np.float64]:
    """True physiology plus measurement noise, before artefacts and rounding."""
    patients, episodes, wander = cohort_parts
    day = (taken.time - start) // DAY
    value = patients.set_point[measure][taken.patient] + wander[measure][taken.patient, day]
    value += episode_shift(episodes, len(patients), measure, taken.patient, taken.time)
    sd = np.full(len(day), VARIABILITY[measure].reading_sd)
    if measure is Measure.PULSE:
        sd = np.where(patients.af[taken.patient], AF_PULSE_READING_SD, sd)
    value += sd * rng.standard_normal(len(day))
    if measure is Measure.SYSTOLIC:
        value += (
            np.where(taken.evening, 0.0, MORNING_SYSTOLIC_EXCESS) + SECOND_READING_SYSTOLIC * taken.repeat
        )
    if measure is Measure.WEIGHT:
        monday = (taken.time // DAY + 3) % 7 == 0
        value += np.where(
            monday, WEEKEND_WEIGHT_GAIN_FRACTION * patients.set_point[measure][taken.patient], 0
        )
    return value


def generate(seed: int = 0, n_patients: int = 500, days: int = 90, start: int = DEFAULT_START) -> Cohort:
    """The cohort for ``seed``; see the module docstring."""
    rng = np.random.default_rng(seed)
    patients = draw_patients(rng, n_patients)
    wander = day_effects(rng, patients, days)
    episodes = assign_episodes(rng, patients, days, start)
    taken = _scheduled(rng, patients, days, start)
    artefacts = draw_artefacts(rng, taken.kind)
    n_first = len(taken.patient)
    retakes = taken.take(artefacts.retake_of)
    retakes = _Taken(
        retakes.patient, retakes.time + artefacts.retake_delay, retakes.kind, retakes.repeat, retakes.evening
    )
    taken = taken.joined(retakes)
    which = np.concatenate([artefacts.which, np.zeros(len(retakes.patient), dtype=np.int8)])
    flags = np.concatenate([artefacts.flags, np.zeros(len(retakes.patient), dtype=np.uint32)])
    flags |= irregular_pulse_flags(rng, taken.kind, patients.af[taken.patient])
    outages = _outages(rng, n_patients, days, start)
    order = np.lexsort((taken.time, taken.patient))
    arrives = arrival_times(rng, outages, taken.patient[order], taken.time[order])
    reading_of = np.empty(len(order), dtype=np.int64)
    reading_of[order] = np.arange(len(order))  # reading id = rank by patient, then time
    arrives_at = arrives[reading_of]

    rows: list[tuple[npt.NDArray[np.generic], ...]] = []
    for kind, measures in KIND_MEASURES.items():
        mine = np.flatnonzero(taken.kind == kind_code(kind))
        part = taken.take(mine)
        for measure in measures:
            value = _values(rng, (patients, episodes, wander), part, measure, start)
            original = mine < n_first
            value[original] += artefacts.delta[measure][mine[original]]
            if measure is Measure.SPO2:
                implausible = which[mine] == 4
                value[implausible] = rng.integers(30, 50, int(implausible.sum()))
                value = np.minimum(value, 100.0)
            value = np.round(value, VARIABILITY[measure].decimals)
            rows.append(
                (
                    reading_of[mine],
                    np.full(len(mine), measure_code(measure), dtype=np.int8),
                    value,
                )
            )
    reading = np.concatenate([r[0] for r in rows]).astype(np.int64)
    measure_col = np.concatenate([r[1] for r in rows]).astype(np.int8)
    value_col = np.concatenate([r[2] for r in rows]).astype(np.float64)
    source = np.empty(len(order), dtype=np.int64)
    source[reading_of] = np.arange(len(order))  # reading id -> index into `taken`
    final = np.lexsort((measure_col, reading))
    reading, measure_col, value_col = reading[final], measure_col[final], value_col[final]
    at = source[reading]
    readings = Readings(
        reading=reading,
        patient=taken.patient[at].astype(np.int32),
        taken_at=taken.time[at],
        arrives_at=arrives_at[at],
        kind=taken.kind[at],
        measure=measure_col,
        value=value_col,
        flags=flags[at],
        artefact=which[at],
        retake=at >= n_first,
    )
    return Cohort(seed, days, start, patients, episodes, outages, readings)
