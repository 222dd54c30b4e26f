"""Synthetic invoices and their fate: when each is issued and due, paid, disputed, defaulted.

Stages two and three of `features.synthetic.generate_ledger`: invoices arrive per
customer-month with seasonality, and the risk at issue drives each outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.synthetic_customers import Customers, sequential_ids
from features.synthetic_profiles import PROFILES, Profile

__all__ = ["Invoices", "Outcomes", "draw_invoices", "draw_outcomes", "invoices_in_order"]

# Orders per month relative to the average: a summer dip and a busy autumn and year end.
_SEASON = np.array([0.9, 0.95, 1.1, 1.0, 1.0, 1.05, 0.9, 0.75, 1.05, 1.1, 1.15, 1.05])

# Intercept of the default model, tuned so that at typical risk levels 3-6 % of invoices
# default (the late intercept, about 40 % paid late, is the profile's `late_intercept`).
_DEFAULT_INTERCEPT = -5.1


@dataclass(frozen=True)
class Invoices:
    """Drawn invoices, sorted by issue date then customer."""

    cust: np.ndarray  # customer row
    issue: np.ndarray  # datetime64[D]
    due: np.ndarray
    amount: np.ndarray
    risk: np.ndarray  # latent logit at issue, with invoice noise
    ids: np.ndarray
    customer_ids: np.ndarray
    currency: np.ndarray


def draw_invoices(
    rng: np.random.Generator,
    cust: Customers,
    start: np.datetime64,
    end: np.datetime64,
    months: np.ndarray,
    profile: Profile = PROFILES["default"],
) -> Invoices:
    """Invoices per customer-month (Poisson, seasonal) with amounts, terms and risk."""
    n, m = cust.risk.shape
    month_start = months.astype("datetime64[D]")
    month_end = (months + 1).astype("datetime64[D]") - np.timedelta64(1, "D")
    # Each customer-month's active days: inside the window, after creation, before churn.
    lo = np.maximum(np.maximum(month_start[None, :], start), cust.created[:, None])
    hi = np.minimum(np.minimum(month_end[None, :], end), cust.churned[:, None] - 1)
    active_days = np.maximum((hi - lo).astype(int) + 1, 0)
    month_days = (month_end - month_start).astype(int) + 1
    season = _SEASON[months.astype(int) % 12]
    rate = cust.monthly_invoices[:, None] * season[None, :] * active_days / month_days[None, :]
    counts = rng.poisson(rate)
    if cust.one_off is not None:
        counts = _one_invoice_each(rng, counts, active_days, cust.one_off)
    flat = np.repeat(np.arange(n * m), counts.ravel())
    c, mo = np.divmod(flat, m)
    days = active_days[c, mo]
    issue = lo[c, mo] + np.floor(rng.random(len(flat)) * days).astype("timedelta64[D]")
    issue = off_weekends(issue, lo[c, mo], hi[c, mo])
    # The customer's usual size, a seasonal year-end bump and a rare very large order.
    log_amount = cust.log_size[c] + rng.normal(0.0, 0.6, len(c))
    log_amount += np.where(rng.random(len(c)) < 0.01, rng.uniform(1.0, 2.0, len(c)), 0.0)
    amount = np.round(np.maximum(np.exp(log_amount), 10.0), 2)
    choices = np.array(profile.terms)
    terms = np.where(
        rng.random(len(c)) < profile.odd_terms_share,
        choices[rng.integers(0, len(choices), len(c))],
        cust.terms[c],
    )
    due = issue + terms.astype("timedelta64[D]")
    relative_size = log_amount - cust.log_size[c]
    quarter_end = (issue.astype("datetime64[M]").astype(int) % 3 == 2).astype(float)
    # Young relationships are riskier (a step at six months), and an order far above the
    # customer's usual size strains the cash of an already shaky customer: thresholds and
    # interactions, as in real ledgers, not only straight lines.
    young = (issue - cust.created[c]).astype(int) < 180
    shaky = cust.risk[c, mo] > 0.3
    risk = (
        cust.risk[c, mo]
        + 0.25 * relative_size
        + 1.5 * ((relative_size > 0.9) & shaky)
        + 0.8 * young
        + 0.15 * quarter_end
        + 0.1 * (terms > 45)
        + rng.normal(0.0, profile.invoice_noise, len(c))
    )
    return invoices_in_order(cust, c, issue, due, amount, risk)


def invoices_in_order(
    cust: Customers,
    c: np.ndarray,
    issue: np.ndarray,
    due: np.ndarray,
    amount: np.ndarray,
    risk: np.ndarray,
) -> Invoices:
    """The drawn invoices sorted by issue date then customer, numbered in that order.

    The sort is stable: invoices of one customer issued the same day (a schedule's
    instalments) keep the order they were drawn in.
    """
    order = np.lexsort((c, issue))
    c, issue, due, amount, risk = c[order], issue[order], due[order], amount[order], risk[order]
    return Invoices(
        c,
        issue,
        due,
        amount,
        risk,
        sequential_ids("INV-", len(c)),
        cust.frame["customer_id"].to_numpy()[c],
        cust.frame["currency"].to_numpy()[c],
    )


def _one_invoice_each(
    rng: np.random.Generator, counts: np.ndarray, active_days: np.ndarray, one_off: np.ndarray
) -> np.ndarray:
    """Counts where each one-off customer has one invoice, in a month it is active."""
    counts = counts.copy()
    days = active_days[one_off].astype(float)
    total = days.sum(axis=1)
    # The month is drawn in proportion to its active days (inverse CDF).
    cum = np.cumsum(days, axis=1)
    u = rng.random(len(days)) * total
    month = np.minimum((cum <= u[:, None]).sum(axis=1), days.shape[1] - 1)
    rows = np.zeros_like(counts[one_off])
    rows[np.arange(len(rows)), month] = (total > 0).astype(counts.dtype)
    counts[one_off] = rows
    return counts


def off_weekends(day: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Move Saturday and Sunday invoices to the nearest weekday inside [lo, hi]."""
    weekday = (day.astype("datetime64[D]").astype(int) + 3) % 7  # Monday = 0
    shift = np.select([weekday == 5, weekday == 6], [-1, 1], 0).astype("timedelta64[D]")
    moved = day + shift
    return np.where((moved >= lo) & (moved <= hi), moved, day)


@dataclass(frozen=True)
class Outcomes:
    """What happens to each invoice: payment, dispute, default, instalment, credit note."""

    defaults: np.ndarray  # bool
    settle: np.ndarray  # datetime64[D] when paid in full (NaT: never)
    write_off: np.ndarray  # datetime64[D] (NaT: none)
    disputed: np.ndarray  # bool
    dispute_date: np.ndarray  # datetime64[D]
    partial: np.ndarray  # share paid early by instalment, 0 when none
    partial_date: np.ndarray
    credit_share: np.ndarray  # share covered by a credit note, 0 when none
    credit_date: np.ndarray
    plan_parts: np.ndarray | None = None  # payments the rest is split into (None: one)


def draw_outcomes(
    rng: np.random.Generator,
    cust: Customers,
    inv: Invoices,
    default_rate: float | None,
    profile: Profile = PROFILES["default"],
) -> Outcomes:
    """The fate of each invoice, driven by its risk at issue.

    Draws a profile adds happen only when it asks for them, so the `default` profile
    draws exactly what the generator always drew.
    """
    k = len(inv.amount)
    r = inv.risk
    terms = (inv.due - inv.issue).astype(int)
    p_default = _default_probability(r, default_rate)
    defaults = rng.random(k) < p_default
    days_late = _days_late(rng, inv, terms, profile)

    disputed = rng.random(k) < _sigmoid(0.5 * r + profile.dispute_intercept)
    dispute_date = inv.issue + rng.integers(3, terms + 16).astype("timedelta64[D]")
    # A dispute delays payment until it is resolved.
    days_late = np.where(disputed, np.maximum(days_late, 0) + rng.integers(10, 41, k), days_late)
    days_late = np.minimum(days_late, 85)  # paid within the horizon unless it defaults
    settle = inv.due + days_late.astype("timedelta64[D]")

    settle, written_off, write_off = _close_defaults(rng, inv, defaults, settle)
    lasts = np.where(written_off, write_off, settle)  # the day the invoice closes

    # Instalments: a share paid before the rest, on a day strictly before closing.
    gap = (lasts - inv.issue).astype(int)
    has_partial = (
        (rng.random(k) < profile.partial_share) | (written_off & (rng.random(k) < 0.35))
    ) & (gap >= 2)
    partial = np.where(has_partial, rng.uniform(0.2, 0.7, k), 0.0)
    partial_date = inv.issue + np.floor(rng.random(k) * np.maximum(gap - 1, 1)).astype(
        "timedelta64[D]"
    )
    # A partly paid invoice whose rest is never paid nor written off stays open: it
    # becomes a default by the horizon rule.
    abandoned = np.zeros(k, dtype=bool)
    if profile.unpaid_remainder_share > 0:
        abandoned = has_partial & ~written_off & (rng.random(k) < profile.unpaid_remainder_share)
        settle = np.where(abandoned, np.datetime64("NaT"), settle)
        defaults = defaults | abandoned
    credit_share, credit_date = _credit_notes(
        rng,
        inv,
        disputed=disputed,
        dispute_date=dispute_date,
        gap=gap,
        lasts=lasts,
        unpaid=written_off | abandoned,
    )
    # The full credit note settles the invoice; a dispute date never follows settlement.
    dispute_date = np.minimum(dispute_date, np.where(np.isnat(lasts), dispute_date, lasts))
    plan_parts = None
    if profile.plan_share > 0:
        planned = ~np.isnat(settle) & ~has_partial & (rng.random(k) < profile.plan_share)
        plan_parts = np.where(planned, rng.integers(2, profile.plan_parts_max + 1, k), 0)
    return Outcomes(
        defaults,
        settle,
        write_off,
        disputed,
        dispute_date,
        partial,
        partial_date,
        credit_share,
        credit_date,
        plan_parts,
    )


def _close_defaults(
    rng: np.random.Generator, inv: Invoices, defaults: np.ndarray, settle: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Defaults: some are paid very late, the rest written off (settle, written off, date)."""
    k = len(inv.amount)
    paid_very_late = defaults & (rng.random(k) < 0.4)
    settle = np.where(
        paid_very_late, inv.due + rng.integers(91, 241, k).astype("timedelta64[D]"), settle
    )
    written_off = defaults & ~paid_very_late
    settle = np.where(written_off, np.datetime64("NaT"), settle)
    write_off = np.where(
        written_off,
        inv.due + rng.integers(150, 366, k).astype("timedelta64[D]"),
        np.datetime64("NaT"),
    )
    return settle, written_off, write_off


def _credit_notes(
    rng: np.random.Generator,
    inv: Invoices,
    *,
    disputed: np.ndarray,
    dispute_date: np.ndarray,
    gap: np.ndarray,
    lasts: np.ndarray,
    unpaid: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Credit notes: returns soon after issue, and half of the disputes settle by one."""
    k = len(inv.amount)
    returns = (rng.random(k) < 0.02) & ~disputed & (gap >= 3)
    dispute_credit = disputed & (rng.random(k) < 0.5)
    credit_share = np.where(
        returns,
        rng.uniform(0.05, 0.3, k),
        np.where(dispute_credit, rng.uniform(0.1, 1.0, k), 0.0),
    )
    credit_share = np.where(unpaid, 0.0, credit_share)
    credit_date = np.where(
        returns,
        np.minimum(inv.issue + rng.integers(1, 15, k).astype("timedelta64[D]"), lasts - 1),
        np.maximum(lasts, dispute_date),
    )
    return credit_share, credit_date


def _days_late(
    rng: np.random.Generator, inv: Invoices, terms: np.ndarray, profile: Profile
) -> np.ndarray:
    """Days between due date and payment if paid in time (negative: early)."""
    k = len(inv.amount)
    r = inv.risk
    late = rng.random(k) < _sigmoid(0.9 * r + profile.late_intercept)
    late_days = 1 + np.floor(rng.gamma(1.3, profile.late_scale_days * np.exp(0.35 * r)))
    early_days = -np.minimum(rng.integers(0, 11, k), terms - 1)
    days_late = np.where(late, late_days, early_days)
    if profile.habit_noise_days is not None:
        # The customer's habit (its steady risk) with a little invoice-level noise.
        habit = profile.habit_days_per_logit * r + profile.habit_offset_days
        days_late = np.round(habit + rng.normal(0.0, profile.habit_noise_days, k))
        days_late = np.maximum(days_late, -(terms - 1))
    if profile.prepay_share > 0:
        # Some customers pay each schedule within a week of its issue, far before due.
        prepays = (rng.random(inv.cust.max(initial=-1) + 1) < profile.prepay_share)[inv.cust]
        paid = inv.issue + rng.integers(0, 8, k).astype("timedelta64[D]")
        days_late = np.where(prepays, np.minimum((paid - inv.due).astype(int), 0), days_late)
    return days_late


def _default_probability(risk: np.ndarray, rate: float | None) -> np.ndarray:
    """P(default) per invoice; with `rate`, the intercept that makes its mean `rate`."""
    if rate is None:
        return _sigmoid(risk + _DEFAULT_INTERCEPT)
    if rate == 0.0 or len(risk) == 0:
        return np.zeros_like(risk)
    low, high = -30.0, 30.0
    for _ in range(60):  # bisection: the mean is monotone in the intercept
        mid = (low + high) / 2
        low, high = (mid, high) if _sigmoid(risk + mid).mean() < rate else (low, mid)
    return _sigmoid(risk + (low + high) / 2)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
