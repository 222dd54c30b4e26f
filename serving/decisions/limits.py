"""Suggested credit limits: a formula a credit manager can read back and defend.

    base        = typical monthly sales × (payment terms + slack days) / 30
    risk factor = max(0, 1 − slope × P(risk target))        (with a risk model: default,
                                                             or very late on thin ledgers)
                = clip(1 − median days late / zero point, 0, 1)   (without one)
    limit       = round(base × risk factor), moved at most ±max change from the current
                  limit, then held within [floor, ceiling]

The limit never rises with risk, all else equal (every step is monotone), and a
customer with too little history gets the policy default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kernel.policy import PolicySettings
from serving.decisions.records import is_missing, is_present
from serving.decisions.target import DEFAULT_TARGET, RiskTarget, chance_words

__all__ = ["CreditLimit", "monthly_sales_estimate", "suggest_credit_limit"]

_DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class CreditLimit:
    """A suggested credit limit and the sentences that justify it.

    Attributes:
        amount: the suggested limit.
        cold_start: True when the policy default was used (too little history or no
            risk score).
        base: the volume-based limit before risk (None on cold start).
        risk_factor: multiplier applied for risk, in [0, 1] (1.0 on cold start).
        rationale: sentences, in the order the formula applies them.
    """

    amount: float
    cold_start: bool
    base: float | None
    risk_factor: float
    rationale: tuple[str, ...]


def _money(x: float) -> str:
    return f"{x:,.0f}"


def monthly_sales_estimate(
    *, invoice_count: int, median_invoice_amount: float | None, tenure_days: float
) -> float | None:
    """Typical monthly sales from the customer features (None without invoices).

    invoice count × median invoice amount / months of tenure (at least one month), i.e.
    `customer_invoice_count`, `customer_median_invoice_amount`, `customer_tenure_days`.
    """
    if invoice_count <= 0 or not is_present(median_invoice_amount) or median_invoice_amount <= 0:
        return None
    months = max(float(tenure_days), _DAYS_PER_MONTH) / _DAYS_PER_MONTH
    return invoice_count * float(median_invoice_amount) / months


def _risk_factor(
    p_default: float | None,
    days_late_p50: float | None,
    policy: PolicySettings,
    target: RiskTarget,
) -> tuple[float, str] | None:
    if is_present(p_default):
        p = float(p_default)
        factor = max(0.0, 1.0 - policy.credit_limit_risk_slope * p)
        return factor, f"risk factor {factor:.2f} for a {p:.1%} {chance_words(target)}"
    if is_present(days_late_p50):
        days = max(0.0, float(days_late_p50))
        factor = min(1.0, max(0.0, 1.0 - days / policy.credit_limit_days_late_zero))
        return factor, (
            f"risk factor {factor:.2f} for paying {days:.0f} days late typically "
            "(no default model yet)"
        )
    return None


def _round(value: float, unit: float) -> float:
    # Half-up rounding is monotone, so rounding cannot break monotonicity in risk.
    return math.floor(value / unit + 0.5) * unit if unit > 0 else value


def _cold_start(policy: PolicySettings, why: str) -> CreditLimit:
    amount = policy.credit_limit_default
    return CreditLimit(
        amount=amount,
        cold_start=True,
        base=None,
        risk_factor=1.0,
        rationale=(f"{why}: policy default limit {_money(amount)}",),
    )


def suggest_credit_limit(
    *,
    monthly_sales: float | None,
    terms_days: float,
    p_default: float | None,
    policy: PolicySettings,
    current_limit: float | None = None,
    history_invoices: int | None = None,
    days_late_p50: float | None = None,
    target: RiskTarget = DEFAULT_TARGET,
) -> CreditLimit:
    """Suggested credit limit of one customer, with its rationale.

    Args:
        monthly_sales: typical monthly sales to the customer (see
            `monthly_sales_estimate`); None or ≤ 0 = cold start.
        terms_days: the customer's payment terms in days.
        p_default: calibrated probability of the risk target (`target`) of a typical new
            invoice (NaN / None when the bundle has no risk model).
        policy: the decision policy (floor, ceiling, default, max change, slope...).
        current_limit: the limit in force; the suggestion moves at most
            `policy.credit_limit_max_change` of it per review (None / ≤ 0 = no limit yet).
        history_invoices: paid invoices so far (`history_settled_count`); fewer than
            `policy.credit_limit_min_history` = cold start.
        days_late_p50: predicted median days late, the risk basis without a default model.
        target: what `p_default` is the probability of (the bundle's risk target).
    """
    if history_invoices is not None and history_invoices < policy.credit_limit_min_history:
        return _cold_start(
            policy,
            f"too little history ({history_invoices} paid invoices, "
            f"{policy.credit_limit_min_history} needed)",
        )
    if not is_present(monthly_sales) or monthly_sales <= 0:
        return _cold_start(policy, "no sales history to size a limit from")
    risk = _risk_factor(p_default, days_late_p50, policy, target)
    if risk is None:
        return _cold_start(policy, "no risk score for this customer")
    factor, risk_words = risk
    sales = float(monthly_sales)
    days = max(0.0, float(terms_days)) + policy.credit_limit_slack_days
    base = sales * days / 30.0
    amount = _round(base * factor, policy.credit_limit_rounding)
    rationale = [
        f"typical monthly sales {_money(sales)} × ({terms_days:.0f} days terms + "
        f"{policy.credit_limit_slack_days} days slack) / 30 = {_money(base)}",
        f"{risk_words}: {_money(amount)}",
    ]
    if current_limit is not None and not is_missing(current_limit) and current_limit > 0:
        change = policy.credit_limit_max_change
        low, high = current_limit * (1 - change), current_limit * (1 + change)
        if amount > high:
            amount = high
            rationale.append(
                f"raised at most {change:.0%} per review from the current {_money(current_limit)}"
            )
        elif amount < low:
            amount = max(low, 0.0)
            rationale.append(
                f"lowered at most {change:.0%} per review from the current {_money(current_limit)}"
            )
    if amount < policy.credit_limit_floor:
        amount = policy.credit_limit_floor
        rationale.append(f"raised to the policy floor {_money(amount)}")
    elif amount > policy.credit_limit_ceiling:
        amount = policy.credit_limit_ceiling
        rationale.append(f"capped at the policy ceiling {_money(amount)}")
    rationale.append(f"suggested limit {_money(amount)}")
    return CreditLimit(
        amount=float(amount),
        cold_start=False,
        base=base,
        risk_factor=factor,
        rationale=tuple(rationale),
    )
