"""No skew: what the API serves equals the feature module's output for the same customer
and date, before and after events arrive, and on every worker."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from features.build import build_new_invoice_rows, build_open_invoice_rows, customer_state
from features.ledger import load_ledger
from features.online import state_records
from features.store import get_engine
from serving.app import create_app
from serving.decisions.worklist import rank_worklist
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for
from training.bundle import load_bundle, save_bundle

CUSTOMER = "C00007"


@pytest.fixture
def clients(api_template: ApiTemplate, tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps on one store: two workers of `duecast serve`."""
    settings = settings_for(api_template, tmp_path)
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        yield a, b


def _keys(api_template: ApiTemplate) -> dict[str, str]:
    return {"X-API-Key": api_template.keys["admin"]}


def _expected_order(client: TestClient, amount: float, customer: str) -> tuple[float, float]:
    """(p_default, expected days late) of an order through the frame path, from the store."""
    settings = client.app.state.settings  # type: ignore[attr-defined]
    ledger = load_ledger(get_engine(settings.database_url))
    rows = build_new_invoice_rows(
        ledger, orders=pd.DataFrame({"customer_id": [customer], "amount": [amount]}), as_of=AS_OF
    )
    bundle = load_bundle(settings.models_dir / "champion")
    scores = bundle.predict(bundle.matrix(rows))
    return float(scores.p_default[0]), float(scores.days_late[0])


def _served_order(
    client: TestClient, keys: dict[str, str], amount: float, customer: str
) -> tuple[float, float]:
    body = client.post(
        "/v1/orders/decision", json={"customer_id": customer, "amount": amount}, headers=keys
    ).json()
    return body["p_default"], body["expected_days_late"]


def _assert_state_matches_store(client: TestClient) -> None:
    settings = client.app.state.settings  # type: ignore[attr-defined]
    ledger = load_ledger(get_engine(settings.database_url))
    expected = state_records(customer_state(ledger, as_of=AS_OF))
    served = client.app.state.runtime.state  # type: ignore[attr-defined]
    assert set(served.entries) == set(expected)
    for cid, record in expected.items():
        assert served.entries[cid].features == record, cid
    open_rows = build_open_invoice_rows(ledger, as_of=AS_OF)
    bundle = served.bundle
    X = bundle.matrix(open_rows)
    by_id = {
        inv.invoice_id: (cid, k)
        for cid, e in served.entries.items()
        for k, inv in enumerate(e.invoices)
    }
    assert set(by_id) == set(open_rows["invoice_id"])
    for j, invoice_id in enumerate(open_rows["invoice_id"]):
        cid, k = by_id[invoice_id]
        np.testing.assert_array_equal(served.entries[cid].invoice_x[k], X[j])


def test_served_features_equal_the_feature_module_before_and_after_events(
    clients: tuple[TestClient, TestClient], api_template: ApiTemplate
) -> None:
    a, b = clients
    keys = _keys(api_template)
    entries = a.app.state.runtime.state.entries  # type: ignore[attr-defined]
    customer = next(cid for cid in sorted(entries) if entries[cid].invoices)
    _assert_state_matches_store(a)
    _assert_ranking_matches(a, api_template)  # also caches the ranking, moved per event below
    before = _served_order(a, keys, 3000.0, customer)
    assert before == pytest.approx(_expected_order(a, 3000.0, customer), rel=0, abs=0)

    # Events through worker A: a new invoice issued last week and a payment of an open one.
    issue = AS_OF - dt.timedelta(days=7)
    invoice = {
        "invoice_id": "INV-SKEW-1",
        "customer_id": customer,
        "issue_date": issue.isoformat(),
        "due_date": (issue + dt.timedelta(days=1)).isoformat(),
        "amount": 25_000.0,
    }
    assert a.post("/v1/events/invoices", json=invoice, headers=keys).status_code == 201
    open_ids = [
        inv.invoice_id
        for inv in a.app.state.runtime.state.entries[customer].invoices  # type: ignore[attr-defined]
    ]
    paid = next(i for i in open_ids if i != "INV-SKEW-1")
    payment = {
        "payment_id": "PAY-SKEW-1",
        "invoice_id": paid,
        "payment_date": (AS_OF - dt.timedelta(days=1)).isoformat(),
        "amount": 1.0,
    }
    assert a.post("/v1/events/payments", json=payment, headers=keys).status_code == 201

    after = _served_order(a, keys, 3000.0, customer)
    assert after != before  # 25,000 more owed, partly overdue: the score moved
    assert after == pytest.approx(_expected_order(a, 3000.0, customer), rel=0, abs=0)
    # Worker B never saw the request, only the change log.
    assert _served_order(b, keys, 3000.0, customer) == after
    _assert_state_matches_store(a)
    _assert_state_matches_store(b)
    _assert_ranking_matches(a, api_template)
    _assert_ranking_matches(b, api_template)


def test_an_action_logged_on_one_worker_shows_on_the_other(
    clients: tuple[TestClient, TestClient], api_template: ApiTemplate
) -> None:
    a, b = clients
    keys = _keys(api_template)
    action = {"customer_id": CUSTOMER, "kind": "note", "text": "left a voicemail"}
    assert a.post("/v1/actions", json=action, headers=keys).status_code == 201
    view = b.get(f"/v1/customers/{CUSTOMER}", headers=keys).json()
    assert view["recent_actions"][0]["text"] == "left a voicemail"


def test_reload_on_one_worker_reaches_the_other(api_template: ApiTemplate, tmp_path: Path) -> None:
    settings = settings_for(api_template, tmp_path, copy_models=True)
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        keys = _keys(api_template)
        champion = settings.models_dir / "champion"
        save_bundle(dataclasses.replace(load_bundle(champion), model_version="7"), champion)
        assert a.post("/v1/admin/reload", headers=keys).json()["model_version"] == "7"
        b.get("/v1/model", headers=keys)  # sees the change log, rebuilds in the background
        runtime = b.app.state.runtime  # type: ignore[attr-defined]
        for _ in range(200):
            if runtime.state.bundle.model_version == "7":
                break
            b.get("/healthz")  # lets the event loop run the rebuild
            time.sleep(0.05)
        assert b.get("/v1/model", headers=keys).json()["model_version"] == "7"


def _assert_ranking_matches(a: TestClient, api_template: ApiTemplate) -> None:
    state = a.app.state.runtime.state  # type: ignore[attr-defined]
    invoices = [inv for e in state.entries.values() for inv in e.invoices]
    actions = [act for e in state.entries.values() for act in e.actions]
    grades = {cid: e.grade.grade for cid, e in state.entries.items()}
    expected = rank_worklist(
        invoices,
        as_of=AS_OF,
        policy=state.policy,
        actions=actions,
        grades=grades,
    )
    served = a.get("/v1/worklist", params={"limit": 1000}, headers=_keys(api_template)).json()[
        "data"
    ]
    assert [it["customer_id"] for it in served] == [
        it.customer_id for it in (*expected.items, *expected.overflow)
    ]


def test_worklist_ranking_equals_rank_worklist_over_everything(
    clients: tuple[TestClient, TestClient], api_template: ApiTemplate
) -> None:
    a, _ = clients
    _assert_ranking_matches(a, api_template)
