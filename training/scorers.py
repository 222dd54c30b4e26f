"""The served models, one scorer per question: risk (a probability) and timing (days late).

A bundle serves whichever candidate won the backtest for each question, behind one
interface:

- `RiskScorer`: calibrated probability of the risk target, for a matrix (`predict`) or
  one row in microseconds (`predict_row`, the order endpoint's hot path), and
  per-feature contributions on the log-odds scale.
- `TimingScorer`: days late as mean and p10/p50/p90, same three entry points.

This module holds the protocols, the calibrator and the LightGBM and history-baseline
scorers; the linear baselines are in `training.scorers_linear`, the hazard model's
adapter in `training.scorers_hazard`, their saving and loading in `training.scorers_io`.

LightGBM scorers keep the bundle's historical arithmetic exactly (raw score, then the
calibrator; quantile models sorted so they cannot cross), so a bundle that served
LightGBM before serves bit-identical numbers now. A `HistoryOffset` start score, when
present, is added to every booster's raw output: the boosters were fitted on the
residual of the shrunk customer-history mean.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import lightgbm as lgb
import numpy as np
from scipy.special import expit, logit

from training.offsets import HistoryOffset
from training.row_predict import RowPredictor

__all__ = [
    "DAYS_LATE_KEYS",
    "QUANTILE_KEYS",
    "HistoryRisk",
    "HistoryTiming",
    "LightGBMRisk",
    "LightGBMTiming",
    "RiskScorer",
    "RowFunction",
    "ScoreCalibrator",
    "TimingScorer",
    "residual_quantiles",
]

DAYS_LATE_KEYS = ("mean", "p10", "p50", "p90")
QUANTILE_KEYS = ("p10", "p50", "p90")
RowFunction = Callable[[np.ndarray], float]


@runtime_checkable
class RiskScorer(Protocol):
    """Calibrated probability of the risk target (default, or very late)."""

    kind: str

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n,) calibrated probabilities of a model matrix."""
        ...

    def predict_row(self, x: np.ndarray) -> float:
        """The probability of one (1, f) float64 row, without pandas."""
        ...

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(n, f) contributions on the raw (log-odds) scale, no bias column."""
        ...

    def row_functions(self) -> dict[str, RowFunction]:
        """The one-row functions behind `predict_row`, made now (serving warm-up)."""
        ...


@runtime_checkable
class TimingScorer(Protocol):
    """Days late (settled - due): mean and p10/p50/p90."""

    kind: str

    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Arrays "mean", "p10", "p50", "p90" with p10 <= p50 <= p90."""
        ...

    def predict_row(self, x: np.ndarray, quantiles: bool = True) -> dict[str, float]:
        """The same for one (1, f) row; without `quantiles` only "mean" is computed."""
        ...

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(n, f) contributions to the mean (days), no bias column."""
        ...

    def row_functions(self) -> dict[str, RowFunction]:
        """The one-row functions behind `predict_row`, made now (serving warm-up)."""
        ...


@dataclass(frozen=True)
class ScoreCalibrator:
    """Maps a raw score (log-odds, or a history share) to a calibrated probability.

    `model` is a fitted scikit-learn estimator on the raw score as its one feature:
    `IsotonicRegression` (method "isotonic") or `LogisticRegression`, i.e. Platt
    scaling (method "sigmoid").
    """

    method: str
    model: Any

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of raw scores."""
        raw = np.asarray(raw, dtype="float64")
        # The closed forms below skip scikit-learn's input validation, which costs about
        # 1 ms per call and dominated a one-row order decision; same arithmetic, same
        # values (tests/test_api_scoring.py checks them against predict / predict_proba).
        if self.method == "isotonic":
            model = self.model
            if getattr(model, "out_of_bounds", None) == "clip" and len(model.X_thresholds_) > 1:
                p = np.interp(
                    np.clip(raw, model.X_min_, model.X_max_),
                    model.X_thresholds_,
                    model.y_thresholds_,
                )
            else:
                p = model.predict(raw)
        elif hasattr(self.model, "coef_") and self.model.coef_.shape == (1, 1):
            p = expit(raw * self.model.coef_[0, 0] + self.model.intercept_[0])
        else:
            p = self.model.predict_proba(raw.reshape(-1, 1))[:, 1]
        return np.clip(np.asarray(p, dtype="float64"), 0.0, 1.0)

    def one(self, raw: float) -> float:
        """The calibrated probability of one raw score, as `__call__` gives it.

        The same ufuncs on a float: numpy's calls on one-element arrays cost more than
        the arithmetic on the order decision's path.
        """
        model = self.model
        if self.method == "isotonic":
            if getattr(model, "out_of_bounds", None) != "clip" or len(model.X_thresholds_) < 2:
                return float(self(np.array([raw]))[0])
            clipped = min(max(raw, float(model.X_min_)), float(model.X_max_))
            p = float(np.interp(clipped, model.X_thresholds_, model.y_thresholds_))
        elif hasattr(model, "coef_") and model.coef_.shape == (1, 1):
            p = float(expit(raw * model.coef_[0, 0] + model.intercept_[0]))
        else:
            return float(self(np.array([raw]))[0])
        return min(max(p, 0.0), 1.0)


def _offset_base(offset: HistoryOffset, n_features: int) -> float:
    """The offset of a row without history: the prior, the zero of its contribution."""
    return offset.value_row(np.full((1, n_features), np.nan))


def _contrib(booster: lgb.Booster, X: np.ndarray, offset: HistoryOffset | None) -> np.ndarray:
    """LightGBM `pred_contrib` without the bias column, plus the offset's part.

    The offset moves the score by (offset - offset of a customer without history); that
    difference is the customer's history mean's, so it is added to its column.
    """
    contrib = np.asarray(booster.predict(X, pred_contrib=True))[:, :-1]
    if offset is not None:
        contrib = contrib.copy()
        base = _offset_base(offset, X.shape[1])
        contrib[:, offset.mean_column] += offset.values(X) - base
    return contrib


class LightGBMRisk:
    """A LightGBM classifier's raw score (+ history offset), then its calibrator."""

    def __init__(
        self,
        booster: lgb.Booster,
        calibrator: ScoreCalibrator,
        offset: HistoryOffset | None = None,
    ) -> None:
        if offset is not None and offset.kind != "logit":
            raise ValueError(f"a risk model's offset is of kind 'logit', not {offset.kind!r}")
        self.booster = booster
        self.calibrator = calibrator
        self.offset = offset
        self.kind = "lightgbm" if offset is None else "lightgbm_residual"
        self._row: RowPredictor | None = None

    def raw(self, X: np.ndarray) -> np.ndarray:
        """Log-odds before calibration (booster + offset)."""
        raw = np.asarray(self.booster.predict(X, raw_score=True))
        if self.offset is not None:
            raw = raw + self.offset.values(X)
        return raw

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n,) calibrated probabilities."""
        return self.calibrator(self.raw(np.asarray(X, dtype="float64")))

    def row_functions(self) -> dict[str, RowFunction]:
        """The booster's one-row predictor (raw score)."""
        if self._row is None:
            self._row = RowPredictor(self.booster, raw_score=True)
        return {"default": self._row}

    def predict_row(self, x: np.ndarray) -> float:
        """The calibrated probability of one row."""
        row = self._row or self.row_functions()["default"]
        raw = row(x)
        if self.offset is not None:
            raw += self.offset.value_row(x)
        return float(self.calibrator(np.array([raw]))[0])

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Tree contributions on the log-odds scale (offset on its history column)."""
        return _contrib(self.booster, np.asarray(X, dtype="float64"), self.offset)


class LightGBMTiming:
    """Four LightGBM regressors (mean and p10/p50/p90), optionally on a history offset."""

    def __init__(
        self, boosters: Mapping[str, lgb.Booster], offset: HistoryOffset | None = None
    ) -> None:
        missing = [k for k in DAYS_LATE_KEYS if k not in boosters]
        if missing:
            raise ValueError(f"bundle lacks days-late models {missing}")
        if offset is not None and offset.kind != "days":
            raise ValueError(f"a days-late model's offset is of kind 'days', not {offset.kind!r}")
        self.boosters = dict(boosters)
        self.offset = offset
        self.kind = "lightgbm" if offset is None else "lightgbm_residual"
        self._rows: dict[str, RowPredictor] | None = None

    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Mean and sorted quantiles (models fitted separately may cross)."""
        X = np.asarray(X, dtype="float64")
        days = {k: np.asarray(m.predict(X), dtype="float64") for k, m in self.boosters.items()}
        if self.offset is not None:
            start = self.offset.values(X)
            days = {k: v + start for k, v in days.items()}
        p10, p50, p90 = np.sort(np.vstack([days["p10"], days["p50"], days["p90"]]), axis=0)
        return {"mean": days["mean"], "p10": p10, "p50": p50, "p90": p90}

    def row_functions(self) -> dict[str, RowFunction]:
        """One predictor per booster."""
        if self._rows is None:
            self._rows = {k: RowPredictor(m) for k, m in self.boosters.items()}
        return dict(self._rows)

    def predict_row(self, x: np.ndarray, quantiles: bool = True) -> dict[str, float]:
        """Mean (and sorted quantiles) of one row."""
        rows = self._rows if self._rows is not None else self.row_functions()
        keys = DAYS_LATE_KEYS if quantiles else ("mean",)
        days = {k: rows[k](x) for k in keys}
        if self.offset is not None:
            start = self.offset.value_row(x)
            days = {k: v + start for k, v in days.items()}
        if quantiles:
            days["p10"], days["p50"], days["p90"] = sorted(days[k] for k in QUANTILE_KEYS)
        return days

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Tree contributions of the mean model (offset on its history column)."""
        return _contrib(self.boosters["mean"], np.asarray(X, dtype="float64"), self.offset)


def residual_quantiles(residuals: np.ndarray) -> tuple[float, float, float]:
    """The 10 %, 50 % and 90 % quantiles of training residuals (label - mean)."""
    residuals = np.asarray(residuals, dtype="float64")
    residuals = residuals[~np.isnan(residuals)]
    if len(residuals) == 0:
        return (0.0, 0.0, 0.0)
    q10, q50, q90 = np.quantile(residuals, [0.1, 0.5, 0.9])
    return (float(q10), float(q50), float(q90))


def _share(value: float, fallback: float) -> float:
    return fallback if math.isnan(value) else value


class HistoryRisk:
    """The customer's share of invoices paid late, calibrated (fallback for no history)."""

    kind = "history"

    def __init__(
        self, column: int, fallback: float, calibrator: ScoreCalibrator | None = None
    ) -> None:
        self.column = column
        self.fallback = float(fallback)
        self.calibrator = calibrator

    def _calibrated(self, share: np.ndarray) -> np.ndarray:
        if self.calibrator is None:
            return np.clip(share, 0.0, 1.0)
        return self.calibrator(share)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n,) calibrated probabilities from the history share."""
        values = np.asarray(X, dtype="float64")[:, self.column]
        return self._calibrated(np.where(np.isnan(values), self.fallback, values))

    def predict_row(self, x: np.ndarray) -> float:
        """The calibrated probability of one row."""
        share = _share(float(x[0, self.column]), self.fallback)
        return float(self._calibrated(np.array([share]))[0])

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Log-odds of the row's probability minus a customer without history's, on the share."""
        X = np.asarray(X, dtype="float64")
        eps = 1e-6
        p = np.clip(self.predict(X), eps, 1 - eps)
        base = np.clip(self._calibrated(np.array([self.fallback])), eps, 1 - eps)
        out = np.zeros_like(X)
        out[:, self.column] = logit(p) - logit(base)[0]
        return out

    def row_functions(self) -> dict[str, RowFunction]:
        """`predict_row` itself: plain arithmetic, nothing to warm."""
        return {"default": self.predict_row}


class HistoryTiming:
    """The customer's mean days late so far, plus training residual quantiles."""

    kind = "history"

    def __init__(self, column: int, fallback: float, quantiles: tuple[float, float, float]):
        self.column = column
        self.fallback = float(fallback)
        self.quantiles = tuple(sorted(float(q) for q in quantiles))

    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Mean and mean + residual quantiles."""
        values = np.asarray(X, dtype="float64")[:, self.column]
        mean = np.where(np.isnan(values), self.fallback, values)
        out = {"mean": mean}
        for key, q in zip(QUANTILE_KEYS, self.quantiles, strict=True):
            out[key] = mean + q
        return out

    def predict_row(self, x: np.ndarray, quantiles: bool = True) -> dict[str, float]:
        """The same for one row."""
        mean = _share(float(x[0, self.column]), self.fallback)
        out = {"mean": mean}
        if quantiles:
            out.update({k: mean + q for k, q in zip(QUANTILE_KEYS, self.quantiles, strict=True)})
        return out

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """The history mean's distance from the fallback, on its column."""
        X = np.asarray(X, dtype="float64")
        out = np.zeros_like(X)
        out[:, self.column] = self.predict(X)["mean"] - self.fallback
        return out

    def row_functions(self) -> dict[str, RowFunction]:
        """The mean of one row: plain arithmetic, nothing to warm."""
        return {"mean": lambda x: self.predict_row(x, quantiles=False)["mean"]}
