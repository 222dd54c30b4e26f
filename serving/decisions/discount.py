"""Early-payment discount: worth offering when the money earned early beats its price.

Without a discount the customer is expected to pay `terms + expected days late` days
after issue; taking the discount, on day `policy.discount_days`. Money arriving that
many days earlier is worth amount × cost of capital × days earlier / 365; the discount
costs amount × rate. The break-even rate is cost of capital × days earlier / 365.

Assumes a customer who takes the discount pays on its last day; it does not credit the
lower default risk of money already collected (a risky customer who cannot pay will
not take the discount either).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kernel.policy import PolicySettings

__all__ = ["DiscountAdvice", "discount_advice"]


@dataclass(frozen=True)
class DiscountAdvice:
    """Whether to offer an early-payment discount on one invoice, and the numbers.

    Attributes:
        worth_offering: True when `net_benefit` > 0.
        rate: the discount rate assessed (0.01 = 1 %).
        days_earlier: days the money arrives earlier with the discount (>= 0).
        financing_gain: amount × cost of capital × days earlier / 365.
        discount_cost: amount × rate.
        net_benefit: financing_gain − discount_cost.
        break_even_rate: the highest rate that still pays for itself.
        reasons: sentences for people.
    """

    worth_offering: bool
    rate: float
    days_earlier: float
    financing_gain: float
    discount_cost: float
    net_benefit: float
    break_even_rate: float
    reasons: tuple[str, ...]


def _money(x: float) -> str:
    return f"{x:,.2f}"


def discount_advice(
    *,
    amount: float,
    terms_days: float,
    expected_days_late: float,
    policy: PolicySettings,
    rate: float | None = None,
) -> DiscountAdvice:
    """Is an early-payment discount on this invoice worth offering?

    Args:
        amount: invoice amount (>= 0).
        terms_days: payment terms in days.
        expected_days_late: predicted days late (mean model; negative = early).
        policy: the decision policy (cost of capital, discount rate, band, days).
        rate: the discount to assess; None = `policy.discount_rate`, or the band's lower
            end when that is worth it and the policy rate is not.
    """
    if math.isnan(amount) or amount < 0:
        raise ValueError(f"amount must be a number >= 0, got {amount}")
    if rate is not None and not 0 < rate < 1:
        raise ValueError(f"rate must lie in (0, 1), got {rate}")
    late = 0.0 if math.isnan(expected_days_late) else float(expected_days_late)
    # A payment cannot come before the invoice exists.
    pay_day = max(0.0, float(terms_days) + late)
    days_earlier = max(0.0, pay_day - policy.discount_days)
    break_even = policy.cost_of_capital * days_earlier / 365.0
    if rate is None:
        rate = policy.discount_rate
        if break_even <= rate and break_even > policy.discount_rate_min:
            rate = policy.discount_rate_min
    gain = amount * break_even
    cost = amount * rate
    net = gain - cost
    worth = net > 0
    reasons = [
        f"expected payment {pay_day:.0f} days after issue ({terms_days:.0f} days terms "
        f"{late:+.0f} days late); with the discount by day {policy.discount_days}, "
        f"{days_earlier:.0f} days earlier",
        f"{days_earlier:.0f} days earlier at {policy.cost_of_capital:.0%} a year is worth "
        f"{break_even:.2%} ({_money(gain)}); the {rate:.2%} discount costs {_money(cost)}",
        (
            f"worth offering: gains {_money(net)} net"
            if worth
            else f"not worth offering: would lose {_money(-net)} net"
        ),
    ]
    return DiscountAdvice(
        worth_offering=worth,
        rate=rate,
        days_earlier=days_earlier,
        financing_gain=gain,
        discount_cost=cost,
        net_benefit=net,
        break_even_rate=break_even,
        reasons=tuple(reasons),
    )
