"""Hand-built cohorts for the replay and scoring tests: a few readings whose arrival,
history and lifecycle outcome can be worked out on paper."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from alerts.columns import kind_code, measure_code
from alerts.evaluation.cohort import DEFAULT_START, Cohort, Outages, Readings
from alerts.evaluation.episodes import EPISODE_TYPES, Episodes
from alerts.evaluation.physiology import CONDITIONS, Patients
from common.wire.vocabulary import Measure, ReadingKind

T0 = DEFAULT_START
DAY = 86400
HOUR = 3600

#: (patient, taken_at, arrives_at, kind, {measure: value})
Row = tuple[int, int, int, ReadingKind, Mapping[Measure, float]]


def hand_cohort(
    rows: Sequence[Row],
    *,
    n_patients: int = 1,
    days: int = 10,
    outages: Sequence[tuple[int, int, int]] = (),
    episodes: Sequence[tuple[int, str, int, int]] = (),
    conditions: Sequence[str] = ("hf",),
) -> Cohort:
    """A cohort of exactly these readings (ids in order of patient then time taken)."""
    ordered = sorted(rows, key=lambda row: (row[0], row[1]))
    columns: dict[str, list[float]] = {
        k: [] for k in ("reading", "patient", "taken", "arrives", "kind", "measure", "value")
    }
    for reading, (patient, taken, arrives, kind, values) in enumerate(ordered):
        for measure in sorted(values, key=measure_code):
            columns["reading"].append(reading)
            columns["patient"].append(patient)
            columns["taken"].append(taken)
            columns["arrives"].append(arrives)
            columns["kind"].append(kind_code(kind))
            columns["measure"].append(measure_code(measure))
            columns["value"].append(values[measure])
    n = len(columns["reading"])
    readings = Readings(
        reading=np.array(columns["reading"], dtype=np.int64),
        patient=np.array(columns["patient"], dtype=np.int32),
        taken_at=np.array(columns["taken"], dtype=np.int64),
        arrives_at=np.array(columns["arrives"], dtype=np.int64),
        kind=np.array(columns["kind"], dtype=np.int8),
        measure=np.array(columns["measure"], dtype=np.int8),
        value=np.array(columns["value"], dtype=np.float64),
        flags=np.zeros(n, dtype=np.uint32),
        artefact=np.zeros(n, dtype=np.int8),
        retake=np.zeros(n, dtype=np.bool_),
    )
    has = np.zeros((n_patients, len(CONDITIONS)), dtype=np.bool_)
    for name in conditions:
        has[:, CONDITIONS.index(name)] = True
    patients = Patients(
        conditions=has,
        af=np.zeros(n_patients, dtype=np.bool_),
        set_point={},
        adherence=np.ones(n_patients),
        decline=np.zeros(n_patients),
    )
    return Cohort(
        seed=0,
        days=days,
        start=T0,
        patients=patients,
        episodes=make_episodes(episodes),
        outages=Outages(
            patient=np.array([o[0] for o in outages], dtype=np.int64),
            start=np.array([o[1] for o in outages], dtype=np.int64),
            end=np.array([o[2] for o in outages], dtype=np.int64),
        ),
        readings=readings,
    )


def make_episodes(episodes: Sequence[tuple[int, str, int, int]]) -> Episodes:
    """(patient, type, onset, end) episodes that move weight (for the 'on its signs' figure)."""
    return Episodes(
        patient=np.array([e[0] for e in episodes], dtype=np.int64),
        kind=np.array([EPISODE_TYPES.index(e[1]) for e in episodes], dtype=np.int8),
        onset=np.array([e[2] for e in episodes], dtype=np.int64),
        ramp_end=np.array([e[3] for e in episodes], dtype=np.int64),
        end=np.array([e[3] for e in episodes], dtype=np.int64),
        recovered=np.array([e[3] + DAY for e in episodes], dtype=np.int64),
        amplitude={Measure.WEIGHT: np.full(len(episodes), 3.0)},
    )
