"""Baselines scored in the same run and table as the models.

- history: the customer's own record at the snapshot — share of invoices paid late as
  the default score, mean days late as the days-late prediction. Customers without
  history get the training period's overall rate / mean.
- logistic: a logistic regression on the same features (default); a ridge regression
  on them for days late ("linear"). Missing values are imputed with the training
  median (plus missing-indicator columns), numbers standardised, categoricals one-hot.

Both respect the spec's directions (`features.spec.monotone_constraints`) as the
LightGBM models do: a feature whose fitted coefficient says a worse fact lowers risk (or
days late) is left out and the model fitted again, until every directed coefficient has
its declared sign. A linear model is then monotone in each directed feature (imputation,
scaling and clipping are non-decreasing), so a baseline served as champion grades no
customer better for a worse fact either.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from features.spec import monotone_constraints
from features.spec_attributes import categorical_indices

__all__ = ["HistoryBaseline", "fit_history_baseline", "fit_linear", "fit_logistic"]

# The linear baselines use one BLAS thread: their matrices are narrow, and on a busy
# machine multi-threaded BLAS made them ten times slower, not faster.
# Amounts and exposures are heavy-tailed: clip standardised values so one huge invoice
# cannot dominate a linear model.
_CLIP = 10.0


@dataclass(frozen=True)
class HistoryBaseline:
    """The customer-history baseline with training-period fallbacks for cold start."""

    share_late_column: int
    days_late_column: int
    fallback_share_late: float
    fallback_days_late: float

    def default_score(self, X: np.ndarray) -> np.ndarray:
        """Share of the customer's paid invoices paid late (fallback when unknown)."""
        values = X[:, self.share_late_column]
        return np.where(np.isnan(values), self.fallback_share_late, values)

    def days_late(self, X: np.ndarray) -> np.ndarray:
        """The customer's mean days late so far (fallback when unknown)."""
        values = X[:, self.days_late_column]
        return np.where(np.isnan(values), self.fallback_days_late, values)


def fit_history_baseline(
    X_train: np.ndarray, days_late: np.ndarray, *, feature_names: list[str]
) -> HistoryBaseline:
    """The history baseline, its fallbacks taken from the training rows."""
    return HistoryBaseline(
        share_late_column=feature_names.index("history_share_late"),
        days_late_column=feature_names.index("history_days_late_mean"),
        fallback_share_late=float(np.mean(days_late > 0)) if len(days_late) else 0.0,
        fallback_days_late=float(np.mean(days_late)) if len(days_late) else 0.0,
    )


def _preprocessor(feature_names: list[str], left_out: set[int]) -> ColumnTransformer:
    categorical = categorical_indices(feature_names)
    numeric = [i for i in range(len(feature_names)) if i not in categorical and i not in left_out]
    return ColumnTransformer(
        [
            (
                "numeric",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                    StandardScaler(),
                    FunctionTransformer(_clip),
                ),
                numeric,
            ),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=-1.0),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                categorical,
            ),
        ]
    )


def _clip(X: np.ndarray) -> np.ndarray:
    return np.clip(X, -_CLIP, _CLIP)


def fit_logistic(
    X_train: np.ndarray, y_train: np.ndarray, *, feature_names: list[str], seed: int = 0
) -> Pipeline:
    """Logistic regression of default on the same features, signed as the spec directs."""

    def model() -> LogisticRegression:
        # Newton-Cholesky: few features, many rows; converges in a handful of steps.
        return LogisticRegression(solver="newton-cholesky", max_iter=100, random_state=seed)

    with warnings.catch_warnings():
        # A baseline that has not fully converged is still a fair baseline.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _fit_signed(model, X_train, y_train, feature_names)


def fit_linear(X_train: np.ndarray, d_train: np.ndarray, *, feature_names: list[str]) -> Pipeline:
    """Ridge regression of days late on the same features, signed as the spec directs."""
    return _fit_signed(lambda: Ridge(alpha=1.0), X_train, d_train, feature_names)


def _fit_signed(
    model: Callable[[], Any], X: np.ndarray, y: np.ndarray, feature_names: list[str]
) -> Pipeline:
    """Fit, leave out the directed features whose coefficient has the wrong sign, repeat."""
    directions = monotone_constraints(feature_names)
    left_out: set[int] = set()
    while True:
        pipeline = Pipeline(
            [("prepare", _preprocessor(feature_names, left_out)), ("model", model())]
        )
        with threadpool_limits(1, user_api="blas"):
            pipeline.fit(X, y)
        wrong = _against_direction(pipeline, directions)
        if not wrong:
            return pipeline
        left_out |= wrong


def _against_direction(pipeline: Pipeline, directions: list[int]) -> set[int]:
    """Features whose coefficient contradicts their declared direction."""
    numeric = list(pipeline.named_steps["prepare"].transformers_[0][2])
    coef = np.ravel(pipeline.named_steps["model"].coef_)[: len(numeric)]
    return {j for j, c in zip(numeric, coef, strict=True) if directions[j] * c < 0}
