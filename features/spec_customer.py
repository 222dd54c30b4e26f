"""The customer-level features: each one's dtype, unit, description and reason wording.

Payment history (`features.history`), exposure (`features.exposure`), the customer's
record and the cold-start flags (`features.customer_features`): the same for every
invoice of a customer at a date, served from `customer_state`. Import them through
`features.spec`.
"""

from __future__ import annotations

from collections.abc import Mapping

from features.feature import (
    DEFAULT_AFTER_DAYS,
    HISTORY_CAP_DAYS,
    NEW_CUSTOMER_DAYS,
    TREND_RECENT,
    FeatureSpec,
)
from features.wording import (
    count,
    days,
    flag,
    late,
    money,
    number,
    pct,
    share_of,
    tenure,
    trend,
    whole,
)

__all__ = ["CUSTOMER_SPEC"]


def _mean_late_reason(value: object, values: Mapping[str, object]) -> str:
    settled = values.get("history_settled_count") or 0
    return f"paid {count(settled, 'invoice')} {late(value)} on average"


def _default_count_reason(value: object, _values: Mapping[str, object]) -> str:
    if not whole(value):
        return f"never left an invoice unpaid {DEFAULT_AFTER_DAYS}+ days past due"
    return f"{count(value, 'invoice')} written off or unpaid {DEFAULT_AFTER_DAYS}+ days past due"


CUSTOMER_SPEC: tuple[FeatureSpec, ...] = (
    # Payment history (invoices settled before the snapshot)
    FeatureSpec(
        "history_settled_count",
        "int",
        "invoices the customer has paid so far",
        unit="count",
        reason=lambda v, _: f"has paid {count(v, 'invoice')} so far",
    ),
    FeatureSpec(
        "history_days_late_mean",
        "float",
        f"average days late on paid invoices (capped at {HISTORY_CAP_DAYS})",
        nullable=True,
        unit="days",
        reason=_mean_late_reason,
        unknown="has no paid invoice yet, so its payment habits are unknown",
        direction=1,
    ),
    FeatureSpec(
        "history_days_late_median",
        "float",
        "typical (median) days late on paid invoices",
        nullable=True,
        unit="days",
        reason=lambda v, _: f"typically pays {late(v)}",
        direction=1,
    ),
    FeatureSpec(
        "history_days_late_max",
        "float",
        "worst days late on a paid invoice",
        nullable=True,
        unit="days",
        reason=lambda v, _: f"paid its worst invoice {late(v)}",
        direction=1,
    ),
    FeatureSpec(
        "history_days_late_recent",
        "float",
        "days late on paid invoices, weighted toward the most recent",
        nullable=True,
        unit="days",
        reason=lambda v, _: f"paid its recent invoices {late(v)} on average",
        direction=1,
    ),
    FeatureSpec(
        "history_share_late",
        "float",
        "share of paid invoices that were paid late",
        nullable=True,
        unit="share",
        reason=lambda v, _: f"paid {pct(v)} of its invoices late",
        direction=1,
    ),
    FeatureSpec(
        "history_share_late_over_30",
        "float",
        "share of paid invoices paid more than 30 days late",
        nullable=True,
        unit="share",
        reason=lambda v, _: f"paid {pct(v)} of its invoices more than 30 days late",
        direction=1,
    ),
    FeatureSpec(
        "history_last_days_late",
        "float",
        "days late on the most recently paid invoice",
        nullable=True,
        unit="days",
        reason=lambda v, _: f"paid its last invoice {late(v)}",
        direction=1,
    ),
    FeatureSpec(
        "history_days_late_trend",
        "float",
        f"change in days late: last {TREND_RECENT} paid invoices vs earlier ones "
        "(positive = paying later)",
        nullable=True,
        unit="days",
        reason=lambda v, _: trend(v),
        direction=1,
    ),
    FeatureSpec(
        "history_default_count",
        "int",
        f"invoices written off or unpaid {DEFAULT_AFTER_DAYS}+ days past due",
        unit="count",
        reason=_default_count_reason,
        direction=1,
    ),
    FeatureSpec(
        "history_default_share",
        "float",
        "share of concluded invoices that were written off or went unpaid "
        f"{DEFAULT_AFTER_DAYS}+ days past due",
        nullable=True,
        unit="share",
        reason=lambda v, _: f"{pct(v)} of its concluded invoices went unpaid or were written off",
        direction=1,
    ),
    FeatureSpec(
        "history_partial_payment_share",
        "float",
        "share of paid invoices whose first payment was only partial",
        nullable=True,
        unit="share",
        reason=lambda v, _: f"paid {pct(v)} of its invoices in parts",
    ),
    # Exposure at the snapshot
    FeatureSpec(
        "exposure_open_amount",
        "float",
        "amount the customer owes in total",
        unit="money",
        reason=lambda v, _: f"owes {money(v)} in total",
    ),
    FeatureSpec(
        "exposure_open_count",
        "int",
        "open invoices of the customer",
        unit="count",
        reason=lambda v, _: f"has {count(v, 'open invoice')}",
    ),
    FeatureSpec(
        "exposure_overdue_amount",
        "float",
        "amount the customer has overdue",
        unit="money",
        reason=lambda v, _: f"has {money(v)} overdue" if number(v) > 0 else "has nothing overdue",
        direction=1,
    ),
    FeatureSpec(
        "exposure_overdue_count",
        "int",
        "overdue invoices of the customer",
        unit="count",
        reason=lambda v, _: (
            f"has {count(v, 'overdue invoice')}" if whole(v) else "has no overdue invoice"
        ),
        direction=1,
    ),
    FeatureSpec(
        "exposure_oldest_overdue_days",
        "int",
        "days past due of the customer's oldest overdue invoice (0 = none overdue)",
        unit="days",
        reason=lambda v, _: (
            f"its oldest overdue invoice is {days(v)} past due"
            if whole(v)
            else "nothing is overdue"
        ),
        direction=1,
    ),
    FeatureSpec(
        "exposure_credit_utilisation",
        "float",
        "amount owed as a share of the credit limit",
        nullable=True,
        unit="share",
        reason=lambda v, _: f"uses {share_of(v, 'its credit limit')}",
        unknown="has no credit limit to compare its debt with",
        # Owing under half the limit is good news, more is bad news.
        neutral=0.5,
        direction=1,
    ),
    FeatureSpec(
        "exposure_dispute_rate",
        "float",
        "share of the customer's invoices that were disputed",
        nullable=True,
        unit="share",
        reason=lambda v, _: f"disputed {pct(v)} of its invoices",
    ),
    FeatureSpec(
        "exposure_days_since_last_payment",
        "float",
        "days since the customer last paid anything",
        nullable=True,
        unit="days",
        reason=lambda v, _: f"last paid anything {days(v)} ago",
        unknown="has never paid anything",
    ),
    # The customer's record
    FeatureSpec(
        "customer_tenure_days",
        "int",
        "days since the customer relationship began",
        unit="days",
        reason=lambda v, _: f"has been {tenure(v)}",
    ),
    FeatureSpec(
        "customer_invoice_count",
        "int",
        "invoices issued to the customer so far",
        unit="count",
        reason=lambda v, _: f"has received {count(v, 'invoice')} so far",
    ),
    FeatureSpec(
        "customer_median_invoice_amount",
        "float",
        "the customer's usual (median) invoice amount",
        nullable=True,
        unit="money",
        reason=lambda v, _: f"its usual invoice is {money(v)}",
    ),
    FeatureSpec(
        "customer_credit_limit",
        "float",
        "credit limit",
        nullable=True,
        unit="money",
        reason=lambda v, _: f"has a credit limit of {money(v)}",
        unknown="has no credit limit on file",
    ),
    FeatureSpec(
        "customer_payment_terms_days",
        "float",
        "the customer's standard payment terms",
        nullable=True,
        unit="days",
        reason=lambda v, _: f"has standard terms of {days(v)}",
        unknown="has no standard payment terms on file",
    ),
    FeatureSpec(
        "customer_industry",
        "category",
        "industry",
        nullable=True,
        reason=lambda v, _: f"works in {v}",
        unknown="its industry is not on file",
    ),
    FeatureSpec(
        "customer_country",
        "category",
        "country",
        nullable=True,
        reason=lambda v, _: f"is based in {v}",
        unknown="its country is not on file",
    ),
    # Cold start
    FeatureSpec(
        "customer_no_payment_history",
        "int",
        "no paid invoice yet: payment history unknown",
        unit="flag",
        reason=flag("has not paid any invoice yet: no payment history", "has a payment history"),
    ),
    FeatureSpec(
        "customer_is_new",
        "int",
        f"new customer (less than {NEW_CUSTOMER_DAYS} days)",
        unit="flag",
        reason=flag("is a new customer", "is an established customer"),
    ),
)
