"""Ledger profiles of the synthetic generator: the shapes real companies' books have.

A profile is a frozen set of generator parameters; `features.synthetic.generate_ledger`
takes one by name (`duecast generate --profile NAME`). Every profile is seeded (same
seed, same frames) and writes files that `duecast import` accepts.

- `default`: the B2B wholesale book the generator has always written: 300 customers over
  3 years, terms of 30/45/60 days, latent risk that drifts, spells of liquidity trouble,
  3-6 % defaults, partial payments, disputes, credit notes and collection actions.
- `thin`: a small real ledger: about 100 customers over 2 years, about one invoice per
  customer a month, fixed 30-day terms, small amounts, no defaults and no write-offs.
  Each customer keeps a stable lateness habit (no drift, no distress) and invoices add
  only a few days of noise, so most of the variance is explained by the customer.
- `many-counterparties`: 3,000 customers over 2 years, 75 % of them seen once (a single
  invoice; "seen" = with at least one invoice), long payment delays, and partial
  payments whose remainder is never paid: those invoices stay open and become defaults
  by the horizon rule, beside the usual write-offs.
- `instalments`: fees billed as schedules (a school or a subscription): once a year each
  customer gets ten monthly instalments issued on the same day, so the newest schedules
  have due dates after the end date; some customers pay a whole schedule in advance,
  and some instalments are paid in several parts (payment plans).

Parameters that a profile leaves at the class defaults reproduce the `default` book
exactly: `default` must stay byte-identical to the generator before profiles existed.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.errors import ConfigurationError

__all__ = ["PROFILES", "Profile", "get_profile"]


@dataclass(frozen=True)
class Profile:
    """Generator parameters of one ledger profile (defaults: the `default` book)."""

    name: str
    customers: int  # customer count when none is given
    years: float  # years of history when none is given
    terms: tuple[int, ...] = (30, 45, 60)  # customer terms in days
    terms_weights: tuple[float, ...] = (0.55, 0.25, 0.20)
    odd_terms_share: float = 0.05  # invoices on other terms than their customer's
    amount_median: float = 1800.0  # the typical customer's usual invoice amount
    monthly_invoices: float = 3.4  # mean invoices per customer-month
    default_rate: float | None = None  # None: driven by the latent risk (3-6 %)
    risk_drift: float = 1.0  # scales the drift, wander and distress of latent risk
    invoice_noise: float = 0.5  # sd of the invoice-level risk noise (logit)
    dispute_intercept: float = -3.6
    late_intercept: float = -0.75
    late_scale_days: float = 9.0  # scale of the gamma of days late when late
    # Lateness as the customer's stable habit: days = per_logit * risk + offset + noise.
    habit_noise_days: float | None = None
    habit_days_per_logit: float = 6.0
    habit_offset_days: float = 4.0
    partial_share: float = 0.08  # invoices with an early partial payment
    one_off_share: float = 0.0  # customers with exactly one invoice
    unpaid_remainder_share: float = 0.0  # partly paid invoices whose rest is never paid
    instalments: int = 0  # invoices per fee schedule (0: orders, not schedules)
    instalment_every_days: int = 30
    prepay_share: float = 0.0  # customers who pay a whole schedule when it is issued
    plan_share: float = 0.0  # settled invoices paid in several parts
    plan_parts_max: int = 4


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(name="default", customers=300, years=3.0),
        Profile(
            name="thin",
            customers=100,
            years=2.0,
            terms=(30,),
            terms_weights=(1.0,),
            odd_terms_share=0.0,
            amount_median=350.0,
            monthly_invoices=1.3,
            default_rate=0.0,
            risk_drift=0.0,
            invoice_noise=0.1,
            dispute_intercept=-6.0,
            habit_noise_days=3.0,
        ),
        Profile(
            name="many-counterparties",
            customers=3000,
            years=2.0,
            monthly_invoices=1.2,
            late_intercept=0.3,
            late_scale_days=22.0,
            partial_share=0.15,
            one_off_share=0.75,
            unpaid_remainder_share=0.3,
        ),
        Profile(
            name="instalments",
            customers=400,
            years=3.0,
            terms=(30,),
            terms_weights=(1.0,),
            odd_terms_share=0.0,
            amount_median=450.0,
            default_rate=0.02,
            risk_drift=0.5,
            instalments=10,
            prepay_share=0.15,
            plan_share=0.15,
        ),
    )
}


def get_profile(name: str) -> Profile:
    """The profile called `name`.

    Raises:
        ConfigurationError: if no profile has that name (the message lists them).
    """
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown ledger profile {name!r}: pick one of {', '.join(PROFILES)}"
        ) from None
