"""The time-based backtest: fit on the past, stop and calibrate on the next period, test on
the period after, with the baselines scored on the same test rows.

`run_backtest` fits the models a run registers (the registered model *is* the one the
test metrics describe) and builds the `duecast evaluate --json` object.
`score_on_test` re-scores any bundle on a run's test rows, for promotion.
`rolling_origin` repeats the backtest at earlier cut-offs to show how stable it is.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from duecast.config import Settings
from features.spec import CATEGORICAL_COLUMNS
from training.baselines import fit_history_baseline, fit_linear, fit_logistic
from training.bundle import Bundle, ScoreCalibrator, Scores, feature_matrix
from training.dataset import Folds, issue_rows, model_feature_columns, settings_folds
from training.metrics import days_late_metrics, default_metrics
from training.models import (
    TrainConfig,
    default_class_weight,
    fit_calibrator,
    fit_days_late_models,
    fit_default_model,
)
from training.sufficiency import DataCheck, check_history

__all__ = [
    "BacktestResult",
    "TestSet",
    "model_blocks",
    "rolling_origin",
    "run_backtest",
    "score_on_test",
    "test_set",
    "train_config",
]

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TestSet:
    """The rows metrics are computed on: test period, one row per invoice (issue date)."""

    X: np.ndarray
    default: np.ndarray
    days_late: np.ndarray
    amount: np.ndarray
    cold_start: np.ndarray


@dataclass
class BacktestResult:
    """Fitted models, their test predictions and the evaluation object of one run."""

    as_of: datetime.date
    folds: Folds
    check: DataCheck
    feature_columns: list[str]  # the model matrix's columns
    categories: dict[str, list[str]]
    default_model: lgb.Booster | None
    calibrator: ScoreCalibrator | None
    days_late_models: dict[str, lgb.Booster]
    evaluation: dict
    test: TestSet
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict = field(default_factory=dict)


def train_config(settings: Settings) -> TrainConfig:
    """The model settings of a run."""
    return TrainConfig(
        seed=settings.train_seed,
        threads=settings.train_threads,
        max_rounds=settings.train_max_rounds,
        early_stopping=settings.train_early_stopping_rounds,
    )


def test_set(table: pd.DataFrame, X: np.ndarray, mask: np.ndarray) -> TestSet:
    """Issue-date rows among `mask` (see `training.dataset.issue_rows`)."""
    mask = mask & issue_rows(table)
    cold = table["customer_no_payment_history"].to_numpy()[mask] == 1
    return TestSet(
        X=X[mask],
        default=table["default"].to_numpy(dtype="int64")[mask],
        days_late=table["days_late"].to_numpy(dtype="float64")[mask],
        amount=table["amount"].to_numpy(dtype="float64")[mask],
        cold_start=cold,
    )


def _default_block(test: TestSet, p: np.ndarray) -> dict:
    out = default_metrics(test.default, p, test.amount)
    c = test.cold_start
    out["cold_start"] = default_metrics(test.default[c], p[c], test.amount[c])
    return out


def _days_block(
    test: TestSet,
    pred: np.ndarray,
    *,
    median: np.ndarray | None = None,
    p10: np.ndarray | None = None,
    p90: np.ndarray | None = None,
) -> dict:
    def sub(a: np.ndarray | None, mask: np.ndarray) -> np.ndarray | None:
        return None if a is None else a[mask]

    out = days_late_metrics(test.days_late, pred, median=median, p10=p10, p90=p90)
    c = test.cold_start
    out["cold_start"] = days_late_metrics(
        test.days_late[c], pred[c], median=sub(median, c), p10=sub(p10, c), p90=sub(p90, c)
    )
    return out


def model_blocks(test: TestSet, scores: Scores) -> tuple[dict | None, dict]:
    """Default and days-late metric blocks of a model's scores on the test set."""
    default = None if np.isnan(scores.p_default).all() else _default_block(test, scores.p_default)
    days = _days_block(
        test,
        scores.days_late,
        median=scores.days_late_p50,
        p10=scores.days_late_p10,
        p90=scores.days_late_p90,
    )
    return default, days


def score_on_test(
    bundle: Bundle, table: pd.DataFrame, mask: np.ndarray
) -> tuple[dict | None, dict]:
    """Metrics of a bundle on the issue-date rows of `mask` (promotion compares these)."""
    test = test_set(table, bundle.matrix(table), mask)
    return model_blocks(test, bundle.predict(test.X))


def _sample(mask: np.ndarray, limit: int, *, seed: int) -> np.ndarray:
    """Row positions of `mask`, a seeded random subset (in table order) beyond `limit`."""
    rows = np.flatnonzero(mask)
    if len(rows) <= limit:
        return rows
    logger.info("Training period has %d rows: the models learn from %d of them", len(rows), limit)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, size=limit, replace=False))


def _step(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


def run_backtest(
    table: pd.DataFrame,
    *,
    as_of: datetime.date,
    settings: Settings,
    on_progress: Progress | None = None,
    overrides: Mapping[str, object] | None = None,
) -> BacktestResult:
    """Fit the models and baselines on time folds of `table` and evaluate them on the test period.

    Args:
        table: `features.build.build_training_table` output.
        as_of: the date the table was cut at.
        settings: periods, thresholds and model settings.
        on_progress: called with (stage, done, total) after each step.
        overrides: LightGBM parameters replacing the defaults of every model (tests).

    Raises:
        InsufficientDataError: if the history cannot support even the days-late models.
    """
    stage, total = "training models", 6
    _step(on_progress, stage, 0, total)
    categories = {c: [str(v) for v in table[c].cat.categories] for c in CATEGORICAL_COLUMNS}
    names = model_feature_columns(settings.train_exclude_features)
    X = feature_matrix(table, names, categories)
    folds = settings_folds(table, as_of=as_of, settings=settings)
    check = check_history(table, folds, settings)
    config = train_config(settings)
    train_rows = _sample(folds.train, settings.train_max_rows, seed=config.seed)
    X_tr, X_va = X[train_rows], X[folds.valid]
    default = table["default"].to_numpy(dtype="int64")
    days = table["days_late"].to_numpy(dtype="float64")
    y_tr, y_va = default[train_rows], default[folds.valid]
    d_tr, d_va = days[train_rows], days[folds.valid]
    test = test_set(table, X, folds.test)
    _step(on_progress, stage, 1, total)

    default_model = calibrator = None
    p_test = np.full(len(test.X), np.nan)
    if check.default_trainable:
        default_model = fit_default_model(
            X_tr, y_tr, X_va, y_va, feature_names=names, config=config, overrides=overrides
        )
        calibrator = fit_calibrator(
            default_model.predict(X_va, raw_score=True),
            y_va,
            isotonic_min_defaults=settings.calibration_isotonic_min_defaults,
        )
        p_test = calibrator(default_model.predict(test.X, raw_score=True))
    _step(on_progress, stage, 2, total)

    days_models = fit_days_late_models(
        X_tr, d_tr, X_va, d_va, feature_names=names, config=config, overrides=overrides
    )
    _step(on_progress, stage, 4, total)
    preds = {k: m.predict(test.X) for k, m in days_models.items()}
    p10, p50, p90 = np.sort(np.vstack([preds["p10"], preds["p50"], preds["p90"]]), axis=0)
    scores = Scores(p_test, preds["mean"], p10, p50, p90)
    model_default, model_days = model_blocks(test, scores)

    history = fit_history_baseline(X_tr, d_tr, feature_names=names)
    linear = fit_linear(X_tr, d_tr, feature_names=names)
    predictions = {
        "p_default": p_test,
        "days_late": scores.days_late,
        "days_late_p10": p10,
        "days_late_p90": p90,
        "history_days_late": history.days_late(test.X),
        "linear_days_late": linear.predict(test.X),
    }
    evaluation: dict = {"as_of": as_of.isoformat()}
    if default_model is not None:
        logistic = fit_logistic(X_tr, y_tr, feature_names=names, seed=config.seed)
        predictions["history_default"] = history.default_score(test.X)
        predictions["logistic_default"] = logistic.predict_proba(test.X)[:, 1]
        evaluation["default"] = {
            "model": model_default,
            "baselines": {
                "history": _default_block(test, predictions["history_default"]),
                "logistic": _default_block(test, predictions["logistic_default"]),
            },
        }
    else:
        evaluation["default"] = None
    evaluation["default_unavailable_reason"] = check.default_unavailable_reason
    evaluation["days_late"] = {
        "model": model_days,
        "baselines": {
            "history": _days_block(test, predictions["history_days_late"]),
            "linear": _days_block(test, predictions["linear_days_late"]),
        },
    }
    _step(on_progress, stage, 5, total)
    evaluation["test_period"] = list(folds.test_period)
    evaluation["valid_period"] = list(folds.valid_period)
    evaluation["train_period"] = list(folds.train_period)
    evaluation["rows"] = {
        "train": int(folds.train.sum()),
        "valid": int(folds.valid.sum()),
        "test": int(folds.test.sum()),
        "test_invoices": len(test.X),
        "test_cold_start": int(test.cold_start.sum()),
        "excluded_incomplete": folds.excluded,
        "train_defaults": int(y_tr.sum()),
        "valid_defaults": int(y_va.sum()),
        "test_defaults": int(test.default.sum()),
    }
    evaluation["calibration"] = None if calibrator is None else calibrator.method
    evaluation["warnings"] = list(check.warnings)
    params = {
        **config.as_params(),
        "horizon_days": settings.horizon_days,
        "snapshot_every_days": settings.training_snapshot_every_days,
        "valid_days": settings.backtest_valid_days,
        "test_days": settings.backtest_test_days,
        "train_rows_used": len(train_rows),
        "excluded_features": ",".join(settings.train_exclude_features) or None,
        "default_class_weight": round(default_class_weight(y_tr), 4),
        "calibration": evaluation["calibration"],
        "trees": {k: m.num_trees() for k, m in days_models.items()}
        | ({"default": default_model.num_trees()} if default_model is not None else {}),
        **({"overrides": dict(overrides)} if overrides else {}),
    }
    _step(on_progress, stage, total, total)
    return BacktestResult(
        as_of=as_of,
        folds=folds,
        check=check,
        feature_columns=names,
        categories=categories,
        default_model=default_model,
        calibrator=calibrator,
        days_late_models=days_models,
        evaluation=evaluation,
        test=test,
        predictions=predictions,
        params=params,
    )


def rolling_origin(
    table: pd.DataFrame, *, as_of: datetime.date, settings: Settings, origins: int = 3
) -> list[dict]:
    """The backtest repeated with its test period moved back one period at a time.

    Returns:
        One entry per origin (latest first): test_period, and ROC AUC and MAE of the
        model and of the best baseline.
    """
    out = []
    end = pd.Timestamp(as_of)
    for k in range(origins):
        shifted = table[table["issue_date"] < end].reset_index(drop=True)
        result = run_backtest(shifted, as_of=as_of, settings=settings)
        ev = result.evaluation
        out.append(
            {
                "origin": k,
                "test_period": ev["test_period"],
                "roc_auc": None if ev["default"] is None else ev["default"]["model"]["roc_auc"],
                "mae": ev["days_late"]["model"]["mae"],
            }
        )
        end = pd.Timestamp(ev["test_period"][0])
    return out
