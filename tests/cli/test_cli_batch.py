"""`duecast score` and `duecast worklist`: the champion's batch view of the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from duecast.cli import app
from features.build import build_open_invoice_rows
from kernel.config import get_settings
from serving.loader import load_state
from serving.usecases.invoices import SCORE_COLUMNS
from serving.usecases.worklist import worklist_page
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for
from training.bundle import load_bundle

runner = CliRunner()


@pytest.fixture
def store_env(api_template: ApiTemplate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the CLI's settings at a copy of the API test store and its champion."""
    settings = settings_for(api_template, tmp_path)
    monkeypatch.setenv("DUECAST_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DUECAST_MODELS_DIR", str(settings.models_dir))
    monkeypatch.setenv("DUECAST_SERVE_AS_OF", AS_OF.isoformat())
    get_settings.cache_clear()


@pytest.mark.usefixtures("store_env")
def test_score_writes_the_feature_module_scores_of_every_open_invoice(
    api_template: ApiTemplate, tmp_path: Path
) -> None:
    out = tmp_path / "scores.parquet"
    result = runner.invoke(app, ["score", "--out", str(out)])
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(out)
    assert list(scores.columns) == SCORE_COLUMNS

    # Independently: the feature module's open-invoice rows through the same bundle.
    bundle = load_bundle(api_template.models_dir / "champion")
    rows = build_open_invoice_rows(api_template.ledger, as_of=AS_OF)
    expected = bundle.predict(bundle.matrix(rows))
    # Given that each is unpaid today: past due + H a default, days late >= days overdue.
    overdue = (pd.Timestamp(AS_OF) - rows["due_date"]).dt.days.to_numpy(dtype="float64")
    p_default = np.where(overdue > bundle.horizon_days, 1.0, expected.p_default)
    p50 = np.maximum(expected.days_late_p50, overdue)
    assert scores["invoice_id"].tolist() == rows["invoice_id"].tolist()
    np.testing.assert_allclose(scores["p_default"], p_default, rtol=1e-9)
    np.testing.assert_allclose(scores["days_late_p50"], p50, rtol=1e-9)
    np.testing.assert_allclose(scores["expected_loss"], (rows["open_amount"] * p_default).round(2))
    assert (scores["days_late_p10"] <= scores["days_late_p90"] + 1e-9).all()


@pytest.mark.usefixtures("store_env")
def test_worklist_prints_the_top_customers_in_priority_order() -> None:
    result = runner.invoke(app, ["worklist", "--top", "3"], terminal_width=200)
    assert result.exit_code == 0, result.output
    page = worklist_page(load_state(get_settings()), limit=3)
    assert page.count >= 2
    positions = [result.output.index(item.customer_id) for item in page.data]
    assert positions == sorted(positions)
    assert f"Worklist {AS_OF}" in result.output


def test_score_without_a_champion_says_how_to_get_one(tmp_path: Path) -> None:
    result = runner.invoke(app, ["score", "--out", str(tmp_path / "s.parquet")])
    assert result.exit_code == 1
    assert "duecast promote" in result.output
    assert not (tmp_path / "s.parquet").exists()


@pytest.mark.usefixtures("store_env")
def test_score_loads_the_model_the_api_serves_the_registry_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With DUECAST_SERVE_MODEL_ALIAS set, the CLI serves that registry version, as the API
    does, not the exported champion: here no version holds the alias, so it says so."""
    monkeypatch.setenv("DUECAST_SERVE_MODEL_ALIAS", "canary")
    get_settings.cache_clear()
    out = tmp_path / "s.parquet"
    result = runner.invoke(app, ["score", "--out", str(out)], terminal_width=200)
    assert result.exit_code == 1, result.output
    assert "'canary'" in result.output and "DUECAST_SERVE_MODEL_ALIAS" in result.output
    assert not out.exists()
