"""Issue-time attributes through the API: scored by name, checked against the served bundle."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

from features.build import build_training_table
from features.importing import import_directory
from features.ledger import load_ledger
from features.spec import FEATURE_SET_VERSION
from features.spec_attributes import categorical_indices
from features.store import dispose_engines, get_engine
from kernel.config import Settings
from serving.app import create_app
from serving.auth import create_api_key
from serving.reasons import feature_values
from serving.state import ServingState
from serving.usecases.orders import decide_order
from tests.utils.api_support import ApiTemplate, settings_for
from tests.utils.attribute_support import attribute_ledger
from training.bundle import Bundle, ScoreCalibrator, feature_matrix, load_bundle, save_bundle
from training.dataset import model_inputs

LAST_DAY = dt.date(2025, 12, 31)
AS_OF = LAST_DAY + dt.timedelta(days=1)


def _booster(X: np.ndarray, y: np.ndarray, params: dict, categorical: list[int]) -> lgb.Booster:
    data = lgb.Dataset(X, y, categorical_feature=categorical, free_raw_data=False)
    base = {"verbose": -1, "seed": 0, "num_threads": 1, "min_data_in_leaf": 10, "num_leaves": 15}
    return lgb.train({**base, **params}, data, num_boost_round=40)


def _tiny_bundle(table: pd.DataFrame) -> Bundle:
    """Real LightGBM models on the table's features and attributes (tiny: tests only)."""
    names, categories = model_inputs(table)
    X = feature_matrix(table, names, categories)
    categorical = categorical_indices(names)
    days = table["days_late"].to_numpy(dtype="float64")
    models = {"mean": _booster(X, days, {"objective": "regression"}, categorical)}
    for key, alpha in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9)):
        models[key] = _booster(X, days, {"objective": "quantile", "alpha": alpha}, categorical)
    y = table["very_late"].to_numpy(dtype="int64")
    default_model = _booster(X, y, {"objective": "binary"}, categorical)
    raw = np.asarray(default_model.predict(X, raw_score=True))
    calibrator = ScoreCalibrator("sigmoid", LogisticRegression().fit(raw.reshape(-1, 1), y))
    return Bundle(
        model_version="1",
        trained_at="2026-01-01T00:00:00+00:00",
        as_of=AS_OF.isoformat(),
        feature_set_version=FEATURE_SET_VERSION,
        feature_columns=names,
        categories=categories,
        horizon_days=90,
        default_model=default_model,
        calibrator=calibrator,
        default_unavailable_reason=None,
        days_late_models=models,
        metrics={"rows": len(table)},
        thresholds={"A": 0.02, "B": 0.05, "C": 0.10, "D": 0.20},
        risk_target="very_late",
        very_late_days=30,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, str]]:
    root = tmp_path_factory.mktemp("attributes-api")
    attribute_ledger(root / "data", customers=40, years=1.5, seed=3, paper_delay_days=30)
    engine = get_engine(f"sqlite:///{root / 'store.db'}")
    import_directory(engine, root / "data", mapping=root / "data" / "mapping.toml")
    key = create_api_key(engine, role="admin", name="test")[1]
    table = build_training_table(load_ledger(engine), as_of=AS_OF)
    save_bundle(_tiny_bundle(table), root / "models" / "champion")
    dispose_engines()
    settings = Settings(
        home=root / "home",
        database_url=f"sqlite:///{root / 'store.db'}",
        models_dir=root / "models",
        serve_as_of=AS_OF,
    )
    yield settings, key


@pytest.fixture(scope="module")
def client(served: tuple[Settings, str]) -> Iterator[TestClient]:
    with TestClient(create_app(served[0])) as c:
        yield c


def _score(client: TestClient, key: str, invoice: dict) -> tuple[int, dict]:
    response = client.post(
        "/v1/invoices/score", json={"invoices": [invoice]}, headers={"X-API-Key": key}
    )
    return response.status_code, response.json()


def test_new_invoices_are_scored_with_their_attributes(
    client: TestClient, served: tuple[Settings, str]
) -> None:
    key = served[1]
    order = {"customer_id": "C00001", "amount": 1500.0}
    answers = {}
    for channel in ("paper", "email"):
        status, body = _score(client, key, {**order, "attributes": {"channel": channel}})
        assert status == 200, body
        answers[channel] = body["data"][0]
    assert answers["paper"]["days_late"]["mean"] > answers["email"]["days_late"]["mean"] + 5
    status, body = _score(client, key, {**order, "attributes": {"score": 2.5, "channel": None}})
    assert status == 200, body
    status, body = _score(client, key, order)  # no attributes: unknown, still scored
    assert status == 200, body


@pytest.mark.parametrize(
    ("attributes", "words"),
    [
        (
            {"region": "north"},
            "unknown attribute(s) 'region'; the served model knows: channel, score",
        ),
        ({"channel": 3}, "channel (category) must be a text"),
        ({"score": "high"}, "score (number) must be a number"),
        ({"Channel": "paper"}, "string_pattern_mismatch"),
        ({"channel": True}, "attributes"),
    ],
)
def test_bad_attributes_are_refused_with_the_known_ones(
    client: TestClient, served: tuple[Settings, str], attributes: dict, words: str
) -> None:
    status, body = _score(
        client, served[1], {"customer_id": "C00001", "amount": 10.0, "attributes": attributes}
    )
    assert status == 422
    assert set(body) >= {"detail", "error"}
    assert words in str(body)


def test_order_decision_takes_attributes(client: TestClient, served: tuple[Settings, str]) -> None:
    headers = {"X-API-Key": served[1]}
    body = {"customer_id": "C00001", "amount": 500.0, "attributes": {"channel": "paper"}}
    response = client.post("/v1/orders/decision", json=body, headers=headers)
    assert response.status_code == 200, response.json()
    body["attributes"] = {"region": "north"}
    response = client.post("/v1/orders/decision", json=body, headers=headers)
    assert response.status_code == 422
    assert "the served model knows: channel, score" in response.json()["detail"]


def test_stored_invoices_are_scored_with_their_stored_attributes(
    served: tuple[Settings, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = served[0]
    engine = get_engine(settings.database_url)
    state = ServingState.build(
        engine,
        bundle=load_bundle(settings.models_dir / "champion"),
        policy=settings.policy,
        as_of=AS_OF,
    )
    stored = pd.read_sql(
        "SELECT invoice_id, value_text FROM invoice_attributes WHERE name = 'channel'", engine
    ).set_index("invoice_id")["value_text"]
    seen = 0
    for entry in state.entries.values():
        for k, invoice in enumerate(entry.invoices):
            values = feature_values(state.bundle, entry.invoice_x[k])
            assert values["attr_cat_channel"] == stored[invoice.invoice_id]
            seen += 1
    assert seen > 10

    # The order hot path still builds no DataFrame with attributes.
    def no_frames(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the order hot path built a DataFrame")

    customer = next(iter(state.entries))
    monkeypatch.setattr(pd.DataFrame, "__init__", no_frames)
    decided = decide_order(
        state,
        engine,
        customer_id=customer,
        amount=100.0,
        attributes={"channel": "paper", "score": 1.0},
    )
    assert decided.decision in {"approve", "review", "decline"}


def test_a_bundle_without_attributes_refuses_them(
    api_template: ApiTemplate, tmp_path: Path
) -> None:
    with TestClient(create_app(settings_for(api_template, tmp_path))) as c:
        headers = {"X-API-Key": api_template.keys["admin"]}
        invoice = {"customer_id": "C00001", "amount": 10.0}
        ok = c.post("/v1/invoices/score", json={"invoices": [invoice]}, headers=headers)
        assert ok.status_code == 200
        empty = {**invoice, "attributes": {}}
        assert c.post("/v1/invoices/score", json={"invoices": [empty]}, headers=headers).is_success
        refused = c.post(
            "/v1/invoices/score",
            json={"invoices": [{**invoice, "attributes": {"channel": "paper"}}]},
            headers=headers,
        )
        assert refused.status_code == 422
        assert "none: it was trained without attributes" in refused.json()["detail"]


def test_a_bundle_with_attributes_serves_a_store_without_them(
    api_template: ApiTemplate, served: tuple[Settings, str], tmp_path: Path
) -> None:
    """The attribute columns are unknown (NaN) when the store holds none of them."""
    bundle = load_bundle(served[0].models_dir / "champion")
    settings = settings_for(api_template, tmp_path)
    engine = get_engine(settings.database_url)
    state = ServingState.build(engine, bundle=bundle, policy=settings.policy, as_of=AS_OF)
    entry = next(e for e in state.entries.values() if e.invoices)
    values = feature_values(bundle, entry.invoice_x[0])
    assert values["attr_cat_channel"] is None
    assert math.isnan(float(values["attr_num_score"]))  # type: ignore[arg-type]
