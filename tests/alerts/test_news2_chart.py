"""NEWS2 chart 1 and chart 4, edge by edge, checked against both implementations.

Every case runs through ``alerts.news2.score`` and the plain-Python reference, so a wrong
edge in either one fails here with the chart row in the test id rather than as a shrunk
Hypothesis counter-example.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import fields

import numpy as np
import pytest

from alerts import news2
from alerts.news2 import PARAMETERS, News2Result, Response, ScoredParameters, score
from alerts.reference.news2 import score_reading
from common.wire.vocabulary import MEASURES, SNOMED_NEWS2_TOTAL

Scorer = Callable[..., int]


def _vectorised(parameter: str, **reading: object) -> int:
    result = score(**reading)  # type: ignore[arg-type]
    points = getattr(result, parameter)
    assert isinstance(points, int)
    return points


def _reference(parameter: str, **reading: object) -> int:
    points = score_reading(**reading).subscores[parameter]  # type: ignore[arg-type]
    assert points is not None
    return points


@pytest.fixture(params=[_vectorised, _reference], ids=["vectorised", "reference"])
def points_for(request: pytest.FixtureRequest) -> Callable[..., int]:
    scorer: Callable[..., int] = request.param
    return scorer


def _cases(parameter: str, table: Sequence[tuple[float, int]]) -> list[object]:
    return [pytest.param(value, points, id=f"{parameter}={value!r}->{points}") for value, points in table]


# Both sides of every edge of chart 1, plus the extremes.
RESPIRATION = [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)]
SPO2_SCALE_1 = [(50, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
SPO2_SCALE_2_AIR = [
    (70, 3), (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0),
    (92, 0), (93, 0), (94, 0), (95, 0), (96, 0), (97, 0), (100, 0),
]  # fmt: skip
SPO2_SCALE_2_OXYGEN = [
    (70, 3), (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0),
    (92, 0), (93, 1), (94, 1), (95, 2), (96, 2), (97, 3), (100, 3),
]  # fmt: skip
SYSTOLIC = [(40, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3), (300, 3)]
PULSE = [
    (20, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0),
    (91, 1), (110, 1), (111, 2), (130, 2), (131, 3), (250, 3),
]  # fmt: skip
TEMPERATURE = [
    (30.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0),
    (38.1, 1), (39.0, 1), (39.1, 2), (42.0, 2),
]  # fmt: skip


@pytest.mark.parametrize(("value", "points"), _cases("respiration_rate", RESPIRATION))
def test_respiration_rate_edges(points_for: Scorer, value: float, points: int) -> None:
    assert points_for("respiration_rate", respiration_rate=value) == points


@pytest.mark.parametrize(("value", "points"), _cases("spo2", SPO2_SCALE_1))
@pytest.mark.parametrize("on_oxygen", [None, False, True])
def test_spo2_scale_1_edges_ignore_oxygen(
    points_for: Scorer, value: float, points: int, on_oxygen: bool | None
) -> None:
    assert points_for("spo2", spo2=value, on_oxygen=on_oxygen) == points


@pytest.mark.parametrize(("value", "points"), _cases("spo2", SPO2_SCALE_2_AIR))
def test_spo2_scale_2_on_air_edges(points_for: Scorer, value: float, points: int) -> None:
    assert points_for("spo2", spo2=value, spo2_scale=2, on_oxygen=False) == points


@pytest.mark.parametrize(("value", "points"), _cases("spo2", SPO2_SCALE_2_OXYGEN))
def test_spo2_scale_2_on_oxygen_edges(points_for: Scorer, value: float, points: int) -> None:
    assert points_for("spo2", spo2=value, spo2_scale=2, on_oxygen=True) == points


@pytest.mark.parametrize(("value", "points"), _cases("spo2", SPO2_SCALE_2_AIR))
def test_spo2_scale_2_with_unknown_oxygen_is_scored_as_air(
    points_for: Scorer, value: float, points: int
) -> None:
    assert points_for("spo2", spo2=value, spo2_scale=2, on_oxygen=None) == points


@pytest.mark.parametrize(("value", "points"), _cases("systolic", SYSTOLIC))
def test_systolic_edges(points_for: Scorer, value: float, points: int) -> None:
    assert points_for("systolic", systolic=value) == points


@pytest.mark.parametrize(("value", "points"), _cases("pulse", PULSE))
def test_pulse_edges(points_for: Scorer, value: float, points: int) -> None:
    assert points_for("pulse", pulse=value) == points


@pytest.mark.parametrize(("value", "points"), _cases("temperature", TEMPERATURE))
def test_temperature_edges(points_for: Scorer, value: float, points: int) -> None:
    assert points_for("temperature", temperature=value) == points


@pytest.mark.parametrize(
    ("on_oxygen", "spo2_scale", "points"),
    [(False, 1, 0), (True, 1, 2), (False, 2, 0), (True, 2, 2), (0, 1, 0), (1, 2, 2)],
)
def test_air_or_oxygen(points_for: Scorer, on_oxygen: bool, spo2_scale: int, points: int) -> None:
    assert points_for("air_or_oxygen", on_oxygen=on_oxygen, spo2_scale=spo2_scale) == points


ALERT = ["A", "a", "alert", "Alert", " ALERT "]
NOT_ALERT = [
    "C", "c", "V", "v", "P", "p", "U", "u",
    "confusion", "Confused", "new confusion", "New  Confusion", "voice", "PAIN", "Unresponsive",
]  # fmt: skip


@pytest.mark.parametrize(
    ("level", "points"), [(level, 0) for level in ALERT] + [(level, 3) for level in NOT_ALERT]
)
def test_consciousness(points_for: Scorer, level: str, points: int) -> None:
    assert points_for("consciousness", consciousness=level) == points


# --- non-integer values: rounded half-up to the chart's recording precision first ---------


@pytest.mark.parametrize(
    ("parameter", "value", "points"),
    [
        ("temperature", 36.05, 0),  # stored as 36.04999…, written 36.05 → 36.1
        ("temperature", float(np.nextafter(36.05, 0.0)), 1),  # written 36.04999999999999 → 36.0
        ("temperature", 36.04, 1),
        ("temperature", 36.0499999, 1),
        ("temperature", 36.06, 0),
        ("temperature", 35.05, 1),  # → 35.1
        ("temperature", 35.04, 3),
        ("temperature", 38.05, 1),  # → 38.1
        ("temperature", 38.04, 0),
        ("temperature", 39.05, 2),  # → 39.1
        ("temperature", 39.04, 1),
        ("temperature", 36.15, 0),
        ("spo2", 95.5, 0),  # → 96
        ("spo2", 93.5, 1),  # → 94
        ("spo2", 91.5, 2),  # → 92
        ("spo2", 95.49, 1),
        ("spo2", 95.4999999999, 1),
        ("systolic", 90.4, 3),
        ("systolic", 90.5, 2),  # → 91 (banker's: 90 → 3)
        ("systolic", 110.5, 0),  # → 111 (banker's: 110 → 1)
        ("systolic", 219.5, 3),  # → 220
        ("systolic", 219.49, 0),
        ("pulse", 90.4, 0),
        ("pulse", 90.5, 1),  # → 91 (banker's: 90 → 0)
        ("pulse", 40.5, 1),  # → 41 (banker's: 40 → 3)
        ("pulse", 130.5, 3),
        ("pulse", float(np.nextafter(40.5, 0.0)), 3),
        ("respiration_rate", 8.5, 1),  # → 9 (banker's: 8 → 3)
        ("respiration_rate", 8.49, 3),
        ("respiration_rate", 20.5, 2),
        ("respiration_rate", 24.5, 3),
    ],
)
def test_non_integer_values_round_half_up_to_recording_precision(
    points_for: Scorer, parameter: str, value: float, points: int
) -> None:
    assert points_for(parameter, **{parameter: value}) == points


@pytest.mark.parametrize(
    ("value", "points"),
    [(92.5, 1), (94.5, 2), (96.5, 3), (92.49, 0), (96.49, 2)],  # banker's rounding: 0, 1, 2
)
def test_spo2_scale_2_halves_round_up_not_to_even(points_for: Scorer, value: float, points: int) -> None:
    assert points_for("spo2", spo2=value, spo2_scale=2, on_oxygen=True) == points


def test_numpy_scalars_are_accepted(points_for: Scorer) -> None:
    assert points_for("temperature", temperature=np.float64(36.05)) == 0
    assert points_for("pulse", pulse=np.int64(131)) == 3


@pytest.mark.parametrize(
    ("parameter", "value", "points"),
    [
        ("pulse", math.inf, 3),
        ("pulse", -math.inf, 3),
        ("temperature", math.inf, 2),
        ("temperature", -math.inf, 3),
        ("temperature", 1e308, 2),
        ("systolic", -0.5, 3),
        ("spo2", 1e300, 0),
    ],
)
def test_impossible_values_are_scored_by_the_chart_not_dropped(
    points_for: Scorer, parameter: str, value: float, points: int
) -> None:
    assert points_for(parameter, **{parameter: value}) == points


# --- missing values ---------------------------------------------------------------------

MISSING_READINGS = [
    ("respiration_rate", {"respiration_rate": None}),
    ("respiration_rate", {"respiration_rate": math.nan}),
    ("spo2", {"spo2": None}),
    ("spo2", {"spo2": math.nan, "spo2_scale": 2, "on_oxygen": None}),
    ("air_or_oxygen", {"on_oxygen": None}),
    ("air_or_oxygen", {"on_oxygen": math.nan}),
    ("systolic", {"systolic": None}),
    ("systolic", {"systolic": np.nan}),
    ("pulse", {"pulse": None}),
    ("pulse", {"pulse": np.float64("nan")}),
    ("consciousness", {"consciousness": None}),
    ("consciousness", {"consciousness": ""}),
    ("consciousness", {"consciousness": math.nan}),
    ("temperature", {"temperature": None}),
    ("temperature", {"temperature": math.nan}),
]


@pytest.mark.parametrize(("parameter", "reading"), MISSING_READINGS)
def test_missing_values_contribute_nothing_and_are_reported(
    parameter: str, reading: dict[str, object]
) -> None:
    result = score(**reading)  # type: ignore[arg-type]
    assert getattr(result, parameter) == 0
    assert getattr(result.scored, parameter) is False
    assert result.n_scored == 0
    assert result.total == 0
    assert result.response is Response.ZERO
    assert score_reading(**reading).subscores[parameter] is None  # type: ignore[arg-type]


NORMAL = {
    "respiration_rate": 16,
    "spo2": 97,
    "on_oxygen": False,
    "systolic": 120,
    "pulse": 70,
    "consciousness": "A",
    "temperature": 37.0,
}


def test_a_normal_complete_reading_scores_zero_with_everything_scored() -> None:
    result = score(**NORMAL)  # type: ignore[arg-type]
    assert result.total == 0
    assert result.n_scored == 7
    assert all(getattr(result.scored, name) is True for name in PARAMETERS)
    assert result.response is Response.ZERO


def test_nothing_measured_is_zero_but_distinguishable_from_normal() -> None:
    result = score()
    assert result.total == 0
    assert result.n_scored == 0
    assert not any(getattr(result.scored, name) for name in PARAMETERS)


def test_missing_parameter_does_not_hide_the_others() -> None:
    result = score(**{**NORMAL, "pulse": None, "respiration_rate": 25})  # type: ignore[arg-type]
    assert result.total == 3
    assert result.n_scored == 6
    assert result.scored.pulse is False
    assert result.scored.respiration_rate is True


# --- chart 4: response bands --------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "total", "any_single_3", "response"),
    [
        pytest.param({}, 0, False, Response.ZERO, id="0-routine"),
        pytest.param({"pulse": 41}, 1, False, Response.LOW, id="1-low"),
        pytest.param({"respiration_rate": 21, "pulse": 111}, 4, False, Response.LOW, id="4-two-2s-low"),
        pytest.param(
            {"pulse": 41, "temperature": 36.0, "spo2": 95, "systolic": 110},
            4,
            False,
            Response.LOW,
            id="4-four-1s",
        ),
        pytest.param({"consciousness": "V"}, 3, True, Response.LOW_MEDIUM, id="3-single-3"),
        pytest.param({"respiration_rate": 25}, 3, True, Response.LOW_MEDIUM, id="3-single-3-rr"),
        pytest.param({"systolic": 90, "pulse": 41}, 4, True, Response.LOW_MEDIUM, id="4-with-a-3"),
        pytest.param({"respiration_rate": 25, "pulse": 111}, 5, True, Response.MEDIUM, id="5-with-a-3"),
        pytest.param(
            {"respiration_rate": 21, "pulse": 111, "temperature": 38.1}, 5, False, Response.MEDIUM, id="5"
        ),
        pytest.param(
            {"respiration_rate": 21, "pulse": 111, "on_oxygen": True}, 6, False, Response.MEDIUM, id="6"
        ),
        pytest.param(
            {"respiration_rate": 25, "pulse": 111, "on_oxygen": True}, 7, True, Response.HIGH, id="7"
        ),
        pytest.param(
            {
                "respiration_rate": 8,
                "spo2": 97,
                "spo2_scale": 2,
                "on_oxygen": True,
                "systolic": 220,
                "pulse": 131,
                "consciousness": "U",
                "temperature": 35.0,
            },
            20,
            True,
            Response.HIGH,
            id="20-maximum",
        ),
    ],
)
def test_response_bands(
    changes: dict[str, object], total: int, any_single_3: bool, response: Response
) -> None:
    reading = {**NORMAL, **changes}
    result = score(**reading)  # type: ignore[arg-type]
    assert result.total == total
    assert result.any_single_3 is any_single_3
    assert result.response is response
    oracle = score_reading(**reading)  # type: ignore[arg-type]
    assert (oracle.total, oracle.any_single_3, oracle.response) == (total, any_single_3, response.name)


def test_response_is_ordered_by_urgency_and_names_the_single_parameter_band() -> None:
    assert Response.ZERO < Response.LOW < Response.LOW_MEDIUM < Response.MEDIUM < Response.HIGH
    assert [member.name for member in Response] == ["ZERO", "LOW", "LOW_MEDIUM", "MEDIUM", "HIGH"]
    assert all(member.action for member in Response)


# --- types, shapes and refusals --------------------------------------------------------------


def test_scalars_in_give_python_scalars_out() -> None:
    result = score(**{**NORMAL, "pulse": np.float64(131), "temperature": np.array(36.05)})  # type: ignore[arg-type]
    for name in ("total", "n_scored", *PARAMETERS):
        assert type(getattr(result, name)) is int, name
    assert type(result.any_single_3) is bool
    assert type(result.response) is Response
    assert all(type(getattr(result.scored, name)) is bool for name in PARAMETERS)


def test_arrays_in_give_read_only_arrays_out() -> None:
    result = score(pulse=np.array([[40.0], [70.0]]), temperature=[36.0, 39.1, np.nan])
    assert isinstance(result.total, np.ndarray)
    assert result.total.shape == (2, 3)
    assert result.total.dtype == np.int64
    assert isinstance(result.response, np.ndarray)
    assert result.response.dtype == np.int8
    assert (result.response == Response.LOW_MEDIUM).tolist() == [[True, False, True], [False, False, False]]
    assert result.total.tolist() == [[4, 5, 3], [1, 2, 0]]
    with pytest.raises(ValueError, match="read-only"):
        result.total[0, 0] = 0
    assert isinstance(result.pulse, np.ndarray)
    with pytest.raises(ValueError, match="read-only"):
        result.pulse[0, 0] = 0


def test_result_field_order_matches_parameters() -> None:
    assert tuple(field.name for field in fields(ScoredParameters)) == PARAMETERS
    assert tuple(field.name for field in fields(News2Result))[1:8] == PARAMETERS


def test_codes_come_from_the_vocabulary() -> None:
    assert news2.SNOMED_NEWS2_TOTAL == SNOMED_NEWS2_TOTAL
    assert set(news2.PARAMETER_MEASURES) <= set(PARAMETERS)
    assert all(measure in MEASURES for measure in news2.PARAMETER_MEASURES.values())


@pytest.mark.parametrize(
    "reading",
    [
        {"spo2": 95, "spo2_scale": 3},
        {"spo2": 95, "spo2_scale": 0},
        {"spo2": 95, "spo2_scale": True},
        {"spo2": 95, "spo2_scale": "2"},
        {"spo2": [95, 95], "spo2_scale": [1, 3]},
        {"on_oxygen": "yes"},
        {"on_oxygen": 2},
        {"on_oxygen": [0, 1, 2]},
        {"on_oxygen": np.array([True, "yes"], dtype=object)},
        {"consciousness": "drowsy"},
        {"consciousness": 5},
        {"consciousness": ["A", "drowsy"]},
        {"consciousness": np.array(["A", 3], dtype=object)},
    ],
)
def test_unrecognised_inputs_are_refused_not_guessed(reading: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"spo2_scale|on_oxygen|consciousness"):
        score(**reading)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "reading",
    [{"spo2": 95, "spo2_scale": 3}, {"on_oxygen": 2}, {"consciousness": "drowsy"}, {"consciousness": 5.0}],
)
def test_reference_refuses_the_same_inputs(reading: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"spo2_scale|oxygen|consciousness"):
        score_reading(**reading)  # type: ignore[arg-type]
