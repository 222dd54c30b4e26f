"""Orders and exposure in the base currency: GBP and USD amounts converted, unknown ones 422.

On a copy of the session's template store (generated EUR/GBP/USD ledger and its rates,
imported), plus two customers made here with the same invoice, one in EUR, one in GBP.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.importing import import_directory
from features.store import get_engine
from kernel.config import Settings
from kernel.errors import InvalidRequestError
from serving.app import create_app
from serving.state import ServingState
from serving.usecases.orders import assess_order
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for
from training.bundle import load_bundle

ISSUED = AS_OF - dt.timedelta(days=20)


def _write_twins(folder: Path) -> Path:
    """Two new customers, EUR and GBP, each owing one open invoice of 1,000."""
    folder.mkdir()
    pd.DataFrame(
        [
            {"customer_id": f"TWIN-{c}", "name": c, "created_at": "2025-01-01", "currency": c}
            for c in ("EUR", "GBP")
        ]
    ).to_csv(folder / "customers.csv", index=False)
    pd.DataFrame(
        [
            {
                "invoice_id": f"TWIN-INV-{c}",
                "customer_id": f"TWIN-{c}",
                "issue_date": ISSUED.isoformat(),
                "due_date": (ISSUED + dt.timedelta(days=30)).isoformat(),
                "amount": 1000.0,
            }
            for c in ("EUR", "GBP")
        ]
    ).to_csv(folder / "invoices.csv", index=False)
    pd.DataFrame(columns=["payment_id", "invoice_id", "payment_date", "amount"]).to_csv(
        folder / "payments.csv", index=False
    )
    return folder


@pytest.fixture(scope="module")
def twin_settings(api_template: ApiTemplate, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings on a copy of the template store holding the two twins as well."""
    root = tmp_path_factory.mktemp("order-currency")
    settings = settings_for(api_template, root)
    import_directory(get_engine(settings.database_url), _write_twins(root / "twins"))
    return settings


@pytest.fixture(scope="module")
def store(twin_settings: Settings) -> str:
    return twin_settings.database_url


@pytest.fixture(scope="module")
def state(twin_settings: Settings) -> ServingState:
    bundle = load_bundle(twin_settings.models_dir / "champion")
    engine = get_engine(twin_settings.database_url)
    return ServingState.build(engine, bundle=bundle, policy=twin_settings.policy, as_of=AS_OF)


def _latest_rate(url: str, currency: str, day: dt.date) -> float:
    """The stored rate of `currency` with the latest date on or before `day`."""
    sql = sa.text(
        "SELECT rate FROM exchange_rates WHERE currency = :c AND rate_date <= :d "
        "ORDER BY rate_date DESC LIMIT 1"
    )
    with get_engine(url).connect() as conn:
        return float(conn.execute(sql, {"c": currency, "d": day}).scalar_one())


def test_exposure_is_in_the_base_currency(state: ServingState, store: str) -> None:
    eur, gbp = state.entry("TWIN-EUR"), state.entry("TWIN-GBP")
    rate = _latest_rate(store, "GBP", ISSUED)  # the invoice's issue-day rate
    assert rate > 1.05  # a pound is worth more than a euro: the twins must differ
    assert eur.open_amount == pytest.approx(1000.0)
    assert gbp.open_amount == pytest.approx(round(1000.0 * rate, 2))


def test_rates_are_held_in_memory(state: ServingState, store: str) -> None:
    assert state.base_currency == "EUR"
    assert state.rates == {
        "GBP": _latest_rate(store, "GBP", AS_OF),
        "USD": _latest_rate(store, "USD", AS_OF),
    }


def test_order_in_usd_is_converted_for_the_exposure_check(state: ServingState, store: str) -> None:
    usd = _latest_rate(store, "USD", AS_OF)
    in_usd = assess_order(state, None, customer_id="TWIN-EUR", amount=500.0, currency="usd")  # type: ignore[arg-type]
    answer = in_usd.answer
    assert in_usd.order.amount == pytest.approx(round(500.0 * usd, 2))
    assert answer.exposure_after_order == pytest.approx(
        answer.exposure.total + round(500.0 * usd, 2)
    )
    assert any("500.00 USD is" in r.text for r in answer.reasons)
    in_eur = assess_order(state, None, customer_id="TWIN-EUR", amount=500.0, currency="EUR")  # type: ignore[arg-type]
    assert in_eur.order.amount == 500.0
    assert not any(" USD is" in r.text for r in in_eur.answer.reasons)


def test_order_without_currency_is_in_the_customers_currency(
    state: ServingState, store: str
) -> None:
    draft = assess_order(state, None, customer_id="TWIN-GBP", amount=100.0)  # type: ignore[arg-type]
    assert draft.order.amount == pytest.approx(round(100.0 * _latest_rate(store, "GBP", AS_OF), 2))


def test_order_in_a_currency_without_rate_is_refused(state: ServingState) -> None:
    with pytest.raises(InvalidRequestError, match="no exchange rate for JPY"):
        assess_order(state, None, customer_id="TWIN-EUR", amount=100.0, currency="JPY")  # type: ignore[arg-type]


def test_unknown_currency_is_a_422_over_http(api_template: ApiTemplate, tmp_path: Path) -> None:
    settings = settings_for(api_template, tmp_path)
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/v1/orders/decision",
            json={"customer_id": "C00001", "amount": 10.0, "currency": "CHF"},
            headers={"X-API-Key": api_template.keys["scorer"]},
        )
        assert response.status_code == 422
        assert "no exchange rate for CHF" in response.text
        usd = client.post(
            "/v1/orders/decision",
            json={"customer_id": "C00001", "amount": 10.0, "currency": "USD"},
            headers={"X-API-Key": api_template.keys["scorer"]},
        )
        assert usd.status_code == 200, usd.text
