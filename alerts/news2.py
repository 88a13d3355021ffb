"""NEWS2 (Royal College of Physicians, 2017), scored exactly and vectorised with NumPy.

The server scores whole histories (every reading of every patient on a caseload) when rules
change or a dashboard is drawn, so this module works on arrays; a single reading is just the
0-d case. It is pure (NumPy only, no I/O, no logging) so that it can be tested exhaustively
and run anywhere; ``alerts.reference.news2`` is a deliberately different plain-Python
implementation used as the oracle for the property tests.

Band edges for non-integer values
---------------------------------
Chart 1 is written for observations recorded at a fixed precision: whole numbers for
respiration rate, SpO2, systolic pressure and pulse, one decimal place for temperature. Devices
and averaging produce real numbers (SpO2 95.5 from a continuous average, temperature 36.05),
and a chart gap such as "35.1–36.0" says nothing about 36.05. So every value is first rounded
to the chart's recording precision, as a nurse writing it on the chart would, and the chart's
bands are then applied exactly:

* respiration rate, SpO2, systolic and pulse to the nearest integer; temperature to 0.1 °C;
* ties round half-up, as ``decimal.ROUND_HALF_UP`` does, never to even: 95.5 → 96,
  90.5 → 91, 36.05 → 36.1 (a negative value, which no body produces, lands in the bottom band
  whichever way its tie goes);
* a tie is judged on the decimal the value was written as, not on its binary expansion:
  36.05 is stored as 36.04999…, but was written (and is shown) as 36.05, so it rounds to 36.1,
  whereas the next double below it (written 36.04999999999999) rounds to 36.0. This is exactly
  ``Decimal(repr(x)).quantize(…, ROUND_HALF_UP)``, done without strings by comparing ``x``
  with the double nearest the decimal half-way point (which IEEE division gives exactly).

Missing and unusual values
--------------------------
* ``None`` or NaN means "not measured": the parameter's sub-score is 0 and its flag in
  ``News2Result.scored`` is False, so callers can tell "0 because normal" from "0 because
  absent" (``n_scored`` counts the parameters actually scored; RCP NEWS2 assumes all seven).
  A total over fewer than seven parameters is a partial score, and ``Response.ZERO`` with
  ``n_scored == 0`` means "nothing to score", not "well"; deciding what to do with partial
  scores is the caller's job.
* ``on_oxygen=None`` (not known) contributes nothing to the air/oxygen parameter and, on
  SpO2 scale 2, the saturation is scored as if on air. That is the chart's lower reading for
  SpO2 ≥ 93 %, so an unknown oxygen status can under-score a patient who is in fact on oxygen.
* ±infinity is scored as the extreme band rather than dropped: it can only come from a
  device or decoding fault, and a loud score gets it looked at. Likewise values outside the
  plausible range in ``common.wire.vocabulary`` are scored as given; plausibility is flagged
  upstream, never silently corrected here.
* Unrecognised consciousness words, SpO2 scales other than 1 or 2, and oxygen flags other
  than true/false/unknown raise ``ValueError``: guessing would be a clinical decision.

Shapes and types
----------------
Arguments broadcast together like NumPy operands. When every argument is a scalar (or 0-d)
the result holds Python ``int``, ``bool`` and ``Response`` values; otherwise it holds
read-only arrays of the broadcast shape: ``int64`` sub-scores and totals, ``bool`` flags, and
``response`` as ``int8`` codes equal to the ``Response`` members (``Response`` is an
``IntEnum``, so ``result.response == Response.HIGH`` works element-wise and
``Response(code)`` converts back).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import Any, Final, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

from alerts.rounding import recorded_units
from common.wire.vocabulary import SNOMED_NEWS2_TOTAL, Measure

__all__ = [
    "PARAMETERS",
    "PARAMETER_MEASURES",
    "SNOMED_NEWS2_TOTAL",
    "News2Result",
    "Response",
    "ScoredParameters",
    "score",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
ResponseArray: TypeAlias = npt.NDArray[np.int8]
_ArrayT = TypeVar("_ArrayT", bound=np.ndarray[Any, Any])

#: A measurement argument: a number, an array of numbers, or None (not measured).
Measurement: TypeAlias = npt.ArrayLike | None

#: The seven NEWS2 parameters, in the order of chart 1.
PARAMETERS: Final[tuple[str, ...]] = (
    "respiration_rate",
    "spo2",
    "air_or_oxygen",
    "systolic",
    "pulse",
    "consciousness",
    "temperature",
)

#: Which canonical measure feeds each parameter that a device measures, so codes and units
#: come from the one vocabulary rather than being restated here.
PARAMETER_MEASURES: Final[Mapping[str, Measure]] = MappingProxyType(
    {
        "respiration_rate": Measure.RESPIRATION_RATE,
        "spo2": Measure.SPO2,
        "systolic": Measure.SYSTOLIC,
        "pulse": Measure.PULSE,
        "temperature": Measure.TEMPERATURE,
    }
)


class Response(IntEnum):
    """RCP clinical response bands (chart 4), ordered by urgency so that ``max`` escalates.

    LOW_MEDIUM is the RCP's "single parameter 3" band: a 3 in any one parameter while the
    aggregate is still 1–4. (No alias member: type checkers treat aliases as distinct values.)
    """

    ZERO = 0
    LOW = 1
    LOW_MEDIUM = 2
    MEDIUM = 3
    HIGH = 4

    @property
    def action(self) -> str:
        """The response chart 4 asks for, for pages and e-mails."""
        return _ACTIONS[self]


_ACTIONS: Final[Mapping[Response, str]] = MappingProxyType(
    {
        Response.ZERO: "routine monitoring",
        Response.LOW: "assessment by a registered nurse",
        Response.LOW_MEDIUM: "urgent ward-based response (a score of 3 in a single parameter)",
        Response.MEDIUM: "urgent response: clinical review within 1 hour",
        Response.HIGH: "emergency response: review within 30 minutes",
    }
)


@dataclass(frozen=True, slots=True)
class ScoredParameters:
    """Whether each parameter was actually measured, i.e. whether its sub-score means anything."""

    respiration_rate: bool | BoolArray
    spo2: bool | BoolArray
    air_or_oxygen: bool | BoolArray
    systolic: bool | BoolArray
    pulse: bool | BoolArray
    consciousness: bool | BoolArray
    temperature: bool | BoolArray


@dataclass(frozen=True, slots=True)
class News2Result:
    """A NEWS2 score with its parts, so alerts can say which parameter drove the response."""

    total: int | IntArray
    respiration_rate: int | IntArray
    spo2: int | IntArray
    air_or_oxygen: int | IntArray
    systolic: int | IntArray
    pulse: int | IntArray
    consciousness: int | IntArray
    temperature: int | IntArray
    any_single_3: bool | BoolArray
    response: Response | ResponseArray
    scored: ScoredParameters
    n_scored: int | IntArray


# Chart 1 as (inclusive upper edges of each band, points for each band); the last band is
# open-ended. Edges are in recording units: whole numbers, and tenths of a degree for
# temperature, so that comparisons after rounding are exact.
_Bands: TypeAlias = tuple[tuple[float, ...], tuple[int, ...]]

_RESPIRATION: Final[_Bands] = ((8, 11, 20, 24), (3, 1, 0, 2, 3))
_SPO2_SCALE_1: Final[_Bands] = ((91, 93, 95), (3, 2, 1, 0))
_SPO2_SCALE_2_AIR: Final[_Bands] = ((83, 85, 87, 92), (3, 2, 1, 0, 0))
_SPO2_SCALE_2_OXYGEN: Final[_Bands] = ((83, 85, 87, 92, 94, 96), (3, 2, 1, 0, 1, 2, 3))
_SYSTOLIC: Final[_Bands] = ((90, 100, 110, 219), (3, 2, 1, 0, 3))
_PULSE: Final[_Bands] = ((40, 50, 90, 110, 130), (3, 1, 0, 1, 2, 3))
_TEMPERATURE_TENTHS: Final[_Bands] = ((350, 360, 380, 390), (3, 1, 0, 1, 2))

_AIR_OR_OXYGEN_POINTS: Final[int] = 2
_CONSCIOUSNESS_POINTS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "a": 0,
        "alert": 0,
        "c": 3,
        "confusion": 3,
        "confused": 3,
        "new confusion": 3,
        "v": 3,
        "voice": 3,
        "p": 3,
        "pain": 3,
        "u": 3,
        "unresponsive": 3,
    }
)


def score(
    *,
    respiration_rate: Measurement = None,
    spo2: Measurement = None,
    spo2_scale: npt.ArrayLike = 1,
    on_oxygen: npt.ArrayLike | None = None,
    systolic: Measurement = None,
    pulse: Measurement = None,
    consciousness: npt.ArrayLike | None = None,
    temperature: Measurement = None,
) -> News2Result:
    """Score NEWS2 for one reading or many; see the module docstring for the decisions made.

    ``consciousness`` is ACVPU: "A"/"alert" scores 0; "C" (new confusion), "V", "P", "U" or
    the words "confusion", "confused", "new confusion", "voice", "pain", "unresponsive"
    score 3 (any case). ``None``, NaN or "" mean not assessed. ``on_oxygen`` is True, False
    or None (unknown); in arrays unknown is NaN (float arrays) or None (object arrays).
    """
    rr = _measurement(respiration_rate)
    sat = _measurement(spo2)
    sys_bp = _measurement(systolic)
    hr = _measurement(pulse)
    temp = _measurement(temperature)
    scale_2 = _is_scale_2(spo2_scale)
    oxygen = _oxygen(on_oxygen)
    alertness = _consciousness(consciousness)

    rr, sat, sys_bp, hr, temp, oxygen, alertness, scale_2_b = np.broadcast_arrays(
        rr, sat, sys_bp, hr, temp, oxygen, alertness, scale_2
    )
    shape = rr.shape

    sat_recorded = recorded_units(sat, decimals=0)
    # Unknown oxygen (NaN) compares unequal to 1, so scale 2 scores it as air, as documented.
    on_o2 = oxygen == 1.0
    spo2_points = np.where(
        scale_2_b,
        np.where(
            on_o2,
            _banded(sat_recorded, _SPO2_SCALE_2_OXYGEN),
            _banded(sat_recorded, _SPO2_SCALE_2_AIR),
        ),
        _banded(sat_recorded, _SPO2_SCALE_1),
    )
    rr_points = _banded(recorded_units(rr, decimals=0), _RESPIRATION)
    o2_points = np.where(on_o2, _AIR_OR_OXYGEN_POINTS, 0)
    sys_points = _banded(recorded_units(sys_bp, decimals=0), _SYSTOLIC)
    hr_points = _banded(recorded_units(hr, decimals=0), _PULSE)
    temp_points = _banded(recorded_units(temp, decimals=1), _TEMPERATURE_TENTHS)

    # One row per parameter, in PARAMETERS order; consciousness is already 0/3/NaN points.
    measured = ~np.isnan(np.stack([rr, sat, oxygen, sys_bp, hr, alertness, temp]))
    raw_points = np.stack([rr_points, spo2_points, o2_points, sys_points, hr_points, alertness, temp_points])
    subscores = np.where(measured, raw_points, 0).astype(np.int64)

    total = subscores.sum(axis=0)
    any_single_3 = (subscores == 3).any(axis=0)
    n_scored = measured.sum(axis=0, dtype=np.int64)
    response = np.select(
        [total == 0, total >= 7, total >= 5, any_single_3],
        [Response.ZERO, Response.HIGH, Response.MEDIUM, Response.LOW_MEDIUM],
        default=Response.LOW,
    ).astype(np.int8)

    if shape == ():
        ints = [int(points) for points in subscores]
        flags = [bool(flag) for flag in measured]
        return News2Result(
            total=int(total),
            respiration_rate=ints[0],
            spo2=ints[1],
            air_or_oxygen=ints[2],
            systolic=ints[3],
            pulse=ints[4],
            consciousness=ints[5],
            temperature=ints[6],
            any_single_3=bool(any_single_3),
            response=Response(int(response)),
            scored=ScoredParameters(*flags),
            n_scored=int(n_scored),
        )
    subscores = _frozen(subscores)
    measured = _frozen(measured)
    return News2Result(
        total=_frozen(total),
        respiration_rate=subscores[0],
        spo2=subscores[1],
        air_or_oxygen=subscores[2],
        systolic=subscores[3],
        pulse=subscores[4],
        consciousness=subscores[5],
        temperature=subscores[6],
        any_single_3=_frozen(any_single_3),
        response=_frozen(response),
        scored=ScoredParameters(*measured),
        n_scored=_frozen(n_scored),
    )


def _frozen(array: _ArrayT) -> _ArrayT:
    """Results are shared between alert rules; read-only arrays keep the dataclass honestly frozen."""
    array.flags.writeable = False
    return array


def _measurement(value: Measurement) -> FloatArray:
    """None and NaN both mean "not measured" so that callers can pass columns with gaps."""
    if value is None:
        return np.array(np.nan)
    return np.asarray(value, dtype=np.float64)


def _banded(recorded: FloatArray, bands: _Bands) -> IntArray:
    """Look up chart points by band; NaN lands in some band but is masked out by the caller."""
    upper_edges, band_points = bands
    index = np.searchsorted(np.asarray(upper_edges, dtype=np.float64), recorded, side="left")
    return np.asarray(band_points, dtype=np.int64)[index]


def _is_scale_2(spo2_scale: npt.ArrayLike) -> BoolArray:
    """Scale 2 is a clinician's decision per patient, so anything but 1 or 2 is refused."""
    scale = np.asarray(spo2_scale)
    if scale.dtype == np.bool_ or scale.dtype.kind not in "iuf":
        raise ValueError(f"spo2_scale must be 1 or 2, not {spo2_scale!r}")
    if not np.isin(scale, (1, 2)).all():
        raise ValueError(f"spo2_scale must be 1 or 2, got {np.unique(scale[~np.isin(scale, (1, 2))])}")
    return np.asarray(scale == 2)


def _oxygen(on_oxygen: npt.ArrayLike | None) -> FloatArray:
    """Encode oxygen as 1.0 (oxygen), 0.0 (air) or NaN (unknown) so that unknown can broadcast."""
    if on_oxygen is None:
        return np.array(np.nan)
    flags = np.asarray(on_oxygen)
    if flags.dtype == np.bool_:
        return flags.astype(np.float64)
    if flags.dtype == np.object_:
        flags = np.frompyfunc(_oxygen_flag, 1, 1)(flags)
    elif flags.dtype.kind not in "iuf":
        raise ValueError(f"on_oxygen must be True, False or None, not {on_oxygen!r}")
    encoded = np.asarray(flags, dtype=np.float64)
    if not np.isin(encoded[~np.isnan(encoded)], (0.0, 1.0)).all():
        raise ValueError(f"on_oxygen must be True, False or None (1, 0 or NaN in arrays), not {on_oxygen!r}")
    return encoded


def _oxygen_flag(value: object) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool | np.bool_ | int | np.integer | float | np.floating):
        return float(value)
    raise ValueError(f"on_oxygen must be True, False or None, not {value!r}")


def _consciousness(consciousness: npt.ArrayLike | None) -> FloatArray:
    """Map ACVPU to points (NaN = not assessed), decoding each distinct string only once."""
    if consciousness is None:
        return np.array(np.nan)
    levels = np.asarray(consciousness)
    if levels.dtype.kind == "U":
        distinct, inverse = np.unique(levels.ravel(), return_inverse=True)
        table = np.array([_consciousness_points(level) for level in distinct.tolist()], dtype=np.float64)
        return table[inverse].reshape(levels.shape)
    if levels.dtype == np.object_:
        return np.asarray(np.frompyfunc(_consciousness_points, 1, 1)(levels), dtype=np.float64)
    if levels.dtype.kind == "f" and np.isnan(levels).all():
        return levels.astype(np.float64)
    raise ValueError(f"consciousness must be ACVPU text or None, not {consciousness!r}")


def _consciousness_points(level: object) -> float:
    if level is None or (isinstance(level, float) and math.isnan(level)):
        return math.nan
    if not isinstance(level, str):
        raise ValueError(f"consciousness must be ACVPU text or None, not {level!r}")
    key = " ".join(level.split()).casefold()
    if key == "":
        return math.nan
    try:
        return float(_CONSCIOUSNESS_POINTS[key])
    except KeyError:
        raise ValueError(
            f"unrecognised consciousness level {level!r}: expected A, C, V, P, U or alert, "
            "new confusion, voice, pain, unresponsive"
        ) from None
