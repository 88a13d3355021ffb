"""One evaluation run: cohorts generated, the engine and the naive baseline replayed on
each, scored, and the threshold sweeps; what the CLI, the bench and the report share.

No output of its own: progress goes to the ``progress`` callback the caller gives.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from alerts.evaluation.alert_log import AlertLog
from alerts.evaluation.cohort import Cohort, generate
from alerts.evaluation.profiles import RulesFor, naive_rules_for, rules_for, with_changes
from alerts.evaluation.replay import REVIEW_DELAY_S, clock_events, replay
from alerts.evaluation.scoring import Score, score

__all__ = ["SWEEPS", "CohortResult", "StudyResult", "SweepPoint", "evaluate_cohort", "run_study", "sweep"]

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class CohortResult:
    label: str
    cohort: Cohort
    engine: Score
    naive: Score
    engine_log: AlertLog
    naive_log: AlertLog
    generate_s: float
    engine_s: float
    naive_s: float


@dataclass(frozen=True, slots=True)
class SweepPoint:
    value: float
    sensitivity: float
    clinical_fa_per_pw: float
    default: bool


@dataclass(frozen=True, slots=True)
class StudyResult:
    main: CohortResult
    validation: CohortResult | None
    sweeps: dict[str, list[SweepPoint]]
    sweep_s: float
    review_delay_s: int


def _quiet(_: str) -> None:
    return None


def _scored(log: AlertLog, cohort: Cohort) -> Score:
    conditions = [cohort.conditions(p) for p in range(cohort.n_patients)]
    return score(log, cohort.episodes, conditions, cohort.days)


def evaluate_cohort(
    label: str,
    seed: int,
    n_patients: int,
    days: int,
    review_delay_s: int = REVIEW_DELAY_S,
    progress: Progress = _quiet,
) -> CohortResult:
    began = time.perf_counter()
    cohort = generate(seed, n_patients, days)
    generated = time.perf_counter()
    progress(
        f"{label}: {n_patients} patients × {days} days, {len(cohort.readings)} values, "
        f"{len(cohort.episodes)} episodes, generated in {generated - began:.1f} s"
    )
    engine_log = replay(cohort, rules_for, review_delay_s)
    engine_done = time.perf_counter()
    progress(f"{label}: engine replayed in {engine_done - generated:.1f} s ({len(engine_log)} alert events)")
    naive_log = replay(cohort, naive_rules_for, review_delay_s)
    naive_done = time.perf_counter()
    progress(f"{label}: naive baseline replayed in {naive_done - engine_done:.1f} s")
    return CohortResult(
        label=label,
        cohort=cohort,
        engine=_scored(engine_log, cohort),
        naive=_scored(naive_log, cohort),
        engine_log=engine_log,
        naive_log=naive_log,
        generate_s=generated - began,
        engine_s=engine_done - generated,
        naive_s=naive_done - engine_done,
    )


def _spo2_fall(points: float) -> dict[str, Any]:
    return {"baselines": {"spo2": {"clinical_change": points}}}


def _systolic_average(amber: int) -> dict[str, Any]:
    return {"averages": {"systolic": {"amber": {"at_or_above": amber}}}}


def _weight(kg: float) -> dict[str, Any]:
    return {"weight_gain": {"window": {"gain_kg": kg}}}


def _baseline_k(k: float) -> dict[str, Any]:
    return {"baselines": {m: {"amber_k": k} for m in ("weight", "pulse", "systolic")}}


#: Each sweep: its label, the values tried (the default among them) and the change each is
#: (applied for every patient, over their condition profiles).
SWEEPS: Final[dict[str, tuple[tuple[float, ...], float, Callable[[Any], Mapping[str, Any]]]]] = {
    "SpO2 fall from own baseline that always counts, %": ((3, 4, 5, 6), 4, _spo2_fall),
    "Home systolic 7-day average amber edge, mmHg": ((140, 150, 160, 170), 150, _systolic_average),
    "Weight gain in 3 days, kg": ((1.5, 2.0, 2.5, 3.0), 2.0, _weight),
    "Baseline amber k (weight, pulse, systolic)": ((2.5, 3.0, 4.0, 5.0), 3.0, _baseline_k),
}


def sweep(
    result: CohortResult, review_delay_s: int, progress: Progress = _quiet
) -> dict[str, list[SweepPoint]]:
    """Sensitivity against clinical false alerts as each main threshold varies, on the
    same cohort; the default point is the engine run already made, and the clock's findings
    (which no swept rule touches) are computed once."""
    clock = clock_events(result.cohort, rules_for)
    curves: dict[str, list[SweepPoint]] = {}
    for name, (values, default, change) in SWEEPS.items():
        points: list[SweepPoint] = []
        for value in values:
            if value == default:
                found = result.engine
            else:
                variant: RulesFor = with_changes(rules_for, change(value))
                found = _scored(replay(result.cohort, variant, review_delay_s, clock=clock), result.cohort)
            points.append(
                SweepPoint(float(value), found.sensitivity, found.clinical_fa_per_pw, value == default)
            )
        progress(f"sweep: {name} done")
        curves[name] = points
    return curves


def run_study(
    seed: int = 0,
    n_patients: int = 500,
    days: int = 90,
    review_delay_s: int = REVIEW_DELAY_S,
    *,
    validation_seed: int | None = 2,
    sweeps: bool = True,
    progress: Progress = _quiet,
) -> StudyResult:
    main = evaluate_cohort(f"cohort (seed {seed})", seed, n_patients, days, review_delay_s, progress)
    validation = None
    if validation_seed is not None:
        validation = evaluate_cohort(
            f"validation: not tuned on (seed {validation_seed})",
            validation_seed,
            n_patients,
            days,
            review_delay_s,
            progress,
        )
    began = time.perf_counter()
    curves = sweep(main, review_delay_s, progress) if sweeps else {}
    return StudyResult(main, validation, curves, time.perf_counter() - began, review_delay_s)
