"""The LightGBM models: a calibrated default classifier and days-late regressors.

Choices, and why:

- Early stopping on the validation period (the one right after training), so the
  number of trees is chosen on data from the future of the training rows.
- Categorical features are LightGBM categoricals (codes from `training.bundle`), not
  one-hot columns.
- Class imbalance: defaults are a few percent of invoices. The classifier weighs
  defaults by sqrt(non-defaults / defaults) (`scale_pos_weight`): enough gradient from
  the rare class for trees to split on it, without the distortion of full balancing.
  The weighting skews raw probabilities upward, which is harmless because they are
  calibrated afterwards on the untouched validation period; early stopping watches
  ROC AUC, which the weighting does not bias.
- Calibration maps the raw score (log-odds) to a probability with scikit-learn:
  isotonic regression when the validation period holds enough defaults (no shape
  assumption, but it overfits with few positives), Platt scaling (a logistic
  regression on the raw score, two parameters) otherwise.
- Days late: an L2 regressor for the mean, and quantile regressors for p10/p50/p90.
  A quantile model starts from its quantile of the training labels moved just inside
  the label range (see `quantile_start`), not LightGBM's own start at the quantile.
- Every model is deterministic for a given seed (`deterministic`, row-wise histograms).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from features.spec import monotone_constraints
from features.spec_attributes import categorical_indices
from kernel.errors import InsufficientDataError
from training.bundle import DAYS_LATE_KEYS, ScoreCalibrator

__all__ = [
    "QUANTILES",
    "Offsets",
    "TrainConfig",
    "default_class_weight",
    "fit_calibrator",
    "fit_days_late_models",
    "fit_default_model",
    "lgb_params",
    "monotone_params",
    "offset_trees",
    "quantile_learning_rate",
    "quantile_start",
]

logger = logging.getLogger(__name__)

QUANTILES = {"p10": 0.1, "p50": 0.5, "p90": 0.9}
# The quantile models' learning rate stays at or below this (`quantile_learning_rate`).
QUANTILE_RATE_CAP = 0.1

_BASE_PARAMS = {
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


@dataclass(frozen=True)
class TrainConfig:
    """Seed, threads, round limits and LightGBM parameters shared by every model of a run.

    `params` replaces the fixed parameters (`training.sizing.sized_params` sizes them to
    the training rows); `rounds` fixes the number of trees and turns early stopping off
    (the refit on all history uses the rounds the backtest windows chose).
    """

    seed: int
    threads: int
    max_rounds: int
    early_stopping: int
    params: Mapping[str, object] | None = None
    rounds: Mapping[str, int] | None = None  # per model: "default", "mean", "p10", ...

    def as_params(self) -> dict:
        """The config as loggable parameters."""
        return {
            "seed": self.seed,
            "threads": self.threads,
            "max_rounds": self.max_rounds,
            "early_stopping_rounds": self.early_stopping,
            **({"rounds": dict(self.rounds)} if self.rounds else {}),
        }


def lgb_params(objective: str, config: TrainConfig, **extra: object) -> dict:
    """LightGBM parameters of one model."""
    base = _BASE_PARAMS if config.params is None else {**_BASE_PARAMS, **config.params}
    params = {**base, "objective": objective, "seed": config.seed, **extra}
    if config.threads:
        params["num_threads"] = config.threads
    return params


def monotone_params(feature_names: Sequence[str], *, sign: int = 1) -> dict:
    """LightGBM's monotone constraints from the spec's directions ({} when none applies).

    `sign` is 1 for outputs that rise with risk, -1 for a payment hazard. The "basic"
    method: "intermediate" took twice the training time (100,000 rows, 200 trees: 107 s
    against 51 s unconstrained and 53 s basic).
    """
    constraints = monotone_constraints(feature_names, sign=sign)
    if not any(constraints):
        return {}
    return {"monotone_constraints": constraints, "monotone_constraints_method": "basic"}


def default_class_weight(y: np.ndarray) -> float:
    """Weight of a default relative to a non-default: sqrt of the class ratio (>= 1)."""
    positives = float(np.sum(y))
    negatives = float(len(y) - positives)
    if positives == 0:
        return 1.0
    return max(1.0, math.sqrt(negatives / positives))


@dataclass(frozen=True)
class Offsets:
    """Start scores (LightGBM init scores) of the training and validation rows."""

    train: np.ndarray
    valid: np.ndarray


def _datasets(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    feature_names: list[str],
    offsets: Offsets | None = None,
) -> tuple[lgb.Dataset, lgb.Dataset]:
    categorical = categorical_indices(feature_names)
    train = lgb.Dataset(
        X_train,
        y_train,
        feature_name=feature_names,
        categorical_feature=categorical,
        free_raw_data=False,
        init_score=None if offsets is None else offsets.train,
    )
    valid = lgb.Dataset(
        X_valid,
        y_valid,
        reference=train,
        free_raw_data=False,
        init_score=None if offsets is None else offsets.valid,
    )
    return train, valid


def _fit(
    params: Mapping[str, object],
    train: lgb.Dataset,
    valid: lgb.Dataset,
    config: TrainConfig,
    key: str,
) -> lgb.Booster:
    # Risk moves the right way on the spec's directed features; LightGBM refuses
    # monotone constraints for quantile objectives, so the quantiles go without.
    if params["objective"] != "quantile":
        params = {**params, **monotone_params(list(train.feature_name))}
    if config.rounds is not None:
        booster = lgb.train(dict(params), train, num_boost_round=max(1, config.rounds[key]))
        return lgb.Booster(model_str=booster.model_to_string())
    booster = lgb.train(
        dict(params),
        train,
        num_boost_round=config.max_rounds,
        valid_sets=[valid],
        valid_names=["valid"],
        callbacks=[
            lgb.early_stopping(config.early_stopping, first_metric_only=True, verbose=False)
        ],
    )
    best = booster.best_iteration or booster.current_iteration()
    logger.info("%s: %d trees (early stopping)", params["objective"], best)
    # Keep only the trees early stopping chose, so the saved model predicts the same
    # with or without num_iteration.
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def fit_default_model(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    *,
    feature_names: list[str],
    config: TrainConfig,
    overrides: Mapping[str, object] | None = None,
    offsets: Offsets | None = None,
) -> lgb.Booster:
    """Binary classifier of default, weighted for imbalance, early-stopped on validation AUC.

    With `offsets` the trees learn the residual of those start scores (log-odds), which
    the saved model does not hold: add them to its raw score.
    """
    train, valid = _datasets(X_train, y_train, X_valid, y_valid, feature_names, offsets)
    params = lgb_params(
        "binary",
        config,
        metric=["auc"],
        scale_pos_weight=default_class_weight(y_train),
        **({"boost_from_average": False} if offsets is not None else {}),
        **(overrides or {}),
    )
    return _fit(params, train, valid, config, "default")


def fit_calibrator(
    raw: np.ndarray, y: np.ndarray, *, isotonic_min_defaults: int
) -> ScoreCalibrator:
    """Calibrator from validation raw scores: isotonic with enough defaults, else Platt.

    Raises:
        InsufficientDataError: if `y` holds one class only (`training.sufficiency`
            keeps such runs from getting here).
    """
    raw = np.asarray(raw, dtype="float64")
    y = np.asarray(y, dtype="int64")
    if len(np.unique(y)) < 2:
        raise InsufficientDataError(
            f"cannot calibrate default probabilities: the validation period holds "
            f"{int(y.sum())} defaults of {len(y)} rows, both outcomes are needed"
        )
    if int(y.sum()) >= isotonic_min_defaults:
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
        return ScoreCalibrator("isotonic", model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), y)
    return ScoreCalibrator("sigmoid", model)


def quantile_start(labels: np.ndarray, alpha: float) -> float:
    """Starting score of an alpha-quantile model: the labels' quantile, kept off their ends.

    Days late is capped at the horizon, and when more than 1 - alpha of the rows sit at
    the cap the p90 of the labels *is* the cap. Starting there, every residual has the
    same sign, every row gets the same gradient and no tree can split: LightGBM stops
    after one constant tree and predicts the cap for everyone. Half a day inside the
    range, rows at the cap and rows below it pull in opposite directions again.
    """
    labels = np.asarray(labels, dtype="float64")
    low, high = float(labels.min()), float(labels.max())
    start = float(np.quantile(labels, alpha))
    if high - low < 1.0:
        return start
    return min(max(start, low + 0.5), high - 0.5)


def offset_trees(booster: lgb.Booster, offset: float) -> lgb.Booster:
    """The booster with `offset` added to every leaf of its first tree (its start score)."""
    leaves = booster.dump_model(num_iteration=1)["tree_info"][0]["num_leaves"]
    for leaf in range(leaves):
        booster.set_leaf_output(0, leaf, booster.get_leaf_output(0, leaf) + offset)
    return booster


def _rows(data: lgb.Dataset) -> int:
    """Rows of a dataset made from a numpy matrix (built or not)."""
    return int(np.asarray(data.data).shape[0])


def quantile_learning_rate(config: TrainConfig) -> float:
    """The quantile models' learning rate: twice the others', at most `QUANTILE_RATE_CAP`.

    The pinball loss gives every row a gradient of fixed size, so at the mean model's
    rate the quantile models needed 2-3 times its trees (470-720 against 250 on 150,000
    rows). At twice the rate they train in about half the time with the same MAE and
    interval coverage in the rolling-origin backtest (figures in docs/model-quality.md).
    """
    rate = float(lgb_params("quantile", config)["learning_rate"])
    return max(rate, min(QUANTILE_RATE_CAP, 2.0 * rate))


def _fit_quantile(
    key: str,
    alpha: float,
    train: lgb.Dataset,
    valid: lgb.Dataset,
    config: TrainConfig,
    overrides: Mapping[str, object] | None,
    offsets: Offsets | None,
) -> lgb.Booster:
    labels = train.get_label()
    assert labels is not None, "the quantile models are trained on labelled data"
    # Lengths from the raw data: the validation set is never built when rounds are fixed.
    base_tr = np.zeros(_rows(train)) if offsets is None else offsets.train
    base_va = np.zeros(_rows(valid)) if offsets is None else offsets.valid
    start = quantile_start(np.asarray(labels) - base_tr, alpha)
    # The start goes in as an init score (LightGBM then skips its own start), and is
    # folded into the first tree afterwards so the saved model predicts on its own
    # (plus the offsets, when there are any: those stay outside the model).
    train.set_init_score(base_tr + start)
    valid.set_init_score(base_va + start)
    params = lgb_params(
        "quantile",
        config,
        alpha=alpha,
        boost_from_average=False,
        **{"learning_rate": quantile_learning_rate(config), **(overrides or {})},
    )
    try:
        return offset_trees(_fit(params, train, valid, config, key), start)
    finally:
        train.set_init_score(None if offsets is None else offsets.train)
        valid.set_init_score(None if offsets is None else offsets.valid)


def fit_days_late_models(
    X_train: np.ndarray,
    d_train: np.ndarray,
    X_valid: np.ndarray,
    d_valid: np.ndarray,
    *,
    feature_names: list[str],
    config: TrainConfig,
    overrides: Mapping[str, object] | None = None,
    offsets: Offsets | None = None,
) -> dict[str, lgb.Booster]:
    """Mean (L2) and quantile (p10, p50, p90) regressors of days late, early-stopped.

    With `offsets` every model learns the residual of those start scores (days), which
    the saved models do not hold: add them to their predictions.
    """
    train, valid = _datasets(X_train, d_train, X_valid, d_valid, feature_names, offsets)
    # The four models share one binned dataset (built by the first): binning is a large
    # share of training time on big tables.
    extra = {"boost_from_average": False} if offsets is not None else {}
    models = {
        "mean": _fit(
            lgb_params("regression", config, **extra, **(overrides or {})),
            train,
            valid,
            config,
            "mean",
        )
    }
    for key, alpha in QUANTILES.items():
        models[key] = _fit_quantile(key, alpha, train, valid, config, overrides, offsets)
    assert set(models) == set(DAYS_LATE_KEYS)
    return models
