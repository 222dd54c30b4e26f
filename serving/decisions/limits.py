"""Suggested credit limits: a formula a credit manager can read back and defend.

    base        = typical monthly sales × (payment terms + slack days) / 30
    risk factor = max(0, 1 − slope × P(risk target))        (with a risk model: default,
                                                             or very late on thin ledgers)
                = clip(1 − median days late / zero point, 0, 1)   (without one)
    limit       = round(base × risk factor), moved at most ±max change from the current
                  limit, raised to one typical invoice (the median invoice amount,
                  rounded up) for a customer graded C or better, then held within
                  [floor, ceiling] (the ceiling wins over a typical invoice above it)

The limit never rises with risk, all else equal (every step is monotone), and a
customer with too little history gets the policy default (raised to one typical invoice
too). A limit below one normal invoice would decline even the smallest order of a good
customer; a customer graded D or E gets no such raise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from features.wording import probability
from kernel.policy import GRADES, PolicySettings
from serving.decisions.records import is_missing, is_present
from serving.decisions.target import DEFAULT_TARGET, RiskTarget, chance_words

__all__ = ["CreditLimit", "monthly_sales_estimate", "suggest_credit_limit"]

_DAYS_PER_MONTH = 365.25 / 12
# Grades whose limit is never below one typical invoice: C or better.
_TYPICAL_FLOOR_GRADES = GRADES[: GRADES.index("C") + 1]


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
        return factor, f"risk factor {factor:.2f} for {probability(p)} {chance_words(target)}"
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


def _round_up(value: float, unit: float) -> float:
    return math.ceil(value / unit) * unit if unit > 0 else value


def _bounded(
    amount: float,
    rationale: list[str],
    policy: PolicySettings,
    *,
    typical_invoice: float | None,
    grade: str | None,
) -> float:
    """`amount` raised to one typical invoice (grades A-C), then held in [floor, ceiling]."""
    if grade in _TYPICAL_FLOOR_GRADES and is_present(typical_invoice):
        typical = _round_up(float(typical_invoice), policy.credit_limit_rounding)
        if amount < typical:
            amount = typical
            rationale.append(
                f"raised to one typical invoice ({_money(float(typical_invoice))}, grade "
                f"{grade}): {_money(amount)}"
            )
    if amount < policy.credit_limit_floor:
        amount = policy.credit_limit_floor
        rationale.append(f"raised to the policy floor {_money(amount)}")
    elif amount > policy.credit_limit_ceiling:
        amount = policy.credit_limit_ceiling
        rationale.append(f"capped at the policy ceiling {_money(amount)}")
    return amount


def _within_change(
    amount: float, current_limit: float | None, rationale: list[str], policy: PolicySettings
) -> float:
    """`amount` moved at most `policy.credit_limit_max_change` from the limit in force."""
    if current_limit is None or is_missing(current_limit) or current_limit <= 0:
        return amount
    change = policy.credit_limit_max_change
    low, high = current_limit * (1 - change), current_limit * (1 + change)
    if amount > high:
        rationale.append(
            f"raised at most {change:.0%} per review from the current {_money(current_limit)}"
        )
        return high
    if amount < low:
        rationale.append(
            f"lowered at most {change:.0%} per review from the current {_money(current_limit)}"
        )
        return max(low, 0.0)
    return amount


def _cold_start(
    policy: PolicySettings, why: str, *, typical_invoice: float | None, grade: str | None
) -> CreditLimit:
    amount = policy.credit_limit_default
    rationale = [f"{why}: policy default limit {_money(amount)}"]
    bounded = _bounded(amount, rationale, policy, typical_invoice=typical_invoice, grade=grade)
    return CreditLimit(
        amount=float(bounded),
        cold_start=True,
        base=None,
        risk_factor=1.0,
        rationale=tuple(rationale),
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
    typical_invoice: float | None = None,
    grade: str | None = None,
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
        typical_invoice: the customer's typical (median) invoice amount; with `grade`
            C or better the limit is never below it (within the ceiling).
        grade: the customer's risk grade "A".."E" (None: no typical-invoice raise).
    """
    if history_invoices is not None and history_invoices < policy.credit_limit_min_history:
        return _cold_start(
            policy,
            f"too little history ({history_invoices} paid invoices, "
            f"{policy.credit_limit_min_history} needed)",
            typical_invoice=typical_invoice,
            grade=grade,
        )
    if not is_present(monthly_sales) or monthly_sales <= 0:
        return _cold_start(
            policy,
            "no sales history to size a limit from",
            typical_invoice=typical_invoice,
            grade=grade,
        )
    risk = _risk_factor(p_default, days_late_p50, policy, target)
    if risk is None:
        return _cold_start(
            policy, "no risk score for this customer", typical_invoice=typical_invoice, grade=grade
        )
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
    amount = _within_change(amount, current_limit, rationale, policy)
    amount = _bounded(amount, rationale, policy, typical_invoice=typical_invoice, grade=grade)
    rationale.append(f"suggested limit {_money(amount)}")
    return CreditLimit(
        amount=float(amount),
        cold_start=False,
        base=base,
        risk_factor=factor,
        rationale=tuple(rationale),
    )
