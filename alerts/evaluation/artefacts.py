"""What goes wrong when people measure at home: device artefacts, user artefacts, retakes,
and the irregular-pulse flag.

Device artefacts carry the device's own quality flag (a loose cuff, movement, low
perfusion), which a rule could use; user artefacts (weighed in clothes, BP straight after
climbing the stairs) carry nothing. Either is sometimes followed by a clean retake a few
minutes later, as real patients do when a number looks wrong. Rates are in
``physiology.SOURCES["artefact_rates"]`` (an assumption, stated). Pure: NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.columns import flag_bit, kind_code
from alerts.evaluation.physiology import AF_FLAGGED, OTHERS_FLAGGED
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag

__all__ = ["Artefacts", "draw_artefacts", "irregular_pulse_flags"]

_BP = kind_code(ReadingKind.BLOOD_PRESSURE)
_SPO2 = kind_code(ReadingKind.SPO2)
_WEIGHT = kind_code(ReadingKind.WEIGHT)
_TEMPERATURE = kind_code(ReadingKind.TEMPERATURE)

_BP_FLAGS: Final = (StatusFlag.CUFF_LOOSE, StatusFlag.BODY_MOVEMENT, StatusFlag.IMPROPER_POSITION)
_SPO2_FLAGS: Final = (StatusFlag.LOW_PERFUSION, StatusFlag.SIGNAL_QUESTIONABLE)

#: Chance per reading, and chance of a clean retake 3-10 minutes later.
BP_DEVICE: Final = (0.04, 0.6)  # flagged, systolic off by 15-40 mmHg
BP_EXERTION: Final = (0.03, 0.5)  # unflagged, +15-35 systolic, +15-30 pulse
SPO2_DEVICE: Final = (0.04, 0.6)  # flagged, 4-12 % falsely low
SPO2_IMPLAUSIBLE: Final = (0.003, 0.8)  # 30-49 %, flagged implausible by the hub
WEIGHT_CLOTHES: Final = (0.04, 0.25)  # unflagged, +0.5-2 kg (clothes, after a meal)
TEMPERATURE_TECHNIQUE: Final = (0.02, 0.4)  # unflagged, 0.5-1.5 °C low (probe not in the canal)
RETAKE_DELAY_S: Final = (180, 600)

ARTEFACT_NAMES: Final[tuple[str, ...]] = (
    "none",
    "bp_device",
    "bp_exertion",
    "spo2_device",
    "spo2_implausible",
    "weight_clothes",
    "temperature_technique",
)


@dataclass(frozen=True, slots=True)
class Artefacts:
    """Per original reading: which artefact (index into ``ARTEFACT_NAMES``), its flags and
    how far it moves each measure; and the retakes to add (parent reading, delay)."""

    which: npt.NDArray[np.int8]
    flags: npt.NDArray[np.uint32]
    delta: dict[Measure, npt.NDArray[np.float64]]
    retake_of: npt.NDArray[np.int64]
    retake_delay: npt.NDArray[np.int64]


def draw_artefacts(rng: np.random.Generator, kind: npt.NDArray[np.int8]) -> Artefacts:
    n = len(kind)
    which = np.zeros(n, dtype=np.int8)
    flags = np.zeros(n, dtype=np.uint32)
    delta = {m: np.zeros(n) for m in (*Measure,)}
    retake = np.zeros(n, dtype=np.bool_)
    u = rng.random(n)
    cases = (
        (1, _BP, 0.0, BP_DEVICE),
        (2, _BP, BP_DEVICE[0], BP_EXERTION),
        (3, _SPO2, 0.0, SPO2_DEVICE),
        (4, _SPO2, SPO2_DEVICE[0], SPO2_IMPLAUSIBLE),
        (5, _WEIGHT, 0.0, WEIGHT_CLOTHES),
        (6, _TEMPERATURE, 0.0, TEMPERATURE_TECHNIQUE),
    )
    for code, kind_of, after, (chance, retake_chance) in cases:
        hit = (kind == kind_of) & (u >= after) & (u < after + chance)
        which[hit] = code
        retake |= hit & (rng.random(n) < retake_chance)
    size = rng.uniform(0.0, 1.0, n)
    sign = np.where(rng.random(n) < 0.7, 1.0, -1.0)  # a loose cuff mostly over-reads
    hit = which == 1
    delta[Measure.SYSTOLIC][hit] = (sign * (15 + 25 * size))[hit]
    delta[Measure.DIASTOLIC][hit] = (sign * (8 + 17 * size))[hit]
    choice = rng.integers(0, len(_BP_FLAGS), n)
    for i, flag in enumerate(_BP_FLAGS):
        flags[hit & (choice == i)] |= np.uint32(flag_bit(flag))
    hit = which == 2
    delta[Measure.SYSTOLIC][hit] = 15 + 20 * size[hit]
    delta[Measure.DIASTOLIC][hit] = 5 + 7 * size[hit]
    delta[Measure.PULSE][hit] = 15 + 15 * size[hit]
    hit = which == 3
    delta[Measure.SPO2][hit] = -(4 + 8 * size[hit])
    delta[Measure.PULSE][hit] = 15 * size[hit] - 5
    for i, flag in enumerate(_SPO2_FLAGS):
        flags[hit & (choice % 2 == i)] |= np.uint32(flag_bit(flag))
    hit = which == 4
    delta[Measure.SPO2][hit] = -200.0  # replaced by an absolute 30-49 % in cohort.py
    flags[hit] |= np.uint32(flag_bit(StatusFlag.IMPLAUSIBLE))
    hit = which == 5
    delta[Measure.WEIGHT][hit] = 0.5 + 1.5 * size[hit]
    hit = which == 6
    delta[Measure.TEMPERATURE][hit] = -(0.5 + size[hit])
    retake_of = np.flatnonzero(retake)
    delay = rng.integers(RETAKE_DELAY_S[0], RETAKE_DELAY_S[1] + 1, len(retake_of))
    return Artefacts(which, flags, delta, retake_of, delay.astype(np.int64))


def irregular_pulse_flags(
    rng: np.random.Generator, kind: npt.NDArray[np.int8], af: npt.NDArray[np.bool_]
) -> npt.NDArray[np.uint32]:
    """The BP monitor's irregular-heartbeat flag: most of an AF patient's readings, few
    of anyone else's (``af`` is per reading)."""
    chance = np.where(af, AF_FLAGGED, OTHERS_FLAGGED)
    flagged = (kind == _BP) & (rng.random(len(kind)) < chance)
    return np.where(flagged, np.uint32(flag_bit(StatusFlag.IRREGULAR_PULSE)), np.uint32(0)).astype(np.uint32)
