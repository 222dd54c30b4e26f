"""The budgeted parameter search: improves on the base, seeded, within budget, checked."""

from __future__ import annotations

import math

import lightgbm as lgb
import numpy as np
import pytest

from training.sizing import sized_params
from training.tuning import TUNED_KEYS, search_space, tune

BASE = sized_params(2_000, n_features=20)


def _toy(params: dict) -> float:
    """A smooth bowl with its minimum inside the space, away from the base."""
    return (
        (math.log(params["num_leaves"]) - math.log(12)) ** 2
        + (math.log(params["learning_rate"]) - math.log(0.06)) ** 2
        + (math.log(params["lambda_l2"]) - math.log(2.0)) ** 2
        + (params["feature_fraction"] - 0.95) ** 2
        + 0.1 * (math.log(params["min_data_in_leaf"]) - math.log(30)) ** 2
    )


def test_search_improves_on_the_base() -> None:
    result = tune(_toy, base=BASE, trials=40, minutes=None, seed=0)
    assert result.records[0]["params"] == {**BASE, **{k: BASE[k] for k in TUNED_KEYS}}
    assert result.records[0]["metrics"]["value"] == pytest.approx(_toy(BASE))
    assert result.best_value < 0.5 * _toy(BASE)
    assert result.best_value == pytest.approx(_toy(result.best_params))
    # The untouched parameters ride along.
    assert result.best_params["bagging_freq"] == BASE["bagging_freq"]


def test_maximising_finds_the_top() -> None:
    result = tune(
        lambda p: -_toy(p), base=BASE, trials=30, minutes=None, seed=1, direction="maximize"
    )
    assert result.best_value > -_toy(BASE)


def test_same_seed_same_records_other_seed_other_trials() -> None:
    first = tune(_toy, base=BASE, trials=8, minutes=None, seed=3)
    again = tune(_toy, base=BASE, trials=8, minutes=None, seed=3)
    other = tune(_toy, base=BASE, trials=8, minutes=None, seed=4)
    assert first.records == again.records
    assert first.best_params == again.best_params
    assert [r["params"] for r in first.records[1:]] != [r["params"] for r in other.records[1:]]


def test_trial_budget_is_respected_with_time_to_spare() -> None:
    calls: list[dict] = []

    def objective(params: dict) -> float:
        calls.append(params)
        return _toy(params)

    result = tune(objective, base=BASE, trials=5, minutes=60.0, seed=0)
    assert len(calls) == 5
    assert [r["number"] for r in result.records] == [0, 1, 2, 3, 4]


def test_every_trial_stays_inside_the_space() -> None:
    space = search_space(BASE)
    result = tune(_toy, base=BASE, trials=15, minutes=None, seed=2)
    for record in result.records:
        for name, (low, high, scale) in space.items():
            value = record["params"][name]
            assert low <= value <= high, (name, value)
            if scale == "int":
                assert isinstance(value, int)


def test_space_scales_with_the_base() -> None:
    small = search_space(sized_params(500, n_features=20))
    large = search_space(sized_params(1_000_000, n_features=20))
    assert small["num_leaves"][1] < large["num_leaves"][1]
    assert small["lambda_l2"][0] > large["lambda_l2"][0]


def test_failed_trials_are_skipped() -> None:
    def objective(params: dict) -> float:
        return math.nan if params["num_leaves"] > 8 else _toy(params)

    result = tune(objective, base=BASE, trials=10, minutes=None, seed=0)
    assert all(r["params"]["num_leaves"] <= 8 for r in result.records)
    assert all(math.isfinite(r["metrics"]["value"]) for r in result.records)


@pytest.mark.parametrize(
    ("trials", "minutes", "message"),
    [
        (None, None, "needs a budget"),
        (0, None, "at least 1"),
        (None, 0.0, "positive number of minutes"),
        (None, math.inf, "positive number of minutes"),
    ],
)
def test_bad_budget_is_refused(trials: int | None, minutes: float | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tune(_toy, base=BASE, trials=trials, minutes=minutes, seed=0)


def test_bad_base_and_direction_are_refused() -> None:
    with pytest.raises(ValueError, match="lack"):
        tune(_toy, base={"num_leaves": 7}, trials=2, minutes=None, seed=0)
    with pytest.raises(ValueError, match="direction"):
        tune(_toy, base=BASE, trials=2, minutes=None, seed=0, direction="down")


def test_tunes_a_real_lightgbm_model() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5))
    y = X[:, 0] * X[:, 1] + np.sin(2 * X[:, 2]) + rng.normal(scale=0.3, size=600)
    train = lgb.Dataset(X[:400], y[:400], free_raw_data=False)

    def objective(params: dict) -> float:
        model = lgb.train(
            {**params, "objective": "regression", "seed": 0, "num_threads": 1},
            train,
            num_boost_round=60,
        )
        return float(np.mean((model.predict(X[400:]) - y[400:]) ** 2))

    base = sized_params(400, n_features=5)
    result = tune(objective, base=base, trials=6, minutes=None, seed=0)
    assert result.best_value <= result.records[0]["metrics"]["value"]
    assert len(result.records) == 6
