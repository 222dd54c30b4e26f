"""Issue-time attributes end to end: a ledger where paper billing truly pays later, trained.

The backtest, the refit and the bundle must carry the attribute features, LightGBM must
treat the category as a category and use it, and the reasons must word it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import training.backtest as backtest
from features.importing import import_directory
from features.spec import CATEGORICAL_COLUMNS
from features.store import get_engine
from kernel.config import Settings
from serving.reasons import explain, feature_values
from tests.utils.attribute_support import attribute_ledger
from tests.utils.training_support import END, store_settings
from training.bundle import Bundle, load_bundle, save_bundle
from training.dataset import load_training_table, model_feature_columns, model_inputs
from training.run_bundle import draft_bundle

ATTRIBUTES = ["attr_cat_channel", "attr_num_score"]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = store_settings(tmp_path_factory.mktemp("attributes"))
    folder = settings.home / "ledger"
    attribute_ledger(folder, customers=120, years=2.0, seed=11, end_date=END, paper_delay_days=25)
    import_directory(get_engine(settings.database_url), folder, mapping=folder / "mapping.toml")
    return settings


@pytest.fixture(scope="module")
def trained(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[pd.DataFrame, Bundle]:
    table, as_of, _ = load_training_table(settings, include_open=settings.train_hazard)
    result = backtest.run_backtest(table, as_of=as_of, settings=settings)
    bundle = draft_bundle(result, settings=settings, trained_at="2026-01-01T00:00:00+00:00")
    folder = save_bundle(bundle, tmp_path_factory.mktemp("bundle") / "champion")
    return table, load_bundle(folder)


def test_model_inputs_add_the_table_attributes(settings: Settings) -> None:
    table = load_training_table(settings)[0]
    names, categories = model_inputs(table)
    assert names == [*model_feature_columns(), *ATTRIBUTES]
    assert sorted(categories["attr_cat_channel"]) == ["email", "paper", "portal"]
    assert "attr_num_score" not in categories
    assert set(CATEGORICAL_COLUMNS) <= set(categories)


def test_the_trained_models_use_the_attribute(trained: tuple[pd.DataFrame, Bundle]) -> None:
    table, bundle = trained
    assert bundle.feature_columns[-2:] == ATTRIBUTES
    assert sorted(bundle.categories["attr_cat_channel"]) == ["email", "paper", "portal"]
    # Both served models split on the channel (whichever kind of model was chosen).
    assert bundle.timing is not None
    channel = bundle.feature_columns.index("attr_cat_channel")
    X = bundle.matrix(table.iloc[:500])
    assert np.abs(bundle.timing.contributions(X)[:, channel]).mean() > 0.05
    assert np.abs(bundle.contributions(X)[:, channel]).mean() > 0.05
    # Paper invoices are predicted later than the same invoices billed by e-mail.
    rows = table[table["snapshot_date"] == table["issue_date"]].iloc[:300].copy()
    paper, email = rows.copy(), rows.copy()
    paper["attr_cat_channel"] = pd.Categorical(["paper"] * len(rows))
    email["attr_cat_channel"] = pd.Categorical(["email"] * len(rows))
    later = (
        bundle.predict(bundle.matrix(paper)).days_late
        - bundle.predict(bundle.matrix(email)).days_late
    )
    assert later.mean() > 10


def test_reasons_word_the_attribute(trained: tuple[pd.DataFrame, Bundle]) -> None:
    table, bundle = trained
    rows = table[table["attr_cat_channel"] == "paper"].iloc[:200]
    X = bundle.matrix(rows)
    contributions = bundle.contributions(X)
    texts = [
        r.text
        for k in range(len(rows))
        for r in explain(
            contributions[k],
            feature_values(bundle, X[k]),
            feature_columns=bundle.feature_columns,
            top=3,
        )
    ]
    assert "its channel is 'paper'" in texts


def test_bundle_records_the_attribute_specs(trained: tuple[pd.DataFrame, Bundle]) -> None:
    import json

    _, bundle = trained
    assert dt.date.fromisoformat(bundle.as_of)
    folder = Path(bundle_dir(bundle))
    spec = json.loads((folder / "metadata.json").read_text())["feature_spec"]
    by_name = {r["name"]: r for r in spec}
    assert by_name["attr_cat_channel"]["dtype"] == "category"
    assert by_name["attr_num_score"]["level"] == "invoice"


def bundle_dir(bundle: Bundle) -> Path:
    """Save `bundle` again to read its readable metadata."""
    import tempfile

    return save_bundle(bundle, Path(tempfile.mkdtemp()) / "b")
