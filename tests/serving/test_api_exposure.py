"""Orders against real-time exposure and the approved limit, through the app (SQLite).

Issue 10: after posting a 4,000 invoice, a 4,000 order was approved at "96 % of the
limit 5,250" while the real exposure was 9,128. Exposure now counts today's invoices,
approved orders not yet invoiced (reservations) and today's payments, and orders are
checked against the approved limit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.store import get_engine, order_reservations
from kernel.config import Settings
from serving.app import create_app
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for

ORDERS = "/v1/orders/decision"


@pytest.fixture
def app_settings(api_template: ApiTemplate, tmp_path: Path) -> Settings:
    """Settings on this test's own copy of the store."""
    return settings_for(api_template, tmp_path)


@pytest.fixture
def client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings)) as c:
        yield c


def _h(api_template: ApiTemplate, role: str = "admin") -> dict[str, str]:
    return {"X-API-Key": api_template.keys[role]}


def _customer(client: TestClient, api_template: ApiTemplate, cid: str) -> dict[str, Any]:
    response = client.get(f"/v1/customers/{cid}", headers=_h(api_template))
    assert response.status_code == 200, response.text
    return response.json()


def _order(
    client: TestClient, api_template: ApiTemplate, cid: str, amount: float, **extra: Any
) -> dict[str, Any]:
    response = client.post(
        ORDERS, json={"customer_id": cid, "amount": amount, **extra}, headers=_h(api_template)
    )
    assert response.status_code == 200, response.text
    return response.json()


def _set_limit(client: TestClient, api_template: ApiTemplate, cid: str, limit: float) -> None:
    response = client.put(
        f"/v1/customers/{cid}/credit-limit",
        json={"limit": limit, "reason": "test: a limit this order fits once"},
        headers=_h(api_template),
    )
    assert response.status_code == 200, response.text


def _approvable(client: TestClient, api_template: ApiTemplate) -> tuple[str, float, float]:
    """A customer graded C or better without overdue invoices: (id, open, usual amount)."""
    for customer in sorted(api_template.ledger.customers["customer_id"].astype(str)):
        body = _customer(client, api_template, customer)
        if body["risk_grade"] in "ABC" and body["overdue_amount"] == 0:
            return customer, body["exposure"]["total"], round(body["typical_invoice_amount"])
    # The template is seeded: without such a customer the test could prove nothing.
    raise AssertionError("no customer graded A-C without overdue invoices in the template")


def _invoice(
    client: TestClient, api_template: ApiTemplate, cid: str, iid: str, amount: float
) -> None:
    body = {
        "invoice_id": iid,
        "customer_id": cid,
        "issue_date": AS_OF.isoformat(),
        "due_date": (AS_OF + dt.timedelta(days=30)).isoformat(),
        "amount": amount,
    }
    response = client.post("/v1/events/invoices", json=body, headers=_h(api_template))
    assert response.status_code == 201, response.text


def test_todays_invoice_counts_so_two_orders_that_fit_once_are_not_both_approved(
    client: TestClient, api_template: ApiTemplate
) -> None:
    cid, open_amount, usual = _approvable(client, api_template)
    _set_limit(client, api_template, cid, open_amount + 1.5 * usual)

    first = _order(client, api_template, cid, usual, order_id="SO-1")
    assert first["decision"] == "approve", first["reasons"]
    assert first["credit_limit_source"] == "approved"
    assert first["reservation"]["amount"] == usual and first["reservation"]["order_id"] == "SO-1"
    # The order is invoiced today: its invoice replaces its reservation.
    _invoice(client, api_template, cid, "INV-TODAY", usual)
    exposure = _customer(client, api_template, cid)["exposure"]
    assert exposure["today_change"] == usual and exposure["reserved"] == 0
    assert exposure["total"] == pytest.approx(open_amount + usual)

    second = _order(client, api_template, cid, usual, order_id="SO-2")
    assert second["exposure_after_order"] == pytest.approx(open_amount + 2 * usual)
    assert second["decision"] != "approve"
    assert second["reservation"] is None
    assert "approved limit" in second["reasons"][0]["text"]


def test_an_approval_reserves_until_its_invoice_and_asking_again_replaces_it(
    client: TestClient, api_template: ApiTemplate
) -> None:
    cid, open_amount, usual = _approvable(client, api_template)
    _set_limit(client, api_template, cid, open_amount + 10 * usual)
    first = _order(client, api_template, cid, usual, order_id="SO-A")
    assert first["decision"] == "approve" and first["exposure"]["reserved"] == 0
    assert first["reservation"]["expires_on"] == (AS_OF + dt.timedelta(days=14)).isoformat()
    again = _order(client, api_template, cid, usual, order_id="SO-A")  # same order: replaced
    assert again["exposure"]["reserved"] == 0
    other = _order(client, api_template, cid, usual)  # another order: it sees SO-A
    assert other["exposure"]["reserved"] == pytest.approx(usual)
    assert other["exposure_after_order"] == pytest.approx(open_amount + 2 * usual)
    exposure = _customer(client, api_template, cid)["exposure"]
    assert exposure["reserved_orders"] == 2 and exposure["reserved"] == pytest.approx(2 * usual)


def test_reservations_expire_after_reservation_days(
    app_settings: Settings, api_template: ApiTemplate
) -> None:
    engine = get_engine(app_settings.database_url)
    cid = "C00001"
    with engine.begin() as conn:
        # Amounts no recent invoice covers: only expiry can end them.
        for rid, days_ago, amount in (("old", 14, 1e8), ("young", 13, 2.5e7)):
            decided = AS_OF - dt.timedelta(days=days_ago)
            conn.execute(
                order_reservations.insert().values(
                    reservation_id=rid,
                    customer_id=cid,
                    amount=amount,
                    decided_on=decided,
                    expires_on=decided + dt.timedelta(days=14),
                    created_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
                )
            )
    with TestClient(create_app(app_settings)) as client:
        exposure = _customer(client, api_template, cid)["exposure"]
    assert exposure["reserved"] == 2.5e7 and exposure["reserved_orders"] == 1


def test_payments_received_today_reduce_exposure(
    client: TestClient, api_template: ApiTemplate
) -> None:
    state = client.app.state.runtime.state  # type: ignore[attr-defined]
    entry = next(e for e in state.entries.values() if e.invoices)
    invoice = entry.invoices[0]
    before = _customer(client, api_template, entry.customer_id)["exposure"]
    paid = round(min(100.0, invoice.open_amount), 2)
    payment = {
        "payment_id": "PAY-TODAY",
        "invoice_id": invoice.invoice_id,
        "payment_date": AS_OF.isoformat(),
        "amount": paid,
    }
    response = client.post("/v1/events/payments", json=payment, headers=_h(api_template))
    assert response.status_code == 201, response.text
    after = _customer(client, api_template, entry.customer_id)
    assert after["exposure"]["today_change"] == pytest.approx(before["today_change"] - paid)
    assert after["exposure"]["total"] == pytest.approx(before["total"] - paid)
    # The features stay point-in-time: the open amount they see is unchanged.
    assert after["open_amount"] == pytest.approx(before["open_amount"])


def test_orders_are_checked_against_the_approved_limit(
    client: TestClient, api_template: ApiTemplate
) -> None:
    cid, _, usual = _approvable(client, api_template)
    _set_limit(client, api_template, cid, 0.0)  # no credit
    body = _order(client, api_template, cid, usual)
    assert body["decision"] == "decline"
    assert body["credit_limit"] == 0.0 and body["approved_credit_limit"] == 0.0
    assert body["suggested_credit_limit"] > 0  # advice, shown beside it
    assert "approved limit 0" in body["reasons"][0]["text"]
    limit = _customer(client, api_template, cid)["credit_limit"]
    assert limit["current"] == 0.0 and limit["checked_against"] == "approved"


def test_without_an_approved_limit_the_suggested_one_is_used_and_said(
    app_settings: Settings, api_template: ApiTemplate
) -> None:
    engine = get_engine(app_settings.database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE customers SET credit_limit = NULL"))
    with TestClient(create_app(app_settings)) as client:
        body = _order(client, api_template, "C00001", 10.0)
        limit = _customer(client, api_template, "C00001")["credit_limit"]
    assert body["credit_limit_source"] == "suggested" and body["approved_credit_limit"] is None
    assert body["credit_limit"] == body["suggested_credit_limit"]
    texts = [r["text"] for r in body["reasons"]]
    assert any(
        t.startswith("no approved credit limit: checked against the suggested") for t in texts
    )
    assert limit["current"] is None and limit["checked_against"] == "suggested"


def test_an_order_dated_another_day_reserves_nothing(
    client: TestClient, api_template: ApiTemplate
) -> None:
    cid, open_amount, usual = _approvable(client, api_template)
    _set_limit(client, api_template, cid, open_amount + 10 * usual)
    body = _order(
        client, api_template, cid, 1.0, order_date=(AS_OF - dt.timedelta(days=1)).isoformat()
    )
    assert body["reservation"] is None
    assert _customer(client, api_template, cid)["exposure"]["reserved"] == 0


def test_no_approval_without_its_reservation(
    client: TestClient, api_template: ApiTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that cannot take the reservation answers 503, never an unreserved approve."""
    import serving.usecases.orders as orders

    def unreachable(*_args: Any, **_kwargs: Any) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))

    cid, open_amount, usual = _approvable(client, api_template)
    _set_limit(client, api_template, cid, open_amount + 10 * usual)
    monkeypatch.setattr(orders, "reserve", unreachable)
    response = client.post(
        ORDERS, json={"customer_id": cid, "amount": usual}, headers=_h(api_template)
    )
    assert response.status_code == 503
    assert "ask again" in response.json()["detail"]
