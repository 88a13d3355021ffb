"""The evaluation as a small Markdown report with PNG plots, written to a directory.

matplotlib is optional (the ``evaluation`` extra): it is imported only when plotting, and
without it the Markdown is still written and says why the plots are missing. The report
holds no timings or dates, so regenerating it with the same seed changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alerts.evaluation.artefacts import ARTEFACT_NAMES
from alerts.evaluation.episodes import EPISODE_TYPES
from alerts.evaluation.physiology import CONDITIONS, SOURCES
from alerts.evaluation.scoring import RECOVERY_MARGIN_S, Score, TypeScore
from alerts.evaluation.study import CohortResult, StudyResult

__all__ = ["GOAL", "ReportFiles", "headline_table", "write_report"]

#: The lead's target: detection at an acceptable false-alert rate, and no type left behind.
GOAL = "≥ 90 % of episodes detected at ≤ 0.5 clinical false alerts per patient-week, every type ≥ 80 %"
MARKDOWN = "README.md"
LIMITS = "\n".join(
    [
        "- Times are UTC and the service's zone is taken as UTC (a January start: Europe/London "
        "winter time); the clocks changing in late March is not modelled.",
        "- Every patient has at most one episode; nothing else happens to them (no intercurrent "
        "illness that is not labelled).",
        "- An alert is resolved a fixed delay after it opens; acknowledgement and escalation of "
        "unacknowledged red alerts are not replayed.",
        "- A hub is heard from continuously while online and not at all during an outage.",
        "- Any clinical alert inside an episode's window detects it, including one that would have "
        "fired anyway (a hypertensive patient's routine amber BP): with many false alerts, "
        "sensitivity flatters; read it beside the false-alert rate.",
        "- The sources below are cited as recalled; the exact figures should be checked against "
        "the papers. Rates marked 'assumption' have no published source.",
    ]
)


@dataclass(frozen=True, slots=True)
class ReportFiles:
    markdown: Path
    plots: tuple[Path, ...]
    plots_skipped: str | None  # why, when matplotlib is not installed


def _pct(x: float) -> str:
    return "–" if math.isnan(x) else f"{100 * x:.0f} %"


def _days(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:.1f}"


def _delay(s: Score | TypeScore) -> str:
    t = s.overall if isinstance(s, Score) else s
    q1, q3 = t.delay_iqr_days
    if math.isnan(t.median_delay_days):
        return "–"
    return f"{_days(t.median_delay_days)} ({_days(q1)}–{_days(q3)})"


def _goal_met(s: Score) -> bool:
    types_ok = all(t.sensitivity >= 0.8 for t in s.by_type.values())
    return s.sensitivity >= 0.9 and s.clinical_fa_per_pw <= 0.5 and types_ok


def headline_table(results: list[CohortResult]) -> str:
    lines = [
        "| cohort | rules | sensitivity | on the episode's signs | median delay, days (IQR) "
        "| clinical false alerts / patient-week | all false alerts / patient-week "
        "| clinical alerts on artefacts | goal met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for name, s in (("engine", result.engine), ("naive", result.naive)):
            lines.append(
                f"| {result.label} | {name} | {_pct(s.sensitivity)} | {_pct(s.on_signs.sensitivity)} "
                f"| {_delay(s)} | "
                f"{s.clinical_fa_per_pw:.2f} | {s.all_fa_per_pw:.2f} | {s.artefact_alerts} | "
                f"{'yes' if _goal_met(s) else 'no'} |"
            )
    return "\n".join(lines)


def _by_type(result: CohortResult) -> str:
    lines = [
        "| episode type | episodes | engine sensitivity | engine, on its signs | engine delay, days: median (IQR) "
        "| naive sensitivity | naive, on its signs | naive delay, days: median (IQR) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in EPISODE_TYPES:
        engine, naive = result.engine.by_type.get(name), result.naive.by_type.get(name)
        if engine is None or naive is None:
            continue
        engine_signs = result.engine.on_signs_by_type[name]
        naive_signs = result.naive.on_signs_by_type[name]
        lines.append(
            f"| {name} | {engine.episodes} | {_pct(engine.sensitivity)} | {_pct(engine_signs.sensitivity)} "
            f"| {_delay(engine)} | {_pct(naive.sensitivity)} "
            f"| {_pct(naive_signs.sensitivity)} | {_delay(naive)} |"
        )
    return "\n".join(lines)


def _by_rule(result: CohortResult) -> str:
    lines = [
        "| alert rule | engine opened | engine false | engine false / patient-week | engine on artefacts "
        "| naive opened | naive false / patient-week |",
        "|---|---|---|---|---|---|---|",
    ]
    rules = sorted(set(result.engine.by_rule) | set(result.naive.by_rule))
    for rule in rules:
        e, n = result.engine.by_rule.get(rule), result.naive.by_rule.get(rule)
        lines.append(
            f"| {rule} | {e.opened if e else 0} | {e.false if e else 0} | "
            f"{e.per_patient_week if e else 0:.3f} | {e.on_artefacts if e else 0} | "
            f"{n.opened if n else 0} | {n.per_patient_week if n else 0:.3f} |"
        )
    return "\n".join(lines)


def _by_condition(result: CohortResult) -> str:
    lines = [
        "| condition | patient-weeks | engine clinical FA / pw | engine all FA / pw | naive clinical FA / pw |",
        "|---|---|---|---|---|",
    ]
    for name, (weeks, clinical, every) in result.engine.by_condition.items():
        naive = result.naive.by_condition.get(name, (weeks, math.nan, math.nan))
        lines.append(f"| {name} | {weeks:.0f} | {clinical:.2f} | {every:.2f} | {naive[1]:.2f} |")
    return "\n".join(lines)


def _detecting(result: CohortResult) -> str:
    engine, naive = result.engine.detecting_rules(), result.naive.detecting_rules()
    lines = ["| first alert in the episode window came from | engine | naive |", "|---|---|---|"]
    for rule in sorted(set(engine) | set(naive)):
        lines.append(f"| {rule} | {engine.get(rule, 0)} | {naive.get(rule, 0)} |")
    return "\n".join(lines)


def _cohort_facts(result: CohortResult) -> str:
    cohort = result.cohort
    r = cohort.readings
    readings = len(np.unique(r.reading))
    late = np.unique(r.reading[r.arrives_at - r.taken_at > 3600])
    conditions = ", ".join(f"{name} {int(cohort.patients.has(name).sum())}" for name in CONDITIONS)
    first_rows = np.unique(r.reading, return_index=True)[1]
    artefacts = np.bincount(r.artefact[first_rows], minlength=len(ARTEFACT_NAMES))
    kinds = ", ".join(f"{ARTEFACT_NAMES[i]} {int(artefacts[i])}" for i in range(1, len(ARTEFACT_NAMES)))
    types = np.bincount(cohort.episodes.kind, minlength=len(EPISODE_TYPES))
    episodes = ", ".join(f"{name} {int(types[i])}" for i, name in enumerate(EPISODE_TYPES))
    return "\n".join(
        [
            f"- {cohort.n_patients} patients × {cohort.days} days (seed {cohort.seed}); conditions: "
            f"{conditions} (a patient may have two); known AF: {int(cohort.patients.af.sum())}.",
            f"- {readings} readings ({len(r)} measured values), {int(r.retake[first_rows].sum())} of them "
            f"retakes; {len(late)} arrived more than an hour late, after one of "
            f"{len(cohort.outages.patient)} hub outages.",
            f"- Artefacts (readings): {kinds}.",
            f"- Episodes: {len(cohort.episodes)} ({episodes}).",
        ]
    )


def _sweep_table(study: StudyResult) -> str:
    lines = ["| swept threshold | value | sensitivity | clinical FA / pw |", "|---|---|---|---|"]
    for name, points in study.sweeps.items():
        for p in points:
            mark = " (default)" if p.default else ""
            lines.append(
                f"| {name} | {p.value:g}{mark} | {_pct(p.sensitivity)} | {p.clinical_fa_per_pw:.2f} |"
            )
    return "\n".join(lines)


def _plots(study: StudyResult, out: Path) -> tuple[Path, ...]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    result = study.main
    names = [t for t in EPISODE_TYPES if t in result.engine.by_type]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(x - 0.2, [result.engine.by_type[t].sensitivity for t in names], 0.4, label="engine")
    ax.bar(x + 0.2, [result.naive.by_type[t].sensitivity for t in names], 0.4, label="naive")
    ax.axhline(0.8, color="grey", linestyle="--", linewidth=1, label="80 % per type")
    ax.set_xticks(x, [t.replace("_", " ") for t in names], rotation=15)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("sensitivity")
    ax.set_title(f"Episodes detected by type ({result.label})")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = out / "sensitivity_by_type.png"
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    written.append(path)
    if study.sweeps:
        fig, axes = plt.subplots(2, 2, figsize=(10, 8))
        for ax, (name, points) in zip(axes.flat, study.sweeps.items(), strict=False):
            fa = [p.clinical_fa_per_pw for p in points]
            sens = [p.sensitivity for p in points]
            ax.plot(fa, sens, marker="o")
            for i, p in enumerate(points):
                ax.annotate(
                    f"{p.value:g}{' *' if p.default else ''}",
                    (p.clinical_fa_per_pw, p.sensitivity),
                    xytext=(3, -12 - 10 * (i % 3)),
                    textcoords="offset points",
                    fontsize=8,
                )
            ax.plot([result.naive.clinical_fa_per_pw], [result.naive.sensitivity], marker="s", color="grey")
            ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
            ax.axhline(0.9, color="grey", linestyle="--", linewidth=1)
            ax.set_title(name, fontsize=10)
            ax.set_xlabel("clinical false alerts per patient-week")
            ax.set_ylabel("sensitivity")
            ax.set_ylim(0, 1.05)
        fig.suptitle("Sensitivity vs false alerts as each threshold varies (* default; grey square: naive)")
        fig.tight_layout()
        path = out / "sweeps.png"
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        written.append(path)
    return tuple(written)


def write_report(study: StudyResult, out: Path | str) -> ReportFiles:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    skipped: str | None = None
    plots: tuple[Path, ...] = ()
    try:
        plots = _plots(study, out)
    except ImportError as error:
        skipped = f"plots skipped: matplotlib is not installed ({error}); install the 'evaluation' extra"
    results = [study.main] + ([study.validation] if study.validation else [])
    main = study.main
    sections = [
        "# Alert engine evaluation on a synthetic cohort",
        "",
        "Regenerate with `carewatch server evaluate --out docs/evaluation` (same seed, same report). "
        f"Goal: {GOAL}.",
        "",
        "## Headline",
        "",
        headline_table(results),
        "",
        f"Alerts are reviewed and resolved {study.review_delay_s / 3600:g} h after they open. "
        "Clinical rules: thresholds, trends, baselines, device flags; operational: missed readings, "
        "hub silence. An episode is detected when a clinical alert opens or escalates for that "
        'patient within [onset, end] ("on the episode\'s signs": only an alert on a measure the '
        "episode moves counts, so an AF patient's irregular-pulse alert does not); a false alert is one opened outside every episode of the "
        f"patient plus {RECOVERY_MARGIN_S // 86400} days of recovery.",
        "",
        f"## Per episode type ({main.label})",
        "",
        _by_type(main),
        "",
        _detecting(main),
        "",
        f"## By rule ({main.label})",
        "",
        _by_rule(main),
        "",
        f"## By condition ({main.label})",
        "",
        _by_condition(main),
        "",
    ]
    if study.sweeps:
        sections += ["## Threshold sweeps", "", _sweep_table(study), ""]
    if skipped:
        sections += [f"_{skipped}_", ""]
    else:
        sections += [f"![{p.stem}]({p.name})" for p in plots] + [""]
    if study.validation:
        sections += [f"## {study.validation.label}", "", _by_type(study.validation), ""]
    sections += ["## The cohorts", ""]
    sections += [_cohort_facts(result) for result in results]
    sections += ["", "## Limits", "", LIMITS]
    sections += ["", "## Sources of the generator's numbers", "", "| key | source |", "|---|---|"]
    sections += [f"| {key} | {text} |" for key, text in SOURCES.items()]
    markdown = out / MARKDOWN
    markdown.write_text("\n".join(sections) + "\n", encoding="utf-8")
    return ReportFiles(markdown, plots, skipped)
