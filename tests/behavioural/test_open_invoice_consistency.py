"""Open invoices get answers the ledger does not contradict, in every answer built on them.

An open invoice past due + H on the serving date is a default by our own label rule:
P(default) = 1 and expected loss = its open amount in invoice scoring, the worklist, the
cash forecast and `duecast score` alike, with or without a default model. An open
invoice is unpaid today, so no predicted payment date (p10, p50, p90) lies before the
serving date, and the quantiles stay ordered.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.decisions.cash import cash_forecast
from serving.decisions.scores import InvoiceScores, past_horizon, past_horizon_reason
from serving.state import ServingState
from serving.usecases.invoices import open_invoice_scores
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for
from training.bundle import load_bundle, save_bundle

HORIZON = 90  # the template bundle's horizon_days
CUSTOMER = "C00003"
# Two invoices on either side of the horizon, posted through the ERP feed.
OUTSIDE = "INV-H-OUT"  # due H + 1 days before the serving date: a default
INSIDE = "INV-H-IN"  # due exactly H days before: still a model question


def _h(api_template: ApiTemplate) -> dict[str, str]:
    return {"X-API-Key": api_template.keys["admin"]}


def _post_boundary_invoices(client: TestClient, api_template: ApiTemplate) -> None:
    for invoice_id, overdue in ((OUTSIDE, HORIZON + 1), (INSIDE, HORIZON)):
        due = AS_OF - dt.timedelta(days=overdue)
        invoice = {
            "invoice_id": invoice_id,
            "customer_id": CUSTOMER,
            "issue_date": (due - dt.timedelta(days=30)).isoformat(),
            "due_date": due.isoformat(),
            "amount": 5_000.0,
        }
        posted = client.post("/v1/events/invoices", json=invoice, headers=_h(api_template))
        assert posted.status_code == 201, posted.text


def _serve(api_template: ApiTemplate, tmp: Path, *, thin: bool) -> Iterator[TestClient]:
    """An app on a copy of the template store plus the two boundary invoices; `thin`: its
    champion without a default model (a thin-history bundle)."""
    settings = settings_for(api_template, tmp, copy_models=thin)
    if thin:
        champion = settings.models_dir / "champion"
        bundle = dataclasses.replace(
            load_bundle(champion),
            default_model=None,
            calibrator=None,
            default_unavailable_reason="too few defaults to fit a default model",
        )
        save_bundle(bundle, champion)
    with TestClient(create_app(settings)) as c:
        _post_boundary_invoices(c, api_template)
        yield c


@pytest.fixture(scope="module")
def client(
    api_template: ApiTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The store served with the champion."""
    yield from _serve(api_template, tmp_path_factory.mktemp("open-consistency"), thin=False)


@pytest.fixture(scope="module")
def thin_client(
    api_template: ApiTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The store served by a bundle without a default model."""
    yield from _serve(api_template, tmp_path_factory.mktemp("open-thin"), thin=True)


def _state(client: TestClient) -> ServingState:
    return client.app.state.runtime.state  # type: ignore[attr-defined]


def _open_ids(state: ServingState) -> list[str]:
    return sorted(inv.invoice_id for e in state.entries.values() for inv in e.invoices)


def _past_h(state: ServingState) -> dict[str, tuple[str, float]]:
    """Invoice id -> (customer, open amount) of the open invoices past due + H."""
    assert state.bundle.horizon_days == HORIZON
    return {
        inv.invoice_id: (cid, inv.open_amount)
        for cid, e in state.entries.items()
        for inv in e.invoices
        if (AS_OF - inv.due_date).days > HORIZON
    }


def _scored(client: TestClient, api_template: ApiTemplate, ids: list[str]) -> dict[str, dict]:
    response = client.post(
        "/v1/invoices/score", json={"invoice_ids": ids}, headers=_h(api_template)
    )
    assert response.status_code == 200, response.text
    return {row["invoice_id"]: row for row in response.json()["data"]}


def _assert_defaults_everywhere(client: TestClient, api_template: ApiTemplate) -> None:
    state = _state(client)
    past = _past_h(state)
    assert OUTSIDE in past and INSIDE not in past
    assert len(past) > 1  # the template ledger has long-overdue invoices of its own too
    # Invoice scoring (API).
    for invoice_id, row in _scored(client, api_template, sorted(past)).items():
        assert row["p_default"] == 1.0, invoice_id
        assert row["expected_loss"] == pytest.approx(round(row["open_amount"], 2), abs=0.005)
        assert [(r["text"], r["source"]) for r in row["reasons"]] == [
            (past_horizon_reason(HORIZON), "policy")
        ]
    # `duecast score` (the frame it writes).
    frame = open_invoice_scores(state).set_index("invoice_id")
    for invoice_id, (_, amount) in past.items():
        assert frame.at[invoice_id, "p_default"] == 1.0
        assert frame.at[invoice_id, "expected_loss"] == pytest.approx(round(amount, 2))
    # The worklist: each step, and each customer's total from the same scores.
    losses = frame["expected_loss"].fillna(0.0).groupby(frame["customer_id"]).sum()
    served = client.get(
        "/v1/worklist",
        params={"limit": 1000, "include_waiting": "true"},
        headers=_h(api_template),
    ).json()["data"]
    by_customer = {it["customer_id"]: it for it in served}
    for invoice_id, (cid, amount) in past.items():
        item = state.entry(cid).item
        assert item is not None
        step = next(s for s in item.invoices if s.invoice_id == invoice_id)
        assert (step.p_default, step.expected_loss) == (1.0, pytest.approx(amount))
        # Each side rounds to cents: the frame per invoice, the worklist per customer.
        cents = 0.005 * (len(item.invoices) + 1)
        assert by_customer[cid]["expected_loss"] == pytest.approx(losses[cid], abs=cents)
    # The cash forecast: nothing past due + H is expected to come in.
    invoices = [inv for e in state.entries.values() for inv in e.invoices]
    forecast = cash_forecast(invoices, as_of=AS_OF, policy=state.policy)
    assert forecast.expected_loss == pytest.approx(losses.sum(), abs=0.01 * len(invoices))
    assert forecast.expected_loss >= sum(a for _, a in past.values()) - 0.01


def test_an_invoice_past_due_plus_h_is_a_default_in_every_answer(
    client: TestClient, api_template: ApiTemplate
) -> None:
    _assert_defaults_everywhere(client, api_template)


def test_without_a_default_model_only_the_ledger_defaults_have_a_p_default(
    thin_client: TestClient, api_template: ApiTemplate
) -> None:
    _assert_defaults_everywhere(thin_client, api_template)
    state = _state(thin_client)
    past = _past_h(state)
    rest = [i for i in _open_ids(state) if i not in past]
    for invoice_id, row in _scored(thin_client, api_template, rest).items():
        assert row["p_default"] is None and row["expected_loss"] is None, invoice_id
    item = state.entry(CUSTOMER).item
    assert item is not None
    assert any("past the default horizon count as lost" in r for r in item.reasons)


@pytest.mark.parametrize("source", ["api", "frame"])
def test_no_open_invoice_is_predicted_paid_before_the_serving_date(
    client: TestClient, api_template: ApiTemplate, source: str
) -> None:
    state = _state(client)
    ids = _open_ids(state)
    assert len(ids) > 100
    if source == "api":
        rows = _scored(client, api_template, ids)
        for invoice_id, row in rows.items():
            days = row["days_late"]
            assert days["p10"] <= days["p50"] <= days["p90"], invoice_id
            for key in ("payment_date_p10", "predicted_payment_date", "payment_date_p90"):
                assert dt.date.fromisoformat(row[key]) >= AS_OF, (invoice_id, key, row[key])
    else:
        frame = open_invoice_scores(state)
        assert len(frame) == len(ids)
        assert (frame["predicted_payment_date"] >= pd.Timestamp(AS_OF)).all()
        assert (frame["days_late_p10"] <= frame["days_late_p50"]).all()
        assert (frame["days_late_p50"] <= frame["days_late_p90"]).all()
        overdue = (pd.Timestamp(AS_OF) - frame["due_date"]).dt.days
        for col in ("days_late", "days_late_p10", "days_late_p50", "days_late_p90"):
            assert (frame[col] >= overdue).all(), col


def test_the_worklist_waits_on_the_same_expected_days_late(client: TestClient) -> None:
    state = _state(client)
    for entry in state.entries.values():
        if entry.item is None:
            continue
        days = {inv.invoice_id: inv.days_late for inv in entry.invoices}
        for step in entry.item.invoices:
            assert step.expected_days_late == days[step.invoice_id], step.invoice_id
            assert step.expected_days_late >= step.days_overdue


def test_a_new_invoice_issued_long_ago_is_scored_as_unpaid_today(
    client: TestClient, api_template: ApiTemplate
) -> None:
    old = {"customer_id": CUSTOMER, "amount": 700.0, "payment_terms_days": 30}
    body = {
        "invoices": [
            {**old, "issue_date": (AS_OF - dt.timedelta(days=200)).isoformat()},
            {**old, "issue_date": (AS_OF - dt.timedelta(days=60)).isoformat()},
        ]
    }
    response = client.post("/v1/invoices/score", json=body, headers=_h(api_template))
    long_ago, recent = response.json()["data"]
    assert (long_ago["p_default"], long_ago["expected_loss"]) == (1.0, 700.0)
    assert recent["p_default"] < 1.0 and recent["reasons"][0]["source"] == "model"
    for row in (long_ago, recent):
        assert dt.date.fromisoformat(row["payment_date_p10"]) >= AS_OF


def test_an_invoice_just_inside_the_horizon_is_scored_by_the_model(
    client: TestClient, api_template: ApiTemplate
) -> None:
    state = _state(client)
    entry = state.entry(CUSTOMER)
    k = next(k for k, inv in enumerate(entry.invoices) if inv.invoice_id == INSIDE)
    model = state.bundle.predict(entry.invoice_x[k : k + 1])
    row = _scored(client, api_template, [INSIDE])[INSIDE]
    assert row["p_default"] == pytest.approx(float(model.p_default[0]), rel=1e-12)
    assert row["p_default"] < 1.0
    assert {r["source"] for r in row["reasons"]} == {"model"}


# Pure tests of the rule (`InvoiceScores.open_on`).

TODAY = dt.date(2026, 3, 2)
RAW = InvoiceScores(
    p_default=0.3, days_late=4.0, days_late_p10=-2.0, days_late_p50=5.0, days_late_p90=20.0
)


@pytest.mark.parametrize(
    ("overdue", "default"), [(-10, False), (0, False), (89, False), (90, False), (91, True)]
)
def test_past_horizon_is_the_label_rule(overdue: int, default: bool) -> None:
    due = TODAY - dt.timedelta(days=overdue)
    assert past_horizon(due, as_of=TODAY, horizon_days=HORIZON) is default
    scored = RAW.open_on(due_date=due, as_of=TODAY, horizon_days=HORIZON)
    assert scored.p_default == (1.0 if default else 0.3)


def test_days_late_are_at_least_the_days_overdue_and_stay_ordered() -> None:
    due = TODAY - dt.timedelta(days=10)
    scored = RAW.open_on(due_date=due, as_of=TODAY, horizon_days=HORIZON)
    assert (scored.days_late_p10, scored.days_late_p50, scored.days_late_p90) == (10, 10, 20)
    assert scored.days_late == 10
    not_due = RAW.open_on(due_date=TODAY + dt.timedelta(days=30), as_of=TODAY, horizon_days=90)
    assert dataclasses.astuple(not_due) == dataclasses.astuple(RAW)


def test_without_a_model_p_default_is_known_only_past_the_horizon() -> None:
    thin = InvoiceScores(days_late=1.0, days_late_p10=0.0, days_late_p50=1.0, days_late_p90=3.0)
    inside = thin.open_on(due_date=TODAY, as_of=TODAY, horizon_days=HORIZON)
    assert math.isnan(inside.p_default) and inside.expected_loss(100.0) is None
    outside = thin.open_on(due_date=TODAY - dt.timedelta(days=200), as_of=TODAY, horizon_days=90)
    assert outside.p_default == 1.0 and outside.expected_loss(100.0) == 100.0
    assert math.isnan(
        InvoiceScores().open_on(due_date=TODAY, as_of=TODAY, horizon_days=90).days_late
    )
