"""The vectorised scorer agrees with itself row by row and with the plain-Python oracle.

The chart tests pin the edges we thought of; these compare the two implementations on
values nobody chose, with NaNs, infinities, odd decimals and values a hair either side of
every rounding tie, where a vectorised shortcut would drift from the chart.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.news2 import PARAMETERS, News2Result, Response, score
from alerts.reference.news2 import score_reading

WORDS = ["A", "alert", "C", "new confusion", "Confused", "v", "Voice", "P", "pain", "U", "unresponsive"]

# Chart edges in recording units, used to aim values at band boundaries and rounding ties.
WHOLE_EDGES = {
    "respiration_rate": [8, 11, 20, 24],
    "spo2": [83, 85, 87, 91, 92, 93, 94, 95, 96],
    "systolic": [90, 100, 110, 219],
    "pulse": [40, 50, 90, 110, 130],
}
TEMPERATURE_EDGES = [35.0, 36.0, 38.0, 39.0]


def _near(values: list[float], offsets: list[float]) -> list[float]:
    """Values at, either side of, and one ulp either side of each offset from each edge."""
    out: list[float] = []
    for value in values:
        for offset in offsets:
            point = value + offset
            out += [point, math.nextafter(point, -math.inf), math.nextafter(point, math.inf)]
    return out


WHOLE_NEAR = {
    name: _near([float(edge) for edge in edges], [-0.5, 0.0, 0.5, 1.0, 1.5])
    for name, edges in WHOLE_EDGES.items()
}
TEMPERATURE_NEAR = [
    *_near(TEMPERATURE_EDGES, [-0.05, 0.0, 0.05, 0.1, 0.15]),
    *_near([35.05, 36.05, 38.05, 39.05, 35.95, 38.95, 39.15], [0.0]),  # the literals, not sums
]


def _measurement(near: list[float], low: float, high: float) -> st.SearchStrategy[float]:
    return st.one_of(
        st.just(math.nan),
        st.sampled_from(near),
        st.floats(min_value=low, max_value=high),
        st.floats(min_value=low, max_value=high).map(lambda value: round(value, 2)),
        st.floats(allow_nan=False),  # anything at all, infinities and subnormals included
    )


@st.composite
def readings(draw: st.DrawFn) -> dict[str, Any]:
    """Columns of readings for one vectorised call, each in one of the shapes callers use."""
    rows = draw(st.integers(min_value=1, max_value=40))

    def column(strategy: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(strategy, min_size=rows, max_size=rows))

    columns: dict[str, Any] = {
        "respiration_rate": column(_measurement(WHOLE_NEAR["respiration_rate"], 0, 60)),
        "spo2": column(_measurement(WHOLE_NEAR["spo2"], 60, 100)),
        "systolic": column(_measurement(WHOLE_NEAR["systolic"], 50, 260)),
        "pulse": column(_measurement(WHOLE_NEAR["pulse"], 20, 200)),
        "temperature": column(_measurement(TEMPERATURE_NEAR, 30, 43)),
    }
    columns["spo2_scale"] = (
        draw(st.sampled_from([1, 2])) if draw(st.booleans()) else column(st.sampled_from([1, 2]))
    )
    match draw(st.sampled_from(["scalar", "bool", "float", "object"])):
        case "scalar":
            columns["on_oxygen"] = draw(st.sampled_from([None, True, False]))
        case "bool":
            columns["on_oxygen"] = np.array(column(st.booleans()), dtype=bool)
        case "float":
            columns["on_oxygen"] = np.array(column(st.sampled_from([0.0, 1.0, math.nan])))
        case _:
            columns["on_oxygen"] = np.array(column(st.sampled_from([True, False, None])), dtype=object)
    match draw(st.sampled_from(["scalar", "str", "object"])):
        case "scalar":
            columns["consciousness"] = draw(st.sampled_from([None, *WORDS]))
        case "str":
            columns["consciousness"] = np.array(column(st.sampled_from(["", *WORDS])))
        case _:
            columns["consciousness"] = np.array(
                column(st.sampled_from([None, math.nan, "", *WORDS])), dtype=object
            )
    return columns


def _row(columns: dict[str, Any], index: int) -> dict[str, Any]:
    """The scalar arguments for one row, as a caller scoring one reading would pass them."""
    row: dict[str, Any] = {}
    for name, value in columns.items():
        if isinstance(value, list | np.ndarray) and np.ndim(value) == 1:
            item = value[index]
            row[name] = item.item() if isinstance(item, np.generic) else item
        else:
            row[name] = value
    return row


def _at(values: int | bool | Response | npt.NDArray[Any], index: int) -> Any:
    assert isinstance(values, np.ndarray)
    return values[index].item()


def _assert_row_matches_reference(result: News2Result, index: int, row: dict[str, Any]) -> None:
    oracle = score_reading(**row)
    for name in PARAMETERS:
        expected = oracle.subscores[name]
        assert _at(getattr(result, name), index) == (expected or 0), (name, row)
        assert _at(getattr(result.scored, name), index) is (expected is not None), (name, row)
    assert _at(result.total, index) == oracle.total, row
    assert _at(result.any_single_3, index) is oracle.any_single_3, row
    assert Response(_at(result.response, index)).name == oracle.response, row
    assert _at(result.n_scored, index) == sum(points is not None for points in oracle.subscores.values())


@settings(max_examples=300, deadline=None)
@given(readings())
def test_vectorised_scores_equal_the_reference_row_by_row(columns: dict[str, Any]) -> None:
    result = score(**columns)
    rows = len(columns["pulse"])
    assert isinstance(result.total, np.ndarray)
    assert result.total.shape == (rows,)
    for index in range(rows):
        _assert_row_matches_reference(result, index, _row(columns, index))


def _grid(rows: int, seed: int) -> dict[str, Any]:
    """A fixed, seeded spread of readings covering every band, with about one value in eight missing."""
    rng = np.random.default_rng(seed)

    def measured(low: float, high: float, decimals: int) -> npt.NDArray[np.float64]:
        values = np.round(rng.uniform(low, high, rows), decimals)
        values[rng.random(rows) < 0.125] = np.nan
        return values

    return {
        "respiration_rate": measured(4, 30, 1),
        "spo2": measured(80, 100, 1),
        "spo2_scale": rng.choice([1, 2], rows),
        "on_oxygen": rng.choice(np.array([True, False, None], dtype=object), rows),
        "systolic": measured(80, 230, 0),
        "pulse": measured(35, 140, 1),
        "consciousness": rng.choice(np.array(["A", "A", "A", "C", "V", "P", "U", None], dtype=object), rows),
        "temperature": measured(34.5, 39.5, 2),
    }


def test_a_vectorised_call_equals_the_per_row_scalar_calls() -> None:
    columns = _grid(rows=2000, seed=20170101)
    result = score(**columns)
    assert isinstance(result.total, np.ndarray)
    assert len(set(result.response.tolist())) == len(Response)  # type: ignore[union-attr]
    for index in range(2000):
        single = score(**_row(columns, index))
        for name in ("total", "any_single_3", "response", "n_scored", *PARAMETERS):
            assert _at(getattr(result, name), index) == getattr(single, name), (name, index)
        for name in PARAMETERS:
            assert _at(getattr(result.scored, name), index) == getattr(single.scored, name), (name, index)


def test_two_dimensional_input_scores_each_cell_like_a_flat_call() -> None:
    columns = _grid(rows=60, seed=7)
    flat = score(**columns)
    shaped = score(**{name: np.asarray(value).reshape(6, 10) for name, value in columns.items()})
    for name in ("total", "response", "n_scored", *PARAMETERS):
        assert np.array_equal(np.asarray(getattr(shaped, name)).ravel(), np.asarray(getattr(flat, name)))


def test_scalar_arguments_broadcast_against_arrays() -> None:
    result = score(spo2=[92.5, 94.5, 96.5], spo2_scale=2, on_oxygen=True, consciousness="A")
    assert isinstance(result.spo2, np.ndarray)
    assert result.spo2.tolist() == [1, 2, 3]
    assert result.air_or_oxygen.tolist() == [2, 2, 2]  # type: ignore[union-attr]
    assert result.n_scored.tolist() == [3, 3, 3]  # type: ignore[union-attr]


def test_incompatible_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="broadcast"):
        score(pulse=[70, 80], temperature=[36.0, 37.0, 38.0])


def _ties_and_neighbours(decimals: int, count: int) -> list[float]:
    """Every tie 0.5 (or 0.05) from 0 up, as written and ±4 ulps, plus the negatives."""
    values: list[float] = []
    for step in range(count):
        tie = (2 * step + 1) / (2 * 10**decimals)
        below = above = tie
        values += [tie, float(f"{tie:.{decimals + 1}f}")]
        for _ in range(4):
            below, above = math.nextafter(below, -math.inf), math.nextafter(above, math.inf)
            values += [below, above]
    return values + [-value for value in values]


@pytest.mark.parametrize(("decimals", "count"), [(0, 400), (1, 500)], ids=["whole", "tenths"])
def test_rounding_is_decimal_round_half_up_of_the_written_value(decimals: int, count: int) -> None:
    # The private helper is tested directly: the score-level oracle cannot see ties that fall
    # inside a band (30.049999999999997 scores 3 whether it rounds to 30.0 or 30.1), and the
    # obvious floor(x * 10 + 0.5) is wrong for exactly such values.
    from alerts.rounding import recorded_units

    values = _ties_and_neighbours(decimals, count)
    quantum = Decimal(1).scaleb(-decimals)
    expected = [
        float(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP).scaleb(decimals))
        for value in values
    ]
    assert recorded_units(np.array(values), decimals).tolist() == expected
