"""Invoice and payment events in the base currency, as an import stores them.

`features.currency` converts imported rows; events posted to the API follow the same
rule: an invoice in its own currency (else its customer's, else the base one) is
converted at the latest stored rate on or before its issue date, its payments at the
invoice's rate, and the original amount is kept. An invoice in a currency with no rate
is refused (422) rather than stored as if it were in the base currency.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from features.store import TABLE_OBJECTS, exchange_rates
from kernel.errors import InvalidRequestError

__all__ = ["invoice_in_base", "payment_in_base"]

_customers = TABLE_OBJECTS["customers"]
_invoices = TABLE_OBJECTS["invoices"]


def _rate_on(conn: sa.Connection, currency: str, day: dt.date) -> float | None:
    t = exchange_rates
    return conn.execute(
        sa.select(t.c.rate)
        .where(t.c.currency == currency, t.c.rate_date <= day)
        .order_by(t.c.rate_date.desc())
        .limit(1)
    ).scalar()


def invoice_in_base(conn: sa.Connection, invoice: Mapping[str, Any], base: str) -> dict[str, Any]:
    """The invoice's values with amount in `base`, original_amount, currency and fx_rate.

    Raises:
        InvalidRequestError: its currency is not the base one and has no stored rate.
    """
    values = dict(invoice)
    currency = (
        values.get("currency")
        or conn.execute(
            sa.select(_customers.c.currency).where(
                _customers.c.customer_id == values["customer_id"]
            )
        ).scalar()
    )
    currency = str(currency or base).upper()
    values["currency"] = currency
    values["original_amount"] = values["amount"]
    rate = 1.0
    if currency != base:
        found = _rate_on(conn, currency, values["issue_date"])
        if found is None:
            raise InvalidRequestError(
                f"no exchange rate for {currency} on or before {values['issue_date']}: amounts "
                f"are kept in {base}; import {currency} rates (exchange_rates.csv: rate_date, "
                f"currency, rate = the value of 1 {currency} in {base}) or send the invoice "
                f"in {base}"
            )
        rate = float(found)
    values["fx_rate"] = rate
    values["amount"] = round(float(values["amount"]) * rate, 2)
    return values


def payment_in_base(values: dict[str, Any], invoice_rate: float | None) -> dict[str, Any]:
    """The payment's values converted at its invoice's rate (1 when it has none)."""
    rate = 1.0 if invoice_rate is None else float(invoice_rate)
    out = dict(values)
    out["original_amount"] = values["amount"]
    out["amount"] = round(float(values["amount"]) * rate, 2)
    return out
