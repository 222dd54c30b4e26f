"""LightGBM parameters sized to the data: monotone, continuous, valid, today's at scale."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from training.sizing import LARGE_ROWS, SMALL_ROWS, sized_params, sized_rounds

# training.models' fixed parameters when sizing came in (tuned for a million rows).
TODAYS = {
    "learning_rate": 0.08,
    "num_leaves": 31,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 10.0,
    "max_bin": 255,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
SIZES = [10, 300, 1_000, 2_500, 30_000, 200_000, 1_000_000, 5_000_000]


def _series(key: str) -> list[float]:
    return [sized_params(n, n_features=40)[key] for n in SIZES]


@pytest.mark.parametrize(
    ("key", "direction"),
    [
        ("num_leaves", 1),
        ("min_data_in_leaf", 1),
        ("learning_rate", 1),
        ("feature_fraction", 1),
        ("lambda_l2", -1),
        ("min_sum_hessian_in_leaf", -1),
    ],
)
def test_parameters_move_one_way_as_data_grows(key: str, direction: int) -> None:
    values = np.array(_series(key), dtype="float64")
    steps = np.diff(values) * direction
    assert np.all(steps >= 0), f"{key} is not monotone: {values}"
    assert values[-1] != values[0]


def test_small_data_gets_a_larger_leaf_minimum_relative_to_its_size() -> None:
    small, large = sized_params(2_000, n_features=40), sized_params(LARGE_ROWS, n_features=40)
    assert small["min_data_in_leaf"] / 2_000 > 100 * large["min_data_in_leaf"] / LARGE_ROWS
    assert small["num_leaves"] < large["num_leaves"]


def test_todays_parameters_at_a_million_rows() -> None:
    params = sized_params(LARGE_ROWS, n_features=40)
    for key, value in TODAYS.items():
        assert params[key] == pytest.approx(value), key
    # LightGBM's own default, which today's parameters leave unset.
    assert params["min_sum_hessian_in_leaf"] == pytest.approx(1e-3)
    assert sized_rounds(LARGE_ROWS, max_rounds=2000, early_stopping=50) == (2000, 50)


def test_no_cliff_between_neighbouring_sizes() -> None:
    for n in (SMALL_ROWS, 5_000, 50_000, 500_000, LARGE_ROWS):
        a, b = sized_params(n, n_features=40), sized_params(int(n * 1.01) + 1, n_features=40)
        for key in ("learning_rate", "lambda_l2", "feature_fraction"):
            assert abs(a[key] - b[key]) <= 0.01 * max(abs(a[key]), 1e-3) + 1e-6, (n, key)
        assert abs(a["num_leaves"] - b["num_leaves"]) <= 1
        assert abs(a["min_data_in_leaf"] - b["min_data_in_leaf"]) <= 1


def test_few_features_are_all_kept() -> None:
    assert sized_params(500, n_features=3)["feature_fraction"] == 1.0
    assert sized_params(500, n_features=40)["feature_fraction"] < 1.0


def test_slower_learning_gets_more_rounds() -> None:
    rounds, patience = sized_rounds(500, max_rounds=2000, early_stopping=50)
    lr_small = sized_params(500, n_features=40)["learning_rate"]
    assert rounds == pytest.approx(2000 * 0.08 / lr_small, abs=1)
    assert patience > 50


def test_deterministic() -> None:
    assert sized_params(12_345, n_features=17) == sized_params(12_345, n_features=17)


def test_nonsense_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one row"):
        sized_params(0, n_features=10)


@pytest.mark.parametrize("n_rows", [300, 30_000])
@pytest.mark.parametrize("objective", ["regression", "binary", "quantile"])
def test_params_train_a_model(n_rows: int, objective: str) -> None:
    rng = np.random.default_rng(n_rows)
    X = rng.normal(size=(n_rows, 6))
    X[rng.random(X.shape) < 0.05] = np.nan
    signal = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1])
    y = (signal + rng.normal(size=n_rows) > 0.5).astype(float) if objective == "binary" else signal
    params = {
        **sized_params(n_rows, n_features=6),
        "objective": objective,
        "seed": 0,
        "num_threads": 1,
    }
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=20)
    assert booster.num_trees() == 20
    pred = booster.predict(X)
    assert np.all(np.isfinite(pred))
    # The trees learnt the signal, i.e. the parameters did not block every split.
    assert np.corrcoef(pred, signal)[0, 1] > 0.5
