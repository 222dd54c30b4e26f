"""Reasons: the largest LightGBM `pred_contrib` of a score, as sentences a collector reads.

Each feature has a sentence built from its value ("paid 12 invoices 23 days late on
average"), never its raw name; features without a template fall back to the spec's
description and the value in its unit. The direction says whether the feature pushed
the score toward risk (default probability up, or later payment) or away from it.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from features.spec import FEATURE_SPEC
from training.bundle import Bundle

__all__ = ["TOP_REASONS", "Reason", "explain", "feature_values", "sentence"]

_SPEC = {f.name: f for f in FEATURE_SPEC}
# Model reasons given per score.
TOP_REASONS = 3
# Contributions smaller than this (log-odds or days) do not make a reason.
_MIN_CONTRIBUTION = 1e-3


@dataclass(frozen=True)
class Reason:
    """One reason behind a score."""

    feature: str
    text: str
    effect: str  # "raises risk" or "lowers risk"
    contribution: float  # raw model scale: log-odds of default, or days late


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def _n(value: object) -> int:
    return round(float(value))  # type: ignore[arg-type]


def _days(value: object) -> str:
    d = _n(value)
    return f"{abs(d)} day{'s' if abs(d) != 1 else ''}"


def _late(value: object) -> str:
    d = _n(value)
    if d == 0:
        return "on time"
    return f"{_days(d)} {'late' if d > 0 else 'early'}"


def _pct(value: object) -> str:
    return f"{float(value) * 100:.0f}%"  # type: ignore[arg-type]


def _money(value: object) -> str:
    return f"{float(value):,.0f}"  # type: ignore[arg-type]


def _count(value: object, noun: str) -> str:
    n = _n(value)
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _tenure(value: object) -> str:
    d = _n(value)
    if d >= 730:
        return f"a customer for {d / 365.25:.0f} years"
    if d >= 60:
        return f"a customer for {d / 30.4:.0f} months"
    return f"a customer for {_days(d)}"


def _due(value: object) -> str:
    d = _n(value)
    if d > 0:
        return f"the invoice is {_days(d)} past due"
    if d == 0:
        return "the invoice is due today"
    return f"the invoice is due in {_days(d)}"


def _trend(value: object) -> str:
    d = _n(value)
    if d == 0:
        return "pays about as late as before"
    return f"recently pays {_days(d)} {'later' if d > 0 else 'earlier'} than before"


def _flag(yes: str, no: str) -> Callable[[object, Mapping[str, object]], str]:
    return lambda v, _values: yes if _n(v) else no


Template = Callable[[object, Mapping[str, object]], str]

_TEMPLATES: dict[str, Template] = {
    "history_settled_count": lambda v, _: f"has paid {_count(v, 'invoice')} so far",
    "history_days_late_mean": lambda v, values: (
        f"paid {_count(values.get('history_settled_count') or 0, 'invoice')} {_late(v)} on average"
    ),
    "history_days_late_median": lambda v, _: f"typically pays {_late(v)}",
    "history_days_late_max": lambda v, _: f"paid its worst invoice {_late(v)}",
    "history_days_late_recent": lambda v, _: f"paid its recent invoices {_late(v)} on average",
    "history_share_late": lambda v, _: f"paid {_pct(v)} of its invoices late",
    "history_share_late_over_30": lambda v, _: (
        f"paid {_pct(v)} of its invoices more than 30 days late"
    ),
    "history_last_days_late": lambda v, _: f"paid its last invoice {_late(v)}",
    "history_days_late_trend": lambda v, _: _trend(v),
    "history_default_count": lambda v, _: (
        f"{_count(v, 'invoice')} written off or unpaid 90+ days past due"
        if _n(v)
        else "never left an invoice unpaid 90+ days past due"
    ),
    "history_default_share": lambda v, _: (
        f"{_pct(v)} of its concluded invoices went unpaid or were written off"
    ),
    "history_partial_payment_share": lambda v, _: f"paid {_pct(v)} of its invoices in parts",
    "exposure_open_amount": lambda v, _: f"owes {_money(v)} in total",
    "exposure_open_count": lambda v, _: f"has {_count(v, 'open invoice')}",
    "exposure_overdue_amount": lambda v, _: (
        f"has {_money(v)} overdue" if float(v) > 0 else "has nothing overdue"  # type: ignore[arg-type]
    ),
    "exposure_overdue_count": lambda v, _: (
        f"has {_count(v, 'overdue invoice')}" if _n(v) else "has no overdue invoice"
    ),
    "exposure_oldest_overdue_days": lambda v, _: (
        f"its oldest overdue invoice is {_days(v)} past due" if _n(v) else "nothing is overdue"
    ),
    "exposure_credit_utilisation": lambda v, _: f"uses {_pct(v)} of its credit limit",
    "exposure_dispute_rate": lambda v, _: f"disputed {_pct(v)} of its invoices",
    "exposure_days_since_last_payment": lambda v, _: f"last paid anything {_days(v)} ago",
    "customer_tenure_days": lambda v, _: f"has been {_tenure(v)}",
    "customer_invoice_count": lambda v, _: f"has received {_count(v, 'invoice')} so far",
    "customer_median_invoice_amount": lambda v, _: f"its usual invoice is {_money(v)}",
    "customer_credit_limit": lambda v, _: f"has a credit limit of {_money(v)}",
    "customer_payment_terms_days": lambda v, _: f"has standard terms of {_days(v)}",
    "customer_industry": lambda v, _: f"works in {v}",
    "customer_country": lambda v, _: f"is based in {v}",
    "customer_no_payment_history": _flag(
        "has not paid any invoice yet: no payment history", "has a payment history"
    ),
    "customer_is_new": _flag("is a new customer", "is an established customer"),
    "invoice_amount": lambda v, _: f"the invoice is for {_money(v)}",
    "invoice_log_amount": lambda v, values: (
        f"the invoice is for {_money(values.get('invoice_amount', math.expm1(float(v))))}"  # type: ignore[arg-type]
    ),
    "invoice_terms_days": lambda v, _: f"the invoice has {_days(v)} payment terms",
    "invoice_amount_vs_usual": lambda v, _: (
        f"the invoice is {float(v):.1f} times the customer's usual amount"  # type: ignore[arg-type]
    ),
    "invoice_issue_month": lambda v, _: f"the invoice was issued in {calendar.month_name[_n(v)]}",
    "invoice_issued_quarter_end": _flag(
        "the invoice was issued at a quarter end", "the invoice was not issued at a quarter end"
    ),
    "invoice_issue_weekday": lambda v, _: (
        f"the invoice was issued on a {calendar.day_name[_n(v) % 7]}"
    ),
    "invoice_age_days": lambda v, _: f"the invoice was issued {_days(v)} ago",
    "invoice_days_past_due": lambda v, _: _due(v),
    "invoice_open_share": lambda v, _: f"{_pct(v)} of the invoice is still unpaid",
    "invoice_disputed": _flag("the invoice is disputed", "the invoice is not disputed"),
}

_UNKNOWN = {
    "history_days_late_mean": "has no paid invoice yet, so its payment habits are unknown",
    "exposure_days_since_last_payment": "has never paid anything",
    "customer_credit_limit": "has no credit limit on file",
    "customer_payment_terms_days": "has no standard payment terms on file",
    "exposure_credit_utilisation": "has no credit limit to compare its debt with",
    "customer_industry": "its industry is not on file",
    "customer_country": "its country is not on file",
    "invoice_amount_vs_usual": "has no usual invoice amount yet to compare with",
}


def sentence(feature: str, values: Mapping[str, object]) -> str:
    """The sentence describing `feature` at its value in `values`."""
    value = values.get(feature)
    if _missing(value):
        if feature in _UNKNOWN:
            return _UNKNOWN[feature]
        return f"{_SPEC[feature].description}: unknown" if feature in _SPEC else feature
    template = _TEMPLATES.get(feature)
    if template is not None:
        return template(value, values)
    spec = _SPEC.get(feature)
    description = spec.description if spec else feature.replace("_", " ")
    return f"{description}: {value}"


def feature_values(bundle: Bundle, x: np.ndarray) -> dict[str, object]:
    """Feature values by name of one model row (categorical codes back to their values)."""
    values: dict[str, object] = {}
    for j, name in enumerate(bundle.feature_columns):
        v = float(x[j])
        if name in bundle.categories:
            values[name] = None if math.isnan(v) else bundle.categories[name][int(v)]
        else:
            values[name] = v
    return values


def explain(
    contributions: np.ndarray,
    values: Mapping[str, object],
    *,
    feature_columns: Sequence[str],
    top: int = TOP_REASONS,
) -> list[Reason]:
    """The `top` largest contributions of one score as reasons, largest first.

    Args:
        contributions: one row of `Bundle.contributions` (n_features,).
        values: the row's feature values by name.
        feature_columns: the bundle's feature order.
        top: how many reasons at most.
    """
    contributions = np.asarray(contributions, dtype="float64")
    order = np.argsort(-np.abs(contributions), kind="stable")
    reasons: list[Reason] = []
    seen: set[str] = set()
    for j in order:
        c = float(contributions[j])
        if len(reasons) >= top or abs(c) < _MIN_CONTRIBUTION:
            break
        feature = feature_columns[j]
        text = sentence(feature, values)
        if text in seen:  # amount and log amount say the same thing
            continue
        seen.add(text)
        reasons.append(
            Reason(
                feature=feature,
                text=text,
                effect="raises risk" if c > 0 else "lowers risk",
                contribution=round(c, 4),
            )
        )
    return reasons
