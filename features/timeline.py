"""Per-invoice event timelines: when each invoice was paid down, settled, written off, closed.

Labels and features both read these, so "settled" means the same thing everywhere.
Rules:

- Payments and credit notes reduce an invoice; a credit note's sign is ignored
  (ERPs store them either way). A write-off closes the invoice: it removes whatever
  is still open. Overpayment never makes an invoice's open amount negative.
- An event dated before its invoice's issue date (a prepayment) counts on the issue
  date: nothing can be known about an invoice before it exists.
- settled = first day payments + credit notes cover the amount (half a cent tolerance);
  closed = first day payments + credit notes + write-offs cover it; written off = first
  day a write-off removed an amount still open (not one booked on a settled invoice).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.ledger import Ledger

__all__ = ["CENT_TOLERANCE", "InvoiceTimeline", "invoice_timeline"]

# Amounts are stored in cents; rounding in ERP exports must not leave invoices "open".
CENT_TOLERANCE = 0.005

_PAYMENT, _CREDIT, _WRITE_OFF = 0, 1, 2


class InvoiceTimeline:
    """The invoices with their key dates, and their daily reduction steps.

    Attributes:
        invoices: one row per invoice (ledger order) with invoice_id, customer_id,
            issue_date, due_date (never before issue), amount, disputed, dispute_date,
            settled_date, write_off_date, closed_date, first_paid_date,
            first_paid_partial (bool).
        steps: one row per (invoice, day) with a payment, credit note or write-off:
            inv (row position in `invoices`), customer_id, date, due_date,
            reduction (how much of the open amount that day removed, clipped so the
            invoice never goes below zero), open_after (open amount after that day),
            paid (a payment, not only a credit note or write-off, happened that day).
    """

    def __init__(self, invoices: pd.DataFrame, steps: pd.DataFrame) -> None:
        self.invoices = invoices
        self.steps = steps


def invoice_timeline(ledger: Ledger) -> InvoiceTimeline:
    """Settlement, write-off and closing dates of every invoice, and its reduction steps."""
    inv = ledger.invoices
    base = pd.DataFrame(
        {
            "invoice_id": inv["invoice_id"].to_numpy(),
            "customer_id": inv["customer_id"].to_numpy(),
            "issue_date": inv["issue_date"].to_numpy(),
            "due_date": np.maximum(inv["due_date"].to_numpy(), inv["issue_date"].to_numpy()),
            "amount": inv["amount"].to_numpy(dtype="float64"),
            "disputed": inv["disputed"].to_numpy(dtype=bool),
            "dispute_date": inv["dispute_date"].to_numpy(),
        }
    )
    # A dispute without a date cannot be placed in time, so features ignore it.
    base["dispute_date"] = base["dispute_date"].where(base["disputed"])
    base["dispute_date"] = np.maximum(base["dispute_date"], base["issue_date"])

    steps = _daily_steps(ledger, base)
    n = len(base)
    for col in ("settled_date", "write_off_date", "closed_date", "first_paid_date"):
        base[col] = pd.Series(pd.NaT, index=base.index, dtype="datetime64[ns]")
    base["first_paid_partial"] = False
    if len(steps):
        amount = base["amount"].to_numpy()[steps["inv"].to_numpy()]
        due_to_cover = amount - CENT_TOLERANCE
        _first_date(base, steps, steps["settle_cum"].to_numpy() >= due_to_cover, "settled_date")
        # A write-off only counts when something was left to write off: booking one on
        # an invoice already covered by payments and credit notes loses nothing.
        wrote_off = steps["write_off"].to_numpy() & (steps["settle_cum"].to_numpy() < due_to_cover)
        _first_date(base, steps, wrote_off, "write_off_date")
        _first_date(base, steps, steps["open_after"].to_numpy() <= CENT_TOLERANCE, "closed_date")
        paid = steps["paid"].to_numpy()
        first = steps[paid].drop_duplicates("inv", keep="first")
        pos = first["inv"].to_numpy()
        base.loc[pos, "first_paid_date"] = first["date"].to_numpy()
        base.loc[pos, "first_paid_partial"] = first["open_after"].to_numpy() > CENT_TOLERANCE
    assert len(base) == n
    steps = steps.drop(columns=["settle_cum", "write_off"])
    return InvoiceTimeline(base, steps)


def _first_date(base: pd.DataFrame, steps: pd.DataFrame, mask: np.ndarray, column: str) -> None:
    hit = steps[mask].drop_duplicates("inv", keep="first")
    base.loc[hit["inv"].to_numpy(), column] = hit["date"].to_numpy()


def _daily_steps(ledger: Ledger, base: pd.DataFrame) -> pd.DataFrame:
    """Reduction events summed per (invoice, day), with running open amounts."""
    events = _reduction_events(ledger)
    if not len(events):
        return _empty_steps()
    # Row position of each event's invoice; events of unknown invoices are dropped.
    pos = pd.Index(base["invoice_id"]).get_indexer(events["invoice_id"].astype("str"))
    keep = pos >= 0
    events = events[keep].assign(inv=pos[keep])
    issue = base["issue_date"].to_numpy()[events["inv"].to_numpy()]
    events["date"] = np.maximum(events["date"].to_numpy(), issue)
    is_settle = events["kind"].to_numpy() != _WRITE_OFF
    # A write-off covers whatever is left: the whole amount, clipped below. Not inf:
    # pandas' grouped cumsum is compensated (Kahan) and turns inf + x into NaN.
    amount = base["amount"].to_numpy()[events["inv"].to_numpy()]
    events["cover"] = np.where(is_settle, events["value"].to_numpy(), amount)
    events["settle"] = np.where(is_settle, events["value"].to_numpy(), 0.0)
    events["paid"] = events["kind"].to_numpy() == _PAYMENT
    events["write_off"] = ~is_settle
    daily = (
        events.groupby(["inv", "date"], sort=True)
        .agg(
            cover=("cover", "sum"),
            settle=("settle", "sum"),
            paid=("paid", "any"),
            write_off=("write_off", "any"),
        )
        .reset_index()
    )
    inv = daily["inv"].to_numpy()
    amount = base["amount"].to_numpy()[inv]
    group = daily.groupby("inv", sort=False)
    covered = np.minimum(group["cover"].cumsum().to_numpy(), amount)
    previous = np.where(_is_first(inv), 0.0, np.concatenate([[0.0], covered[:-1]]))
    daily["reduction"] = covered - previous
    daily["open_after"] = amount - covered
    daily["settle_cum"] = group["settle"].cumsum().to_numpy()
    daily["customer_id"] = base["customer_id"].to_numpy()[inv]
    daily["due_date"] = base["due_date"].to_numpy()[inv]
    return daily[
        [
            "inv",
            "customer_id",
            "date",
            "due_date",
            "reduction",
            "open_after",
            "paid",
            "settle_cum",
            "write_off",
        ]
    ]


def _reduction_events(ledger: Ledger) -> pd.DataFrame:
    """Payments, credit notes and write-offs as one frame: invoice_id, date, value, kind."""
    adj = ledger.adjustments
    kind = adj["kind"].astype("str").str.strip().str.lower()
    is_credit = (kind == "credit_note").to_numpy()
    is_wo = (kind == "write_off").to_numpy()
    return pd.DataFrame(
        {
            "invoice_id": np.concatenate(
                [
                    ledger.payments["invoice_id"].to_numpy(dtype=object),
                    adj["invoice_id"].to_numpy(dtype=object)[is_credit | is_wo],
                ]
            ),
            "date": np.concatenate(
                [
                    ledger.payments["payment_date"].to_numpy(dtype="datetime64[ns]"),
                    adj["date"].to_numpy(dtype="datetime64[ns]")[is_credit | is_wo],
                ]
            ),
            "value": np.concatenate(
                [
                    ledger.payments["amount"].to_numpy(dtype="float64"),
                    np.abs(adj["amount"].to_numpy(dtype="float64"))[is_credit | is_wo],
                ]
            ),
            "kind": np.concatenate(
                [
                    np.full(len(ledger.payments), _PAYMENT, dtype=np.int8),
                    np.where(is_wo, _WRITE_OFF, _CREDIT).astype(np.int8)[is_credit | is_wo],
                ]
            ),
        }
    )


def _empty_steps() -> pd.DataFrame:
    """The steps of a ledger without payments, credit notes or write-offs, typed."""
    return pd.DataFrame(
        {
            "inv": np.array([], dtype=np.int64),
            "customer_id": pd.Series([], dtype="str"),
            "date": pd.Series([], dtype="datetime64[ns]"),
            "due_date": pd.Series([], dtype="datetime64[ns]"),
            "reduction": np.array([], dtype="float64"),
            "open_after": np.array([], dtype="float64"),
            "paid": np.array([], dtype=bool),
            "settle_cum": np.array([], dtype="float64"),
            "write_off": np.array([], dtype=bool),
        }
    )


def _is_first(sorted_keys: np.ndarray) -> np.ndarray:
    """True where a run of equal keys starts in a sorted array."""
    first = np.ones(len(sorted_keys), dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return first
