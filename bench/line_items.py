"""Turn a generated canonical ledger into an invoicing tool's line-item export.

The export looks like what Zoho Invoice, FreshBooks or Invoice Ninja write: one row per
invoice line, the invoice's header fields repeated on every line, money as people write
it ("$1,020.00"), day-first dates, no customers file, and the payments given as the
invoice's "Amount Paid" and "Last Payment Date" instead of a payments file. `MAPPING` is
the mapping that imports it; `bench/generate_import.py --line-items` measures the import.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["MAPPING", "write_line_items"]

MAPPING = """\
# The line-item export written by bench/line_items.py.
[customers]
from_invoices = true

[invoices]
file = "invoice_lines.csv"
date_format = "%d/%m/%Y"
lines = true
customer_name = "Customer Name"
paid_amount = "Amount Paid"
last_payment_date = "Last Payment Date"
[invoices.columns]
invoice_id = "Invoice Number"
customer_id = "Customer Number"
issue_date = "Invoice Date"
due_date = "Due Date"
amount = "Line Total"
currency = "Currency"
"""

_SYMBOL = {"EUR": "€", "GBP": "£", "USD": "$"}


def _money(values: np.ndarray, currencies: np.ndarray) -> pd.Series:
    """Amounts as people write them: symbol, thousands separators, two decimals."""
    text = pd.Series(values).map("{:,.2f}".format)
    symbols = pd.Series(currencies).map(_SYMBOL).fillna("")
    return symbols + text


def _split(amounts: np.ndarray, lines: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each amount cut into its number of lines, in cents, the parts summing exactly."""
    cents = np.round(amounts * 100).astype("int64")
    owner = np.repeat(np.arange(len(amounts)), lines)
    weights = rng.random(len(owner)) + 0.2
    share = weights / np.bincount(owner, weights=weights)[owner]
    parts = np.floor(share * cents[owner]).astype("int64")
    # The rounding remainder goes to each invoice's last line.
    last = np.cumsum(lines) - 1
    parts[last] += cents - np.bincount(owner, weights=parts).astype("int64")
    return parts / 100


def write_line_items(data: Path, out: Path, *, seed: int = 1) -> int:
    """Write `out/invoice_lines.csv` (+ any rates file) from the canonical files in `data`.

    Returns the number of line rows written.
    """
    rng = np.random.default_rng(seed)
    customers = pd.read_csv(data / "customers.csv", dtype="str")
    invoices = pd.read_csv(data / "invoices.csv", dtype="str")
    payments = pd.read_csv(data / "payments.csv", dtype="str")
    paid = payments.assign(amount=payments["amount"].astype("float64")).groupby("invoice_id")
    totals = paid["amount"].sum()
    last = paid["payment_date"].max()
    invoices = invoices.merge(customers[["customer_id", "name"]], on="customer_id", how="left")
    amounts = invoices["amount"].astype("float64").to_numpy()
    currency = invoices["currency"].fillna("EUR").to_numpy()
    paid_amount = np.minimum(invoices["invoice_id"].map(totals).fillna(0.0).to_numpy(), amounts)
    last_date = pd.to_datetime(invoices["invoice_id"].map(last))
    lines = rng.integers(1, 7, size=len(invoices))  # 1..6 lines, 3.5 per invoice
    rows = np.repeat(np.arange(len(invoices)), lines)

    def dates(column: pd.Series) -> pd.Series:
        return pd.to_datetime(column).dt.strftime("%d/%m/%Y").fillna("")

    frame = pd.DataFrame(
        {
            "Invoice Number": invoices["invoice_id"].to_numpy()[rows],
            "Invoice Date": dates(invoices["issue_date"]).to_numpy()[rows],
            "Due Date": dates(invoices["due_date"]).to_numpy()[rows],
            "Customer Number": invoices["customer_id"].to_numpy()[rows],
            "Customer Name": invoices["name"].to_numpy()[rows],
            "Currency": currency[rows],
            "Item": pd.Series(rng.integers(1, 500, size=len(rows))).map("Item {:03d}".format),
            "Line Total": _money(_split(amounts, lines, rng), currency[rows]),
            "Amount Paid": _money(paid_amount, currency)
            .where(paid_amount > 0, "")
            .to_numpy()[rows],
            "Last Payment Date": last_date.dt.strftime("%d/%m/%Y").fillna("").to_numpy()[rows],
        }
    )
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "invoice_lines.csv", index=False)
    for extra in ("exchange_rates.csv",):
        if (data / extra).exists():
            (out / extra).write_bytes((data / extra).read_bytes())
    (out / "mapping.toml").write_text(MAPPING, encoding="utf-8")
    return len(frame)
