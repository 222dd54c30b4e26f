"""Small pieces of training, without a store or MLflow: metrics, calibration, sampling,
promotion rules, class weighting (the windows: tests/training/test_folds.py)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.config import Settings
from training.evaluation import TargetEvaluation
from training.metrics import (
    amount_capture,
    capture_curve,
    days_late_metrics,
    default_metrics,
    expected_calibration_error,
)
from training.models import (
    TrainConfig,
    default_class_weight,
    fit_calibrator,
    fit_days_late_models,
    quantile_learning_rate,
    quantile_start,
)
from training.pipeline import compare_metrics


def test_ece_is_near_zero_for_calibrated_and_large_for_miscalibrated_scores() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.3, 50_000)
    y = (rng.random(len(p)) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.01
    assert expected_calibration_error(y, np.clip(p * 2, 0, 1)) > 0.1


def test_capture_counts_defaulted_amount_in_the_top_share() -> None:
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    amount = np.array([100.0, 10, 10, 10, 300, 10, 10, 10, 10, 10])
    perfect = y * 1.0
    assert amount_capture(y, perfect, amount, 0.10) == pytest.approx(0.75)
    assert amount_capture(y, perfect, amount, 0.20) == pytest.approx(1.0)
    x, share = capture_curve(y, perfect, amount)
    assert x[0] == 0 and share[-1] == pytest.approx(1.0) and np.all(np.diff(share) >= 0)


@given(st.lists(st.floats(0, 1), min_size=2, max_size=50), st.integers(0, 2**32 - 1))
def test_capture_is_a_share(scores: list[float], seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, len(scores))
    y[0] = 1
    amount = rng.uniform(1, 100, len(scores))
    value = amount_capture(y, np.array(scores), amount, 0.2)
    assert 0.0 <= value <= 1.0 + 1e-12


def test_undefined_metrics_are_none_not_numbers() -> None:
    m = default_metrics(np.zeros(10, dtype=int), np.full(10, 0.1), np.ones(10))
    assert m["roc_auc"] is None and m["pr_auc"] is None and m["capture_top10"] is None
    assert m["brier"] == pytest.approx(0.01)
    d = days_late_metrics(np.array([]), np.array([]))
    assert d["mae"] is None and d["n"] == 0


def test_days_late_metrics_use_the_median_for_absolute_errors() -> None:
    y = np.array([0.0, 10.0, 20.0])
    m = days_late_metrics(y, np.array([10.0, 10, 10]), median=y, p10=y - 1, p90=y + 1)
    assert m["mae"] == 0 and m["within_7d"] == 1 and m["interval_coverage"] == 1
    assert m["rmse"] == pytest.approx(np.sqrt(200 / 3))


def test_calibrator_switches_to_isotonic_with_enough_defaults() -> None:
    rng = np.random.default_rng(1)
    raw = rng.normal(-3, 1, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-raw))).astype(int)
    assert fit_calibrator(raw, y, isotonic_min_defaults=10**6).method == "sigmoid"
    iso = fit_calibrator(raw, y, isotonic_min_defaults=10)
    assert iso.method == "isotonic"
    p = iso(np.sort(raw))
    assert np.all(np.diff(p) >= 0) and p.min() >= 0 and p.max() <= 1


def test_class_weight_is_moderate() -> None:
    y = np.r_[np.ones(10), np.zeros(990)]
    assert default_class_weight(y) == pytest.approx(np.sqrt(99))
    assert default_class_weight(np.zeros(5)) == 1.0


def _blocks(auc: float | None, ece: float | None, mae: float) -> tuple[dict | None, dict]:
    default = None if auc is None else {"roc_auc": auc, "ece": ece}
    return default, {"mae": mae}


@pytest.mark.parametrize(
    ("challenger", "champion", "refused"),
    [
        (_blocks(0.80, 0.01, 10.0), _blocks(0.80, 0.01, 10.0), []),
        (_blocks(0.798, 0.015, 10.05), _blocks(0.80, 0.01, 10.0), []),
        (_blocks(0.70, 0.01, 10.0), _blocks(0.80, 0.01, 10.0), ["ROC AUC"]),
        (_blocks(0.80, 0.05, 10.0), _blocks(0.80, 0.01, 10.0), ["calibration"]),
        (_blocks(0.80, 0.01, 12.0), _blocks(0.80, 0.01, 10.0), ["MAE"]),
        (_blocks(None, None, 9.0), _blocks(0.80, 0.01, 10.0), ["no default model"]),
        (_blocks(0.80, 0.01, 9.0), _blocks(None, None, 10.0), []),
    ],
)
def test_promotion_rules(
    challenger: tuple, champion: tuple, refused: list[str], settings: Settings
) -> None:
    problems = compare_metrics(challenger, champion, settings)
    assert len(problems) == len(refused)
    for problem, word in zip(problems, refused, strict=True):
        assert word in problem


def test_large_training_periods_are_sampled_reproducibly() -> None:
    from training.backtest import sample_rows as _sample

    mask = np.zeros(1000, dtype=bool)
    mask[100:900] = True
    rows = _sample(mask, 300, seed=3)
    assert len(rows) == 300 and mask[rows].all() and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(rows, _sample(mask, 300, seed=3))
    np.testing.assert_array_equal(_sample(mask, 5000, seed=3), np.flatnonzero(mask))


def test_quantile_start_stays_inside_the_label_range() -> None:
    capped = np.r_[np.zeros(70), np.full(30, 90.0)]
    assert quantile_start(capped, 0.9) == 89.5
    assert quantile_start(-capped, 0.1) == -89.5
    assert quantile_start(np.arange(100.0), 0.5) == pytest.approx(49.5)


def test_p90_model_learns_when_many_rows_sit_at_the_cap() -> None:
    # One row in seven at the 90-day cap: LightGBM's own start (the labels' p90,
    # which is the cap) gave one constant tree predicting 90 days for everyone.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6000, 2))
    days = np.clip(40 + 45 * X[:, 0] + rng.normal(0, 10, len(X)), -10, 90)
    assert (days == 90).mean() > 0.12
    config = TrainConfig(seed=0, threads=1, max_rounds=300, early_stopping=20)
    models = fit_days_late_models(
        X[:4000],
        days[:4000],
        X[4000:5000],
        days[4000:5000],
        feature_names=["a", "b"],
        config=config,
    )
    p90 = models["p90"].predict(X[5000:])
    assert models["p90"].num_trees() > 20
    assert np.percentile(p90, 10) < 40, "p90 should be low for customers who pay early"
    assert 0.8 <= np.mean(days[5000:] <= np.round(p90)) <= 0.97
    again = lgb.Booster(model_str=models["p90"].model_to_string())
    np.testing.assert_allclose(again.predict(X[5000:]), p90)
    assert np.mean(models["p10"].predict(X[5000:]) < p90) > 0.99


def _rate(booster: lgb.Booster) -> float:
    return float(booster.params["learning_rate"])


def test_quantile_models_learn_twice_as_fast_up_to_the_cap() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1500, 2))
    days = 10 * X[:, 0] + rng.normal(0, 3, len(X))
    for base, expected in ((0.03, 0.06), (0.08, 0.1), (0.2, 0.2)):
        config = TrainConfig(
            seed=0, threads=1, max_rounds=30, early_stopping=5, params={"learning_rate": base}
        )
        assert quantile_learning_rate(config) == pytest.approx(expected)
        models = fit_days_late_models(
            X[:1000], days[:1000], X[1000:], days[1000:], feature_names=["a", "b"], config=config
        )
        assert _rate(models["mean"]) == pytest.approx(base)
        assert [_rate(models[k]) for k in ("p10", "p50", "p90")] == pytest.approx([expected] * 3)
    # A learning rate given by the caller (tuning, tests) is used as it is.
    models = fit_days_late_models(
        X[:1000],
        days[:1000],
        X[1000:],
        days[1000:],
        feature_names=["a", "b"],
        config=config,
        overrides={"learning_rate": 0.05},
    )
    assert _rate(models["p50"]) == pytest.approx(0.05)


def _evaluation(served: dict[str, str], candidates: dict[str, dict]) -> object:
    from training.evaluation import Evaluation

    return Evaluation(
        as_of="2026-01-01",
        default=None,
        default_unavailable_reason=None,
        days_late=TargetEvaluation(model={"mae": 1.0}, baselines={}),
        test_period=("2025-01-01", "2025-04-01"),
        valid_period=("2024-09-01", "2024-10-01"),
        train_period=("2023-01-01", "2024-09-01"),
        rows={},
        calibration=None,
        warnings=(),
        extra={
            "candidates": candidates,
            "chosen": {q: {"served": name} for q, name in served.items()},
        },
    )


def test_promotion_refuses_a_run_serving_worse_than_a_baseline(settings: Settings) -> None:
    from training.pipeline import baseline_problems

    candidates = {
        "risk": {
            "lightgbm": {"roc_auc": 0.70},
            "history": {"roc_auc": 0.74},
            "logistic": {"roc_auc": 0.69},
        },
        "days_late": {"lightgbm": {"mae": 16.15}, "history": {"mae": 14.08}, "linear": {"mae": 15}},
    }
    # The thin-ledger case of the issue: a model worse than the history baseline.
    problems = baseline_problems(
        _evaluation({"risk": "lightgbm", "days_late": "lightgbm"}, candidates), settings
    )
    assert len(problems) == 3  # risk vs history; days late vs history and vs linear
    assert "history baseline" in problems[0] and "roc_auc" in problems[0]
    assert "mae 16.1500" in problems[1] and "14.0800" in problems[1]
    # Serving the better baseline itself passes.
    ok = _evaluation({"risk": "history", "days_late": "history"}, candidates)
    assert baseline_problems(ok, settings) == []


def test_the_open_invoice_question_is_measured_on_a_seeded_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from training import backtest

    issue = pd.Timestamp("2025-01-01")
    ages = np.tile([0, 10, 30, 60], 50)  # 50 issue rows, 50 too young, 100 open 30+ days
    table = pd.DataFrame(
        {"issue_date": issue, "snapshot_date": issue + pd.to_timedelta(ages, unit="D")}
    )
    everything = np.ones(len(table), dtype=bool)
    eligible = ages >= 30
    assert np.array_equal(backtest._open_mask(table, everything, seed=0), eligible)
    monkeypatch.setattr(backtest, "OPEN_QUESTION_MAX_ROWS", 40)
    sample = backtest._open_mask(table, everything, seed=0)
    assert sample.sum() == 40 and not (sample & ~eligible).any()
    assert np.array_equal(sample, backtest._open_mask(table, everything, seed=0))
    assert not np.array_equal(sample, backtest._open_mask(table, everything, seed=1))
