"""Alert-engine throughput: the vectorised engine and the plain-Python oracle on the same data.

Run: ``.venv/bin/python bench/alerts.py [--patients N] [--reference-patients M] [--seed S]``.

Generates a seeded caseload (default 10,000 patients × 100 measurement rows = 1,000,000 rows
over 20 days: a daily weight, a daily BP as systolic/diastolic/pulse rows with occasional
irregular-pulse flags, an SpO2 with its pulse every other day; some patients gain weight,
some desaturate), with every rule kind on (thresholds, weight gain window and consecutive
days, baselines, persistence, missed readings and hub silence on a tick, irregular pulse).

Measured:
* engine, full re-evaluation: all rows are the batch (what the server does when rules
  change); this is the issue's figure;
* engine, ingest-like: the last day's rows are the batch, the 19 days before are history;
* reference: the oracle on the same data (all of it by default: about 15–20 s here;
  ``--reference-patients M`` runs it on the first M patients and extrapolates per row);
  the engine is run on exactly the rows the oracle saw and must agree with it exactly.
Readings per second counts measurement rows. No assertions: numbers are for comparing
changes on the same machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.columns import KINDS, MEASURES, FindingRecord, ReadingColumns, flag_bit, kind_code, measure_code
from alerts.engine import evaluate
from alerts.reference import rules as oracle
from alerts.ruleset.compiling import compile_rules
from alerts.ruleset.loading import apply_override, default_ruleset
from alerts.ruleset.models import RuleSet
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag

T = TypeVar("T")
DAY = 86400
T0 = 1_709_510_400  # 2024-03-04 00:00 UTC
DAYS = 20


def all_rules_on() -> RuleSet:
    return apply_override(
        default_ruleset(),
        {
            "weight_gain": {"daily": {"enabled": True}},
            "missed_readings": {"blood_pressure": {"window_start": "00:00", "due_by": "12:00"}},
        },
    )


def caseload(n_patients: int, seed: int) -> ReadingColumns:
    """Exactly 100 rows per patient: per day weight (1) + BP (3), SpO2 + pulse every other day."""
    rng = np.random.default_rng(seed)
    patients = np.arange(n_patients)
    days = np.arange(DAYS)
    grid_p, grid_d = np.meshgrid(patients, days, indexing="ij")
    p, d = grid_p.ravel(), grid_d.ravel()
    gainers = rng.random(n_patients) < 0.05
    desaturators = rng.random(n_patients) < 0.05
    base_weight = rng.normal(80, 12, n_patients)
    base_sys = rng.normal(135, 15, n_patients)
    base_pulse = rng.normal(74, 9, n_patients)
    base_spo2 = np.clip(rng.normal(96, 1.5, n_patients), 90, 99)
    n = len(p)

    def times(hour: float) -> npt.NDArray[np.int64]:
        jitter = rng.normal(0, 1800, n).astype(np.int64)
        return (T0 + d * DAY + int(hour * 3600) + jitter).astype(np.int64)

    weight = base_weight[p] + rng.normal(0, 0.4, n) + np.where(gainers[p] & (d > 14), (d - 14) * 0.8, 0.0)
    bp_time = times(8.5)
    systolic = base_sys[p] + rng.normal(0, 8, n)
    diastolic = systolic * 0.6 + rng.normal(0, 5, n)
    bp_pulse = base_pulse[p] + rng.normal(0, 6, n)
    irregular = np.where(rng.random(n) < 0.05, flag_bit(StatusFlag.IRREGULAR_PULSE), 0)
    spo2_days = (d % 2) == 0
    sp = p[spo2_days]
    sd = d[spo2_days]
    m = len(sp)
    spo2_time = (T0 + sd * DAY + 13 * 3600 + rng.normal(0, 1800, m)).astype(np.int64)
    spo2 = np.round(base_spo2[sp] + rng.normal(0, 1.0, m) - np.where(desaturators[sp] & (sd > 15), 4.0, 0.0))
    ox_pulse = base_pulse[sp] + rng.normal(0, 6, m)

    def block(
        patient: npt.NDArray[np.int64],
        when: npt.NDArray[np.int64],
        kind: ReadingKind,
        measure: Measure,
        value: npt.NDArray[np.float64],
        flags: npt.ArrayLike = 0,
    ) -> list[npt.NDArray[np.generic]]:
        k = len(patient)
        return [
            patient.astype(np.int32),
            when,
            np.full(k, kind_code(kind), dtype=np.int8),
            np.full(k, measure_code(measure), dtype=np.int8),
            np.round(value, 1).astype(np.float64),
            np.broadcast_to(np.asarray(flags, dtype=np.uint32), (k,)),
        ]

    blocks = [
        block(p, times(7.5), ReadingKind.WEIGHT, Measure.WEIGHT, weight),
        block(p, bp_time, ReadingKind.BLOOD_PRESSURE, Measure.SYSTOLIC, systolic, irregular),
        block(p, bp_time, ReadingKind.BLOOD_PRESSURE, Measure.DIASTOLIC, diastolic, irregular),
        block(p, bp_time, ReadingKind.BLOOD_PRESSURE, Measure.PULSE, bp_pulse, irregular),
        block(sp, spo2_time, ReadingKind.SPO2, Measure.SPO2, spo2),
        block(sp, spo2_time, ReadingKind.SPO2, Measure.PULSE, ox_pulse),
    ]
    columns = [np.concatenate([b[i] for b in blocks]) for i in range(6)]
    order = rng.permutation(len(columns[0]))  # arrival order is not sorted order
    return ReadingColumns(*(column[order] for column in columns))


def subset(readings: ReadingColumns, keep: npt.NDArray[np.bool_]) -> ReadingColumns:
    return ReadingColumns(
        readings.patient[keep],
        readings.time[keep],
        readings.kind[keep],
        readings.measure[keep],
        readings.value[keep],
        readings.flags[keep],
    )


def as_oracle_readings(readings: ReadingColumns) -> list[oracle.Reading]:
    flag_sets = {
        bits: frozenset(f for f in StatusFlag if bits & flag_bit(f))
        for bits in np.unique(readings.flags).tolist()
    }
    return [
        oracle.Reading(p, t, KINDS[k], MEASURES[m], v, flag_sets[f])
        for p, t, k, m, v, f in zip(
            readings.patient.tolist(),
            readings.time.tolist(),
            readings.kind.tolist(),
            readings.measure.tolist(),
            readings.value.tolist(),
            readings.flags.tolist(),
            strict=True,
        )
    ]


def best_of(repeats: int, run: Callable[[], T]) -> tuple[float, T]:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - start)
    return min(timings), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--reference-patients", type=int, default=None, help="default: all patients")
    parser.add_argument("--seed", type=int, default=20240304)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rules = all_rules_on()
    table = compile_rules(rules, args.patients)
    readings = caseload(args.patients, args.seed)
    n = len(readings)
    tick = T0 + DAYS * DAY + 12 * 3600
    print(
        f"caseload: {n:,} measurement rows across {args.patients:,} patients over {DAYS} days, seed {args.seed}"
    )
    print(
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} (the engine does no BLAS work)"
    )

    seconds, findings = best_of(args.repeats, lambda: evaluate(table, readings, tick=tick))
    found = len(findings)
    engine_rate = n / seconds
    print(
        f"engine, full re-evaluation:  {seconds:8.3f} s  {engine_rate:14,.0f} readings/s  "
        f"({found:,} findings; best of {args.repeats})"
    )

    last_day = readings.time >= T0 + (DAYS - 1) * DAY
    history, batch = subset(readings, ~last_day), subset(readings, last_day)
    seconds_ingest, _ = best_of(args.repeats, lambda: evaluate(table, batch, history, tick=tick))
    print(
        f"engine, ingest-like:         {seconds_ingest:8.3f} s  {n / seconds_ingest:14,.0f} rows/s "
        f"({len(batch):,} new rows judged against {len(history):,} history rows)"
    )

    k = args.patients if args.reference_patients is None else min(args.reference_patients, args.patients)
    small = subset(readings, readings.patient < k)
    small_rows = as_oracle_readings(small)
    start = time.perf_counter()
    expected = oracle.evaluate([rules] * k, small_rows, tick=tick)
    reference_seconds = time.perf_counter() - start
    reference_rate = len(small) / reference_seconds
    got = evaluate(compile_rules(rules, k), small, tick=tick).records()
    agree = _tuples(got) == _tuples(expected)
    if k == args.patients:
        print(
            f"reference (oracle) on the same {n:,} rows: {reference_seconds:.2f} s, {reference_rate:,.0f} readings/s"
        )
    else:
        print(
            f"reference (oracle), measured on the first {k:,} patients ({len(small):,} rows): "
            f"{reference_seconds:.2f} s, {reference_rate:,.0f} readings/s; "
            f"extrapolated per row to {n:,} rows: {n / reference_rate:,.0f} s"
        )
    print(f"engine and oracle agree on those rows: {agree} ({len(expected):,} findings)")
    print(f"speed-up (engine full re-evaluation vs reference, per row): {engine_rate / reference_rate:,.0f}x")


def _tuples(findings: list[FindingRecord] | list[oracle.Finding]) -> list[tuple[object, ...]]:
    return sorted(
        (f.patient, f.rule_id, int(f.severity), f.time, f.reading, f.reason, f.value) for f in findings
    )


if __name__ == "__main__":
    main()
