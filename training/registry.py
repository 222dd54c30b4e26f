"""All MLflow code of duecast: runs, logged models, registered versions and aliases.

`mlflow` is imported inside functions only: it takes over a second to import and
serving never needs it. The tracking store is `Settings.mlflow_tracking_uri` (a SQLite
file under DUECAST_HOME by default, so everything works offline); artifacts go to
`<home>/mlartifacts` unless the experiment already exists elsewhere.

A run logs params (and every effective parameter of each LightGBM booster, as
`lgb.<model>.<name>`), metrics (flattened evaluation: `default.model.roc_auc`, ...), the
evaluation JSON, the feature spec, the data fingerprint, plots, tuning trials as child
runs, the served model and the complete serving bundle under `bundle/`. The registered
model (`Settings.mlflow_model_name`) is what serving serves: `training.pyfunc.BundleModel`
around the run's bundle, whose pyfunc returns the calibrated probability and the
days-late quantiles; it is logged with a signature and pinned pip requirements
(inferring them takes seconds). Versions are marked with aliases (`challenger`,
`champion`), never stages.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kernel.config import Settings
from kernel.errors import BundleError, ModelNotFoundError
from training.bundle import Bundle, load_bundle, save_bundle
from training.evaluation import Evaluation
from training.pyfunc import bundle_boosters, lightgbm_params
from training.run_bundle import release_bundle

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "LoggedRun",
    "VersionInfo",
    "booster_params",
    "download_bundle",
    "flatten_metrics",
    "get_version",
    "load_evaluation",
    "log_training_run",
    "run_artifact_uri",
    "set_alias",
    "tag_version",
]

logger = logging.getLogger(__name__)

CHALLENGER = "challenger"
CHAMPION = "champion"


@dataclass(frozen=True)
class LoggedRun:
    """Where a training run went: run id, registered model name and version."""

    run_id: str
    model_name: str
    version: str
    experiment_id: str


@dataclass(frozen=True)
class VersionInfo:
    """A registered model version and the run it came from."""

    name: str
    version: str
    run_id: str
    tags: dict[str, str]


def _mlflow(settings: Settings) -> Any:
    with warnings.catch_warnings():
        # MLflow's GenAI schemas warn about their own type hints on first import.
        warnings.filterwarnings("ignore", message=".*type hint is inferred as AnyType")
        import mlflow
        import mlflow.pyfunc
        import mlflow.types.responses  # the module that warns; imported once, quietly

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    return mlflow


def _client(settings: Settings) -> Any:
    _mlflow(settings)
    from mlflow import MlflowClient

    return MlflowClient(
        tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri
    )


def _experiment_id(settings: Settings) -> str:
    client = _client(settings)
    experiment = client.get_experiment_by_name(settings.mlflow_experiment)
    if experiment is not None:
        return experiment.experiment_id
    # Explicit artifact location: MLflow's default is relative to the working directory.
    location = (settings.home / "mlartifacts" / settings.mlflow_experiment).resolve().as_uri()
    return client.create_experiment(settings.mlflow_experiment, artifact_location=location)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def flatten_metrics(obj: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested dict as `a.b.c` -> float (None and text are skipped)."""
    out: dict[str, float] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_metrics(value, f"{name}."))
        elif _is_number(value) and np.isfinite(value):
            out[name] = float(value)
    return out


def _params(params: Mapping[str, Any]) -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            flat.update({f"{key}.{k}": str(v) for k, v in _params(value).items()})
        else:
            flat[key] = str(value)
    return flat


def _log_params(mlflow: Any, params: Mapping[str, str]) -> None:
    """Log params in batches within MLflow's limits (count per call, value length)."""
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH

    long = sorted(k for k, v in params.items() if len(v) > MAX_PARAM_VAL_LENGTH)
    if long:
        logger.warning("Params %s cut to MLflow's %d characters", long, MAX_PARAM_VAL_LENGTH)
    items = [(k, v[:MAX_PARAM_VAL_LENGTH]) for k, v in params.items()]
    for start in range(0, len(items), MAX_PARAMS_TAGS_PER_BATCH):
        mlflow.log_params(dict(items[start : start + MAX_PARAMS_TAGS_PER_BATCH]))


def booster_params(bundle: Bundle) -> dict[str, str]:
    """Every LightGBM parameter of every booster in the bundle, as `lgb.<model>.<name>`."""
    out: dict[str, str] = {}
    for model, booster in bundle_boosters(bundle).items():
        out.update({f"lgb.{model}.{k}": v for k, v in lightgbm_params(booster).items()})
        # What early stopping kept, beside the configured `num_iterations`.
        out[f"lgb.{model}.trees"] = str(booster.num_trees())
    return out


def _log_trials(mlflow: Any, experiment_id: str, trials: Sequence[Mapping[str, Any]]) -> None:
    """Each tuning trial as a child run of the active run, with its params and metrics."""
    for index, trial in enumerate(trials):
        number = int(trial.get("number", index))
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"trial {number}", nested=True):
            mlflow.set_tag("trial_number", str(number))
            _log_params(mlflow, _params(trial.get("params", {})))
            mlflow.log_metrics(flatten_metrics(trial.get("metrics", {})))


def _log_model(mlflow: Any, settings: Settings, bundle: Bundle) -> str:
    """Log and register the bundle as a `BundleModel` pyfunc; returns the new version."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from training.pyfunc import (
        BUNDLE_ARTIFACT,
        OUTPUT_COLUMNS,
        BundleModel,
        input_columns,
        pip_requirements,
        sample_rows,
    )

    # Declared, not inferred: inference warns about integer columns and cannot know
    # which columns may hold NaN.
    signature = ModelSignature(
        inputs=Schema([ColSpec(kind, name) for name, kind in input_columns(bundle).items()]),
        outputs=Schema([ColSpec("double", name) for name in OUTPUT_COLUMNS]),
    )
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = save_bundle(bundle, Path(tmp) / "bundle")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=BundleModel(),
            artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
            signature=signature,
            input_example=sample_rows(bundle),
            pip_requirements=pip_requirements(),
            registered_model_name=settings.mlflow_model_name,
        )
    return str(info.registered_model_version)


def log_training_run(
    settings: Settings,
    *,
    params: Mapping[str, Any],
    evaluation: Evaluation,
    fingerprint: dict,
    feature_spec: list[dict],
    tags: Mapping[str, str],
    plots: list[Path],
    bundle: Bundle,
    trials: Sequence[Mapping[str, Any]] = (),
) -> LoggedRun:
    """Log one training run, register its bundle as a pyfunc model, mark it `challenger`.

    Args:
        settings: tracking URI, experiment and model names.
        params: run parameters (nested dicts are flattened).
        evaluation: the backtest's evaluation (without version fields).
        fingerprint: `training.dataset.data_fingerprint` of the training table.
        feature_spec: `features.spec.spec_as_records()`.
        tags: extra run tags (as_of, code version, ...).
        plots: PNG files to log under `plots/`.
        bundle: the run's serving bundle from `draft_bundle`: registered as the MLflow
            model (`training.pyfunc.BundleModel`) and logged under `bundle/` as the
            registered version (`release_bundle`).
        trials: tuning trials, each `{"number", "params", "metrics"}`, logged as child runs.
    """
    mlflow = _mlflow(settings)
    experiment_id = _experiment_id(settings)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train as of {tags.get('as_of')}"):
        run_id = mlflow.active_run().info.run_id
        _log_params(mlflow, _params(params))
        _log_params(mlflow, {f"data_{k}": str(v) for k, v in fingerprint.items()})
        _log_params(mlflow, booster_params(bundle))
        mlflow.set_tags(dict(tags))
        mlflow.log_metrics(flatten_metrics(evaluation.to_json()))
        mlflow.log_dict(feature_spec, "feature_spec.json")
        mlflow.log_dict(fingerprint, "data_fingerprint.json")
        for path in plots:
            mlflow.log_artifact(str(path), artifact_path="plots")
        _log_trials(mlflow, experiment_id, trials)
        version = _log_model(mlflow, settings, bundle)
        evaluation = evaluation.labelled(model_version=version, run_id=run_id)
        mlflow.log_dict(evaluation.to_json(), "evaluation.json")
        with tempfile.TemporaryDirectory() as tmp:
            bundle_dir = save_bundle(release_bundle(bundle, evaluation), Path(tmp) / "bundle")
            mlflow.log_artifacts(str(bundle_dir), artifact_path="bundle")
    client = _client(settings)
    for key, value in tags.items():
        client.set_model_version_tag(settings.mlflow_model_name, version, key, str(value))
    client.set_registered_model_alias(settings.mlflow_model_name, CHALLENGER, version)
    logger.info(
        "Run %s registered as %s version %s (alias %s)",
        run_id,
        settings.mlflow_model_name,
        version,
        CHALLENGER,
    )
    return LoggedRun(run_id, settings.mlflow_model_name, version, experiment_id)


def _store_exists(settings: Settings) -> bool:
    """False for an embedded SQLite store that was never created (nothing trained yet).

    Checked first so that reading commands do not create an empty store as a side effect
    (creating one runs MLflow's migrations, which takes seconds).
    """
    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).exists()
    return True


def get_version(settings: Settings, alias: str) -> VersionInfo | None:
    """The version holding `alias`, or None when no version has it (or no model exists)."""
    if not _store_exists(settings):
        return None
    from mlflow.exceptions import MlflowException

    client = _client(settings)
    try:
        mv = client.get_model_version_by_alias(settings.mlflow_model_name, alias)
    except MlflowException:
        return None
    return VersionInfo(mv.name, str(mv.version), mv.run_id, dict(mv.tags or {}))


def set_alias(settings: Settings, alias: str, version: str) -> None:
    """Point `alias` at `version` of the registered model."""
    _client(settings).set_registered_model_alias(settings.mlflow_model_name, alias, version)


def tag_version(settings: Settings, version: str, key: str, value: str) -> None:
    """Set a tag on a registered version (e.g. the outcome of a promotion check)."""
    _client(settings).set_model_version_tag(settings.mlflow_model_name, version, key, value)


def _download(settings: Settings, run_id: str, path: str, dst: Path) -> Path:
    mlflow = _mlflow(settings)
    return Path(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(dst))
    )


def download_bundle(settings: Settings, version: VersionInfo) -> Bundle:
    """The serving bundle logged with a version's run, verified like an exported one.

    Raises:
        ModelNotFoundError: the run has no bundle artifact.
        BundleError: the downloaded bundle fails `load_bundle`'s checks (hashes, model
            text, feature spec).
    """
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = _download(settings, version.run_id, "bundle", Path(tmp))
        except Exception as exc:  # MLflow raises several types for a missing artifact
            raise ModelNotFoundError(
                f"version {version.version} of {version.name} has no bundle artifact "
                f"(run {version.run_id}): retrain with `duecast train`"
            ) from exc
        try:
            return load_bundle(path)
        except BundleError as exc:
            raise BundleError(
                f"version {version.version} of {version.name} (run {version.run_id}): {exc}"
            ) from exc


def load_evaluation(settings: Settings, version: VersionInfo) -> Evaluation:
    """The evaluation logged with a version's run (runs of every duecast version load).

    Raises:
        ModelNotFoundError: the run's `evaluation.json` lacks what every run logs.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = _download(settings, version.run_id, "evaluation.json", Path(tmp))
        return Evaluation.from_json(json.loads(Path(path).read_text()))


def run_artifact_uri(settings: Settings, run_id: str) -> str:
    """Where a run's artifacts live (plots are under `<uri>/plots`)."""
    return str(_client(settings).get_run(run_id).info.artifact_uri)
