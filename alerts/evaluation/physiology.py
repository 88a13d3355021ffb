"""Who the synthetic patients are and how their vital signs wander from day to day.

Every number a patient's readings are drawn from is here, with where it comes from
(``SOURCES``): an engine tuned on convenient noise would look good here and fail on a real
caseload, so the variability is the published within-person variability, not a guess made
to suit the rules. Figures marked "assumption" have no published source we know of and are
stated so that they can be challenged. Pure: NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from common.wire.vocabulary import Measure, ReadingKind

__all__ = [
    "CONDITIONS",
    "SCHEDULES",
    "SOURCES",
    "VARIABILITY",
    "Patients",
    "Session",
    "Variability",
    "draw_patients",
]

CONDITIONS: Final[tuple[str, ...]] = ("hf", "copd", "hypertension", "frail")

#: Where each number below comes from. Cited from the literature as the authors recall it;
#: a reviewer should check the exact figures against the papers.
SOURCES: Final[dict[str, str]] = {
    "home_bp_sd": "Kikuya M et al. Hypertension 2008;52:1045-50 (Ohasama): day-by-day SD of home "
    "SBP about 8 mmHg, DBP about 5-6 mmHg; Stergiou GS et al. J Hypertens 2002 (home BP "
    "reproducibility, SD of differences 6-8 mmHg)",
    "home_hr_sd": "Kikuya 2008 (Ohasama): day-by-day SD of home heart rate about 5 /min",
    "bp_morning_evening": "Ishikawa J et al. (J-HOME) Hypertens Res 2008: morning home SBP exceeds "
    "evening by 3-5 mmHg in treated patients",
    "bp_second_reading": "NICE NG136 1.2.8 (two readings a minute apart, morning and evening); the "
    "second reading is 2-4 mmHg lower (Stergiou GS, first-reading effect)",
    "af_pulse": "RACE II, Van Gelder IC et al. NEJM 2010;362:1363: resting rate under lenient "
    "control < 110 /min; reading-to-reading SD of AF rate about 10 /min (beat-to-beat irregularity)",
    "af_flags": "Kearley K et al. BMJ Open 2014;4:e004565: BP monitors' AF detection: WatchBP "
    "sensitivity 95 % / specificity 90 %, Omron IHB 30 % / 97 %; we take 85 % of an AF patient's "
    "readings flagged and 3 % of others (ectopics)",
    "af_prevalence": "Mamas MA et al. Eur J Heart Fail 2009;11:676 (AF in 30-40 % of chronic HF); "
    "about 10-15 % in COPD, hypertension and frailty (Zoni-Berisso M, Clin Epidemiol 2014)",
    "weight_sd": "Orsama AL et al. Obes Facts 2014;7:36 (day-to-day weight rhythm, weekend gain "
    "about 0.35 %); Zhang J et al. Eur J Heart Fail 2009;11:420 (TEN-HMS: the 2 kg/72 h rule is "
    "about 97 % specific per day in stable HF, which a 0.6 kg day-to-day change SD reproduces)",
    "spo2_copd_sd": "Burton C et al. J Telemed Telecare 2015;21:29 and Al Rajeh AM, Hurst JR, J Clin "
    "Med 2016;5:108: stable-COPD home SpO2 varies 1-1.5 % day to day; stable home SpO2 88-97 %",
    "spo2_device": "ISO 80601-2-61: oximeter Arms <= 4 % over 70-100 %; consumer fingertip "
    "oximeters about 2 % (reading noise SD 1 %)",
    "temperature": "Obermeyer Z et al. BMJ 2017;359:j5468 (mean oral 36.6 °C, individual set "
    "points SD about 0.25 °C); Geneva II et al. Open Forum Infect Dis 2019 (day-to-day "
    "within-person SD about 0.2 °C); tympanic technique adds about 0.15 °C (Dodd SR, EMJ 2006)",
    "adherence": "Chaudhry SI et al. NEJM 2010 (Tele-HF: 14 % never started, 55 % still "
    "measuring at 26 weeks); Ong MK et al. JAMA Intern Med 2016 (BEAT-HF: 61 % adherent at 30 "
    "days, 50 % at 180 days); TIM-HF2 (Koehler F, Lancet 2018) 97 % with daily phone follow-up",
    "away_streaks": "assumption: a run of missed days (hospital visit, holiday, flat battery) "
    "starts once in 40 days on average and lasts 3 days on average",
    "hub_outages": "assumption: a broadband or power outage about once in 45 days, median 8 h, "
    "heavy tailed up to 4 days (no published figure for home hubs)",
    "artefact_rates": "assumption informed by Stergiou GS et al. J Hypertens 2018 (ESH practical "
    "guidance on home BP: cuff fit and movement errors of tens of mmHg); oximeter motion and "
    "cold-finger low perfusion read falsely low (Chan ED et al. Respir Med 2013)",
    "set_points": "HF: Tele-HF and TIM-HF2 baseline tables (SBP about 120, HR about 72 on beta "
    "blockers); hypertension: NG136 treated-but-uncontrolled HBPM about 145/86; COPD: stable "
    "SpO2 94 % median (Burton 2015)",
}


@dataclass(frozen=True, slots=True)
class Variability:
    """How one measure varies within a person: a slow daily wander (AR(1) with ``phi``,
    stationary SD ``day_sd``) plus independent per-reading noise ``reading_sd``; ``decimals``
    is the precision the device reports."""

    day_sd: float
    phi: float
    reading_sd: float
    decimals: int
    source: str


#: Day-to-day change SD ≈ sqrt(2·day_sd²·(1−phi) + 2·reading_sd²), matched to the sources.
VARIABILITY: Final[dict[Measure, Variability]] = {
    Measure.SYSTOLIC: Variability(6.0, 0.5, 5.0, 0, "home_bp_sd"),  # day-to-day SD ≈ 8
    Measure.DIASTOLIC: Variability(4.0, 0.5, 3.5, 0, "home_bp_sd"),  # ≈ 5.5
    Measure.PULSE: Variability(3.5, 0.5, 3.5, 0, "home_hr_sd"),  # ≈ 5
    Measure.SPO2: Variability(0.8, 0.6, 0.9, 0, "spo2_copd_sd"),  # ≈ 1.3 (COPD: ×1.3)
    Measure.WEIGHT: Variability(0.8, 0.9, 0.35, 1, "weight_sd"),  # ≈ 0.6 kg
    Measure.TEMPERATURE: Variability(0.15, 0.3, 0.2, 1, "temperature"),  # ≈ 0.3 °C
}
#: COPD patients' saturation wanders more than others' (Burton 2015).
COPD_SPO2_SCALE: Final = 1.3
#: AF: each reading's pulse is far noisier than in sinus rhythm (af_pulse).
AF_PULSE_READING_SD: Final = 10.0
AF_FLAGGED: Final = 0.85  # af_flags
OTHERS_FLAGGED: Final = 0.03  # af_flags
MORNING_SYSTOLIC_EXCESS: Final = 3.0  # bp_morning_evening
SECOND_READING_SYSTOLIC: Final = -3.0  # bp_second_reading
WEEKEND_WEIGHT_GAIN_FRACTION: Final = 0.0035  # weight_sd (Orsama 2014), on Mondays


@dataclass(frozen=True, slots=True)
class Session:
    """A measuring habit: a reading of ``kind`` around ``hour`` (± ``spread_min``),
    ``repeats`` readings a minute apart, skipped on a day the patient does measure with
    probability ``skip``."""

    kind: ReadingKind
    hour: float
    spread_min: float
    repeats: int
    skip: float


MORNING: Final = 8.0
EVENING: Final = 20.0
#: What each condition measures (NICE NG106 daily weight in HF; NG115 oximetry and
#: temperature for COPD virtual wards; NG136 HBPM morning and evening, two readings).
SCHEDULES: Final[dict[str, tuple[Session, ...]]] = {
    "hf": (
        Session(ReadingKind.WEIGHT, MORNING, 60, 1, 0.03),
        Session(ReadingKind.BLOOD_PRESSURE, MORNING, 60, 1, 0.05),
    ),
    "copd": (
        Session(ReadingKind.SPO2, MORNING, 75, 1, 0.03),
        Session(ReadingKind.TEMPERATURE, MORNING, 75, 1, 0.10),
    ),
    "hypertension": (
        Session(ReadingKind.BLOOD_PRESSURE, MORNING, 60, 2, 0.05),
        Session(ReadingKind.BLOOD_PRESSURE, EVENING, 60, 2, 0.25),
    ),
    "frail": (
        Session(ReadingKind.BLOOD_PRESSURE, MORNING + 2, 90, 1, 0.05),
        Session(ReadingKind.SPO2, MORNING + 2, 90, 1, 0.05),
        Session(ReadingKind.TEMPERATURE, MORNING + 2, 90, 1, 0.10),
    ),
}

#: Case mix: primary condition shares, and the chance of a second one (HF and COPD
#: coexist in 10-30 %: Hawkins NM et al. Eur J Heart Fail 2009;11:130).
PRIMARY_SHARE: Final[dict[str, float]] = {"hf": 0.35, "copd": 0.30, "hypertension": 0.25, "frail": 0.10}
SECOND_CONDITION: Final = 0.15
AF_PREVALENCE: Final[dict[str, float]] = {"hf": 0.35, "copd": 0.12, "hypertension": 0.10, "frail": 0.15}

#: Per-condition set-point distributions: (mean, between-patient SD), see "set_points".
_SET_POINTS: Final[dict[str, dict[Measure, tuple[float, float]]]] = {
    "hf": {
        Measure.SYSTOLIC: (120, 14),
        Measure.DIASTOLIC: (72, 9),
        Measure.PULSE: (72, 9),
        Measure.SPO2: (96, 1.2),
        Measure.WEIGHT: (84, 17),
    },
    "copd": {
        Measure.SYSTOLIC: (134, 15),
        Measure.DIASTOLIC: (78, 9),
        Measure.PULSE: (84, 10),
        Measure.SPO2: (94, 1.8),
        Measure.WEIGHT: (74, 16),
    },
    "hypertension": {
        Measure.SYSTOLIC: (145, 12),
        Measure.DIASTOLIC: (86, 8),
        Measure.PULSE: (72, 9),
        Measure.SPO2: (97, 1.0),
        Measure.WEIGHT: (86, 16),
    },
    "frail": {
        Measure.SYSTOLIC: (132, 17),
        Measure.DIASTOLIC: (74, 9),
        Measure.PULSE: (76, 10),
        Measure.SPO2: (95.5, 1.4),
        Measure.WEIGHT: (66, 13),
    },
}
_SET_POINT_LIMITS: Final[dict[Measure, tuple[float, float]]] = {
    Measure.SYSTOLIC: (100, 168),
    Measure.DIASTOLIC: (55, 98),
    Measure.PULSE: (52, 100),
    Measure.SPO2: (88, 99),
    Measure.WEIGHT: (40, 160),
    Measure.TEMPERATURE: (36.0, 37.2),
}


#: The usual saturation at or below which a COPD patient is on a 88–92 % target (see
#: ``Patients.hypercapnic``): the top of that band.
HYPERCAPNIC_SET_POINT: Final = 92.0


@dataclass(frozen=True, slots=True)
class Patients:
    """The cohort's people, one entry per patient index."""

    conditions: npt.NDArray[np.bool_]  # (n, len(CONDITIONS))
    af: npt.NDArray[np.bool_]
    set_point: dict[Measure, npt.NDArray[np.float64]]
    adherence: npt.NDArray[np.float64]  # chance of measuring on an ordinary day, at the start
    decline: npt.NDArray[np.float64]  # how much of it is lost by day 90

    def __len__(self) -> int:
        return len(self.af)

    def has(self, condition: str) -> npt.NDArray[np.bool_]:
        return self.conditions[:, CONDITIONS.index(condition)]

    def hypercapnic(self, patient: int) -> bool:
        """A COPD patient whose usual saturation sits in the 88–92 % target band: in practice
        the ones found hypercapnic on blood gases and given that target (BTS 2017), so their
        clinician records the condition that puts them on SpO2 scale 2."""
        copd = bool(self.conditions[patient, CONDITIONS.index("copd")])
        return copd and float(self.set_point[Measure.SPO2][patient]) <= HYPERCAPNIC_SET_POINT

    def names(self, patient: int) -> tuple[str, ...]:
        return tuple(c for c, on in zip(CONDITIONS, self.conditions[patient], strict=True) if on)

    def sessions(self, patient: int) -> tuple[Session, ...]:
        """The union of the patient's conditions' habits: one morning BP serves HF and
        frailty alike; the most demanding version of a shared habit wins."""
        chosen: dict[tuple[ReadingKind, bool], Session] = {}
        for condition in self.names(patient):
            for session in SCHEDULES[condition]:
                key = (session.kind, session.hour >= 12)
                held = chosen.get(key)
                if held is None or session.repeats > held.repeats:
                    chosen[key] = session
        return tuple(chosen.values())

    def measures(self, patient: int) -> frozenset[ReadingKind]:
        return frozenset(session.kind for session in self.sessions(patient))


def draw_patients(rng: np.random.Generator, n: int) -> Patients:
    shares = np.array(list(PRIMARY_SHARE.values()))
    primary = rng.choice(len(CONDITIONS), size=n, p=shares / shares.sum())
    conditions = np.zeros((n, len(CONDITIONS)), dtype=np.bool_)
    conditions[np.arange(n), primary] = True
    second = rng.random(n) < SECOND_CONDITION
    other = (primary + rng.integers(1, len(CONDITIONS), size=n)) % len(CONDITIONS)
    conditions[np.flatnonzero(second), other[second]] = True
    af_chance = np.max(conditions * np.array([AF_PREVALENCE[c] for c in CONDITIONS]), axis=1)
    af = rng.random(n) < af_chance
    set_point: dict[Measure, npt.NDArray[np.float64]] = {}
    for measure in (Measure.SYSTOLIC, Measure.DIASTOLIC, Measure.PULSE, Measure.SPO2, Measure.WEIGHT):
        mean = np.array([_SET_POINTS[CONDITIONS[p]][measure][0] for p in primary])
        sd = np.array([_SET_POINTS[CONDITIONS[p]][measure][1] for p in primary])
        low, high = _SET_POINT_LIMITS[measure]
        set_point[measure] = np.clip(mean + sd * rng.standard_normal(n), low, high)
    set_point[Measure.PULSE] = np.where(af, set_point[Measure.PULSE] + 8, set_point[Measure.PULSE])
    low, high = _SET_POINT_LIMITS[Measure.TEMPERATURE]
    set_point[Measure.TEMPERATURE] = np.clip(36.6 + 0.25 * rng.standard_normal(n), low, high)
    # Pulse pressure stays physiological whatever the two draws were.
    set_point[Measure.DIASTOLIC] = np.minimum(set_point[Measure.DIASTOLIC], set_point[Measure.SYSTOLIC] - 30)
    adherence = rng.beta(8.0, 1.3, size=n)  # mean 0.86 (adherence)
    decline = rng.uniform(0.0, 0.2, size=n)
    return Patients(conditions, af, set_point, adherence, decline)


def day_effects(
    rng: np.random.Generator, patients: Patients, days: int
) -> dict[Measure, npt.NDArray[np.float64]]:
    """Each measure's slow wander, (n_patients, days), stationary AR(1) per patient."""
    n = len(patients)
    effects: dict[Measure, npt.NDArray[np.float64]] = {}
    copd = patients.has("copd")
    for measure, spec in VARIABILITY.items():
        innovation = spec.day_sd * np.sqrt(1 - spec.phi**2) * rng.standard_normal((n, days))
        wander = np.empty((n, days))
        wander[:, 0] = spec.day_sd * rng.standard_normal(n)
        for day in range(1, days):
            wander[:, day] = spec.phi * wander[:, day - 1] + innovation[:, day]
        if measure is Measure.SPO2:
            wander *= np.where(copd, COPD_SPO2_SCALE, 1.0)[:, None]
        effects[measure] = wander
    return effects
