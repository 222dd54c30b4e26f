"""The exported champion bundle: what serving loads, without MLflow or a tracking server.

A bundle serves one scorer per question (`training.scorers`): the risk scorer
(P(default), or P(very late) when `risk_target` says so) and the timing scorer (days
late). Each is whichever candidate won the backtest: LightGBM (optionally on a
customer-history start score), the linear baselines, the history baseline or the
hazard model. Boosters are LightGBM text files, everything else plain data in one
joblib file, plus a readable `metadata.json`:

    <dir>/bundle.joblib         metadata, scorer specs (calibrators, arrays), metrics, thresholds
    <dir>/metadata.json         the same metadata and the feature spec, for people (not read back)
    <dir>/default.txt           LightGBM risk model (when one is served)
    <dir>/days_late_<key>.txt   LightGBM days-late models: mean, p10, p50, p90 (when served)
    <dir>/manifest.json         the sha256 of every other file, checked before any is read

Format 1 bundles (LightGBM only, calibrator in the joblib file) still load.
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

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd

from features.spec import FEATURE_SET_VERSION
from features.spec_attributes import model_spec_records
from kernel.errors import BundleError, ModelNotFoundError
from kernel.policy import GRADES
from training.bundle_checks import BUNDLE_HELP, verify_manifest, verify_model_text, write_manifest
from training.matrix import feature_matrix, is_missing
from training.scorers import (
    DAYS_LATE_KEYS,
    LightGBMRisk,
    LightGBMTiming,
    RiskScorer,
    RowFunction,
    ScoreCalibrator,
    TimingScorer,
)
from training.scorers_io import read_scorers, resolve_scorers, save_scorers

__all__ = [
    "DAYS_LATE_KEYS",
    "RISK_TARGETS",
    "Bundle",
    "RiskScorer",
    "ScoreCalibrator",
    "Scores",
    "TimingScorer",
    "feature_matrix",
    "load_bundle",
    "save_bundle",
    "verify_model_text",
]

logger = logging.getLogger(__name__)

_BUNDLE_FILE = "bundle.joblib"
# 1: LightGBM only (calibrator at the top level); 2: one scorer spec per question.
_FORMAT_VERSION = 2
RISK_TARGETS = ("default", "very_late")


@dataclass(frozen=True)
class Scores:
    """Model outputs for n rows (arrays of length n)."""

    p_default: np.ndarray  # calibrated; NaN everywhere when the bundle has no default model
    days_late: np.ndarray  # mean model
    days_late_p10: np.ndarray
    days_late_p50: np.ndarray
    days_late_p90: np.ndarray


@dataclass(frozen=True, kw_only=True)
class Bundle:
    """The champion: scorers, feature encoding, metrics and thresholds.

    Give either the scorers (`risk`, `timing`) or, as bundles were made before scorers,
    the LightGBM models (`default_model`, `calibrator`, `days_late_models`). The model
    fields always read back the served LightGBM boosters (None / empty when another
    kind is served); changing them with `dataclasses.replace` replaces LightGBM scorers.
    """

    model_version: str
    trained_at: str
    as_of: str
    feature_set_version: str
    feature_columns: list[str]
    categories: dict[str, list[str]]
    horizon_days: int
    default_unavailable_reason: str | None
    metrics: dict
    thresholds: dict[str, float]
    default_model: lgb.Booster | None = None
    calibrator: ScoreCalibrator | None = None
    days_late_models: dict[str, lgb.Booster] = field(default_factory=dict)
    risk: RiskScorer | None = None
    timing: TimingScorer | None = None
    # What p_default means: "default" (not settled within the horizon) or "very_late"
    # (settled more than `very_late_days` late, or not at all).
    risk_target: str = "default"
    very_late_days: int | None = None
    # Per categorical column: value -> code, precomputed so `row` stays a dict lookup.
    _codes: dict[str, dict[str, int]] = field(init=False, repr=False, compare=False)
    # One-row functions of `predict_row`, made by `row_predictors` (serving warm-up).
    _row_predictors: dict[str, RowFunction] | None = field(
        init=False, repr=False, compare=False, default=None
    )

    def __post_init__(self) -> None:
        codes = {
            name: {str(v): k for k, v in enumerate(cats)} for name, cats in self.categories.items()
        }
        object.__setattr__(self, "_codes", codes)
        if self.risk_target not in RISK_TARGETS:
            raise ValueError(f"risk_target must be one of {RISK_TARGETS}, not {self.risk_target!r}")
        if self.risk_target == "very_late" and self.very_late_days is None:
            raise ValueError("a very-late risk target needs very_late_days")
        risk, timing = resolve_scorers(
            self.risk, self.timing, self.default_model, self.calibrator, self.days_late_models
        )
        object.__setattr__(self, "risk", risk)
        object.__setattr__(self, "timing", timing)
        # The model fields read back what is served.
        lgb_risk = risk if isinstance(risk, LightGBMRisk) else None
        object.__setattr__(self, "default_model", lgb_risk.booster if lgb_risk else None)
        object.__setattr__(self, "calibrator", lgb_risk.calibrator if lgb_risk else None)
        boosters = timing.boosters if isinstance(timing, LightGBMTiming) else {}
        object.__setattr__(self, "days_late_models", boosters)

    @property
    def has_default_model(self) -> bool:
        """True when the bundle can score the probability of the risk target."""
        return self.risk is not None

    @property
    def served(self) -> dict[str, str | None]:
        """The kind of model served per question ("risk", "days_late"); None: no risk model."""
        return {
            "risk": None if self.risk is None else self.risk.kind,
            "days_late": self._timing.kind,
        }

    @property
    def _timing(self) -> TimingScorer:
        assert self.timing is not None  # set by __post_init__
        return self.timing

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
        p_default = np.full(len(X), np.nan) if self.risk is None else self.risk.predict(X)
        days = self._timing.predict(X)
        return Scores(
            p_default=p_default,
            days_late=days["mean"],
            days_late_p10=days["p10"],
            days_late_p50=days["p50"],
            days_late_p90=days["p90"],
        )

    def row_predictors(self) -> dict[str, RowFunction]:
        """The one-row function of each model, made on first call (tens of milliseconds).

        Serving calls it at load so that the first order does not pay for it.
        """
        predictors = self._row_predictors
        if predictors is None:
            predictors = dict(self._timing.row_functions())
            if self.risk is not None:
                predictors.update(self.risk.row_functions())
            object.__setattr__(self, "_row_predictors", predictors)
        return predictors

    def predict_row(self, x: np.ndarray, *, quantiles: bool = True) -> Scores:
        """Scores of one model row (from `row`), as `predict` gives them, in microseconds.

        With `quantiles=False` p10/p50/p90 are skipped (NaN): for LightGBM they hold
        most of the trees, and an order decision graded by P(default) does not need them.
        """
        p_default = math.nan if self.risk is None else self.risk.predict_row(x)
        days = self._timing.predict_row(x, quantiles=quantiles)
        return Scores(
            p_default=np.array([p_default]),
            days_late=np.array([days["mean"]]),
            days_late_p10=np.array([days.get("p10", math.nan)]),
            days_late_p50=np.array([days.get("p50", math.nan)]),
            days_late_p90=np.array([days.get("p90", math.nan)]),
        )

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(n, n_features) contributions on the raw scale, no bias column.

        Of the risk scorer (log-odds), or of the days-late mean when there is none.
        """
        X = np.asarray(X, dtype="float64")
        if self.risk is not None:
            return self.risk.contributions(X)
        return self._timing.contributions(X)

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
        "risk_target": bundle.risk_target,
        "very_late_days": bundle.very_late_days,
        "served": bundle.served,
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
        specs = save_scorers(bundle.risk, bundle._timing, tmp)
        joblib.dump({**meta, "scorers": specs}, tmp / _BUNDLE_FILE)
        # The readable copy also carries the feature spec (descriptions, dtypes, units).
        readable = {**meta, "feature_spec": model_spec_records(bundle.feature_columns)}
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
)
# Format 1 kept the calibrator at the top level; format 2 has a spec per scorer.
_SCORER_KEYS = {1: "calibrator", 2: "scorers"}


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
    if not isinstance(meta, dict):
        raise BundleError(
            f"{path} holds no bundle metadata: export the bundle again ({BUNDLE_HELP})"
        )
    version = meta.get("format_version", 1)
    if version not in _SCORER_KEYS:
        raise BundleError(
            f"{path} has bundle format {version!r}, this duecast reads formats "
            f"{sorted(_SCORER_KEYS)}: {BUNDLE_HELP}"
        )
    required = (*_META_KEYS, _SCORER_KEYS[version])
    missing = [k for k in required if k not in meta]
    if missing:
        raise BundleError(f"{path} lacks {missing}: export the bundle again ({BUNDLE_HELP})")
    if meta.get("feature_set_version") != FEATURE_SET_VERSION:
        raise ModelNotFoundError(
            f"the bundle in {directory} was trained on feature set "
            f"{meta.get('feature_set_version')!r}, this duecast computes "
            f"{FEATURE_SET_VERSION!r}: {BUNDLE_HELP}"
        )
    try:
        return _assemble(directory, meta, hashed=hashed)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise BundleError(
            f"the bundle in {directory} is inconsistent ({exc}): export it again ({BUNDLE_HELP})"
        ) from exc


def _assemble(directory: Path, meta: dict, *, hashed: bool) -> Bundle:
    """The bundle of checked metadata: its booster files read, its scorers built."""
    risk, timing = read_scorers(directory, meta, hashed=hashed)
    return Bundle(
        model_version=str(meta["model_version"]),
        trained_at=meta["trained_at"],
        as_of=meta["as_of"],
        feature_set_version=meta["feature_set_version"],
        feature_columns=list(meta["feature_columns"]),
        categories={k: list(v) for k, v in meta["categories"].items()},
        horizon_days=int(meta["horizon_days"]),
        default_unavailable_reason=meta["default_unavailable_reason"],
        metrics=meta["metrics"],
        thresholds=dict(meta["thresholds"]),
        risk=risk,
        timing=timing,
        # Bundles exported before the very-late target scored defaults.
        risk_target=str(meta.get("risk_target", "default")),
        very_late_days=meta.get("very_late_days"),
    )
