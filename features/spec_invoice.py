"""The invoice-level features: each one's dtype, unit, description and reason wording.

Computed by `features.build._with_invoice_features` (frames) and
`features.online.new_invoice_features` (one order); import them through `features.spec`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from features.feature import FeatureSpec
from features.wording import days, due, flag, money, month, number, pct, times, weekday

__all__ = ["INVOICE_SPEC"]


def _log_amount_reason(value: object, values: Mapping[str, object]) -> str:
    # The fallback amount is computed even when the row holds the amount (as it always
    # has been); only a log amount above ~709 makes it overflow.
    amount = values.get("invoice_amount", math.expm1(number(value)))
    return f"the invoice is for {money(amount)}"


INVOICE_SPEC: tuple[FeatureSpec, ...] = (
    FeatureSpec(
        "invoice_amount",
        "float",
        "invoice amount",
        unit="money",
        level="invoice",
        reason=lambda v, _: f"the invoice is for {money(v)}",
    ),
    FeatureSpec(
        "invoice_log_amount",
        "float",
        "invoice size (log of amount)",
        level="invoice",
        reason=_log_amount_reason,
    ),
    FeatureSpec(
        "invoice_terms_days",
        "int",
        "payment terms of the invoice",
        unit="days",
        level="invoice",
        reason=lambda v, _: f"the invoice has {days(v)} payment terms",
    ),
    FeatureSpec(
        "invoice_amount_vs_usual",
        "float",
        "invoice amount relative to the customer's median invoice (1 = usual size)",
        nullable=True,
        level="invoice",
        reason=lambda v, _: f"the invoice is {times(v)} the customer's usual amount",
        unknown="has no usual invoice amount yet to compare with",
    ),
    FeatureSpec(
        "invoice_issue_month",
        "int",
        "month the invoice was issued (1-12)",
        level="invoice",
        reason=lambda v, _: f"the invoice was issued in {month(v)}",
    ),
    FeatureSpec(
        "invoice_issued_quarter_end",
        "int",
        "invoice issued in the last month of a quarter",
        unit="flag",
        level="invoice",
        reason=flag(
            "the invoice was issued at a quarter end",
            "the invoice was not issued at a quarter end",
        ),
    ),
    FeatureSpec(
        "invoice_issue_weekday",
        "int",
        "weekday the invoice was issued (0 = Monday)",
        level="invoice",
        reason=lambda v, _: f"the invoice was issued on a {weekday(v)}",
    ),
    FeatureSpec(
        "invoice_age_days",
        "int",
        "days since the invoice was issued",
        unit="days",
        level="invoice",
        reason=lambda v, _: f"the invoice was issued {days(v)} ago",
    ),
    FeatureSpec(
        "invoice_days_past_due",
        "int",
        "days past the due date (negative = not yet due)",
        unit="days",
        level="invoice",
        reason=lambda v, _: due(v),
        direction=1,
    ),
    FeatureSpec(
        "invoice_open_share",
        "float",
        "share of the invoice amount still unpaid",
        unit="share",
        level="invoice",
        reason=lambda v, _: f"{pct(v)} of the invoice is still unpaid",
        direction=1,
    ),
    FeatureSpec(
        "invoice_disputed",
        "int",
        "the invoice is disputed",
        unit="flag",
        level="invoice",
        reason=flag("the invoice is disputed", "the invoice is not disputed"),
    ),
)
