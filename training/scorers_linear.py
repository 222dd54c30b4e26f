"""The linear baselines as served models: the fitted scikit-learn pipelines as numpy arrays.

`training.baselines.fit_logistic` / `fit_linear` fit a pipeline (median imputation with
missing indicators, standard scaling, clipping, one-hot categoricals, then a logistic or
ridge regression). Serving one row through that pipeline costs about a millisecond of
scikit-learn validation, and a pickled pipeline ties a bundle to one scikit-learn
version. `LinearModel.from_pipeline` reads the fitted numbers out once (medians,
indicator columns, means and scales, categories, coefficients) into plain arrays, whose
arithmetic is the pipeline's: tests/training/test_scorers.py checks them against
`predict` and `predict_proba` on rows with missing values and unknown categories.
`score_row` does the same sums in plain Python for one row (numpy's per-call overhead
over a few dozen features cost more than the arithmetic).

Contributions are coefficient x standardised (clipped) value per feature, its missing
indicator's term added to the feature's own column, and the active category's
coefficient for a categorical; they sum to the score minus the intercept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy.special import expit

from training.scorers import QUANTILE_KEYS, RowFunction, ScoreCalibrator

__all__ = ["LinearModel", "LinearRisk", "LinearTiming"]


@dataclass(frozen=True, eq=False)
class LinearModel:
    """A fitted imputer -> scaler -> clip | one-hot -> linear model, as arrays."""

    numeric: np.ndarray  # model-matrix columns of the numeric block, in order
    medians: np.ndarray  # imputed value per numeric column
    indicator: np.ndarray  # positions (within `numeric`) that get a missing indicator
    mean: np.ndarray  # scaler mean over numeric + indicator columns
    scale: np.ndarray
    clip: float
    categorical: np.ndarray  # model-matrix columns of the one-hot block
    categories: tuple[np.ndarray, ...]  # known codes per categorical column (-1 = missing)
    coef: np.ndarray  # over the transformed columns: numeric, indicators, one-hot
    intercept: float

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> LinearModel:
        """The arrays of a pipeline fitted by `fit_logistic` or `fit_linear`.

        Raises:
            ValueError: the pipeline is not shaped like those of `training.baselines`.
        """
        prepare, model = pipeline.named_steps["prepare"], pipeline.named_steps["model"]
        blocks = {name: (step, list(cols)) for name, step, cols in prepare.transformers_}
        if "numeric" not in blocks or "categorical" not in blocks:
            raise ValueError("expected the numeric and categorical blocks of training.baselines")
        numeric_steps, numeric = blocks["numeric"]
        imputer, scaler, clipper = (s for _, s in numeric_steps.steps)
        cat_steps, categorical = blocks["categorical"]
        cat_imputer, encoder = (s for _, s in cat_steps.steps)
        if float(cat_imputer.fill_value) != -1.0 or encoder.drop is not None:
            raise ValueError("expected missing categoricals filled with -1 and no dropped level")
        indicator = getattr(imputer, "indicator_", None)
        clip = _clip_bound(clipper, len(scaler.mean_))
        return cls(
            numeric=np.asarray(numeric, dtype="int64"),
            medians=np.asarray(imputer.statistics_, dtype="float64"),
            indicator=np.asarray([] if indicator is None else indicator.features_, dtype="int64"),
            mean=np.asarray(scaler.mean_, dtype="float64"),
            scale=np.asarray(scaler.scale_, dtype="float64"),
            clip=clip,
            categorical=np.asarray(categorical, dtype="int64"),
            categories=tuple(np.asarray(c, dtype="float64") for c in encoder.categories_),
            coef=np.asarray(model.coef_, dtype="float64").reshape(-1),
            intercept=float(np.asarray(model.intercept_).reshape(-1)[0]),
        )

    def _standardised(self, X: np.ndarray) -> np.ndarray:
        values = X[:, self.numeric]
        missing = np.isnan(values)
        imputed = np.where(missing, self.medians, values)
        block = np.hstack([imputed, missing[:, self.indicator].astype("float64")])
        return np.clip((block - self.mean) / self.scale, -self.clip, self.clip)

    def _one_hot_terms(self, X: np.ndarray) -> list[np.ndarray]:
        """Per categorical column, the active category's coefficient (0 if unknown)."""
        start = len(self.mean)
        terms = []
        for column, cats in zip(self.categorical, self.categories, strict=True):
            values = np.nan_to_num(X[:, column], nan=-1.0)
            hot = values[:, None] == cats[None, :]
            terms.append(hot.astype("float64") @ self.coef[start : start + len(cats)])
            start += len(cats)
        return terms

    def score(self, X: np.ndarray) -> np.ndarray:
        """(n,) linear score: log-odds (logistic) or days (ridge)."""
        X = np.asarray(X, dtype="float64")
        z = self._standardised(X) @ self.coef[: len(self.mean)] + self.intercept
        for term in self._one_hot_terms(X):
            z = z + term
        return z

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(n, f): coefficient x standardised value per model-matrix column."""
        X = np.asarray(X, dtype="float64")
        terms = self._standardised(X) * self.coef[: len(self.mean)]
        out = np.zeros_like(X)
        n_numeric = len(self.numeric)
        out[:, self.numeric] = terms[:, :n_numeric]
        for k, position in enumerate(self.indicator):
            out[:, self.numeric[position]] += terms[:, n_numeric + k]
        for column, term in zip(self.categorical, self._one_hot_terms(X), strict=True):
            out[:, column] += term
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers, for the bundle."""
        return {
            "numeric": self.numeric.tolist(),
            "medians": self.medians.tolist(),
            "indicator": self.indicator.tolist(),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "clip": self.clip,
            "categorical": self.categorical.tolist(),
            "categories": [c.tolist() for c in self.categories],
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LinearModel:
        """The model saved by `to_dict`."""

        def ints(key: str) -> np.ndarray:
            return np.asarray(d[key], dtype="int64")

        def floats(key: str) -> np.ndarray:
            return np.asarray(d[key], dtype="float64")

        model = cls(
            numeric=ints("numeric"),
            medians=floats("medians"),
            indicator=ints("indicator"),
            mean=floats("mean"),
            scale=floats("scale"),
            clip=float(d["clip"]),
            categorical=ints("categorical"),
            categories=tuple(np.asarray(c, dtype="float64") for c in d["categories"]),
            coef=floats("coef"),
            intercept=float(d["intercept"]),
        )
        model.check()
        return model

    def check(self) -> None:
        """Raise ValueError when the arrays do not fit together."""
        width = len(self.numeric) + len(self.indicator)
        n_coef = width + sum(len(c) for c in self.categories)
        if (
            len(self.medians) != len(self.numeric)
            or len(self.mean) != width
            or len(self.scale) != width
            or len(self.categories) != len(self.categorical)
            or len(self.coef) != n_coef
        ):
            raise ValueError("the linear model's arrays do not match each other")

    @cached_property
    def _row_plan(self) -> tuple[list, list, list]:
        """Per-feature constants of `score_row`, as Python floats (made on first use)."""
        width = len(self.numeric)
        coef = self.coef.tolist()
        numeric = [
            (int(c), float(m), float(mu), float(sd), coef[i])
            for i, (c, m, mu, sd) in enumerate(
                zip(self.numeric, self.medians, self.mean[:width], self.scale[:width], strict=True)
            )
        ]
        indicators = []
        for k, position in enumerate(self.indicator):
            i = width + k
            on, off = ((flag - self.mean[i]) / self.scale[i] for flag in (1.0, 0.0))
            term = [coef[i] * float(np.clip(v, -self.clip, self.clip)) for v in (on, off)]
            indicators.append((int(self.numeric[position]), term[0], term[1]))
        categorical = []
        start = len(self.mean)
        for column, cats in zip(self.categorical, self.categories, strict=True):
            lookup = {float(c): coef[start + j] for j, c in enumerate(cats)}
            categorical.append((int(column), lookup))
            start += len(cats)
        return numeric, indicators, categorical

    def score_row(self, x: np.ndarray) -> float:
        """`score` of one (1, f) row in plain Python: no per-call numpy overhead."""
        row = x[0].tolist()
        numeric, indicators, categorical = self._row_plan
        bound = self.clip
        z = self.intercept
        for column, median, mu, sd, c in numeric:
            v = row[column]
            z += c * min(max(((median if v != v else v) - mu) / sd, -bound), bound)
        for column, on, off in indicators:
            z += on if row[column] != row[column] else off
        for column, lookup in categorical:
            v = row[column]
            z += lookup.get(-1.0 if v != v else v, 0.0)
        return z

    @property
    def max_column(self) -> int:
        """The largest model-matrix column read (-1 if none)."""
        columns = np.concatenate([self.numeric, self.categorical])
        return int(columns.max()) if len(columns) else -1


def _clip_bound(clipper: Any, width: int) -> float:
    """The bound of the pipeline's clipping step, read by what it does to +-inf."""
    probe = np.full((1, max(width, 1)), np.inf)
    bound = float(np.asarray(clipper.transform(probe))[0, 0])
    if not np.isfinite(bound) or float(np.asarray(clipper.transform(-probe))[0, 0]) != -bound:
        raise ValueError("expected a symmetric finite clip after the scaler")
    return bound


class LinearRisk:
    """Logistic regression: expit of the score, or a calibrator of it when one was fitted."""

    kind = "logistic"

    def __init__(self, model: LinearModel, calibrator: ScoreCalibrator | None = None) -> None:
        self.model = model
        self.calibrator = calibrator

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n,) probabilities."""
        z = self.model.score(X)
        return expit(z) if self.calibrator is None else self.calibrator(z)

    def predict_row(self, x: np.ndarray) -> float:
        """The probability of one row."""
        z = self.model.score_row(x)
        if self.calibrator is None:
            return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        return float(self.calibrator(np.array([z]))[0])

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Coefficient x standardised value (log-odds)."""
        return self.model.contributions(X)

    def row_functions(self) -> dict[str, RowFunction]:
        """`predict_row` itself: plain arithmetic, nothing to warm."""
        return {"default": self.predict_row}


class LinearTiming:
    """Ridge regression of days late; quantiles = mean + training residual quantiles."""

    kind = "linear"

    def __init__(self, model: LinearModel, quantiles: tuple[float, float, float]) -> None:
        self.model = model
        self.quantiles = tuple(sorted(float(q) for q in quantiles))

    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Mean and mean + residual quantiles."""
        mean = self.model.score(X)
        out = {"mean": mean}
        for key, q in zip(QUANTILE_KEYS, self.quantiles, strict=True):
            out[key] = mean + q
        return out

    def predict_row(self, x: np.ndarray, quantiles: bool = True) -> dict[str, float]:
        """The same for one row."""
        mean = self.model.score_row(x)
        out = {"mean": mean}
        if quantiles:
            out.update({k: mean + q for k, q in zip(QUANTILE_KEYS, self.quantiles, strict=True)})
        return out

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Coefficient x standardised value (days)."""
        return self.model.contributions(X)

    def row_functions(self) -> dict[str, RowFunction]:
        """The mean of one row: plain arithmetic, nothing to warm."""
        return {"mean": lambda x: self.predict_row(x, quantiles=False)["mean"]}
