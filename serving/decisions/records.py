"""Plain input records of the decisions: an open invoice with its scores, a logged action.

Built by the serving layer from the store and `Bundle.predict`; plain floats and dates,
no pandas, so a decision over a few records costs microseconds.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TypeGuard

__all__ = ["ActionRecord", "OpenInvoice", "is_missing", "is_present"]


def is_present(value: float | None) -> TypeGuard[float]:
    """True for a number, False for None or NaN (a score the bundle could not give)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def is_missing(value: float | None) -> bool:
    """True for None or NaN: the negation of `is_present`."""
    return not is_present(value)


@dataclass(frozen=True)
class OpenInvoice:
    """One open invoice and its scores.

    Attributes:
        invoice_id: the invoice.
        customer_id: its customer.
        due_date: due date.
        open_amount: amount still owed (> 0 for an open invoice).
        p_default: calibrated probability of default; NaN when the bundle has no default
            model (thin history).
        days_late: predicted days late (settlement − due date, mean model); NaN unknown.
        days_late_p10, days_late_p50, days_late_p90: predicted quantiles of days late.
        disputed: the invoice is under dispute (goes to dispute resolution, not dunning).
    """

    invoice_id: str
    customer_id: str
    due_date: dt.date
    open_amount: float
    p_default: float = math.nan
    days_late: float = math.nan
    days_late_p10: float = math.nan
    days_late_p50: float = math.nan
    days_late_p90: float = math.nan
    disputed: bool = False

    def days_overdue(self, as_of: dt.date) -> int:
        """Days past due at `as_of` (negative = not yet due)."""
        return (as_of - self.due_date).days


@dataclass(frozen=True)
class ActionRecord:
    """One logged collections action (a row of the `actions` table).

    Attributes:
        customer_id: the customer.
        kind: one of `kernel.schema.ACTION_KINDS` (reminder, call, promise, dispute,
            legal, note, resolve).
        at: when it was logged (date or datetime).
        invoice_id: the invoice it concerns; None = the whole customer.
        promised_date: for a promise, the date the customer promised to pay by.
        promised_amount: for a promise, the amount promised (None = everything open).
        author: who logged it.
        text: free text.
        outcome: for a `resolve`, the verdict on the dispute: "valid" (a credit note is
            expected) or "invalid" (dunning resumes).
    """

    customer_id: str
    kind: str
    at: dt.date | dt.datetime
    invoice_id: str | None = None
    promised_date: dt.date | None = None
    promised_amount: float | None = None
    author: str | None = None
    text: str | None = None
    outcome: str | None = None
