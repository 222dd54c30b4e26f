"""The registered MLflow model serves what the bundle serves, and the run records every
LightGBM parameter and each tuning trial.

One MLflow store per module, two logged runs of small bundles (`make_bundle`, no
training on a ledger): version 1 with a default model and two tuning trials, version 2
with days-late models only and no trials.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from features.spec import CATEGORICAL_COLUMNS
from kernel.config import Settings
from tests.utils.bundle_factory import make_bundle, make_feature_rows
from tests.utils.training_support import store_settings
from training.bundle import Bundle
from training.evaluation import Evaluation
from training.pyfunc import OUTPUT_COLUMNS, bundle_boosters, lightgbm_params
from training.registry import LoggedRun, log_training_run

DATA = Path(__file__).parent / "data"
TRIALS: tuple[dict[str, Any], ...] = (
    {"number": 0, "params": {"num_leaves": 15, "lr": 0.05}, "metrics": {"mae": 5.5, "auc": 0.7}},
    {"number": 1, "params": {"num_leaves": 31, "lr": 0.1}, "metrics": {"mae": 5.2, "auc": 0.72}},
)


@dataclass(frozen=True)
class Logged:
    settings: Settings
    bundle: Bundle
    run: LoggedRun


def _evaluation() -> Evaluation:
    old = json.loads((DATA / "evaluate_defaults.json").read_text())
    labels = ("model_version", "run_id", "alias", "plots")
    return Evaluation.from_json({k: v for k, v in old.items() if k not in labels})


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Logged]:
    settings = store_settings(tmp_path_factory.mktemp("pyfunc"))
    out = {}
    for name, with_default, trials in (("default", True, TRIALS), ("days_late", False, ())):
        bundle = make_bundle(with_default=with_default)
        run = log_training_run(
            settings,
            params={"seed": 0},
            evaluation=_evaluation(),
            fingerprint={"rows": 400},
            feature_spec=[],
            tags={"as_of": bundle.as_of},
            plots=[],
            bundle=bundle,
            trials=trials,
        )
        out[name] = Logged(settings, bundle, run)
    return out


def _client(settings: Settings) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)


def _load(logged: Logged) -> Any:
    import mlflow

    mlflow.set_tracking_uri(logged.settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(logged.settings.mlflow_tracking_uri)
    return mlflow.pyfunc.load_model(f"models:/{logged.run.model_name}/{logged.run.version}")


def _model_input(rows: pd.DataFrame) -> pd.DataFrame:
    """Feature rows as the registered model takes them: categoricals as text, None missing."""
    out = rows.copy()
    for name in CATEGORICAL_COLUMNS:
        out[name] = out[name].astype(object).where(out[name].notna(), None)
    return out


@pytest.mark.parametrize("name", ["default", "days_late"])
def test_registered_model_predicts_the_bundles_calibrated_scores(
    logged: dict[str, Logged], name: str
) -> None:
    bundle = logged[name].bundle
    rows = make_feature_rows(200, seed=7)
    predicted = _load(logged[name]).predict(_model_input(rows))

    assert list(predicted.columns) == list(OUTPUT_COLUMNS)
    X = bundle.matrix(rows)
    expected = bundle.predict(X)
    for column in OUTPUT_COLUMNS:
        np.testing.assert_array_equal(predicted[column].to_numpy(), getattr(expected, column))
    if bundle.default_model is None:
        assert predicted["p_default"].isna().all()
    else:
        # Calibrated, not the classifier's raw probability (what the registry held before).
        raw = bundle.default_model.predict(X)
        assert np.abs(predicted["p_default"].to_numpy() - raw).max() > 0.01
    quantiles = predicted[["days_late_p10", "days_late_p50", "days_late_p90"]].to_numpy()
    assert (np.diff(quantiles, axis=1) >= 0).all()


def test_signature_names_the_feature_columns_and_the_scores(logged: dict[str, Logged]) -> None:
    bundle = logged["default"].bundle
    model = _load(logged["default"])
    signature = model.metadata.signature
    inputs = {c.name: c.type.name for c in signature.inputs.inputs}
    assert list(inputs) == bundle.feature_columns
    assert {n for n, t in inputs.items() if t == "string"} == set(CATEGORICAL_COLUMNS)
    assert [c.name for c in signature.outputs.inputs] == list(OUTPUT_COLUMNS)
    # The logged input example shows a caller a valid frame, and it scores.
    example = model.input_example
    assert list(example.columns) == bundle.feature_columns
    assert len(model.predict(pd.concat([example, example], ignore_index=True))) == 2


@pytest.mark.parametrize("name", ["default", "days_late"])
def test_every_parameter_of_every_booster_is_logged(logged: dict[str, Logged], name: str) -> None:
    run = _client(logged[name].settings).get_run(logged[name].run.run_id)
    params = run.data.params
    boosters = bundle_boosters(logged[name].bundle)
    expected = {"days_late_mean", "days_late_p10", "days_late_p50", "days_late_p90"}
    assert set(boosters) == expected | ({"default"} if name == "default" else set())
    for model, booster in boosters.items():
        effective = lightgbm_params(booster)
        # The effective configuration, not only what training was given.
        assert len(effective) > 100 and effective["min_data_in_leaf"] == "5"
        assert {k: params[f"lgb.{model}.{k}"] for k in effective} == effective
        assert params[f"lgb.{model}.trees"] == str(booster.num_trees())
    logged_models = {key.split(".")[1] for key in params if key.startswith("lgb.")}
    assert logged_models == set(boosters)


def test_parameters_of_a_booster_loaded_from_text_are_the_trained_ones() -> None:
    trained = make_bundle().days_late_models["p90"]
    loaded = lgb.Booster(model_str=trained.model_to_string())
    assert lightgbm_params(loaded) == lightgbm_params(trained)
    assert lightgbm_params(trained)["alpha"] == "0.9"
    assert len(loaded.params) < len(lightgbm_params(loaded))  # why the text is parsed


def test_tuning_trials_are_child_runs_with_their_params_and_metrics(
    logged: dict[str, Logged],
) -> None:
    client = _client(logged["default"].settings)

    def children(run: LoggedRun) -> list[Any]:
        found = client.search_runs(
            [run.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run.run_id}'"
        )
        return sorted(found, key=lambda r: int(r.data.tags["trial_number"]))

    trials = children(logged["default"].run)
    assert [int(r.data.tags["trial_number"]) for r in trials] == [0, 1]
    for run, trial in zip(trials, TRIALS, strict=True):
        assert run.data.metrics == trial["metrics"]
        assert run.data.params == {k: str(v) for k, v in trial["params"].items()}
    assert children(logged["days_late"].run) == []


_CHILD = """
import json, sys
import training.pyfunc
imported = "mlflow" in sys.modules
import mlflow
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_registry_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[2])
rows = json.loads(sys.argv[3])
import pandas as pd
frame = pd.DataFrame(rows["data"], columns=rows["columns"]).astype(rows["dtypes"])
print(json.dumps({"imported": imported, "p_default": model.predict(frame)["p_default"].tolist()}))
"""


def test_import_does_not_import_mlflow_and_a_new_process_loads_the_model(
    logged: dict[str, Logged],
) -> None:
    """`import training.pyfunc` leaves mlflow out; unpickling finds `BundleModel` by name."""
    one = logged["default"]
    rows = _model_input(make_feature_rows(5, seed=3))
    payload = {
        "data": rows.astype(object).where(rows.notna(), None).to_numpy().tolist(),
        "columns": list(rows.columns),
        "dtypes": {c: str(t) for c, t in rows.dtypes.items() if c not in CATEGORICAL_COLUMNS},
    }
    uri = f"models:/{one.run.model_name}/{one.run.version}"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            one.settings.mlflow_tracking_uri,
            uri,
            json.dumps(payload),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["imported"] is False
    expected = one.bundle.predict(one.bundle.matrix(rows)).p_default
    np.testing.assert_array_equal(np.array(answer["p_default"]), expected)


def test_params_are_logged_in_batches_within_mlflows_limits() -> None:
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH

    from training.registry import _log_params

    class Recorder:
        def __init__(self) -> None:
            self.calls: list[dict[str, str]] = []

        def log_params(self, params: dict[str, str]) -> None:
            self.calls.append(params)

    recorder = Recorder()
    params = {f"p{i}": str(i) for i in range(2 * MAX_PARAMS_TAGS_PER_BATCH + 1)}
    params["long"] = "x" * (MAX_PARAM_VAL_LENGTH + 10)
    _log_params(recorder, params)
    assert [len(c) for c in recorder.calls] == [100, 100, 2]
    merged = {k: v for call in recorder.calls for k, v in call.items()}
    assert merged.keys() == params.keys() and len(merged["long"]) == MAX_PARAM_VAL_LENGTH


def test_a_booster_inside_another_scorer_is_found_once() -> None:
    """The hazard model serves both questions from one booster: its params are logged once."""
    booster = make_bundle().days_late_models["mean"]
    hazard = SimpleNamespace(model=SimpleNamespace(booster=booster))
    linear = SimpleNamespace(model=SimpleNamespace(coef=[1.0]))
    served = SimpleNamespace(default_model=None, days_late_models={}, risk=hazard, timing=hazard)
    assert bundle_boosters(served) == {"risk_model": booster}  # type: ignore[arg-type]
    served = SimpleNamespace(default_model=None, days_late_models={}, risk=linear, timing=hazard)
    assert bundle_boosters(served) == {"timing_model": booster}  # type: ignore[arg-type]
