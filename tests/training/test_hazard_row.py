"""The one-row payment distribution is the matrix one, value for value."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.hazard_data import payment_distribution
from training.hazard_row import row_distribution

_KEYS = ("p_default", "mean", "p10", "p50", "p90")


@settings(max_examples=300, deadline=None)
@given(
    hazards=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=20),
    widths=st.lists(st.floats(0.5, 40.0), min_size=20, max_size=20),
    start=st.floats(-60.0, 0.0),
    overdue=st.one_of(st.none(), st.floats(-80.0, 150.0)),
)
def test_the_row_distribution_is_the_matrix_one(
    hazards: list[float], widths: list[float], start: float, overdue: float | None
) -> None:
    edges = np.concatenate([[start], start + np.cumsum(widths[: len(hazards)])])
    days = None if overdue is None else np.array([overdue])
    matrix = payment_distribution(np.array([hazards]), edges, days)
    row = row_distribution(hazards, list(edges), overdue)
    for key in _KEYS:
        assert row[key] == pytest.approx(float(matrix[key][0]), rel=1e-9, abs=1e-9), key


def test_without_quantiles_only_the_probability_and_the_mean_are_computed() -> None:
    row = row_distribution([0.2, 0.5, 0.1], [-10.0, 0.0, 30.0, 90.0], 5.0, quantiles=False)
    assert set(row) == {"p_default", "mean"}
    assert row["mean"] >= 5.0  # still nothing before today
