"""`duecast train --tune`: a budgeted search before the backtest, each trial an MLflow child run."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from duecast.cli import app
from kernel.config import get_settings
from tests.utils.training_support import generated_store, store_settings


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--tune"], "--tune needs a budget"),
        (["train", "--trials", "3"], "add --tune"),
    ],
)
def test_tune_budget_is_checked_before_anything_runs(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


def test_tuned_training_logs_each_trial_as_a_child_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    settings = store_settings(
        tmp_path / "home", train_max_rounds=40, train_hazard=False, backtest_resamples=200
    )
    generated_store(settings, customers=80, years=2.0, seed=5)
    monkeypatch.setenv("DUECAST_HOME", str(settings.home))
    monkeypatch.setenv("DUECAST_MODELS_DIR", str(settings.models_dir))
    monkeypatch.setenv("DUECAST_TRAIN_MAX_ROUNDS", "40")
    monkeypatch.setenv("DUECAST_TRAIN_HAZARD", "false")
    monkeypatch.setenv("DUECAST_BACKTEST_RESAMPLES", "200")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["train", "--tune", "--trials", "3"])
    assert result.exit_code == 0, result.output
    client = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    version = client.get_model_version_by_alias(settings.mlflow_model_name, "challenger")
    parent = client.get_run(version.run_id)
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert len(children) == 3
    assert all("value" in c.data.metrics for c in children)
    # The tuned parameters are recorded on the parent run.
    assert any(key.startswith("tuned") for key in parent.data.params)
