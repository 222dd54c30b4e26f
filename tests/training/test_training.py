"""Training end to end on a generated ledger: quality against baselines, reproducibility,
honest rolling-origin windows, and what MLflow holds after `duecast train`.

One ledger (250 customers, 2 years) and one training run are shared by the module.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from duecast.cli import app
from features.spec import FEATURE_COLUMNS
from kernel.config import Settings, get_settings
from tests.utils.training_support import generated_store, store_settings
from training.backtest import run_backtest
from training.dataset import load_training_table
from training.pipeline import TrainOutcome, evaluate, train
from training.plots import PLOT_FILES

METRIC_KEYS = {"roc_auc", "pr_auc", "brier", "ece", "capture_top10", "capture_top20"}
DAYS_KEYS = {"mae", "rmse", "within_7d", "interval_coverage"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, TrainOutcome]:
    settings = store_settings(tmp_path_factory.mktemp("training"))
    generated_store(settings, customers=250, years=2.0, seed=1)
    return settings, train(settings)


@pytest.fixture(scope="module")
def table(trained: tuple[Settings, TrainOutcome]) -> pd.DataFrame:
    settings, _ = trained
    return load_training_table(settings, include_open=settings.train_hazard)[0]


def test_model_beats_baselines_and_is_calibrated(trained: tuple[Settings, TrainOutcome]) -> None:
    ev = trained[1].evaluation
    model, baselines = ev.default.model, ev.default.baselines
    assert ev.rows["test_defaults"] >= 100, "too few test defaults to judge the model"
    assert ev.rows["windows"] == 3
    # On this ledger the best model beats both baselines on the pooled test windows, with
    # a customer-resampled interval of the ROC AUC difference that excludes zero.
    risk = ev.extra["chosen"]["risk"]
    assert risk["served"] == risk["model"], risk["reason"]
    assert all(iv["excludes_zero"] and iv["estimate"] > 0 for iv in risk["intervals"].values())
    assert model["roc_auc"] >= baselines["history"]["roc_auc"] + 0.01
    assert model["roc_auc"] >= baselines["logistic"]["roc_auc"] + 0.01
    assert model["capture_top20"] > 0.5
    # Calibrated out of time: every candidate is calibrated on its window's validation rows.
    assert model["ece"] < 0.03
    assert model["brier"] <= baselines["history"]["brier"]

    days, day_baselines = ev.days_late.model, ev.days_late.baselines
    chosen = ev.extra["chosen"]["days_late"]
    for name in ("history", "linear"):
        assert days["mae"] < day_baselines[name]["mae"], name
        assert chosen["intervals"][name]["estimate"] < 0
    # p10..p90 holds about 80 % of outcomes after recalibration on the other windows.
    recalibrated = ev.extra["interval_coverage_recalibrated"][chosen["served"]]
    assert abs(recalibrated - 0.8) <= 0.05


def test_metrics_cover_cold_start_customers(trained: tuple[Settings, TrainOutcome]) -> None:
    ev = trained[1].evaluation
    cold = ev.default.model["cold_start"]
    assert cold["n"] == ev.rows["test_cold_start"] > 0
    assert set(cold) >= METRIC_KEYS
    assert set(ev.days_late.model["cold_start"]) >= DAYS_KEYS


def test_same_seed_same_data_same_metrics(
    trained: tuple[Settings, TrainOutcome], table: pd.DataFrame
) -> None:
    settings, outcome = trained
    again = run_backtest(table, as_of=_as_of(outcome), settings=settings)
    assert again.evaluation == outcome.evaluation.without_labels()


def test_windows_follow_time_and_learn_only_what_was_known(
    trained: tuple[Settings, TrainOutcome], table: pd.DataFrame
) -> None:
    settings, outcome = trained
    windows = outcome.evaluation.extra["windows"]
    assert [w["index"] for w in windows] == [0, 1, 2]
    for newer, older in itertools.pairwise(windows):
        assert older["test_period"][1] == newer["test_period"][0]
    for w in windows:
        cutoff = pd.Timestamp(w["cutoff"])
        # What a window learns from was issued well before its cut-off: outcomes known.
        assert pd.Timestamp(w["valid_period"][1]) <= cutoff - pd.Timedelta(
            days=settings.horizon_days
        )
    assert outcome.evaluation.test_period == (
        windows[-1]["test_period"][0],
        windows[0]["test_period"][1],
    )
    assert outcome.evaluation.rows["test_invoices"] == sum(
        w["rows"]["test_invoices"] for w in windows
    )


def test_mlflow_holds_run_metrics_plots_and_registered_version(
    trained: tuple[Settings, TrainOutcome],
) -> None:
    from mlflow import MlflowClient

    settings, outcome = trained
    client = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    run = client.get_run(outcome.run_id)
    assert run.data.metrics["default.model.roc_auc"] == outcome.evaluation.default.model["roc_auc"]
    assert "days_late.baselines.linear.mae" in run.data.metrics
    assert run.data.params["data_rows"].isdigit()
    assert len(run.data.params["data_hash"]) == 16
    assert run.data.tags["as_of"] == outcome.evaluation.as_of
    assert run.data.tags["code_version"]
    top = {a.path for a in client.list_artifacts(outcome.run_id)}
    assert {"feature_spec.json", "data_fingerprint.json", "evaluation.json", "plots"} <= top
    assert {"bundle"} <= top
    plots = {Path(a.path).name for a in client.list_artifacts(outcome.run_id, "plots")}
    assert plots == set(PLOT_FILES.values())

    version = client.get_model_version_by_alias(settings.mlflow_model_name, "challenger")
    assert str(version.version) == outcome.version and version.run_id == outcome.run_id
    assert version.tags["as_of"] == outcome.evaluation.as_of


def test_logged_model_loads_and_predicts(trained: tuple[Settings, TrainOutcome]) -> None:
    import mlflow

    settings, _outcome = trained
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{settings.mlflow_model_name}@challenger")
    assert [c.name for c in model.metadata.get_input_schema().inputs] == FEATURE_COLUMNS
    rows = pd.concat([model.input_example] * 2, ignore_index=True)
    out = model.predict(rows)
    assert list(out.columns) == [
        "p_default",
        "days_late",
        "days_late_p10",
        "days_late_p50",
        "days_late_p90",
    ]
    assert len(out) == 2 and out["p_default"].between(0, 1).all()


def test_evaluate_reads_the_run_and_cli_prints_json(
    trained: tuple[Settings, TrainOutcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, outcome = trained
    ev = evaluate(settings)
    assert ev.model_version == outcome.version and ev.alias == "challenger"

    monkeypatch.setenv("DUECAST_HOME", str(settings.home))
    monkeypatch.setenv("DUECAST_MODELS_DIR", str(settings.models_dir))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["evaluate", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert set(printed) >= {"default", "days_late", "test_period", "rows"}
    assert set(printed["default"]) == {"model", "baselines"}
    assert set(printed["default"]["baselines"]) == {"history", "logistic"}
    assert set(printed["default"]["model"]) >= METRIC_KEYS
    assert set(printed["days_late"]["model"]) >= DAYS_KEYS
    assert set(printed["days_late"]["baselines"]) == {"history", "linear"}
    assert printed["default"]["model"] == outcome.evaluation.default.model

    table = CliRunner().invoke(app, ["evaluate"])
    assert table.exit_code == 0 and "roc_auc" in table.stdout


def test_evaluate_without_any_run_says_to_train(settings: Settings) -> None:
    result = CliRunner().invoke(app, ["evaluate"])
    assert result.exit_code == 1
    assert "duecast train" in result.stderr


def _as_of(outcome: TrainOutcome):
    import datetime as dt

    return dt.date.fromisoformat(outcome.evaluation.as_of)
