"""A worklist item's sentences for the collector (moved out of `worklist` to keep it short)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from features.wording import probability
from kernel.policy import PolicySettings
from serving.decisions.records import is_missing

if TYPE_CHECKING:
    from serving.decisions.worklist import InvoiceStep

__all__ = ["item_reasons"]


def _money(x: float) -> str:
    return f"{x:,.0f}"


def item_reasons(steps: Sequence[InvoiceStep], policy: PolicySettings, chance: str) -> list[str]:
    """Sentences for the collector: lead invoice, overdue, expected loss (`chance`), waiting."""
    lead = steps[0]
    open_amount = sum(s.open_amount for s in steps)
    overdue = [s for s in steps if s.days_overdue > 0]
    loss = sum(s.expected_loss for s in steps)
    waiting_cost = sum(s.cost_of_waiting for s in steps)
    reasons = [f"invoice {lead.invoice_id}: {lead.reason}"]
    if overdue:
        oldest = max(s.days_overdue for s in overdue)
        overdue_amount = sum(s.open_amount for s in overdue)
        reasons.append(
            f"{len(overdue)} of {len(steps)} open invoices overdue, {_money(overdue_amount)} "
            f"in total, the oldest {oldest} days"
        )
    scored = [s for s in steps if not is_missing(s.p_default)]
    if len(scored) == len(steps):
        reasons.append(
            f"expected loss {_money(loss)} on {_money(open_amount)} open "
            f"({probability(loss / open_amount)} average {chance})"
            if open_amount > 0
            else f"expected loss {_money(loss)}"
        )
    elif scored:
        # No default model: only invoices past due + H have a P(default), 1 by the rule.
        reasons.append(
            f"expected loss {_money(loss)}: {len(scored)} of {len(steps)} open invoices "
            "past the default horizon count as lost; no default model yet for the others"
        )
    else:
        reasons.append("no default model yet: priority counts only the cost of waiting")
    reasons.append(
        f"cost of waiting {_money(waiting_cost)} at {policy.cost_of_capital:.0%} a year "
        "cost of capital"
    )
    return reasons
