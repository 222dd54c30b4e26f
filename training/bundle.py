"""The exported champion bundle: what serving loads, without MLflow or a tracking server.

A bundle is a folder holding the LightGBM models as LightGBM text files and everything
else (calibrator, categories, metrics, thresholds, metadata) in one joblib file, plus a
readable `metadata.json`:

    <dir>/bundle.joblib         metadata, calibrator, categories, metrics, thresholds
    <dir>/metadata.json         the same metadata and the feature spec, for people (not read back)
    <dir>/default.txt           default classifier (absent when the data had no defaults)
    <dir>/days_late_<key>.txt   days-late models: mean, p10, p50, p90
    <dir>/manifest.json         the sha256 of every other file, checked before any is read

`load_bundle` checks every file against the manifest before unpickling or parsing it,
and checks the models against the feature list (`training.bundle_checks`).

`Bundle.matrix` (frames) and `Bundle.row` (one dict, the API's hot path) build the same
float64 model matrix (`training.matrix`), so training and serving cannot disagree on
the encoding.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit

from features.spec import (
    FEATURE_SET_VERSION,
    spec_as_records,
)
from kernel.errors import BundleError, ModelNotFoundError
from kernel.policy import GRADES
from training.bundle_checks import (
    BUNDLE_HELP,
    check_features,
    read_booster,
    verify_manifest,
    verify_model_text,
    write_manifest,
)
from training.matrix import feature_matrix, is_missing
from training.row_predict import RowPredictor

__all__ = [
    "DAYS_LATE_KEYS",
    "Bundle",
    "ScoreCalibrator",
    "Scores",
    "feature_matrix",
    "load_bundle",
    "save_bundle",
    "verify_model_text",
]

logger = logging.getLogger(__name__)

DAYS_LATE_KEYS = ("mean", "p10", "p50", "p90")
_BUNDLE_FILE = "bundle.joblib"
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Scores:
    """Model outputs for n rows (arrays of length n)."""

    p_default: np.ndarray  # calibrated; NaN everywhere when the bundle has no default model
    days_late: np.ndarray  # mean model
    days_late_p10: np.ndarray
    days_late_p50: np.ndarray
    days_late_p90: np.ndarray


@dataclass(frozen=True)
class ScoreCalibrator:
    """Maps the default model's raw score (log-odds) to a calibrated probability.

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


@dataclass(frozen=True)
class Bundle:
    """The champion: models, calibrator, feature encoding, metrics and thresholds."""

    model_version: str
    trained_at: str
    as_of: str
    feature_set_version: str
    feature_columns: list[str]
    categories: dict[str, list[str]]
    horizon_days: int
    default_model: lgb.Booster | None
    calibrator: ScoreCalibrator | None
    default_unavailable_reason: str | None
    days_late_models: dict[str, lgb.Booster]
    metrics: dict
    thresholds: dict[str, float]
    # Per categorical column: value -> code, precomputed so `row` stays a dict lookup.
    _codes: dict[str, dict[str, int]] = field(init=False, repr=False, compare=False)
    # One-row predictors of `predict_row`, made by `row_predictors` (serving only).
    _row_predictors: dict[str, RowPredictor] | None = field(
        init=False, repr=False, compare=False, default=None
    )

    def __post_init__(self) -> None:
        codes = {
            name: {str(v): k for k, v in enumerate(cats)} for name, cats in self.categories.items()
        }
        object.__setattr__(self, "_codes", codes)
        missing = [k for k in DAYS_LATE_KEYS if k not in self.days_late_models]
        if missing:
            raise ValueError(f"bundle lacks days-late models {missing}")
        if self.default_model is not None and self.calibrator is None:
            raise ValueError("a bundle with a default model needs its calibrator")

    @property
    def has_default_model(self) -> bool:
        """True when the bundle can score the probability of default."""
        return self.default_model is not None

    def matrix(self, rows: pd.DataFrame) -> np.ndarray:
        """Float64 (n, n_features) matrix of feature rows (see `feature_matrix`)."""
        return feature_matrix(rows, self.feature_columns, self.categories)

    def row(self, values: Mapping[str, object]) -> np.ndarray:
        """One (1, n_features) row from a mapping of feature values, without pandas."""
        out = np.empty((1, len(self.feature_columns)), dtype="float64")
        codes = self._codes
        for j, name in enumerate(self.feature_columns):
            value = values.get(name)
            if is_missing(value):
                out[0, j] = np.nan
            elif name in codes:
                code = codes[name].get(str(value))
                out[0, j] = np.nan if code is None else code
            else:
                # A numeric feature is a number; isinstance(value, SupportsFloat) would
                # cost about 3 µs per feature on the per-order path, so it stays unchecked.
                out[0, j] = float(value)  # type: ignore[arg-type]  # a number; see above
        return out

    def predict(self, X: np.ndarray) -> Scores:
        """Scores of a model matrix from `matrix` or `row`."""
        X = np.asarray(X, dtype="float64")
        if self.default_model is not None and self.calibrator is not None:
            raw = np.asarray(self.default_model.predict(X, raw_score=True))
            p_default = self.calibrator(raw)
        else:
            p_default = np.full(len(X), np.nan)
        days = {
            k: np.asarray(m.predict(X), dtype="float64") for k, m in self.days_late_models.items()
        }
        # Quantile models are fitted separately and may cross; keep p10 <= p50 <= p90.
        p10, p50, p90 = np.sort(np.vstack([days["p10"], days["p50"], days["p90"]]), axis=0)
        return Scores(
            p_default=p_default,
            days_late=days["mean"],
            days_late_p10=p10,
            days_late_p50=p50,
            days_late_p90=p90,
        )

    def row_predictors(self) -> dict[str, RowPredictor]:
        """The one-row predictor of each model, made on first call (tens of milliseconds)."""
        predictors = self._row_predictors
        if predictors is None:
            predictors = {k: RowPredictor(m) for k, m in self.days_late_models.items()}
            if self.default_model is not None:
                predictors["default"] = RowPredictor(self.default_model, raw_score=True)
            object.__setattr__(self, "_row_predictors", predictors)
        return predictors

    def predict_row(self, x: np.ndarray, *, quantiles: bool = True) -> Scores:
        """Scores of one model row (from `row`), as `predict` gives them, in microseconds.

        With `quantiles=False` the p10/p50/p90 models are skipped (NaN): they hold most
        of the trees, and an order decision graded by P(default) does not need them.
        """
        predictors = self.row_predictors()
        if self.calibrator is not None and "default" in predictors:
            p_default = self.calibrator(np.array([predictors["default"](x)]))
        else:
            p_default = np.array([np.nan])
        p10 = p50 = p90 = math.nan
        if quantiles:
            p10, p50, p90 = sorted(predictors[k](x) for k in ("p10", "p50", "p90"))
        return Scores(
            p_default=p_default,
            days_late=np.array([predictors["mean"](x)]),
            days_late_p10=np.array([p10]),
            days_late_p50=np.array([p50]),
            days_late_p90=np.array([p90]),
        )

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(n, n_features) LightGBM `pred_contrib` on the raw scale, bias column dropped.

        Of the default model, or of the days-late mean model when there is none.
        """
        model = self.default_model or self.days_late_models["mean"]
        contrib = model.predict(np.asarray(X, dtype="float64"), pred_contrib=True)
        return np.asarray(contrib)[:, :-1]

    def grade(self, p_default: float) -> str:
        """Risk grade A (best) .. E of one probability from the bundle's cut-offs."""
        for grade in GRADES[:-1]:  # thresholds bound A..D; above D is the last grade
            if p_default <= self.thresholds[grade]:
                return grade
        return GRADES[-1]


def _metadata(bundle: Bundle) -> dict:
    return {
        "format_version": _FORMAT_VERSION,
        "model_version": bundle.model_version,
        "trained_at": bundle.trained_at,
        "as_of": bundle.as_of,
        "feature_set_version": bundle.feature_set_version,
        "feature_columns": list(bundle.feature_columns),
        "categories": {k: list(v) for k, v in bundle.categories.items()},
        "horizon_days": bundle.horizon_days,
        "default_unavailable_reason": bundle.default_unavailable_reason,
        "metrics": bundle.metrics,
        "thresholds": dict(bundle.thresholds),
    }


def save_bundle(bundle: Bundle, directory: Path) -> Path:
    """Write `bundle` to `directory`, replacing any bundle there atomically.

    The files are written to a temporary folder next to `directory` and renamed into
    place, so a reader never sees half a bundle.

    Returns:
        The bundle folder.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        meta = _metadata(bundle)
        if bundle.default_model is not None:
            bundle.default_model.save_model(str(tmp / "default.txt"))
        for key, model in bundle.days_late_models.items():
            model.save_model(str(tmp / f"days_late_{key}.txt"))
        joblib.dump({**meta, "calibrator": bundle.calibrator}, tmp / _BUNDLE_FILE)
        # The readable copy also carries the feature spec (descriptions, dtypes, units).
        readable = {**meta, "feature_spec": spec_as_records()}
        (tmp / "metadata.json").write_text(json.dumps(readable, indent=2, default=str) + "\n")
        write_manifest(tmp, format_version=_FORMAT_VERSION)
        old = None
        if directory.exists():
            old = directory.with_name(f".{directory.name}-old-{os.getpid()}")
            shutil.rmtree(old, ignore_errors=True)
            directory.rename(old)
        tmp.rename(directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("Saved model bundle version %s to %s", bundle.model_version, directory)
    return directory


_META_KEYS = (
    "model_version",
    "trained_at",
    "as_of",
    "feature_set_version",
    "feature_columns",
    "categories",
    "horizon_days",
    "default_unavailable_reason",
    "metrics",
    "thresholds",
    "calibrator",
)


def load_bundle(directory: Path) -> Bundle:
    """Load a bundle written by `save_bundle`, checking it before any file is parsed.

    Raises:
        ModelNotFoundError: if there is no bundle in `directory`, or it was trained on
            another feature-set version.
        BundleError: a file is missing, damaged (hash or parse) or the models do not
            match the feature spec.
    """
    directory = Path(directory)
    path = directory / _BUNDLE_FILE
    if not path.is_file():
        raise ModelNotFoundError(f"no model bundle in {directory}: {BUNDLE_HELP}")
    hashed = verify_manifest(directory)
    if not hashed:
        logger.warning(
            "The bundle in %s has no manifest (exported by an older duecast): its files "
            "are not verified; its model texts are parsed in a child process first",
            directory,
        )
    try:
        meta = joblib.load(path)
    except Exception as exc:  # unpickling garbage raises many types
        raise BundleError(
            f"{path} is unreadable ({type(exc).__name__}: {exc}): export the bundle again "
            f"({BUNDLE_HELP})"
        ) from exc
    missing = [k for k in _META_KEYS if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise BundleError(f"{path} lacks {missing}: export the bundle again ({BUNDLE_HELP})")
    if meta.get("feature_set_version") != FEATURE_SET_VERSION:
        raise ModelNotFoundError(
            f"the bundle in {directory} was trained on feature set "
            f"{meta.get('feature_set_version')!r}, this duecast computes "
            f"{FEATURE_SET_VERSION!r}: {BUNDLE_HELP}"
        )
    default_file = directory / "default.txt"
    files = {"default": default_file} if default_file.is_file() else {}
    for key in DAYS_LATE_KEYS:
        model_file = directory / f"days_late_{key}.txt"
        if not model_file.is_file():
            raise BundleError(f"the bundle in {directory} lacks {model_file.name}: {BUNDLE_HELP}")
        files[key] = model_file
    if not hashed:
        verify_model_text(list(files.values()))
    models = {key: read_booster(file) for key, file in files.items()}
    check_features(directory, meta, models)
    default_model = models.pop("default", None)
    try:
        return Bundle(
            model_version=str(meta["model_version"]),
            trained_at=meta["trained_at"],
            as_of=meta["as_of"],
            feature_set_version=meta["feature_set_version"],
            feature_columns=list(meta["feature_columns"]),
            categories={k: list(v) for k, v in meta["categories"].items()},
            horizon_days=int(meta["horizon_days"]),
            default_model=default_model,
            calibrator=meta["calibrator"],
            default_unavailable_reason=meta["default_unavailable_reason"],
            days_late_models=models,
            metrics=meta["metrics"],
            thresholds=dict(meta["thresholds"]),
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise BundleError(
            f"the bundle in {directory} is inconsistent ({exc}): export it again ({BUNDLE_HELP})"
        ) from exc
