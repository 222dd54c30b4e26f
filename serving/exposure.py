"""The part of each customer's exposure the point-in-time features leave out: today.

Features (and `CustomerEntry.open_amount`) count events dated before the serving day, as
in training. Exposure counts everything known now (`serving.decisions.exposure`): this
module gives, per customer, the net change of the open amount on the day itself
(invoices issued that day, minus payments, credit notes and write-offs dated that day,
each reduction clipped as `features.timeline` clips it) and the invoices issued lately,
which end approved orders' reservations. Events dated after the day are not counted: on
a pinned serving date (a demo, a back-test) they are the future.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from features.ledger import Ledger, day_timestamp
from features.ledger_store import isin
from features.timeline import invoice_timeline
from serving.decisions.exposure import RecentInvoice

__all__ = ["NOTHING_TODAY", "LedgerToday", "ledger_today"]


@dataclass(frozen=True)
class LedgerToday:
    """One customer's ledger events of the serving day, for its real-time exposure.

    Attributes:
        change: invoices issued on the day minus reductions dated on it.
        invoices: invoices issued in the reservation window up to the day (oldest first).
    """

    change: float = 0.0
    invoices: tuple[RecentInvoice, ...] = ()

    def issued_on(self, day: dt.date) -> frozenset[str]:
        """Ids of the invoices issued on `day`."""
        return frozenset(i.invoice_id for i in self.invoices if i.issue_date == day)


NOTHING_TODAY = LedgerToday()


def _touched_today(ledger: Ledger, day: pd.Timestamp) -> Ledger:
    """The invoices issued on `day` or reduced on it, with all their payments and adjustments."""
    inv = ledger.invoices
    ids = pd.concat(
        [
            inv.loc[inv["issue_date"] == day, "invoice_id"],
            ledger.payments.loc[ledger.payments["payment_date"] == day, "invoice_id"],
            ledger.adjustments.loc[ledger.adjustments["date"] == day, "invoice_id"],
        ]
    ).astype("str")
    invoices = inv[isin(inv["invoice_id"], ids) & (inv["issue_date"] <= day)]
    known = invoices["invoice_id"]
    # `replace`: any other table the ledger holds comes along (the timeline reads none).
    return replace(
        ledger,
        invoices=invoices.reset_index(drop=True),
        payments=ledger.payments[isin(ledger.payments["invoice_id"], known)],
        adjustments=ledger.adjustments[isin(ledger.adjustments["invoice_id"], known)],
    )


def _change_today(ledger: Ledger, day: pd.Timestamp) -> dict[str, float]:
    touched = _touched_today(ledger, day)
    if not len(touched.invoices):
        return {}
    timeline = invoice_timeline(touched)
    issued = timeline.invoices[timeline.invoices["issue_date"] == day]
    steps = timeline.steps[timeline.steps["date"] == day]
    plus = issued.groupby(issued["customer_id"].astype("str"))["amount"].sum()
    minus = steps.groupby(steps["customer_id"].astype("str"))["reduction"].sum()
    change = plus.sub(minus, fill_value=0.0)
    return {str(k): round(float(v), 2) for k, v in change.items()}


def _recent_invoices(
    ledger: Ledger, day: pd.Timestamp, days: int
) -> dict[str, tuple[RecentInvoice, ...]]:
    inv = ledger.invoices
    start = day - pd.Timedelta(days=days)
    recent = inv[(inv["issue_date"] >= start) & (inv["issue_date"] <= day)]
    if not len(recent):
        return {}
    recent = recent.sort_values(["issue_date", "invoice_id"], kind="stable")
    out: dict[str, list[RecentInvoice]] = {}
    for cid, iid, issued, amount in zip(
        recent["customer_id"].astype("str").tolist(),
        recent["invoice_id"].astype("str").tolist(),
        recent["issue_date"].dt.date.tolist(),
        recent["amount"].to_numpy(dtype=np.float64).tolist(),
        strict=True,
    ):
        out.setdefault(cid, []).append(RecentInvoice(iid, issued, amount))
    return {cid: tuple(v) for cid, v in out.items()}


def ledger_today(ledger: Ledger, *, as_of: dt.date, window_days: int) -> dict[str, LedgerToday]:
    """Each customer's change on `as_of` and invoices of the last `window_days` days.

    Customers with nothing on the day and no recent invoice are left out
    (`NOTHING_TODAY`).
    """
    day = day_timestamp(as_of)
    change = _change_today(ledger, day)
    recent = _recent_invoices(ledger, day, window_days)
    return {
        cid: LedgerToday(change=change.get(cid, 0.0), invoices=recent.get(cid, ()))
        for cid in change.keys() | recent.keys()
    }
