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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.spec import CATEGORICAL_COLUMNS
from kernel.config import Settings
from training.baselines import fit_history_baseline, fit_linear, fit_logistic
from training.bundle import ScoreCalibrator, Scores, feature_matrix
from training.dataset import Folds, model_feature_columns, settings_folds
from training.evaluation import (
    Evaluation,
    TargetEvaluation,
    TestSet,
    days_late_block,
    default_block,
    model_blocks,
    test_set,
)
from training.models import (
    TrainConfig,
    default_class_weight,
    fit_calibrator,
    fit_days_late_models,
    fit_default_model,
)
from training.sufficiency import DataCheck, check_history

__all__ = ["BacktestResult", "rolling_origin", "run_backtest", "train_config"]

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


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
    evaluation: Evaluation
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


def _sample(mask: np.ndarray, limit: int, *, seed: int) -> np.ndarray:
    """Row positions of `mask`, a seeded random subset (in table order) beyond `limit`."""
    rows = np.flatnonzero(mask)
    if len(rows) <= limit:
        return rows
    logger.info("Training period has %d rows: the models learn from %d of them", len(rows), limit)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, size=limit, replace=False))


def _checked_sample(check: DataCheck, y_train: np.ndarray, notes: Sequence[str]) -> DataCheck:
    """`check` with `notes` first, and without a default model if the sample has one class.

    The training period holds both classes (`check_history`), but a sample of a huge
    period with a handful of defaults may not.
    """
    reason = check.default_unavailable_reason
    if reason is None and len(np.unique(y_train)) < 2:
        reason = (
            f"the sampled training rows hold {int(y_train.sum())} defaults of {len(y_train)}: "
            "the default model needs both outcomes; raise DUECAST_TRAIN_MAX_ROWS"
        )
        logger.warning("%s", reason)
    if not notes and reason == check.default_unavailable_reason:
        return check
    return DataCheck(warnings=[*notes, *check.warnings], default_unavailable_reason=reason)


def _step(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


@dataclass(frozen=True)
class _Fitted:
    """The models of one run and their test predictions (model and baselines)."""

    default_model: lgb.Booster | None
    calibrator: ScoreCalibrator | None
    days_late_models: dict[str, lgb.Booster]
    scores: Scores
    predictions: dict[str, np.ndarray]


def run_backtest(
    table: pd.DataFrame,
    *,
    as_of: datetime.date,
    settings: Settings,
    on_progress: Progress | None = None,
    overrides: Mapping[str, object] | None = None,
    notes: Sequence[str] = (),
) -> BacktestResult:
    """Fit the models and baselines on time folds of `table` and evaluate them on the test period.

    Args:
        table: `features.build.build_training_table` output.
        as_of: the date the table was cut at.
        settings: periods, thresholds and model settings.
        on_progress: called with (stage, done, total) after each step.
        overrides: LightGBM parameters replacing the defaults of every model (tests).
        notes: warnings found before the backtest (the as-of date chosen), shown first.

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
    default = table["default"].to_numpy(dtype="int64")
    days = table["days_late"].to_numpy(dtype="float64")
    split = _Split(
        X[train_rows],
        X[folds.valid],
        default[train_rows],
        default[folds.valid],
        days[train_rows],
        days[folds.valid],
    )
    test = test_set(table, X, folds.test)
    check = _checked_sample(check, split.y_tr, notes)
    _step(on_progress, stage, 1, total)

    fitted = _fit(
        split,
        test,
        names=names,
        config=config,
        settings=settings,
        default_trainable=check.default_trainable,
        overrides=overrides,
        step=lambda done: _step(on_progress, stage, done, total),
    )
    evaluation = _evaluation(test, fitted, as_of=as_of, folds=folds, check=check, split=split)
    _step(on_progress, stage, 5, total)
    params = _params(
        settings,
        config=config,
        train_rows=len(train_rows),
        split=split,
        fitted=fitted,
        overrides=overrides,
    )
    _step(on_progress, stage, total, total)
    return BacktestResult(
        as_of=as_of,
        folds=folds,
        check=check,
        feature_columns=names,
        categories=categories,
        default_model=fitted.default_model,
        calibrator=fitted.calibrator,
        days_late_models=fitted.days_late_models,
        evaluation=evaluation,
        test=test,
        predictions=fitted.predictions,
        params=params,
    )


@dataclass(frozen=True)
class _Split:
    """Training and validation rows: model matrix, default labels, days late."""

    X_tr: np.ndarray
    X_va: np.ndarray
    y_tr: np.ndarray
    y_va: np.ndarray
    d_tr: np.ndarray
    d_va: np.ndarray


def _params(
    settings: Settings,
    *,
    config: TrainConfig,
    train_rows: int,
    split: _Split,
    fitted: _Fitted,
    overrides: Mapping[str, object] | None,
) -> dict:
    """The run parameters MLflow logs."""
    trees = {k: m.num_trees() for k, m in fitted.days_late_models.items()}
    if fitted.default_model is not None:
        trees["default"] = fitted.default_model.num_trees()
    return {
        **config.as_params(),
        "horizon_days": settings.horizon_days,
        "snapshot_every_days": settings.training_snapshot_every_days,
        "valid_days": settings.backtest_valid_days,
        "test_days": settings.backtest_test_days,
        "train_rows_used": train_rows,
        "excluded_features": ",".join(settings.train_exclude_features) or None,
        "default_class_weight": round(default_class_weight(split.y_tr), 4),
        "calibration": None if fitted.calibrator is None else fitted.calibrator.method,
        "trees": trees,
        **({"overrides": dict(overrides)} if overrides else {}),
    }


def _fit(
    split: _Split,
    test: TestSet,
    *,
    names: list[str],
    config: TrainConfig,
    settings: Settings,
    default_trainable: bool,
    overrides: Mapping[str, object] | None,
    step: Callable[[int], None],
) -> _Fitted:
    """Fit the models (the default model only when trainable) and the baselines."""
    s = split
    default_model = calibrator = None
    p_test = np.full(len(test.X), np.nan)
    if default_trainable:
        default_model = fit_default_model(
            s.X_tr, s.y_tr, s.X_va, s.y_va, feature_names=names, config=config, overrides=overrides
        )
        calibrator = fit_calibrator(
            np.asarray(default_model.predict(s.X_va, raw_score=True)),
            s.y_va,
            isotonic_min_defaults=settings.calibration_isotonic_min_defaults,
        )
        p_test = calibrator(np.asarray(default_model.predict(test.X, raw_score=True)))
    step(2)
    days_models = fit_days_late_models(
        s.X_tr, s.d_tr, s.X_va, s.d_va, feature_names=names, config=config, overrides=overrides
    )
    step(4)
    preds = {k: np.asarray(m.predict(test.X)) for k, m in days_models.items()}
    p10, p50, p90 = np.sort(np.vstack([preds["p10"], preds["p50"], preds["p90"]]), axis=0)
    scores = Scores(p_test, preds["mean"], p10, p50, p90)
    history = fit_history_baseline(s.X_tr, s.d_tr, feature_names=names)
    linear = fit_linear(s.X_tr, s.d_tr, feature_names=names)
    predictions = {
        "p_default": p_test,
        "days_late": scores.days_late,
        "days_late_p10": p10,
        "days_late_p90": p90,
        "history_days_late": history.days_late(test.X),
        "linear_days_late": linear.predict(test.X),
    }
    if default_model is not None:
        logistic = fit_logistic(s.X_tr, s.y_tr, feature_names=names, seed=config.seed)
        predictions["history_default"] = history.default_score(test.X)
        predictions["logistic_default"] = logistic.predict_proba(test.X)[:, 1]
    return _Fitted(default_model, calibrator, days_models, scores, predictions)


def _evaluation(
    test: TestSet,
    fitted: _Fitted,
    *,
    as_of: datetime.date,
    folds: Folds,
    check: DataCheck,
    split: _Split,
) -> Evaluation:
    """The model and baseline metrics on the test rows, with the periods and row counts."""
    pred = fitted.predictions
    default = None
    if fitted.default_model is not None:
        default = TargetEvaluation(
            model=default_block(test, pred["p_default"]),
            baselines={
                "history": default_block(test, pred["history_default"]),
                "logistic": default_block(test, pred["logistic_default"]),
            },
        )
    days_late = TargetEvaluation(
        model=model_blocks(test, fitted.scores)[1],
        baselines={
            "history": days_late_block(test, pred["history_days_late"]),
            "linear": days_late_block(test, pred["linear_days_late"]),
        },
    )
    return Evaluation(
        as_of=as_of.isoformat(),
        default=default,
        default_unavailable_reason=check.default_unavailable_reason,
        days_late=days_late,
        test_period=folds.test_period,
        valid_period=folds.valid_period,
        train_period=folds.train_period,
        rows={
            "train": int(folds.train.sum()),
            "valid": int(folds.valid.sum()),
            "test": int(folds.test.sum()),
            "test_invoices": len(test.X),
            "test_cold_start": int(test.cold_start.sum()),
            "excluded_incomplete": folds.excluded,
            "train_defaults": int(split.y_tr.sum()),
            "valid_defaults": int(split.y_va.sum()),
            "test_defaults": int(test.default.sum()),
        },
        calibration=None if fitted.calibrator is None else fitted.calibrator.method,
        warnings=tuple(check.warnings),
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
                "test_period": list(ev.test_period),
                "roc_auc": None if ev.default is None else ev.default.model["roc_auc"],
                "mae": ev.days_late.model["mae"],
            }
        )
        end = pd.Timestamp(ev.test_period[0])
    return out
