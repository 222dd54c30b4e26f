"""Thin or one-sided history: no defaults, few customers, short history, too little data.

`duecast train` must say plainly what is missing, train what the data supports (the
days-late models need no defaults; the risk model predicts "very late" when defaults are
rare), report the untrainable block as null with its reason, and promote; nothing
crashes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from duecast.cli import app
from kernel.config import Settings, get_settings
from kernel.errors import InsufficientDataError
from tests.utils.training_support import generated_store, store_settings
from training.bundle import load_bundle
from training.dataset import load_training_table
from training.pipeline import TrainOutcome, champion_dir, evaluate, promote, train


@pytest.fixture(scope="module")
def no_defaults(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, TrainOutcome]:
    settings = store_settings(tmp_path_factory.mktemp("thin"))
    frames = generated_store(settings, customers=25, years=1.5, seed=4, default_rate=0.0)
    assert (frames["adjustments"]["kind"] != "write_off").all()
    return settings, train(settings)


def test_ledger_without_defaults_predicts_very_late_instead(
    no_defaults: tuple[Settings, TrainOutcome],
) -> None:
    settings, outcome = no_defaults
    ev = outcome.evaluation
    # No default model: the `default` block stays null, with the reason...
    assert ev.default is None
    assert "too rare" in ev.default_unavailable_reason
    assert outcome.default_unavailable_reason is None  # a risk model exists: very late
    said = " ".join(outcome.warnings)
    assert "0 defaults" in said and "DUECAST_MIN_DEFAULTS" in said
    assert "DUECAST_VERY_LATE_DAYS" in said
    # ...and the risk model predicts payment more than 30 days late, measured like one.
    assert ev.risk_target == "very_late" and ev.extra["very_late_days"] == 30
    very_late = ev.target("very_late")
    assert very_late is not None
    assert {"roc_auc", "pr_auc", "brier", "ece"} <= set(very_late.model)
    assert set(very_late.baselines) == {"history", "logistic"}
    days = ev.days_late.model
    assert days["mae"] is not None and days["interval_coverage"] is not None
    assert evaluate(settings).risk_target == "very_late"


def test_few_customers_are_reported_plainly(no_defaults: tuple[Settings, TrainOutcome]) -> None:
    warnings = " ".join(no_defaults[1].warnings)
    # 25 generated, of which those with an invoice whose outcome is known count.
    assert re.search(r"only (\d+) customers \(fewer than 30\)", warnings)


def test_ledger_without_defaults_promotes_and_serves_the_very_late_target(
    no_defaults: tuple[Settings, TrainOutcome],
) -> None:
    settings, outcome = no_defaults
    promoted = promote(settings)
    assert promoted.promoted and promoted.challenger == outcome.version
    bundle = load_bundle(champion_dir(settings))
    assert bundle.risk_target == "very_late" and bundle.very_late_days == 30
    assert bundle.has_default_model
    table = load_training_table(settings)[0].head(50)
    X = bundle.matrix(table)
    scores = bundle.predict(X)
    assert ((scores.p_default >= 0) & (scores.p_default <= 1)).all()
    assert np.isfinite(scores.days_late_p50).all()
    assert bundle.contributions(X).shape == X.shape


def test_cli_evaluate_json_has_null_default_block_and_the_very_late_one(
    no_defaults: tuple[Settings, TrainOutcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = no_defaults
    monkeypatch.setenv("DUECAST_HOME", str(settings.home))
    monkeypatch.setenv("DUECAST_MODELS_DIR", str(settings.models_dir))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["evaluate", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["default"] is None and printed["default_unavailable_reason"]
    assert printed["very_late"]["model"]["roc_auc"] is not None
    assert printed["days_late"]["model"]["mae"] is not None
    shown = CliRunner().invoke(app, ["evaluate"])
    assert shown.exit_code == 0, shown.output
    assert "very_late.roc_auc" in shown.stdout and "risk (very_late): serves" in shown.stdout


def test_too_little_history_says_what_is_missing(tmp_path: Path) -> None:
    settings = store_settings(tmp_path / "tiny")
    generated_store(settings, customers=3, years=0.5, seed=5)
    with pytest.raises(InsufficientDataError, match="import more history"):
        train(settings)


def test_empty_store_says_to_import_first(settings: Settings) -> None:
    from features.store import ensure_schema, get_engine

    ensure_schema(get_engine(settings.database_url))
    result = CliRunner().invoke(app, ["train"])
    assert result.exit_code == 1
    assert "import" in result.stderr


def test_short_history_is_reported(tmp_path: Path) -> None:
    from training.backtest import settings_plan
    from training.sufficiency import check_windows

    settings = store_settings(tmp_path / "short", min_settled_invoices=10)
    generated_store(settings, customers=40, years=0.9, seed=6)
    table, as_of, _ = load_training_table(settings)
    check, _ = check_windows(table, settings_plan(table, as_of=as_of, settings=settings), settings)
    assert any("days of invoice history" in w for w in check.warnings)
    # Under a year: the windows shrink, and the check says so.
    assert any("the history is short" in w for w in check.warnings)
