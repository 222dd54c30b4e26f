"""Real-time exposure: what a customer owes now, plus approved orders not yet invoiced.

    exposure = open amount at the start of today (the point-in-time ledger the features see)
             + today's change (invoices issued today, minus payments, credit notes and
               write-offs dated today)
             + reservations still outstanding

A reservation is an approved order's amount. It is outstanding from the day it was
decided until it expires (`reservation_days` later) or its invoice arrives: an invoice of
the customer issued on or after the approval day, not already counted when the order was
approved (`known_invoices`), whose amount covers the reservation (to the cent). Each such
invoice ends one reservation: the largest it covers, the oldest of equal ones. An order
invoiced in parts keeps its reservation until it expires (counted twice meanwhile: the
safe side).

Pure functions of plain values, as every decision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Exposure", "RecentInvoice", "Reservation", "outstanding_reservations"]

# Amounts are stored in cents: an invoice a rounding short of its order still covers it.
_CENT = 0.005


@dataclass(frozen=True)
class Reservation:
    """An approved order's amount, reserved in the exposure until its invoice arrives."""

    reservation_id: str
    customer_id: str
    amount: float
    decided_on: dt.date
    expires_on: dt.date  # first day it no longer counts
    order_id: str | None = None
    known_invoices: frozenset[str] = frozenset()  # invoices counted when it was approved
    created_at: dt.datetime | None = None

    def active_on(self, day: dt.date) -> bool:
        """Whether it counts on `day` (before any invoice ends it)."""
        return self.decided_on <= day < self.expires_on


@dataclass(frozen=True)
class RecentInvoice:
    """An invoice issued lately (one that may be the invoice of an approved order)."""

    invoice_id: str
    issue_date: dt.date
    amount: float


@dataclass(frozen=True)
class Exposure:
    """A customer's exposure now, in its parts.

    Attributes:
        open_amount: open at the start of the day (events dated before it).
        today_change: invoices issued today minus reductions dated today.
        reserved: approved orders not yet invoiced.
        reservations: how many approved orders `reserved` holds.
    """

    open_amount: float
    today_change: float
    reserved: float
    reservations: int = 0

    @property
    def total(self) -> float:
        """The exposure: what is owed now plus what is reserved (never below zero)."""
        return max(0.0, round(self.open_amount + self.today_change + self.reserved, 2))


def _sort_key(r: Reservation) -> tuple[dt.date, dt.datetime, str]:
    created = r.created_at or dt.datetime.min.replace(tzinfo=dt.UTC)
    return r.decided_on, created, r.reservation_id


def outstanding_reservations(
    reservations: Iterable[Reservation], invoices: Iterable[RecentInvoice], *, as_of: dt.date
) -> list[Reservation]:
    """The reservations that still count on `as_of`: active, and not ended by an invoice.

    Args:
        reservations: the customer's reservations (any; inactive ones are left out).
        invoices: the customer's invoices issued lately (at least since the oldest
            active reservation's day); those issued after `as_of` are ignored.
        as_of: the day of the exposure.
    """
    pending = sorted((r for r in reservations if r.active_on(as_of)), key=_sort_key)
    if not pending:
        return []
    ordered = sorted(
        (i for i in invoices if i.issue_date <= as_of), key=lambda i: (i.issue_date, i.invoice_id)
    )
    for invoice in ordered:
        best: int | None = None
        for k, r in enumerate(pending):
            fits = (
                r.decided_on <= invoice.issue_date
                and invoice.invoice_id not in r.known_invoices
                and invoice.amount >= r.amount - _CENT
            )
            # The largest reservation the invoice covers; the oldest of equal ones.
            if fits and (best is None or r.amount > pending[best].amount):
                best = k
        if best is not None:
            pending.pop(best)
    return pending
