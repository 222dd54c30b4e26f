"""Synthetic fee schedules and payment plans, for the `instalments` ledger profile.

A school or a subscription bills fees as schedules: once a year each customer gets
`Profile.instalments` invoices issued on the same day, due one every
`Profile.instalment_every_days` days after the first due date. The newest schedules
are issued before the end date but fall due after it (future-dated rows). A payment
plan splits what is left of an invoice into several payments, the last on the day it
settles.
"""

from __future__ import annotations

import numpy as np

from features.synthetic_customers import Customers
from features.synthetic_invoices import Invoices, invoices_in_order, off_weekends
from features.synthetic_profiles import Profile

__all__ = ["draw_schedules", "plan_payments"]

_YEAR = np.timedelta64(365, "D")


def draw_schedules(
    rng: np.random.Generator,
    cust: Customers,
    start: np.datetime64,
    end: np.datetime64,
    months: np.ndarray,
    profile: Profile,
) -> Invoices:
    """Yearly fee schedules of `profile.instalments` invoices each, issued up to `end`."""
    n = len(cust.terms)
    first = np.maximum(cust.created, start)
    last = np.minimum(cust.churned - np.timedelta64(1, "D"), end)
    # Each customer's schedules start on its own day of the year (enrolment, sign-up).
    anchor = first + rng.integers(0, 365, n).astype("timedelta64[D]")
    per_customer = int(np.ceil((end - start).astype(int) / 365)) + 1
    issue_grid = anchor[:, None] + np.arange(per_customer)[None, :] * _YEAR
    c, j = np.nonzero(issue_grid <= last[:, None])
    issue = off_weekends(issue_grid[c, j], first[c], last[c])
    # The fee moves a little from one year to the next; instalments of a year are equal.
    fee = np.exp(cust.log_size[c] + rng.normal(0.0, 0.05, len(c)))
    shocks = rng.normal(0.0, profile.invoice_noise, len(c))
    count = profile.instalments
    c = np.repeat(c, count)
    issue = np.repeat(issue, count)
    step = np.tile(np.arange(count), len(issue) // max(count, 1))
    due = (
        issue
        + cust.terms[c].astype("timedelta64[D]")
        + (step * profile.instalment_every_days).astype("timedelta64[D]")
    )
    amount = np.round(np.maximum(np.repeat(fee, count), 10.0), 2)
    month = (issue.astype("datetime64[M]") - months[0]).astype(int)
    young = (issue - cust.created[c]).astype(int) < 180
    risk = cust.risk[c, month] + 0.8 * young + np.repeat(shocks, count)
    # A schedule's instalments are issued the same day: the stable sort keeps due order.
    return invoices_in_order(cust, c, issue, due, amount, risk)


def plan_payments(
    rest: np.ndarray,
    pays: np.ndarray,
    issue: np.ndarray,
    settle: np.ndarray,
    parts: np.ndarray,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The rest of each invoice as (mask, amount, date) payment parts, one per plan step.

    An invoice with `parts` of 2 or more (and a rest large enough to split into whole
    cents) pays equal parts about a month apart, never before its issue date, the last
    one on `settle`; every other invoice pays its rest at once on `settle`.
    """
    gap = np.where(np.isnat(settle), 0, (settle - issue).astype(int))
    splits = (parts >= 2) & (rest >= parts) & (gap >= parts)
    p = np.where(splits, parts, 1)
    spacing = np.clip(gap // p, 1, 30)
    share = np.round(rest / p, 2)
    steps = []
    for step in range(int(p.max(initial=1))):
        is_last = step == p - 1
        value = np.where(is_last, np.round(rest - share * (p - 1), 2), share)
        day = settle - ((p - 1 - step) * spacing).astype("timedelta64[D]")
        steps.append((pays & (step < p), value, day))
    return steps
