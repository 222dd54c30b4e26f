"""Currencies: every stored amount is in the base currency; the import converts.

The rule, and why:

- Every stored `amount` (invoices, payments, adjustments) is in the base currency
  (`DUECAST_BASE_CURRENCY`, default EUR). Features, exposure, ranking, limits and
  decisions add amounts up; they can only do so in one currency.
- An invoice keeps its own `currency`, its `original_amount` in it and the `fx_rate`
  used (1 unit of its currency = fx_rate units of base), for display. Its currency is
  the invoice's own, else its customer's, else the base currency.
- An invoice is converted at the rate of its currency on its issue date: the latest
  rate dated on or before it (`exchange_rates.csv`), unless the invoice row carries
  its own `fx_rate`, which wins (the rate the ERP booked it at). The issue date fixes
  the amount: the exposure it adds and what it is worth do not move with every rate.
- A re-export that gives a stored invoice another rate converts its stored payments and
  adjustments again, from their original amounts, even when the files no longer carry
  them (`features.currency_restate`): else a paid invoice kept a residual.
- Its payments and adjustments are converted at their invoice's rate: a payment
  settles the invoice in the invoice's currency, so paying the full original amount
  must settle it in base currency too, and the FX gain or loss between issue and
  payment is not credit risk (the customer paid what was asked). The cents of one
  invoice's rows are rounded on their running total (`features.currency_cents`), so
  partial payments adding up to the original amount add up to its base amount too.
- A non-base invoice without a rate on or before its issue date is a problem on its
  line, naming the currency and date and how to supply the rate. Base-currency rows
  need no rate. Rows stored before currencies existed (no rate) count at rate 1.
- Credit limits (customers, the API) and promised amounts are in the base currency.

Converting deterministically from the same files and rates is what keeps a re-import
idempotent: the diff compares base amounts and originals, which come out the same.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.conversion import TypedFrame
from features.currency_cents import round_together
from features.currency_rates import (
    RATE_COLUMNS,
    canonical_rates,
    currency_codes,
    file_rates,
    parse_rates,
    rates_on,
    stored_rates,
    unreadable_rate,
)
from features.currency_restate import restated_children
from features.import_lookup import fetch_rows
from features.problems import Problems
from kernel import limits
from kernel.config import get_settings

__all__ = ["to_base"]


def to_base(
    conn: sa.Connection,
    sources: dict[str, list[TypedFrame]],
    problems: Problems,
    *,
    base: str | None = None,
) -> None:
    """Convert the typed rows' amounts to the base currency, in place, keeping originals.

    Called by the import after conversion and before the reference checks, inside the
    import's transaction: rates and the parents' currencies and rates not in the files
    are read from the store. Also fills the exchange-rate rows' keys ("CUR:YYYY-MM-DD").

    Args:
        conn: the import's connection.
        sources: typed rows per table (exchange_rates, customers, invoices, payments,
            adjustments, ...); changed in place.
        problems: where bad codes, bad rates and missing rates are recorded.
        base: the base currency (default: the settings' `base_currency`).
    """
    base = base or get_settings().base_currency
    rates = file_rates(sources.get("exchange_rates", []), base, problems)
    customers = _customer_currencies(conn, sources, base, problems)
    invoices = sources.get("invoices", [])
    for typed in invoices:
        currency_codes(typed, "currency", problems)
        owner = customers.reindex(typed.frame["customer_id"]).to_numpy()
        typed.frame["currency"] = (
            typed.frame["currency"].fillna(pd.Series(owner, index=typed.frame.index)).fillna(base)
        )
    needed = sorted(
        {c for t in invoices for c in t.frame["currency"].dropna().unique() if c != base}
    )
    rates = pd.concat([rates, stored_rates(conn, needed)], ignore_index=True)
    rates = rates.drop_duplicates(["currency", "rate_date"], keep="first")[RATE_COLUMNS]
    invoice_rates = [_convert_invoices(t, rates, base, problems) for t in invoices]
    known = pd.concat(invoice_rates) if invoice_rates else pd.Series(dtype="float64")
    known = known[~known.index.duplicated(keep="first")]
    # Stored rows of invoices given a new rate are converted again with them.
    for typed in restated_children(conn, sources, known):
        sources.setdefault(typed.table, []).append(typed)
    children = [(t, typed) for t in ("payments", "adjustments") for typed in sources.get(t, [])]
    rates_used = [_convert_children(conn, typed, known) for _, typed in children]
    round_together(conn, children, rates_used)
    for _, typed in children:
        _check_converted(typed, typed.frame["original_amount"], problems)


def _customer_currencies(
    conn: sa.Connection, sources: dict[str, list[TypedFrame]], base: str, problems: Problems
) -> pd.Series:
    """Customer id -> currency (base when empty), from the files, else from the store."""
    parts = []
    for typed in sources.get("customers", []):
        currency_codes(typed, "currency", problems)
        f = typed.frame
        parts.append(pd.Series(f["currency"].to_numpy(), index=f["customer_id"].to_numpy()))
    files = pd.concat(parts) if parts else pd.Series(dtype="str")
    files = files[~files.index.duplicated(keep="first") & files.index.notna()]
    wanted = pd.Index(
        pd.concat(
            [t.frame["customer_id"].dropna() for t in sources.get("invoices", [])]
            or [pd.Series([], dtype="str")]
        ).unique()
    ).difference(pd.Index(files.index))
    stored = fetch_rows(conn, "customers", ["customer_id", "currency"], wanted)
    codes = stored["currency"].astype("str").str.upper()
    both = pd.concat([files, pd.Series(codes.to_numpy(), index=stored["customer_id"].to_numpy())])
    return both.astype("str").fillna(base)


def _convert_invoices(
    typed: TypedFrame, rates: pd.DataFrame, base: str, problems: Problems
) -> pd.Series:
    """Convert one invoice file in place; invoice id -> rate used (NaN where none)."""
    f = typed.frame
    currency = f["currency"]
    given, bad = parse_rates(f["fx_rate"])
    problems.add(
        typed.file,
        f.index[bad],
        typed.label("fx_rate"),
        unreadable_rate(f["fx_rate"][bad], f"1 unit of the invoice's currency in {base}"),
    )
    is_base = (currency == base).fillna(False).to_numpy(dtype=bool)
    odd = is_base & given.notna().to_numpy() & (given != 1.0).to_numpy()
    problems.add(
        typed.file,
        f.index[odd],
        typed.label("fx_rate"),
        f"the invoice is in the base currency {base}: its rate is 1 (or leave it empty)",
    )
    looked_up = rates_on(rates, currency, f["issue_date"])
    rate = given.fillna(pd.Series(np.where(is_base, 1.0, looked_up), index=f.index))
    missing = (rate.isna() & f["issue_date"].notna() & currency.notna()).to_numpy() & ~bad
    _report_missing(typed, f[missing], base, problems)
    original = f["amount"]
    f["original_amount"] = original
    f["amount"] = (original * rate).round(2)
    f["fx_rate"] = canonical_rates(rate)
    _check_converted(typed, original, problems)
    for column in ("currency", "original_amount", "fx_rate"):
        if column not in typed.present:
            typed.present.append(column)
    return pd.Series(rate.to_numpy(), index=f["invoice_id"].to_numpy())


def _report_missing(typed: TypedFrame, rows: pd.DataFrame, base: str, problems: Problems) -> None:
    """One problem per invoice whose currency has no rate on or before its issue date."""

    def reason(i: int) -> str:
        currency, day = rows["currency"].iloc[i], rows["issue_date"].iloc[i]
        return (
            f"no {currency} exchange rate on or before the issue date {day:%Y-%m-%d}: add a "
            f"{currency} rate dated {day:%Y-%m-%d} or earlier to exchange_rates.csv (columns "
            f"rate_date, currency, rate = the value of 1 {currency} in {base}), or give the "
            "rate in the invoices' fx_rate column"
        )

    problems.add(typed.file, rows.index, typed.label("currency"), reason)


def _convert_children(conn: sa.Connection, typed: TypedFrame, known: pd.Series) -> pd.Series:
    """Convert payments or adjustments in place at their invoice's rate (files, else store).

    Returns each row's rate (NaN: unknown invoice). `round_together` then makes the
    cents of one invoice's rows add up.
    """
    f = typed.frame
    ids = pd.Index(f["invoice_id"].dropna().unique()).difference(pd.Index(known.index))
    stored = fetch_rows(conn, "invoices", ["invoice_id", "fx_rate"], ids)
    # Invoices stored before currencies existed carry no rate: their amounts were stored
    # as given, so their payments are too (rate 1).
    stored_rate = pd.to_numeric(stored["fx_rate"]).astype("float64").fillna(1.0)
    rates = pd.concat([known, pd.Series(stored_rate.to_numpy(), index=stored["invoice_id"])])
    rate = pd.Series(rates.reindex(f["invoice_id"]).to_numpy(dtype="float64"), index=f.index)
    original = f["amount"]
    f["original_amount"] = original
    # An unknown invoice (reported by the reference checks) leaves the amount as it is.
    f["amount"] = (original * rate.fillna(1.0)).round(2)
    if "original_amount" not in typed.present:
        typed.present.append("original_amount")
    return rate


def _check_converted(typed: TypedFrame, original: pd.Series, problems: Problems) -> None:
    """Converted amounts must stay within the store's bounds (a cent .. the maximum)."""
    amount = typed.frame["amount"]
    size = amount.abs()
    bad = (original.abs() > 0) & ((size < limits.AMOUNT_MIN) | (size > limits.AMOUNT_MAX))
    mask = bad.fillna(False).to_numpy(dtype=bool)
    shown = pd.DataFrame({"a": original[mask], "b": amount[mask]}).reset_index(drop=True)
    problems.add(
        typed.file,
        typed.frame.index[mask],
        typed.label("amount"),
        lambda i: (
            f"amount {shown['a'].iloc[i]:g} is {shown['b'].iloc[i]:g} in the base currency, "
            f"outside {limits.AMOUNT_MIN} .. {limits.AMOUNT_MAX:g}"
        ),
    )
