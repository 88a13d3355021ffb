"""Cohort evaluation speed and headline: generation, replay, and engine vs naive.

Run: ``.venv/bin/python bench/cohort.py [--seed S] [--patients N] [--days D]``.

Generates the seeded synthetic cohort (default 500 patients × 90 days, as the report),
replays it hour by hour through the engine and the alert lifecycle, then through the naive
fixed-threshold baseline, and prints the times, the measured values replayed per second
and the headline figures side by side. No assertions: numbers are for comparing changes on
the same machine (the report itself is ``carewatch server evaluate``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.evaluation.cohort import generate
from alerts.evaluation.profiles import naive_rules_for, rules_for
from alerts.evaluation.replay import replay
from alerts.evaluation.scoring import Score, score


def _type_sensitivity(name: str) -> Callable[[Score], str]:
    def show(s: Score) -> str:
        return f"{100 * s.by_type[name].sensitivity:.0f} %"

    return show


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()

    began = time.perf_counter()
    cohort = generate(args.seed, args.patients, args.days)
    generated = time.perf_counter() - began
    values = len(cohort.readings)
    readings = len(np.unique(cohort.readings.reading))
    conditions = [cohort.conditions(p) for p in range(cohort.n_patients)]
    scores: dict[str, Score] = {}
    times: dict[str, float] = {}
    for name, rules in (("engine", rules_for), ("naive", naive_rules_for)):
        began = time.perf_counter()
        log = replay(cohort, rules)
        times[name] = time.perf_counter() - began
        scores[name] = score(log, cohort.episodes, conditions, cohort.days)

    print(
        f"cohort: {args.patients} patients × {args.days} days, seed {args.seed}: {readings} readings "
        f"({values} measured values), "
        f"{len(cohort.episodes)} episodes"
    )
    print(f"generation: {generated:.2f} s")
    for name, seconds in times.items():
        print(
            f"replay ({name}): {seconds:.2f} s, {readings / seconds:,.0f} readings/s "
            f"({values / seconds:,.0f} measured values/s)"
        )
    print()
    rows: list[tuple[str, Callable[[Score], str]]] = [
        ("sensitivity", lambda s: f"{100 * s.sensitivity:.0f} %"),
        ("on the episode's signs", lambda s: f"{100 * s.on_signs.sensitivity:.0f} %"),
        ("median delay, days", lambda s: f"{s.overall.median_delay_days:.2f}"),
        ("clinical false alerts / patient-week", lambda s: f"{s.clinical_fa_per_pw:.2f}"),
        ("all false alerts / patient-week", lambda s: f"{s.all_fa_per_pw:.2f}"),
        ("clinical alerts on artefacts", lambda s: f"{s.artefact_alerts}"),
    ]
    for name in scores["engine"].by_type:
        rows.append((f"sensitivity: {name}", _type_sensitivity(name)))
    print(f"{'':40} {'engine':>10} {'naive':>10}")
    for label, show in rows:
        print(f"{label:40} {show(scores['engine']):>10} {show(scores['naive']):>10}")


if __name__ == "__main__":
    main()
