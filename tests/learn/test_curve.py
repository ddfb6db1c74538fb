"""APGR and CPT against cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gearshift.learn.curve import apgr, curve_of, normalised_points

# Four tasks. Weak passes tasks 0 and 1, strong passes 1, 2 and 3; sonnet passes 1 and 2.
SCORE = np.array([[1, 0, 0], [1, 1, 1], [0, 1, 1], [0, 0, 1]], dtype=float)
COST = np.array([[1, 4, 10]] * 4, dtype=float)
WEAK = np.zeros((1, 4), dtype=int)
STRONG = np.full((1, 4), 2)


def test_always_weak_is_zero_and_always_strong_is_one() -> None:
    x, y = normalised_points(np.vstack([WEAK, STRONG]), SCORE, COST)
    assert x.tolist() == [0.0, 1.0]
    assert y.tolist() == [0.0, 1.0]


def test_a_router_no_better_than_the_line_scores_one_half() -> None:
    assert apgr(np.vstack([WEAK, STRONG]), SCORE, COST) == pytest.approx(0.5)


def test_the_perfect_oracle() -> None:
    """The oracle sends task 2 and 3 (which weak fails) to the cheapest tier that passes them:
    task 2 to sonnet (cost 4), task 3 to opus (cost 10); tasks 0 and 1 stay weak (1 each).
    Always-weak: quality 2/4, cost 4; always-strong: quality 3/4, cost 40.
    Oracle: quality 4/4 -> y = (1 - 0.5) / 0.25 = 2; cost 16 -> x = 12 / 36 = 1/3.
    Curve: (0, 0) -> (1/3, 2) -> (1, 2): area = 1/3 * 2 / 2 + 2/3 * 2 = 5/3."""
    oracle = np.array([[0, 0, 1, 2]])
    x, y = normalised_points(oracle, SCORE, COST)
    assert x[0] == pytest.approx(1 / 3) and y[0] == pytest.approx(2.0)
    assert apgr(oracle, SCORE, COST) == pytest.approx(5 / 3)


def test_one_point_above_the_line() -> None:
    """Task 2 to opus: cost 1 + 1 + 10 + 1 = 13 -> x = 9 / 36 = 0.25; quality 3/4 -> y = 1.
    Curve (0,0) -> (0.25,1) -> (1,1): area 0.125 + 0.75 = 0.875; CPT(50%) = 0.125."""
    r = np.array([[0, 0, 2, 0]])
    c = curve_of(*normalised_points(r, SCORE, COST))
    assert c.apgr == pytest.approx(0.875)
    assert c.cpt(0.5) == pytest.approx(0.125)
    assert c.cpt(0.8) == pytest.approx(0.2)
    assert c.cpt(1.5) is None


def test_points_beyond_always_strong_are_dropped_and_quality_never_falls() -> None:
    c = curve_of([0.2, 0.4, 1.3], [0.6, 0.3, 2.0])
    assert c.x.tolist() == [0.0, 0.2, 0.4, 1.0]
    assert c.y.tolist() == [0.0, 0.6, 0.6, 1.0]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 1), st.floats(-1, 3)),
        min_size=0,
        max_size=12,
    )
)
def test_apgr_is_the_area_of_a_monotone_curve(points: list[tuple[float, float]]) -> None:
    c = curve_of([p[0] for p in points], [p[1] for p in points])
    assert c.x[0] == 0.0 and c.x[-1] == 1.0
    assert np.all(np.diff(c.x) >= 0) and np.all(np.diff(c.y) >= 0)
    assert min(0.0, c.y.min()) - 1e-9 <= c.apgr <= c.y.max() + 1e-9
