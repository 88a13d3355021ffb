"""The synthetic cohort: deterministic per seed, and realistic in the ways the evaluation
depends on (ranges, device flags, AF flags, late bursts after outages, episodes only
where they can be seen)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from alerts.columns import flag_bit, kind_code, measure_code
from alerts.evaluation.artefacts import RETAKE_DELAY_S
from alerts.evaluation.cohort import Cohort, generate
from alerts.evaluation.episodes import FIRST_ONSET_DAY
from common.wire.vocabulary import MEASURES, Measure, ReadingKind, StatusFlag

DAY = 86400


@cache
def small(seed: int = 1) -> Cohort:
    return generate(seed, n_patients=40, days=45)


def _arrays(cohort: Cohort) -> dict[str, np.ndarray]:
    r, e, o = cohort.readings, cohort.episodes, cohort.outages
    return {
        **{f"r.{name}": getattr(r, name) for name in r.__dataclass_fields__},
        "e.patient": e.patient,
        "e.kind": e.kind,
        "e.onset": e.onset,
        "e.end": e.end,
        "o.start": o.start,
        "o.end": o.end,
        "conditions": cohort.patients.conditions,
        "af": cohort.patients.af,
    }


def test_the_same_seed_gives_the_same_cohort_and_another_seed_another() -> None:
    first, again, other = _arrays(small(1)), _arrays(generate(1, n_patients=40, days=45)), _arrays(small(2))
    for name, array in first.items():
        assert np.array_equal(array, again[name]), name
    assert not np.array_equal(first["r.value"][:1000], other["r.value"][:1000])
    assert not np.array_equal(first["conditions"], other["conditions"])


def test_values_stay_within_what_a_body_and_a_device_produce() -> None:
    r = small().readings
    implausible = (r.flags & flag_bit(StatusFlag.IMPLAUSIBLE)) != 0
    for measure in (Measure.SYSTOLIC, Measure.DIASTOLIC, Measure.PULSE, Measure.SPO2, Measure.WEIGHT):
        values = r.value[(r.measure == measure_code(measure)) & ~implausible]
        spec = MEASURES[measure]
        assert len(values) > 100, measure
        assert spec.plausible_min <= values.min() and values.max() <= spec.plausible_max, measure
    temperature = r.value[r.measure == measure_code(Measure.TEMPERATURE)]
    assert temperature.min() >= 33.0 and temperature.max() <= 41.0
    spo2 = r.value[r.measure == measure_code(Measure.SPO2)]
    assert spo2.max() <= 100
    assert np.all(spo2[implausible[r.measure == measure_code(Measure.SPO2)]] < 50)
    # Devices report whole mmHg, whole %, 0.1 kg.
    bp = r.value[r.measure == measure_code(Measure.SYSTOLIC)]
    assert np.array_equal(bp, np.round(bp))


def test_device_artefacts_carry_their_flags_and_user_artefacts_do_not() -> None:
    r = small().readings
    bp_flags = (
        flag_bit(StatusFlag.CUFF_LOOSE)
        | flag_bit(StatusFlag.BODY_MOVEMENT)
        | flag_bit(StatusFlag.IMPROPER_POSITION)
    )
    spo2_flags = flag_bit(StatusFlag.LOW_PERFUSION) | flag_bit(StatusFlag.SIGNAL_QUESTIONABLE)
    assert np.all((r.flags[r.artefact == 1] & bp_flags) != 0)
    assert np.all((r.flags[r.artefact == 3] & spo2_flags) != 0)
    for unflagged in (2, 5):  # exertion before a BP, clothes on the scale
        assert np.count_nonzero(r.artefact == unflagged) > 0
        assert np.all((r.flags[r.artefact == unflagged] & (bp_flags | spo2_flags)) == 0)
    assert np.count_nonzero(r.artefact == 1) > 0 and np.count_nonzero(r.artefact == 3) > 0


def test_some_artefacts_are_followed_by_a_clean_retake_minutes_later() -> None:
    r = small().readings
    first = np.unique(r.reading, return_index=True)[1]
    patient, taken, kind = r.patient[first], r.taken_at[first], r.kind[first]
    artefact = r.artefact[first]
    retakes = np.flatnonzero(r.retake[first])
    assert len(retakes) > 10
    assert np.all(artefact[retakes] == 0)
    for i in retakes[:50]:
        gap = taken[i] - taken
        prompted = (patient == patient[i]) & (kind == kind[i]) & (artefact > 0)
        assert np.any(prompted & (gap >= RETAKE_DELAY_S[0]) & (gap <= RETAKE_DELAY_S[1]))


def test_af_patients_have_most_bp_readings_flagged_irregular_and_others_few() -> None:
    cohort = small()
    r = cohort.readings
    bp = r.measure == measure_code(Measure.SYSTOLIC)
    flagged = (r.flags & flag_bit(StatusFlag.IRREGULAR_PULSE)) != 0
    af = cohort.patients.af[r.patient]
    assert cohort.patients.af.any()
    assert flagged[bp & af].mean() > 0.7
    assert flagged[bp & ~af].mean() < 0.1
    assert "af" in cohort.conditions(int(np.flatnonzero(cohort.patients.af)[0]))


def test_readings_taken_during_a_hub_outage_arrive_late_in_a_burst_after_it() -> None:
    cohort = small()
    r, o = cohort.readings, cohort.outages
    late = 0
    for patient, start, end in zip(o.patient.tolist(), o.start.tolist(), o.end.tolist(), strict=True):
        inside = (r.patient == patient) & (r.taken_at >= start) & (r.taken_at < end)
        assert np.all(r.arrives_at[inside] >= end)
        assert np.all(r.arrives_at[inside] <= end + 600)
        late += int(inside.sum())
    assert late > 0
    assert np.all(r.arrives_at >= r.taken_at)


def test_episodes_go_only_to_patients_who_have_the_condition_and_measure_its_signs() -> None:
    cohort = generate(3, n_patients=120, days=60)
    e, r = cohort.episodes, cohort.readings
    assert len(e) >= 5
    needs = {
        "hf_decompensation": ("hf", ReadingKind.WEIGHT),
        "copd_exacerbation": ("copd", ReadingKind.SPO2),
        "hypertensive_crisis": ("hypertension", ReadingKind.BLOOD_PRESSURE),
        "sepsis_like": (None, ReadingKind.TEMPERATURE),
    }
    for i in range(len(e)):
        patient = int(e.patient[i])
        condition, kind = needs.get(e.type_name(i), (None, None))
        if condition is not None:
            assert condition in cohort.conditions(patient)
        if kind is not None:
            assert np.any((r.patient == patient) & (r.kind == kind_code(kind)))
        assert e.onset[i] >= cohort.start + FIRST_ONSET_DAY * DAY
        assert e.onset[i] < e.end[i] < cohort.start + cohort.days * DAY
    assert len(np.unique(e.patient)) == len(e)


@pytest.mark.parametrize("episode_type", ["hf_decompensation", "copd_exacerbation"])
def test_an_episode_moves_the_signs_it_should(episode_type: str) -> None:
    cohort = generate(3, n_patients=120, days=60)
    e, r = cohort.episodes, cohort.readings
    measure = Measure.WEIGHT if episode_type == "hf_decompensation" else Measure.SPO2
    changes = []
    for i in (i for i in range(len(e)) if e.type_name(i) == episode_type):
        mine = (r.patient == e.patient[i]) & (r.measure == measure_code(measure)) & (r.artefact == 0)
        before = r.value[mine & (r.taken_at < e.onset[i]) & (r.taken_at >= e.onset[i] - 7 * DAY)]
        peak = r.value[mine & (r.taken_at >= e.end[i] - DAY) & (r.taken_at <= e.end[i])]
        if len(before) and len(peak):  # missed days are part of the cohort
            changes.append(peak.mean() - np.median(before))
    assert changes
    assert np.median(changes) > 1.0 if measure is Measure.WEIGHT else np.median(changes) < -1.5


@pytest.mark.parametrize(
    ("measure", "low", "high"),
    [
        (Measure.SYSTOLIC, 6.5, 9.5),  # Kikuya 2008: home SBP day-by-day SD about 8 mmHg
        (Measure.DIASTOLIC, 4.0, 7.0),  # about 5-6 mmHg
        (Measure.SPO2, 0.9, 1.8),  # Burton 2015: 1-1.5 % (COPD more)
        (Measure.WEIGHT, 0.5, 1.0),  # stable HF: the 2 kg/72 h rule stays about 97 % specific
        (Measure.TEMPERATURE, 0.15, 0.35),  # Geneva 2019: about 0.2-0.3 °C
    ],
)
def test_true_readings_vary_within_a_person_as_the_sources_say(
    measure: Measure, low: float, high: float
) -> None:
    cohort = generate(7, n_patients=80, days=45)
    r = cohort.readings
    clean = (r.artefact == 0) & ~r.retake & ~np.isin(r.patient, cohort.episodes.patient)
    morning = (r.taken_at - cohort.start) % DAY < 14 * 3600
    mine = clean & morning & (r.measure == measure_code(measure))
    day = (r.taken_at - cohort.start) // DAY
    first = np.unique(r.patient[mine].astype(np.int64) * 1000 + day[mine], return_index=True)[1]
    patient, value = r.patient[mine][first], r.value[mine][first]
    sds = [value[patient == p].std() for p in np.unique(patient) if np.count_nonzero(patient == p) >= 20]
    assert len(sds) >= 10
    assert low <= float(np.median(sds)) <= high
