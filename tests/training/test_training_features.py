"""Leaving features out of the models (`DUECAST_TRAIN_EXCLUDE_FEATURES`): the choice is
checked, and a model trained without them is promoted and served on its own columns."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from features.spec import FEATURE_COLUMNS
from features.store import get_engine
from kernel.config import Settings
from kernel.errors import ConfigurationError
from serving.app import create_app
from serving.auth import create_api_key
from tests.utils.training_support import END, generated_store, store_settings
from training.bundle import load_bundle
from training.dataset import model_feature_columns
from training.pipeline import champion_dir, promote, train

LEFT_OUT = ["customer_credit_limit", "exposure_credit_utilisation"]


def test_excluded_features_come_from_a_comma_separated_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "DUECAST_TRAIN_EXCLUDE_FEATURES", " customer_credit_limit, , exposure_credit_utilisation"
    )
    assert Settings().train_exclude_features == LEFT_OUT
    names = model_feature_columns(Settings().train_exclude_features)
    assert names == [c for c in FEATURE_COLUMNS if c not in LEFT_OUT]


def test_unknown_or_baseline_features_cannot_be_left_out() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown features \['credit_limit'\]"):
        model_feature_columns(["credit_limit"])
    with pytest.raises(ConfigurationError, match="history baseline"):
        model_feature_columns(["history_share_late"])
    assert model_feature_columns() == list(FEATURE_COLUMNS)


def test_model_without_credit_limit_features_trains_promotes_and_serves(tmp_path: Path) -> None:
    settings = store_settings(tmp_path / "home", train_exclude_features=LEFT_OUT)
    generated_store(settings, customers=120, years=2.0, seed=5)
    outcome = train(settings)
    assert outcome.evaluation.days_late.model["mae"] is not None
    assert promote(settings).promoted

    bundle = load_bundle(champion_dir(settings))
    assert bundle.feature_columns == model_feature_columns(LEFT_OUT)
    # Whatever is served (a baseline may be), its LightGBM models saw exactly these columns.
    boosters = [bundle.default_model, *bundle.days_late_models.values()]
    for booster in (b for b in boosters if b is not None):
        assert booster.feature_name() == bundle.feature_columns
    assert "lightgbm" in outcome.evaluation.extra["candidates"]["days_late"]

    served = settings.model_copy(update={"serve_as_of": END + dt.timedelta(days=1)})
    _, key = create_api_key(get_engine(served.database_url), role="scorer", name="t")
    with TestClient(create_app(served)) as client:
        headers = {"X-API-Key": key}
        answer = client.post(
            "/v1/orders/decision", headers=headers, json={"customer_id": "C00001", "amount": 900}
        )
        assert answer.status_code == 200, answer.text
        reasons = [r.get("feature") for r in answer.json()["reasons"]]
        assert not set(reasons) & set(LEFT_OUT)
        view = client.get("/v1/customers/C00001", headers=headers)
        assert view.status_code == 200, view.text
