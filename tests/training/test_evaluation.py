"""The typed evaluation reads and writes exactly the JSON `duecast evaluate --json` printed
before it existed.

`data/evaluate_*.json` are the outputs of `duecast evaluate --json` written by the
dict-based code (a run with a default model, and one on a ledger without defaults), the
plots path made neutral. They are old runs' JSON: they must load, print unchanged, and
have the key layout (keys, order, value kinds) every new run's JSON has.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from duecast.cli import app
from kernel.config import Settings, get_settings
from kernel.errors import ModelNotFoundError
from tests.utils.training_support import generated_store, store_settings
from training.bundle import load_bundle
from training.evaluation import Evaluation
from training.pipeline import TrainOutcome, champion_dir, promote, train
from training.registry import flatten_metrics

DATA = Path(__file__).parent / "data"
OLD = {name: DATA / f"evaluate_{name}.json" for name in ("defaults", "nodefaults")}
LABELS = ("model_version", "run_id", "alias", "plots")


def _old(name: str) -> dict[str, Any]:
    return json.loads(OLD[name].read_text())


def _keeps_layout(new: Any, old: Any, path: str = "") -> list[str]:
    """Where `new` breaks `old`'s layout: an old key missing or out of order, or a value
    of another kind. Keys `new` adds are allowed (scripts reading the old keys still work)."""
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return [f"{path}: {type(new).__name__} instead of an object"]
        keys = [k for k in new if k in old]
        problems = [f"{path}: keys {list(old)} became {keys}"] if keys != list(old) else []
        for k in old:
            if k in new:
                problems += _keeps_layout(new[k], old[k], f"{path}.{k}")
        return problems
    if isinstance(old, list):
        # A list (periods, warnings) keeps the kind of its items, not their number.
        kinds = {str(_layout(v)) for v in old}
        if not isinstance(new, list) or (old and {str(_layout(v)) for v in new} - kinds):
            return [f"{path}: {_layout(new)} instead of {_layout(old)}"]
        return []
    if _layout(new) != _layout(old) and not (old is None or new is None):
        return [f"{path}: {_layout(new)} instead of {_layout(old)}"]
    return []


def _layout(value: Any) -> Any:
    """Keys in order and value kinds, recursively: what must not change between runs."""
    if isinstance(value, dict):
        return [(k, _layout(v)) for k, v in value.items()]
    if isinstance(value, list):
        return ["list", *(_layout(v) for v in value)]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return type(value).__name__
    return "number"


@pytest.mark.parametrize("name", sorted(OLD))
def test_old_json_round_trips_to_the_same_text(name: str) -> None:
    text = OLD[name].read_text()
    evaluation = Evaluation.from_json(json.loads(text))
    assert json.dumps(evaluation.to_json(), indent=2) + "\n" == text
    start, end = evaluation.test_period
    assert evaluation.alias == "challenger" and start < end


def test_keys_of_other_versions_are_kept_and_missing_ones_are_an_error() -> None:
    old = _old("defaults")
    newer = {**{k: v for k, v in old.items() if k not in LABELS}, "drift": {"psi": 0.1}}
    newer |= {k: old[k] for k in LABELS}
    assert list(Evaluation.from_json(newer).to_json().items()) == list(newer.items())

    broken = {k: v for k, v in old.items() if k != "days_late"}
    with pytest.raises(ModelNotFoundError, match="duecast train"):
        Evaluation.from_json(broken)


def _log_old_run(settings: Settings, evaluation: dict[str, Any]) -> str:
    """An MLflow run holding only an old `evaluation.json`, registered as the challenger."""
    from mlflow import MlflowClient

    client = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    experiment = client.create_experiment(
        settings.mlflow_experiment, artifact_location=(settings.home / "art").as_uri()
    )
    run = client.create_run(experiment)
    client.log_dict(run.info.run_id, evaluation, "evaluation.json")
    client.set_terminated(run.info.run_id)
    client.create_registered_model(settings.mlflow_model_name)
    version = client.create_model_version(
        settings.mlflow_model_name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id
    )
    client.set_registered_model_alias(settings.mlflow_model_name, "challenger", version.version)
    return run.info.run_id


def _cli_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUECAST_HOME", str(settings.home))
    monkeypatch.setenv("DUECAST_MODELS_DIR", str(settings.models_dir))
    get_settings.cache_clear()


@pytest.mark.parametrize("name", sorted(OLD))
def test_cli_prints_an_old_runs_evaluation_unchanged(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = store_settings(tmp_path / "home")
    logged = {k: v for k, v in _old(name).items() if k not in ("alias", "plots")}
    run_id = _log_old_run(settings, logged)
    _cli_settings(settings, monkeypatch)

    result = CliRunner().invoke(app, ["evaluate", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    # The old code printed the logged object, then the alias and the plots folder.
    assert printed["plots"].endswith(f"{run_id}/artifacts/plots")
    expected = {**logged, "alias": "challenger", "plots": printed["plots"]}
    assert result.stdout == json.dumps(expected, indent=2) + "\n"

    table = CliRunner().invoke(app, ["evaluate"])
    assert table.exit_code == 0, table.output
    assert f"{logged['test_period'][0]} .. {logged['test_period'][1]}" in table.stdout
    assert "days_late.mae" in table.stdout
    assert ("default.roc_auc" in table.stdout) == (logged["default"] is not None)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Settings, TrainOutcome]]:
    """The ledgers the fixtures were made from (same seeds), trained by the current code."""
    out = {}
    for name, kwargs in (
        ("defaults", {"customers": 120, "years": 2.0, "seed": 3}),
        ("nodefaults", {"customers": 25, "years": 1.5, "seed": 4, "default_rate": 0.0}),
    ):
        settings = store_settings(tmp_path_factory.mktemp(name))
        generated_store(settings, **kwargs)
        out[name] = (settings, train(settings))
    return out


@pytest.mark.parametrize("name", sorted(OLD))
def test_a_training_run_prints_the_json_layout_of_the_old_code(
    name: str,
    runs: dict[str, tuple[Settings, TrainOutcome]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, outcome = runs[name]
    _cli_settings(settings, monkeypatch)
    result = CliRunner().invoke(app, ["evaluate", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    old = _old(name)
    # Every key the old code wrote, in its order, with the same kind of value (the
    # rolling-origin windows, candidates and choice are added beside them).
    assert _keeps_layout(printed, old) == []
    assert {"windows", "candidates", "chosen", "risk_target"} <= set(printed)
    # The values are the run's own: what training returned, with the alias and plots.
    labels = {"alias": "challenger", "plots": printed["plots"]}
    assert printed == {**outcome.evaluation.to_json(), **labels}
    assert outcome.evaluation.model_version == outcome.version == printed["model_version"]
    # MLflow metric names include the old flattened names.
    assert set(flatten_metrics(printed)) >= set(flatten_metrics(old))


def test_the_bundle_carries_the_registered_evaluation(
    runs: dict[str, tuple[Settings, TrainOutcome]],
) -> None:
    from mlflow import MlflowClient

    settings, outcome = runs["defaults"]
    assert promote(settings).promoted
    bundle = load_bundle(champion_dir(settings))
    assert bundle.metrics == outcome.evaluation.to_json()
    assert set(bundle.metrics) >= set(_old("defaults")) - {"alias", "plots"}
    run = MlflowClient(settings.mlflow_tracking_uri).get_run(outcome.run_id)
    assert run.data.metrics == flatten_metrics(bundle.metrics)
