"""LightGBM's one-row C fast path (`training.row_predict`) against `Booster.predict`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import lightgbm as lgb
import numpy as np
import pytest

from training import row_predict
from training.row_predict import RowPredictor


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 6))
    X[:, 5] = rng.integers(0, 4, len(X))  # a categorical column
    y = (X[:, 0] + (X[:, 5] == 2) + rng.normal(0, 1, len(X)) > 0.5).astype(float)
    X[::9, 1] = np.nan
    return X, y


def _train(X: np.ndarray, y: np.ndarray, objective: str) -> lgb.Booster:
    params = {"objective": objective, "verbose": -1, "num_leaves": 15, "seed": 0}
    if objective == "quantile":
        params["alpha"] = 0.9
    dataset = lgb.Dataset(X, y, categorical_feature=[5])
    return lgb.train(params, dataset, num_boost_round=40)


@pytest.mark.parametrize(
    ("objective", "raw_score"),
    [("binary", True), ("binary", False), ("regression", False), ("quantile", False)],
)
def test_one_row_predictions_equal_booster_predict(
    data: tuple[np.ndarray, np.ndarray], objective: str, raw_score: bool
) -> None:
    X, y = data
    booster = _train(X, y, objective)
    predictor = RowPredictor(booster, raw_score=raw_score)
    rows = np.vstack([X[:300], np.full((1, 6), np.nan), [[0, 0, 0, 0, 0, 7.0]]])  # unseen cat
    expected = booster.predict(rows, raw_score=raw_score)
    got = np.array([predictor(row) for row in rows])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_threads_each_get_their_own_configuration(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    booster = _train(X, y, "regression")
    predictor = RowPredictor(booster)
    expected = booster.predict(X[:500])
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: [predictor(row) for row in X[:500]], range(8)))
    for got in results:
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_a_row_of_the_wrong_width_is_refused(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    predictor = RowPredictor(_train(X, y, "regression"))
    with pytest.raises(ValueError, match="expected 6 features, got 5"):
        predictor(X[0, :5])


def test_a_sweep_over_one_column_equals_one_call_per_value(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = data
    booster = _train(X, y, "binary")
    predictor = RowPredictor(booster)
    row = X[3].copy()
    values = [-2.0, 0.0, 0.5, 3.0, np.nan]
    swept = predictor.sweep(row, 0, values)
    rows = np.repeat(row[None, :], len(values), axis=0)
    rows[:, 0] = values
    np.testing.assert_allclose(swept, booster.predict(rows), rtol=1e-12, atol=1e-12)
    assert np.array_equal(row, X[3], equal_nan=True)  # the caller's row is left as it was
    with pytest.raises(ValueError, match="expected 6 features"):
        predictor.sweep(row[:4], 0, values)


def test_a_repeated_sweep_answers_for_the_row_it_is_given(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    # The same sweep twice is predicted once (an order's risk and days late): the second
    # answer must still be that row's, and a different row or column must not get it.
    X, y = data
    booster = _train(X, y, "binary")
    predictor = RowPredictor(booster)
    values = range(4)

    def expected(row: np.ndarray, column: int) -> np.ndarray:
        rows = np.repeat(row[None, :], len(values), axis=0)
        rows[:, column] = list(values)
        return booster.predict(rows)

    first = predictor.sweep(X[1], 0, values)
    first[0] = -1.0  # the caller's list is its own
    np.testing.assert_allclose(predictor.sweep(X[1], 0, values), expected(X[1], 0), rtol=1e-12)
    np.testing.assert_allclose(predictor.sweep(X[2], 0, values), expected(X[2], 0), rtol=1e-12)
    np.testing.assert_allclose(predictor.sweep(X[2], 1, values), expected(X[2], 1), rtol=1e-12)
    np.testing.assert_allclose(
        predictor.sweep(X[2], 1, range(3)), expected(X[2], 1)[:3], rtol=1e-12
    )


def test_a_repeated_sweep_ignores_what_the_swept_column_held(
    data: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = data
    predictor = RowPredictor(_train(X, y, "binary"))
    calls = []
    fast = row_predict._LIB.LGBM_BoosterPredictForMatSingleRowFast

    def counted(*args: object) -> int:
        calls.append(1)
        return int(fast(*args))

    monkeypatch.setattr(row_predict._LIB, "LGBM_BoosterPredictForMatSingleRowFast", counted)
    row = X[1].copy()
    first = predictor.sweep(row, 0, range(4))
    assert len(calls) == 4
    row[0] = 123.0  # the hazard model leaves the interval column unset: any value
    assert predictor.sweep(row, 0, range(4)) == first
    assert len(calls) == 4  # answered from the last sweep
    predictor.sweep(X[2], 0, range(4))
    assert len(calls) == 8
