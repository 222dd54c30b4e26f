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
and checks the models against the feature list. LightGBM's text parser can abort the
whole process on a damaged file (a C++ `terminate`, no Python exception), so model
text is only handed to it once its hash matches; a bundle exported before manifests
existed has its model files parsed in a child process first.

`Bundle.matrix` (frames) and `Bundle.row` (one dict, the API's hot path) build the same
float64 model matrix: feature columns in training order, categoricals as codes of the
training categories, unknown values as NaN. Training builds its matrices with
`feature_matrix`, so training and serving cannot disagree on the encoding.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit

from duecast.errors import BundleError, ModelNotFoundError
from features.spec import (
    CATEGORICAL_COLUMNS,
    FEATURE_COLUMNS,
    FEATURE_SET_VERSION,
    FeatureSpecError,
    spec_as_records,
)
from training.row_predict import RowPredictor

__all__ = [
    "DAYS_LATE_KEYS",
    "GRADES",
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
GRADES = ("A", "B", "C", "D")  # upper p_default bounds; above "D" is grade "E"
_BUNDLE_FILE = "bundle.joblib"
_MANIFEST_FILE = "manifest.json"
# Parsing a bundle's model texts in a child takes about a second; a hung parse is a fault.
_CHILD_TIMEOUT_SECONDS = 120.0
_CHILD_MESSAGE_CHARS = 300
_FORMAT_VERSION = 1
_HELP = "run `duecast train` then `duecast promote`"


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


def feature_matrix(
    rows: pd.DataFrame, feature_columns: Sequence[str], categories: Mapping[str, Sequence[str]]
) -> np.ndarray:
    """Float64 model matrix of `rows`: categoricals as training codes, unknown -> NaN.

    Raises:
        FeatureSpecError: if a feature column is missing from `rows`.
    """
    missing = [c for c in feature_columns if c not in rows.columns]
    if missing:
        raise FeatureSpecError(f"rows lack feature columns {missing}")
    out = np.empty((len(rows), len(feature_columns)), dtype="float64")
    for j, name in enumerate(feature_columns):
        col = rows[name]
        if name in categories:
            # Index lookup, not pd.Categorical: unseen values must become NaN, not raise.
            values = col.astype("object").where(col.notna(), None).to_numpy()
            keys = np.array([None if v is None else str(v) for v in values], dtype=object)
            codes = pd.Index(list(categories[name]), dtype="object").get_indexer(keys)
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, j] = pd.to_numeric(col, errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan
            )
    return out


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


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
            if _is_missing(value):
                out[0, j] = np.nan
            elif name in codes:
                code = codes[name].get(str(value))
                out[0, j] = np.nan if code is None else code
            else:
                out[0, j] = float(value)  # type: ignore[arg-type]
        return out

    def predict(self, X: np.ndarray) -> Scores:
        """Scores of a model matrix from `matrix` or `row`."""
        X = np.asarray(X, dtype="float64")
        if self.default_model is not None and self.calibrator is not None:
            raw = self.default_model.predict(X, raw_score=True)
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
        for grade in GRADES:
            if p_default <= self.thresholds[grade]:
                return grade
        return "E"


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
        manifest = {
            "format_version": _FORMAT_VERSION,
            "sha256": {f.name: _sha256(f) for f in sorted(tmp.iterdir()) if f.is_file()},
        }
        (tmp / _MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_manifest(directory: Path) -> bool:
    """Check every file the manifest lists; False for a bundle without a manifest.

    Raises:
        BundleError: the manifest is unreadable, or a file is missing or does not match.
    """
    path = directory / _MANIFEST_FILE
    if not path.is_file():
        return False
    try:
        hashes = json.loads(path.read_text())["sha256"]
        if not isinstance(hashes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in hashes.items()
        ):
            raise TypeError("'sha256' is not a mapping of file names to hashes")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BundleError(
            f"the bundle manifest {path} is unreadable ({type(exc).__name__}: {exc}): "
            f"export the bundle again ({_HELP})"
        ) from exc
    for name, expected in sorted(hashes.items()):
        file = directory / name
        if Path(name).name != name or not file.is_file():
            raise BundleError(
                f"the bundle in {directory} lacks {name}, listed in its manifest: "
                f"export the bundle again ({_HELP})"
            )
        if _sha256(file) != expected:
            raise BundleError(
                f"{file} does not match the sha256 in the bundle manifest (damaged or "
                f"edited after export): export the bundle again ({_HELP})"
            )
    for file in directory.glob("*.txt"):
        if file.name not in hashes:
            raise BundleError(
                f"{file} is not listed in the bundle manifest: remove it, or export the "
                f"bundle again ({_HELP})"
            )
    return True


_PARSING = "duecast-parsing:"
_CHILD_CHECK = """
import sys
import lightgbm as lgb
for name in sys.argv[1:]:
    # The parent names the file the child died on (LightGBM prints to stdout too).
    print("duecast-parsing:" + name, flush=True)
    lgb.Booster(model_file=name)
"""


def verify_model_text(paths: Sequence[Path]) -> None:
    """Parse LightGBM model files in a child process: a damaged file kills the child only.

    Raises:
        BundleError: the child failed (its exit status or signal, and the file, said).
    """
    if not paths:
        return
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD_CHECK, *(str(p) for p in paths)],
            capture_output=True,
            text=True,
            errors="replace",  # a dying LightGBM may print raw memory
            timeout=_CHILD_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BundleError(
            f"LightGBM did not finish parsing the model files {[str(p) for p in paths]} "
            f"within {_CHILD_TIMEOUT_SECONDS:.0f} s: export the bundle again ({_HELP})"
        ) from exc
    if done.returncode == 0:
        return
    started = [
        line.removeprefix(_PARSING)
        for line in done.stdout.splitlines()
        if line.startswith(_PARSING)
    ]
    at_fault = started[-1] if started else str(paths[0])
    how = (
        f"killed by signal {-done.returncode}"
        if done.returncode < 0
        else f"exit status {done.returncode}"
    )
    # Only the last line: it holds LightGBM's complaint, the rest is a traceback.
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    said = lines[-1][:_CHILD_MESSAGE_CHARS] if lines else "no message"
    raise BundleError(
        f"{at_fault} is not a readable LightGBM model (parsing it in a child process: "
        f"{how}: {said}): export the bundle again ({_HELP})"
    )


def _booster(path: Path) -> lgb.Booster:
    try:
        return lgb.Booster(model_file=str(path))
    except Exception as exc:  # lightgbm.basic.LightGBMError and friends
        raise BundleError(
            f"{path} is not a readable LightGBM model ({exc}): export the bundle again ({_HELP})"
        ) from exc


def _check_features(directory: Path, meta: dict, models: Mapping[str, lgb.Booster]) -> None:
    """The feature list is the spec's (or part of it) and every model reads that many columns.

    Raises:
        BundleError: unknown or repeated feature names, categories of a non-categorical
            column, or a model trained on another number of features.
    """
    columns = list(meta["feature_columns"])
    unknown = [c for c in columns if c not in FEATURE_COLUMNS]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    odd_categories = sorted(set(meta["categories"]) - (set(CATEGORICAL_COLUMNS) & set(columns)))
    problems = []
    if unknown:
        problems.append(f"feature columns {unknown} are not in the feature spec")
    if repeated:
        problems.append(f"feature columns {repeated} appear twice")
    if odd_categories:
        problems.append(f"categories are given for non-categorical columns {odd_categories}")
    for name, model in models.items():
        if model.num_feature() != len(columns):
            problems.append(
                f"model {name!r} reads {model.num_feature()} features, the bundle lists "
                f"{len(columns)}"
            )
    if problems:
        raise BundleError(
            f"the bundle in {directory} does not match the feature spec of this duecast "
            f"({FEATURE_SET_VERSION}): {'; '.join(problems)}. {_HELP}"
        )


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
        raise ModelNotFoundError(f"no model bundle in {directory}: {_HELP}")
    hashed = _verify_manifest(directory)
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
            f"{path} is unreadable ({type(exc).__name__}: {exc}): export the bundle again ({_HELP})"
        ) from exc
    missing = [k for k in _META_KEYS if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise BundleError(f"{path} lacks {missing}: export the bundle again ({_HELP})")
    if meta.get("feature_set_version") != FEATURE_SET_VERSION:
        raise ModelNotFoundError(
            f"the bundle in {directory} was trained on feature set "
            f"{meta.get('feature_set_version')!r}, this duecast computes "
            f"{FEATURE_SET_VERSION!r}: {_HELP}"
        )
    default_file = directory / "default.txt"
    files = {"default": default_file} if default_file.is_file() else {}
    for key in DAYS_LATE_KEYS:
        model_file = directory / f"days_late_{key}.txt"
        if not model_file.is_file():
            raise BundleError(f"the bundle in {directory} lacks {model_file.name}: {_HELP}")
        files[key] = model_file
    if not hashed:
        verify_model_text(list(files.values()))
    models = {key: _booster(file) for key, file in files.items()}
    _check_features(directory, meta, models)
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
            f"the bundle in {directory} is inconsistent ({exc}): export it again ({_HELP})"
        ) from exc
