"""Promotion: a worse challenger is refused, a better one accepted, --force overrides, and
the exported champion bundle scores exactly like the registered model.

The module shares one store and one sequence of registry events:
train crippled (v1) -> promote (first champion) -> train normally (v2) -> promote
(accepted) -> point `challenger` back at v1 -> promote (refused) -> CLI promote
(refused, exit 1) -> promote --force.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from duecast.cli import app
from features.spec import CATEGORICAL_COLUMNS
from features.store import get_engine
from kernel.config import Settings, get_settings
from serving.app import create_app
from serving.auth import create_api_key
from tests.utils.training_support import generated_store, store_settings
from training.bundle import load_bundle
from training.dataset import load_training_table
from training.pipeline import PromotionOutcome, champion_dir, promote, train
from training.registry import CHALLENGER, CHAMPION, download_bundle, get_version, set_alias


@dataclass
class History:
    settings: Settings
    steps: dict[str, PromotionOutcome] = field(default_factory=dict)
    exported: dict[str, str] = field(default_factory=dict)  # step -> exported bundle version
    cli_exit: int = 0
    cli_stderr: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    settings = store_settings(tmp_path_factory.mktemp("promote"))
    generated_store(settings, customers=200, years=2.0, seed=2)
    out = History(settings)

    def step(name: str, **kw: bool) -> None:
        out.steps[name] = promote(settings, **kw)
        out.exported[name] = load_bundle(champion_dir(settings)).model_version

    # A deliberately crippled model: a single boosting round.
    assert train(settings.model_copy(update={"train_max_rounds": 1})).version == "1"
    step("first")
    assert train(settings).version == "2"
    step("better")
    set_alias(settings, CHALLENGER, "1")
    step("worse")
    out.tags = get_version(settings, CHALLENGER).tags  # type: ignore[union-attr]

    mp = pytest.MonkeyPatch()
    mp.setenv("DUECAST_HOME", str(settings.home))
    mp.setenv("DUECAST_MODELS_DIR", str(settings.models_dir))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["promote"])
    mp.undo()
    get_settings.cache_clear()
    out.cli_exit, out.cli_stderr = result.exit_code, result.stderr

    step("forced", force=True)
    return out


def test_first_model_becomes_champion_without_comparison(history: History) -> None:
    first = history.steps["first"]
    assert first.promoted and first.challenger == "1" and first.previous_champion is None
    assert history.exported["first"] == "1"


def test_better_challenger_is_accepted(history: History) -> None:
    better = history.steps["better"]
    assert better.promoted and better.challenger == "2" and better.previous_champion == "1"
    ch, cp = better.comparison["challenger"], better.comparison["champion"]
    # Not worse on either headline metric, better on one. (The crippled run serves the
    # baseline its backtest found better than its one-round trees, so on risk the two
    # may serve the same history baseline and tie.)
    assert ch["roc_auc"] >= cp["roc_auc"] and ch["mae"] <= cp["mae"]
    assert ch["roc_auc"] > cp["roc_auc"] or ch["mae"] < cp["mae"]
    assert history.exported["better"] == "2"


def test_worse_challenger_is_refused_and_champion_kept(history: History) -> None:
    worse = history.steps["worse"]
    assert not worse.promoted and worse.challenger == "1" and worse.previous_champion == "2"
    assert worse.bundle_dir is None
    text = " ".join(worse.reasons)
    assert "MAE" in text or "ROC AUC" in text
    assert history.exported["worse"] == "2", "a refused promotion must not touch the bundle"
    assert history.tags["promotion"].startswith("refused")


def test_cli_promote_refuses_with_reasons_and_exit_code(history: History) -> None:
    assert history.cli_exit == 1
    assert "refused" in history.cli_stderr and "--force" in history.cli_stderr


def test_force_promotes_anyway(history: History) -> None:
    forced = history.steps["forced"]
    assert forced.promoted and forced.challenger == "1"
    assert "forced" in forced.reasons[0]
    assert history.exported["forced"] == "1"
    assert get_version(history.settings, CHAMPION).version == "1"  # type: ignore[union-attr]


def test_exported_bundle_scores_like_the_registered_model(history: History) -> None:
    import mlflow

    settings = history.settings
    champion = get_version(settings, CHAMPION)
    exported = load_bundle(champion_dir(settings))
    logged = download_bundle(settings, champion)  # type: ignore[arg-type]
    table = load_training_table(settings)[0].head(500)
    X = exported.matrix(table)
    for name in ("p_default", "days_late", "days_late_p10", "days_late_p50", "days_late_p90"):
        np.testing.assert_array_equal(
            getattr(exported.predict(X), name), getattr(logged.predict(X), name)
        )
    # The registered MLflow model serves the bundle: calibrated probability and quantiles.
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    registered = mlflow.pyfunc.load_model(f"models:/{settings.mlflow_model_name}@{CHAMPION}")
    rows = table[exported.feature_columns].copy()
    for name in CATEGORICAL_COLUMNS:  # the model's signature takes categoricals as text
        rows[name] = rows[name].astype(object).where(rows[name].notna(), None)
    predicted = registered.predict(rows)
    expected = exported.predict(X)
    for name in ("p_default", "days_late", "days_late_p10", "days_late_p50", "days_late_p90"):
        np.testing.assert_array_equal(predicted[name].to_numpy(), getattr(expected, name))


@pytest.mark.parametrize(("alias", "version"), [(CHAMPION, "1"), ("serving-test", "2")])
def test_api_serves_the_version_holding_a_registry_alias(
    history: History, tmp_path: Path, alias: str, version: str
) -> None:
    set_alias(history.settings, "serving-test", "2")
    settings = history.settings.model_copy(
        update={
            "serve_model_alias": alias,
            "models_dir": tmp_path / "no-bundle-here",
            "serve_as_of": dt.date(2026, 1, 1),
        }
    )
    _, key = create_api_key(get_engine(settings.database_url), role="scorer", name="alias")
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").json()["model_version"] == version
        assert (
            client.get("/v1/model", headers={"X-API-Key": key}).json()["model_version"] == version
        )


def test_api_without_a_version_for_the_alias_is_not_ready_and_says_why(
    history: History, tmp_path: Path
) -> None:
    settings = history.settings.model_copy(
        update={"serve_model_alias": "nobody-has-this", "models_dir": tmp_path / "empty"}
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert "alias 'nobody-has-this'" in response.json()["detail"]
    assert "duecast promote" in response.json()["detail"]
