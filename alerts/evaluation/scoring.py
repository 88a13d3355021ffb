"""How good the alerts were: episodes caught, how late, and false alerts per patient-week.

Definitions (stated in the report too):
* An episode is **detected** when a clinical alert for that patient is opened, or escalated
  in severity, at a server time within [onset, end]; its **delay** is that time − onset.
  Operational alerts (a missed reading, a silent hub) do not count as detecting anything.
  Any clinical alert counts, so an AF patient's daily irregular-pulse alert "detects" a
  decompensation it says nothing about: ``on_signs`` is the stricter figure, counting only
  alerts on a measure the episode moves (a weight rule for a weight gain, and so on).
* A **false alert** is an alert *opened* for a patient outside every one of that patient's
  episodes, each extended by a recovery margin after its end (``RECOVERY_MARGIN_S``, 3
  days: a sign still settling after an episode is not a false alarm).
* Rates are per patient-week: patients × days / 7.
Pure: NumPy only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.evaluation.alert_log import AlertLog
from alerts.evaluation.episodes import EPISODE_TYPES, Episodes
from alerts.lifecycle import Action
from common.wire.vocabulary import Measure

__all__ = ["RECOVERY_MARGIN_S", "Episode", "RuleCount", "Score", "TypeScore", "rule_measures", "score"]

DAY: Final = 86400
RECOVERY_MARGIN_S: Final = 3 * DAY


@dataclass(frozen=True, slots=True)
class TypeScore:
    episodes: int
    detected: int
    median_delay_days: float  # NaN when nothing was detected
    delay_iqr_days: tuple[float, float]

    @property
    def sensitivity(self) -> float:
        return self.detected / self.episodes if self.episodes else float("nan")


@dataclass(frozen=True, slots=True)
class RuleCount:
    opened: int
    false: int
    on_artefacts: int
    per_patient_week: float  # false alerts per patient-week


@dataclass(frozen=True, slots=True)
class Episode:
    """One episode's outcome: the first alert in its window, if any, and which rule."""

    patient: int
    type: str
    delay_days: float | None
    first_rule: str | None


@dataclass(frozen=True, slots=True)
class Score:
    patient_weeks: float
    overall: TypeScore
    by_type: dict[str, TypeScore]
    clinical_opened: int
    clinical_false: int
    all_opened: int
    all_false: int
    by_rule: dict[str, RuleCount]
    on_signs: TypeScore  # detection by an alert on a measure the episode moves
    on_signs_by_type: dict[str, TypeScore]
    by_condition: dict[str, tuple[float, float, float]]  # patient-weeks, clinical FA/pw, all FA/pw
    artefact_alerts: int  # alerts opened on a reading that was an artefact
    artefact_false: int
    episodes: tuple[Episode, ...]

    @property
    def sensitivity(self) -> float:
        return self.overall.sensitivity

    @property
    def clinical_fa_per_pw(self) -> float:
        return self.clinical_false / self.patient_weeks if self.patient_weeks else float("nan")

    @property
    def all_fa_per_pw(self) -> float:
        return self.all_false / self.patient_weeks if self.patient_weeks else float("nan")

    def detecting_rules(self) -> Counter[str]:
        return Counter(e.first_rule for e in self.episodes if e.first_rule is not None)


def rule_measures(rule_id: str) -> frozenset[Measure]:
    """The measures an alert rule judges (none for device flags and operational rules)."""
    if rule_id == "threshold.blood_pressure":
        return frozenset({Measure.SYSTOLIC, Measure.DIASTOLIC})
    if rule_id.startswith("trend.weight_gain"):
        return frozenset({Measure.WEIGHT})
    family, _, name = rule_id.partition(".")
    if family in ("threshold", "baseline") and name in Measure.__members__.values():
        return frozenset({Measure(name)})
    return frozenset()


def _type_score(delays: list[float | None]) -> TypeScore:
    found = np.array([d for d in delays if d is not None], dtype=np.float64)
    if len(found) == 0:
        return TypeScore(len(delays), 0, float("nan"), (float("nan"), float("nan")))
    q1, median, q3 = np.percentile(found, [25, 50, 75])
    return TypeScore(len(delays), len(found), float(median), (float(q1), float(q3)))


def _false(log: AlertLog, episodes: Episodes, margin_s: int) -> npt.NDArray[np.bool_]:
    """Per log event: outside every episode (+ margin) of its patient?"""
    outside = np.ones(len(log), dtype=np.bool_)
    for i in range(len(episodes)):
        inside = (
            (log.patient == episodes.patient[i])
            & (log.time >= episodes.onset[i])
            & (log.time <= episodes.end[i] + margin_s)
        )
        outside &= ~inside
    return outside


def score(
    log: AlertLog,
    episodes: Episodes,
    conditions: list[tuple[str, ...]],
    days: int,
    margin_s: int = RECOVERY_MARGIN_S,
) -> Score:
    """Score one replay; ``conditions`` per patient index (e.g. ``("hf", "af")``)."""
    n_patients = len(conditions)
    patient_weeks = n_patients * days / 7
    clinical = log.clinical
    opened = log.opened
    raised = np.array([a in (Action.OPEN, Action.ESCALATE) for a in log.action], dtype=np.bool_)
    outcomes: list[Episode] = []
    by_type: dict[str, list[float | None]] = {t: [] for t in EPISODE_TYPES}
    on_signs: dict[str, list[float | None]] = {t: [] for t in EPISODE_TYPES}
    measures = [rule_measures(rule) for rule in log.rule]
    for i in range(len(episodes)):
        hit = np.flatnonzero(
            clinical
            & raised
            & (log.patient == episodes.patient[i])
            & (log.time >= episodes.onset[i])
            & (log.time <= episodes.end[i])
        )
        delay = None if len(hit) == 0 else float(log.time[hit[0]] - episodes.onset[i]) / DAY
        name = episodes.type_name(i)
        by_type[name].append(delay)
        moved = {m for m, amplitude in episodes.amplitude.items() if amplitude[i] != 0}
        specific = [j for j in hit.tolist() if measures[j] & moved]
        on_signs[name].append(
            None if not specific else float(log.time[specific[0]] - episodes.onset[i]) / DAY
        )
        rule = None if len(hit) == 0 else log.rule[hit[0]]
        outcomes.append(Episode(int(episodes.patient[i]), name, delay, rule))
    false = _false(log, episodes, margin_s) & opened
    artefact = (log.artefact > 0) & opened
    by_rule: dict[str, RuleCount] = {}
    for rule in sorted(set(log.rule)):
        mine = np.array([r == rule for r in log.rule], dtype=np.bool_)
        by_rule[rule] = RuleCount(
            opened=int((mine & opened).sum()),
            false=int((mine & false).sum()),
            on_artefacts=int((mine & artefact).sum()),
            per_patient_week=float((mine & false).sum()) / patient_weeks if patient_weeks else float("nan"),
        )
    by_condition: dict[str, tuple[float, float, float]] = {}
    names = sorted({c for patient in conditions for c in patient})
    for name in names:
        members = np.array([name in patient for patient in conditions], dtype=np.bool_)
        weeks = float(members.sum()) * days / 7
        theirs = members[log.patient] if len(log) else np.zeros(0, dtype=np.bool_)
        by_condition[name] = (
            weeks,
            float((theirs & false & clinical).sum()) / weeks,
            float((theirs & false).sum()) / weeks,
        )
    return Score(
        patient_weeks=patient_weeks,
        overall=_type_score([d for delays in by_type.values() for d in delays]),
        by_type={t: _type_score(d) for t, d in by_type.items() if d},
        clinical_opened=int((opened & clinical).sum()),
        clinical_false=int((false & clinical).sum()),
        all_opened=int(opened.sum()),
        all_false=int(false.sum()),
        by_rule=by_rule,
        on_signs=_type_score([d for delays in on_signs.values() for d in delays]),
        on_signs_by_type={t: _type_score(d) for t, d in on_signs.items() if d},
        by_condition=by_condition,
        artefact_alerts=int((artefact & clinical).sum()),
        artefact_false=int((artefact & clinical & false).sum()),
        episodes=tuple(outcomes),
    )
