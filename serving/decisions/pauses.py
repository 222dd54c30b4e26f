"""What pauses dunning: open disputes, and the promises to pay that cover an invoice.

Disputes: an invoice is in dispute while its ERP flag is set, or once a `dispute` action
naming it (or naming no invoice: every invoice of the customer) was logged, until a later
`resolve` action naming it (or no invoice) closes it. The resolve's outcome says what
follows: "valid" -> a credit note is expected and the invoice stays out of dunning;
"invalid" (or none given, as an old import may hold) -> dunning resumes. A resolve with
no dispute before it changes nothing; a dispute logged after a resolve opens it again.

Promises: the latest promise naming an invoice, or the latest customer-wide one,
whichever is newer, applies to it. A promise covers an invoice only up to its amount:
a customer-wide promise is spent on the invoices it applies to (disputed ones aside),
oldest due date first, covering each whose whole open amount it still covers; the walk
stops at the first one it cannot cover, so a promise of 500 never pauses 70,000. A
promise naming one invoice covers it when its amount covers the open amount. No amount
means everything open.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from serving.decisions.records import ActionRecord, OpenInvoice

__all__ = ["Cover", "DisputeState", "dispute_states", "instant", "promise_covers"]

# Cents: an amount within this of another covers it (money is stored to 2 decimals).
_CENT = 0.005


def instant(value: dt.date | dt.datetime) -> dt.datetime:
    """Comparable instant of a date or (naive or aware) datetime; aware ones in UTC."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    return dt.datetime.combine(value, dt.time.min)


@dataclass(frozen=True)
class DisputeState:
    """An invoice's dispute: "open" (in dispute) or resolved "valid" / "invalid".

    Attributes:
        state: "open", "valid" (credit note expected) or "invalid" (dunning resumes).
        action: the dispute action (open) or the resolve action; None for an open
            dispute known only from the ERP's disputed flag.
    """

    state: Literal["open", "valid", "invalid"]
    action: ActionRecord | None


@dataclass(frozen=True)
class Cover:
    """The promise applying to one invoice and how much of the invoice it covers.

    Attributes:
        promise: the applicable promise.
        covered: it covers the invoice's whole open amount (so it may pause dunning).
        spent: the part of the promised amount allotted to this invoice.
    """

    promise: ActionRecord
    covered: bool
    spent: float


def _latest(actions: Sequence[ActionRecord], kind: str, invoice_id: str) -> ActionRecord | None:
    """The latest action of `kind` naming `invoice_id` or no invoice (the whole customer)."""
    best: ActionRecord | None = None
    for action in actions:
        if action.kind != kind or action.invoice_id not in (None, invoice_id):
            continue
        if best is None or instant(action.at) >= instant(best.at):
            best = action
    return best


def dispute_states(
    invoices: Sequence[OpenInvoice], actions: Sequence[ActionRecord]
) -> dict[str, DisputeState]:
    """Invoice id -> its dispute, for the invoices that have one (see the module docstring)."""
    if not any(a.kind in ("dispute", "resolve") for a in actions):
        return {inv.invoice_id: DisputeState("open", None) for inv in invoices if inv.disputed}
    out: dict[str, DisputeState] = {}
    for inv in invoices:
        dispute = _latest(actions, "dispute", inv.invoice_id)
        resolve = _latest(actions, "resolve", inv.invoice_id)
        if (
            resolve is not None
            and dispute is not None
            and instant(resolve.at) < instant(dispute.at)
        ):
            resolve = None  # disputed again after the last resolution
        if resolve is None:
            if dispute is not None or inv.disputed:
                out[inv.invoice_id] = DisputeState("open", dispute)
        elif dispute is not None or inv.disputed:
            out[inv.invoice_id] = DisputeState(
                "valid" if resolve.outcome == "valid" else "invalid", resolve
            )
    return out


def _latest_promises(
    actions: Sequence[ActionRecord],
) -> tuple[ActionRecord | None, dict[str, ActionRecord]]:
    """(latest customer-wide promise, latest promise per invoice)."""
    wide: ActionRecord | None = None
    per_invoice: dict[str, ActionRecord] = {}
    for action in actions:
        if action.kind != "promise" or action.promised_date is None:
            continue
        if action.invoice_id is None:
            if wide is None or instant(action.at) >= instant(wide.at):
                wide = action
        else:
            old = per_invoice.get(action.invoice_id)
            if old is None or instant(action.at) >= instant(old.at):
                per_invoice[action.invoice_id] = action
    return wide, per_invoice


def _budget(promise: ActionRecord) -> float:
    amount = promise.promised_amount
    if amount is None or (isinstance(amount, float) and math.isnan(amount)):
        return math.inf
    return float(amount)


def promise_covers(
    invoices: Sequence[OpenInvoice],
    actions: Sequence[ActionRecord],
    *,
    disputed: Collection[str] = (),
) -> dict[str, Cover]:
    """Invoice id -> the promise applying to it and whether it covers it (module docstring).

    Args:
        invoices: the customer's open invoices.
        actions: its logged actions.
        disputed: invoices in dispute: a customer-wide promise is not spent on them.
    """
    wide, per_invoice = _latest_promises(actions)
    out: dict[str, Cover] = {}
    under_wide: list[OpenInvoice] = []
    for inv in invoices:
        own = per_invoice.get(inv.invoice_id)
        if wide is not None and (own is None or instant(wide.at) > instant(own.at)):
            if inv.invoice_id not in disputed:
                under_wide.append(inv)
        elif own is not None:
            budget = _budget(own)
            covered = budget >= inv.open_amount - _CENT
            out[inv.invoice_id] = Cover(own, covered, min(budget, inv.open_amount))
    if wide is None:
        return out
    left = _budget(wide)
    for inv in sorted(under_wide, key=lambda i: (i.due_date, i.invoice_id)):
        covered = left >= inv.open_amount - _CENT
        spent = min(left, inv.open_amount)
        out[inv.invoice_id] = Cover(wide, covered, spent)
        # Oldest first and in order: once one cannot be covered, younger ones are not.
        left = left - spent if covered else 0.0
    return out
