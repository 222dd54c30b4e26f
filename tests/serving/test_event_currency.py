"""Invoice and payment events in the base currency, as the import stores them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.store import get_engine
from serving.app import create_app
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for

ISSUED = AS_OF - dt.timedelta(days=10)


@pytest.fixture
def client(api_template: ApiTemplate, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(api_template, tmp_path))) as c:
        yield c


def _engine(client: TestClient) -> sa.Engine:
    return get_engine(str(client.app.state.settings.database_url))  # type: ignore[attr-defined]


def _gbp(client: TestClient) -> tuple[str, float]:
    """A GBP customer of the template, and the latest GBP rate on or before ISSUED."""
    with _engine(client).connect() as conn:
        customer = conn.execute(
            sa.text("SELECT customer_id FROM customers WHERE currency = 'GBP' LIMIT 1")
        ).scalar()
        rate = conn.execute(
            sa.text(
                "SELECT rate FROM exchange_rates WHERE currency = 'GBP' AND rate_date <= :d "
                "ORDER BY rate_date DESC LIMIT 1"
            ),
            {"d": ISSUED.isoformat()},
        ).scalar()
    assert customer is not None and rate is not None
    return str(customer), float(rate)


def _stored(client: TestClient, table: str, key: str, value: str) -> sa.RowMapping:
    with _engine(client).connect() as conn:
        return (
            conn.execute(sa.text(f"SELECT * FROM {table} WHERE {key} = :v"), {"v": value})
            .mappings()
            .one()
        )


def _invoice(invoice_id: str, customer: str, amount: float) -> dict[str, object]:
    """An invoice event issued on ISSUED, due 30 days later, in the customer's currency."""
    return {
        "invoice_id": invoice_id,
        "customer_id": customer,
        "issue_date": ISSUED.isoformat(),
        "due_date": (ISSUED + dt.timedelta(days=30)).isoformat(),
        "amount": amount,
    }


def _h(api_template: ApiTemplate) -> dict[str, str]:
    return {"X-API-Key": api_template.keys["admin"]}


def test_an_invoice_event_in_the_customers_currency_is_stored_in_the_base_one(
    client: TestClient, api_template: ApiTemplate
) -> None:
    customer, rate = _gbp(client)
    invoice = _invoice("EV-GBP-1", customer, 1000.0)
    assert client.post("/v1/events/invoices", json=invoice, headers=_h(api_template)).is_success
    stored = _stored(client, "invoices", "invoice_id", "EV-GBP-1")
    assert stored["currency"] == "GBP" and stored["original_amount"] == 1000.0
    assert stored["amount"] == pytest.approx(round(1000.0 * rate, 2))
    # Paid in full in GBP, a prepayment a day before issue: settled in EUR too.
    payment = {
        "payment_id": "EV-GBP-PAY",
        "invoice_id": "EV-GBP-1",
        "payment_date": (ISSUED - dt.timedelta(days=1)).isoformat(),
        "amount": 1000.0,
    }
    paid = client.post("/v1/events/payments", json=payment, headers=_h(api_template))
    assert paid.status_code == 201, paid.text
    assert _stored(client, "payments", "payment_id", "EV-GBP-PAY")["amount"] == stored["amount"]


def test_an_invoice_event_in_a_currency_without_a_rate_is_refused(
    client: TestClient, api_template: ApiTemplate
) -> None:
    customer, _ = _gbp(client)
    invoice = {
        "invoice_id": "EV-JPY-1",
        "customer_id": customer,
        "issue_date": ISSUED.isoformat(),
        "due_date": (ISSUED + dt.timedelta(days=30)).isoformat(),
        "amount": 100000.0,
        "currency": "JPY",
    }
    refused = client.post("/v1/events/invoices", json=invoice, headers=_h(api_template))
    assert refused.status_code == 422
    assert "no exchange rate for JPY" in refused.json()["detail"]
    with _engine(client).connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM invoices WHERE invoice_id = 'EV-JPY-1'"))
        assert count.scalar() == 0


def test_an_invoice_event_with_another_rate_converts_its_stored_payment_again(
    client: TestClient, api_template: ApiTemplate
) -> None:
    """Re-posted with another issue date (so another rate), a paid invoice kept its
    payment at the old conversion and showed a residual, as the import did."""
    customer, rate = _gbp(client)
    with _engine(client).connect() as conn:
        earlier, other = conn.execute(
            sa.text(
                "SELECT rate_date, rate FROM exchange_rates WHERE currency = 'GBP' "
                "AND rate_date < :d AND rate <> :r ORDER BY rate_date DESC LIMIT 1"
            ),
            {"d": ISSUED.isoformat(), "r": rate},
        ).one()
    earlier = dt.date.fromisoformat(str(earlier)[:10])
    invoice = _invoice("EV-GBP-2", customer, 987.65)
    assert client.post("/v1/events/invoices", json=invoice, headers=_h(api_template)).is_success
    payment = {
        "payment_id": "EV-GBP-PAY-2",
        "invoice_id": "EV-GBP-2",
        "payment_date": ISSUED.isoformat(),
        "amount": 987.65,
    }
    assert client.post("/v1/events/payments", json=payment, headers=_h(api_template)).is_success

    moved = {**invoice, "issue_date": earlier.isoformat()}  # the ERP corrected the date
    answer = client.post("/v1/events/invoices", json=moved, headers=_h(api_template))
    assert answer.status_code == 200, answer.text
    stored = _stored(client, "invoices", "invoice_id", "EV-GBP-2")
    assert stored["amount"] == pytest.approx(round(987.65 * float(other), 2))
    paid = _stored(client, "payments", "payment_id", "EV-GBP-PAY-2")
    assert paid["amount"] == pytest.approx(stored["amount"]) and paid["original_amount"] == 987.65
