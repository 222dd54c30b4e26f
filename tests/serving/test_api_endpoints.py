"""Every endpoint through the app (TestClient), on a real store and a real trained bundle."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from features.build import build_open_invoice_rows
from features.spec import FEATURE_COLUMNS
from serving.app import create_app
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for
from training.bundle import load_bundle, save_bundle


@pytest.fixture(scope="module")
def client(
    api_template: ApiTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """One app for the tests that write nothing (bad input is refused before any write)."""
    settings = settings_for(api_template, tmp_path_factory.mktemp("endpoints"))
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def fresh_client(api_template: ApiTemplate, tmp_path: Path) -> Iterator[TestClient]:
    """An app on its own copy of the store, for tests that write."""
    with TestClient(create_app(settings_for(api_template, tmp_path))) as c:
        yield c


def _h(api_template: ApiTemplate, role: str = "admin") -> dict[str, str]:
    return {"X-API-Key": api_template.keys[role]}


def _customers(client: TestClient, keys: dict[str, str]) -> list[dict]:
    return client.get("/v1/worklist", params={"limit": 1000}, headers=keys).json()["data"]


def _no_raw_feature_names(texts: list[str]) -> None:
    for text in texts:
        assert not any(re.search(rf"\b{name}\b", text) for name in FEATURE_COLUMNS), text


# ---------------------------------------------------------------- operations


def test_one_row_predictors_are_made_at_load_not_on_the_first_order(
    fresh_client: TestClient,
) -> None:
    bundle = fresh_client.app.state.runtime.state.bundle  # type: ignore[attr-defined]
    assert bundle._row_predictors is not None


def test_healthz_readyz_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["model_version"] == "1"
    client.get("/healthz")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert 'duecast_http_requests_total{method="GET",route="/healthz",status="200"}' in (
        metrics.text
    )


def test_without_a_model_the_app_runs_but_is_not_ready(
    api_template: ApiTemplate, tmp_path: Path
) -> None:
    settings = settings_for(api_template, tmp_path)
    settings = settings.model_copy(update={"models_dir": tmp_path / "empty"})
    with TestClient(create_app(settings)) as c:
        assert c.get("/healthz").status_code == 200
        ready = c.get("/readyz")
        assert ready.status_code == 503
        assert "duecast train" in ready.json()["detail"]
        order = c.post(
            "/v1/orders/decision",
            json={"customer_id": "C00001", "amount": 10.0},
            headers=_h(api_template),
        )
        assert order.status_code == 503
        assert "duecast promote" in order.json()["detail"]


def test_openapi_has_an_example_for_every_request_and_response(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for name in (
        "OrderDecisionRequest",
        "OrderDecisionOut",
        "CustomerOut",
        "InvoiceScoreOut",
        "WorklistItemOut",
        "ActionRequest",
        "ActionOut",
        "InvoiceEventRequest",
        "PaymentEventRequest",
        "EventOut",
        "ModelOut",
        "ReadyOut",
    ):
        assert schemas[name].get("examples"), name


def test_model(client: TestClient, api_template: ApiTemplate) -> None:
    body = client.get("/v1/model", headers=_h(api_template, "scorer")).json()
    assert body["model_version"] == "1"
    assert body["default_model"] is True
    assert body["serving_as_of"] == AS_OF.isoformat()
    assert body["metrics"]["default"]["model"]["roc_auc"] == 0.8
    assert body["customers"] > 0
    # What answers each question: the template bundle serves LightGBM for both.
    assert body["served"] == {"risk": "lightgbm", "days_late": "lightgbm"}


def test_reload_swaps_to_a_newly_promoted_champion(
    api_template: ApiTemplate, tmp_path: Path
) -> None:
    settings = settings_for(api_template, tmp_path, copy_models=True)
    with TestClient(create_app(settings)) as c:
        keys = _h(api_template)
        assert c.get("/v1/model", headers=keys).json()["model_version"] == "1"
        champion = settings.models_dir / "champion"
        save_bundle(dataclasses.replace(load_bundle(champion), model_version="2"), champion)
        reloaded = c.post("/v1/admin/reload", headers=keys)
        assert reloaded.status_code == 200
        assert reloaded.json()["model_version"] == "2"
        assert c.get("/v1/model", headers=keys).json()["model_version"] == "2"
        order = c.post(
            "/v1/orders/decision", json={"customer_id": "C00001", "amount": 100.0}, headers=keys
        )
        assert order.json()["model_version"] == "2"


# ---------------------------------------------------------------- decisions


def test_order_decision(client: TestClient, api_template: ApiTemplate) -> None:
    response = client.post(
        "/v1/orders/decision",
        json={"customer_id": "C00001", "amount": 2500.0, "currency": "EUR"},
        headers=_h(api_template, "scorer"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["decision"] in {"approve", "review", "decline"}
    assert body["risk_grade"] in {"A", "B", "C", "D", "E"}
    assert 0.0 <= body["p_default"] <= 1.0
    assert body["suggested_credit_limit"] > 0
    assert body["model_version"] == "1" and body["as_of"] == AS_OF.isoformat()
    customer = client.get("/v1/customers/C00001", headers=_h(api_template, "scorer")).json()
    # Exposure is real-time: the open amount plus today's events and reserved approvals.
    assert body["exposure"]["open_amount"] == pytest.approx(customer["open_amount"])
    assert body["exposure_after_order"] == pytest.approx(body["exposure"]["total"] + 2500.0)
    sources = {r["source"] for r in body["reasons"]}
    assert sources == {"policy", "model"}
    _no_raw_feature_names([r["text"] for r in body["reasons"]])


def test_a_huge_order_is_declined(client: TestClient, api_template: ApiTemplate) -> None:
    body = client.post(
        "/v1/orders/decision",
        json={"customer_id": "C00001", "amount": 50_000_000.0},
        headers=_h(api_template, "scorer"),
    ).json()
    assert body["decision"] == "decline"
    assert any("limit" in r["text"] for r in body["reasons"] if r["source"] == "policy")


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"customer_id": "nobody", "amount": 10.0}, 404, "unknown customer"),
        ({"customer_id": "C00001", "amount": -5.0}, 422, "greater than or equal to 0.01"),
        ({"customer_id": "C00001", "amount": 0}, 422, "greater than or equal to 0.01"),
        ({"customer_id": "C00001", "amount": 1e300}, 422, "less than or equal"),
        ({"customer_id": "C00001", "amount": 1.0, "order_date": "1900-01-01"}, 404, "unknown"),
        ({"customer_id": "x" * 65, "amount": 1.0}, 422, "at most 64"),
        ({"customer_id": "C00001", "amount": "lots"}, 422, "number"),
        ({"customer_id": "C00001"}, 422, "amount"),
        ({"customer_id": "", "amount": 1.0}, 422, "customer_id"),
        (
            {"customer_id": "C00001", "amount": 1.0, "currency": "JPY"},
            422,
            "no exchange rate for JPY",
        ),
        ({"customer_id": "C00001", "amount": 1.0, "order_date": "soon"}, 422, "date"),
        ({"customer_id": "C00001", "amount": 1.0, "extra": 1}, 422, "extra"),
    ],
)
def test_bad_orders_get_a_4xx_that_says_why(
    client: TestClient, api_template: ApiTemplate, payload: dict, status: int, fragment: str
) -> None:
    response = client.post("/v1/orders/decision", json=payload, headers=_h(api_template))
    assert response.status_code == status
    assert fragment.lower() in response.text.lower()


def test_malformed_json_is_a_422_not_a_500(client: TestClient, api_template: ApiTemplate) -> None:
    response = client.post(
        "/v1/orders/decision",
        content=b"{not json",
        headers={**_h(api_template), "Content-Type": "application/json"},
    )
    assert response.status_code == 422


def test_order_on_another_day_is_decided_from_that_days_history(
    client: TestClient, api_template: ApiTemplate
) -> None:
    earlier = (AS_OF - dt.timedelta(days=60)).isoformat()
    response = client.post(
        "/v1/orders/decision",
        json={"customer_id": "C00001", "amount": 900.0, "order_date": earlier},
        headers=_h(api_template),
    )
    assert response.status_code == 200, response.text
    assert response.json()["as_of"] == earlier


def test_customer(client: TestClient, api_template: ApiTemplate) -> None:
    body = client.get("/v1/customers/C00002", headers=_h(api_template, "scorer")).json()
    assert body["customer_id"] == "C00002"
    assert body["risk_grade"] in {"A", "B", "C", "D", "E"}
    assert body["credit_limit"]["suggested"] > 0 and body["credit_limit"]["rationale"]
    assert body["open_amount"] >= body["overdue_amount"] >= 0
    # The facts behind the customer's grade (policy) first, then the model's reasons.
    sources = [r["source"] for r in body["reasons"]]
    assert sources[0] == "policy" and "model" in sources
    assert sources == sorted(sources, key=("policy", "model").index)
    _no_raw_feature_names([r["text"] for r in body["reasons"]])
    assert isinstance(body["recent_actions"], list)
    missing = client.get("/v1/customers/nobody", headers=_h(api_template))
    assert missing.status_code == 404 and "unknown customer" in missing.json()["detail"]


def test_invoices_score(client: TestClient, api_template: ApiTemplate) -> None:
    item = _customers(client, _h(api_template))[0]
    known = item["next_action_invoice"]
    response = client.post(
        "/v1/invoices/score",
        json={
            "invoice_ids": [known],
            "invoices": [{"customer_id": "C00003", "amount": 1200.0, "invoice_id": "Q-1"}],
        },
        headers=_h(api_template, "scorer"),
    )
    assert response.status_code == 200, response.text
    old, new = response.json()["data"]
    assert old["invoice_id"] == known and old["known"] is True
    assert new["invoice_id"] == "Q-1" and new["known"] is False
    for scored in (old, new):
        days = scored["days_late"]
        assert days["p10"] <= days["p50"] <= days["p90"]
        assert scored["payment_date_p10"] <= scored["predicted_payment_date"]
        assert scored["predicted_payment_date"] <= scored["payment_date_p90"]
        assert scored["expected_loss"] == pytest.approx(
            scored["open_amount"] * scored["p_default"], abs=0.01
        )
        assert scored["reasons"]
    assert new["due_date"] > AS_OF.isoformat()


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"invoice_ids": ["INV-NOPE"]}, 404),
        ({}, 422),
        ({"invoices": [{"customer_id": "C00001", "amount": -1}]}, 422),
        ({"invoices": [{"customer_id": "nobody", "amount": 1}]}, 404),
    ],
)
def test_bad_invoice_scores(
    client: TestClient, api_template: ApiTemplate, payload: dict, status: int
) -> None:
    response = client.post("/v1/invoices/score", json=payload, headers=_h(api_template))
    assert response.status_code == status, response.text


# ---------------------------------------------------------------- collections


def test_worklist_is_ranked_by_priority(client: TestClient, api_template: ApiTemplate) -> None:
    body = client.get("/v1/worklist", headers=_h(api_template, "collector")).json()
    items = body["data"]
    assert items and body["capacity"] > 0 and body["count"] == len(items) == body["today"]
    # Issue 10: the day's list is filled per step and ordered by expected recovery, the
    # automated reminders last (tests/serving/test_worklist_capacity.py), not by priority.
    manual = [it for it in items if not it["automated"]]
    assert items == manual + [it for it in items if it["automated"]]
    recovery = [it["expected_recovery"] for it in manual]
    assert recovery == sorted(recovery, reverse=True)
    assert [it["rank"] for it in items] == list(range(1, len(items) + 1))
    assert {it["next_action"] for it in items} <= {
        "reminder",
        "call",
        "escalate",
        "dispute_resolution",
    }
    page = client.get(
        "/v1/worklist", params={"limit": 2, "offset": 1}, headers=_h(api_template)
    ).json()
    assert [it["customer_id"] for it in page["data"]] == [it["customer_id"] for it in items[1:3]]
    grade = items[0]["risk_grade"]
    graded = client.get("/v1/worklist", params={"grade": grade}, headers=_h(api_template)).json()
    assert graded["data"] and {it["risk_grade"] for it in graded["data"]} == {grade}
    assert (
        client.get("/v1/worklist", params={"limit": 0}, headers=_h(api_template)).status_code == 422
    )


def test_action_is_stored_once_per_idempotency_key_and_shown(
    fresh_client: TestClient, api_template: ApiTemplate
) -> None:
    client = fresh_client
    keys = _h(api_template, "collector")
    open_rows = build_open_invoice_rows(api_template.ledger, as_of=AS_OF)
    disputed = set(open_rows.loc[open_rows["invoice_disputed"] == 1, "customer_id"])
    # A customer with an open disputed invoice stays on the list for dispute resolution.
    customer = next(
        it["customer_id"] for it in _customers(client, keys) if it["customer_id"] not in disputed
    )
    promise = {
        "customer_id": customer,
        "kind": "promise",
        "promised_date": (AS_OF + dt.timedelta(days=5)).isoformat(),
        # Issue 10: a promise pauses only what its amount covers; none = the whole balance.
        "author": "chloe",
        "text": "will pay next week",
    }
    first = client.post("/v1/actions", json=promise, headers={**keys, "Idempotency-Key": "k1"})
    assert first.status_code == 201, first.text
    again = client.post("/v1/actions", json=promise, headers={**keys, "Idempotency-Key": "k1"})
    assert again.status_code == 200
    assert again.json()["action_id"] == first.json()["action_id"]
    other = client.post(
        "/v1/actions",
        json={**promise, "text": "something else"},
        headers={**keys, "Idempotency-Key": "k1"},
    )
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["detail"]
    # The promise pauses dunning: the customer leaves today's list and waits.
    today = [it["customer_id"] for it in _customers(client, keys)]
    assert customer not in today
    waiting = client.get(
        "/v1/worklist", params={"include_waiting": True, "limit": 1000}, headers=keys
    ).json()["data"]
    mine = next(it for it in waiting if it["customer_id"] == customer)
    assert mine["next_action"] == "wait_for_promise"
    assert mine["last_action"]["kind"] == "promise"
    view = client.get(f"/v1/customers/{customer}", headers=keys).json()
    assert view["recent_actions"][0]["text"] == "will pay next week"
    # A scorer key (an order system) sees the action but not the collector's note.
    scorer_view = client.get(f"/v1/customers/{customer}", headers=_h(api_template, "scorer"))
    seen = scorer_view.json()["recent_actions"][0]
    assert seen["kind"] == "promise" and seen["text"] is None and seen["author"] is None
    by_chloe = client.get(
        "/v1/worklist", params={"collector": "chloe", "include_waiting": True}, headers=keys
    ).json()["data"]
    assert customer in {it["customer_id"] for it in by_chloe}


def test_logged_step_waits_for_its_follow_up_date(
    fresh_client: TestClient, api_template: ApiTemplate
) -> None:
    client = fresh_client
    keys = _h(api_template, "collector")
    open_rows = build_open_invoice_rows(api_template.ledger, as_of=AS_OF)
    disputed = set(open_rows.loc[open_rows["invoice_disputed"] == 1, "customer_id"])
    item = next(it for it in _customers(client, keys) if it["customer_id"] not in disputed)
    # Log the very step proposed today (an escalation is logged as "legal").
    kind = {"escalate": "legal"}.get(item["next_action"], item["next_action"])
    days = {"reminder": 7, "call": 5, "legal": 30}[kind]  # the default intervals
    action = {"customer_id": item["customer_id"], "kind": kind, "at": f"{AS_OF}T09:00:00Z"}
    assert client.post("/v1/actions", json=action, headers=keys).status_code == 201
    assert item["customer_id"] not in {it["customer_id"] for it in _customers(client, keys)}
    waiting = client.get(
        "/v1/worklist", params={"include_waiting": True, "limit": 1000}, headers=keys
    ).json()["data"]
    mine = next(it for it in waiting if it["customer_id"] == item["customer_id"])
    assert mine["next_action"] == "follow_up_later"
    assert f"next follow-up on {AS_OF + dt.timedelta(days=days)}" in mine["reasons"][0]
    assert mine["last_action"]["kind"] == kind


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"customer_id": "nobody", "kind": "call"}, 404),
        ({"customer_id": "C00001", "kind": "promise"}, 422),
        ({"customer_id": "C00001", "kind": "shout"}, 422),
        ({"customer_id": "C00001", "kind": "call", "invoice_id": "INV-NOPE"}, 404),
        (
            {
                "customer_id": "C00001",
                "kind": "promise",
                "promised_date": "2026-03-09",
                "promised_amount": -3,
            },
            422,
        ),
    ],
)
def test_bad_actions(
    client: TestClient, api_template: ApiTemplate, payload: dict, status: int
) -> None:
    response = client.post("/v1/actions", json=payload, headers=_h(api_template, "collector"))
    assert response.status_code == status, response.text


# ---------------------------------------------------------------- events


def test_invoice_and_payment_events_are_idempotent(
    fresh_client: TestClient, api_template: ApiTemplate
) -> None:
    client = fresh_client
    keys = _h(api_template)
    invoice = {
        "invoice_id": "INV-E1",
        "customer_id": "C00004",
        "issue_date": (AS_OF - dt.timedelta(days=10)).isoformat(),
        "due_date": (AS_OF + dt.timedelta(days=20)).isoformat(),
        "amount": 4321.0,
        "currency": "EUR",
    }
    created = client.post("/v1/events/invoices", json=invoice, headers=keys)
    assert created.status_code == 201 and created.json()["status"] == "created"
    assert created.json()["counts_from"] == (AS_OF - dt.timedelta(days=9)).isoformat()
    same = client.post("/v1/events/invoices", json=invoice, headers=keys)
    assert same.status_code == 200 and same.json()["status"] == "unchanged"
    changed = client.post("/v1/events/invoices", json={**invoice, "amount": 4000.0}, headers=keys)
    assert changed.json()["status"] == "updated"
    payment = {
        "payment_id": "PAY-E1",
        "invoice_id": "INV-E1",
        "payment_date": (AS_OF - dt.timedelta(days=2)).isoformat(),
        "amount": 1000.0,
    }
    paid = client.post("/v1/events/payments", json=payment, headers=keys)
    assert paid.status_code == 201 and paid.json()["customer_id"] == "C00004"
    assert client.post("/v1/events/payments", json=payment, headers=keys).json()["status"] == (
        "unchanged"
    )
    scored = client.post(
        "/v1/invoices/score", json={"invoice_ids": ["INV-E1"]}, headers=keys
    ).json()["data"][0]
    assert scored["amount"] == 4000.0 and scored["open_amount"] == 3000.0


@pytest.mark.parametrize(
    ("path", "payload", "status"),
    [
        (
            "/v1/events/invoices",
            {
                "invoice_id": "X",
                "customer_id": "nobody",
                "issue_date": "2026-01-01",
                "due_date": "2026-01-31",
                "amount": 5,
            },
            404,
        ),
        (
            "/v1/events/invoices",
            {
                "invoice_id": "X",
                "customer_id": "C00001",
                "issue_date": "2026-01-01",
                "due_date": "2026-01-31",
                "amount": -5,
            },
            422,
        ),
        (
            "/v1/events/invoices",
            {
                "invoice_id": "X",
                "customer_id": "C00001",
                "issue_date": "2026-02-01",
                "due_date": "2026-01-31",
                "amount": 5,
            },
            422,
        ),
        (
            "/v1/events/payments",
            {"payment_id": "P", "invoice_id": "nope", "payment_date": "2026-01-01", "amount": 5},
            404,
        ),
        (
            "/v1/events/payments",
            {"payment_id": "P", "invoice_id": "nope", "payment_date": "2026-01-01", "amount": 0},
            422,
        ),
    ],
)
def test_bad_events(
    client: TestClient, api_template: ApiTemplate, path: str, payload: dict, status: int
) -> None:
    response = client.post(path, json=payload, headers=_h(api_template))
    assert response.status_code == status, response.text


def test_payment_of_another_customers_invoice_is_refused(
    client: TestClient, api_template: ApiTemplate
) -> None:
    invoice = _customers(client, _h(api_template))[0]["next_action_invoice"]
    response = client.post(
        "/v1/events/payments",
        json={
            "payment_id": "P-X",
            "invoice_id": invoice,
            "customer_id": "C99999",
            "payment_date": "2026-02-01",
            "amount": 5,
        },
        headers=_h(api_template),
    )
    assert response.status_code == 409 and "belongs to" in response.json()["detail"]


def _settled_invoice(api_template: ApiTemplate) -> tuple[str, str]:
    """(invoice id, customer id) of an invoice paid in full before the serving date."""
    ledger = api_template.ledger
    paid = ledger.payments[ledger.payments["payment_date"] < str(AS_OF)]
    paid = paid.groupby("invoice_id")["amount"].sum()
    invoices = ledger.invoices.set_index("invoice_id")
    settled = invoices[paid.reindex(invoices.index).fillna(0) >= invoices["amount"]]
    return str(settled.index[0]), str(settled["customer_id"].iloc[0])


def test_scoring_a_settled_invoice_by_id_is_a_conflict(
    client: TestClient, api_template: ApiTemplate
) -> None:
    invoice_id, _customer = _settled_invoice(api_template)
    response = client.post(
        "/v1/invoices/score", json={"invoice_ids": [invoice_id]}, headers=_h(api_template)
    )
    assert response.status_code == 409 and "is not open" in response.json()["detail"]


def test_an_action_on_another_customers_invoice_is_a_conflict(
    client: TestClient, api_template: ApiTemplate
) -> None:
    invoice_id, owner = _settled_invoice(api_template)
    other = next(c for c in api_template.ledger.customers["customer_id"] if c != owner)
    response = client.post(
        "/v1/actions",
        json={"customer_id": other, "invoice_id": invoice_id, "kind": "note", "text": "x"},
        headers={**_h(api_template, "collector"), "Idempotency-Key": "conflict-1"},
    )
    assert response.status_code == 409 and "belongs to customer" in response.json()["detail"]


def test_orders_are_answered_from_memory_while_the_database_is_down(
    fresh_client: TestClient, api_template: ApiTemplate
) -> None:
    runtime = fresh_client.app.state.runtime  # type: ignore[attr-defined]

    def down() -> int:
        raise OSError("database unreachable")

    runtime._watcher.latest = down
    order = fresh_client.post(
        "/v1/orders/decision",
        json={"customer_id": "C00001", "amount": 10.0},
        headers=_h(api_template),
    )
    assert order.status_code == 200
