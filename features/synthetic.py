"""A realistic synthetic AR ledger, generated vectorised and deterministically by seed.

The story the data tells, so that models have something real to learn:

- every customer has a latent credit risk (a logit) that drifts month by month: most
  wander, some deteriorate, some improve; industry and country shift its level; now
  and then a spell of liquidity trouble raises it sharply for a few months;
- invoices arrive as a Poisson process per customer-month with seasonality (a summer
  dip, a year-end peak), log-normal amounts around the customer's usual size, and the
  customer's terms (30, 45 or 60 days);
- the risk at issue (plus noise) drives whether and how late an invoice is paid,
  whether it is disputed and whether it defaults; defaulted invoices are paid very late
  or partly paid and written off;
- partial payments, credit notes (returns and dispute settlements), and collection
  actions (reminders, calls, promises to pay, legal escalation) happen on the way.

Nothing dated after the end date is written, so the newest invoices are still open.
The latent risk never leaves this module: models must learn from behaviour.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from duecast.schema import TABLES

__all__ = ["generate_ledger", "write_ledger"]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]

_STAGES = ("customers", "invoices", "outcomes", "payments", "adjustments", "actions")

_INDUSTRIES = {  # name: (share, risk shift)
    "retail": (0.18, 0.4),
    "wholesale": (0.16, 0.1),
    "manufacturing": (0.17, -0.4),
    "construction": (0.12, 0.9),
    "hospitality": (0.08, 1.1),
    "healthcare": (0.08, -0.8),
    "technology": (0.11, -0.1),
    "logistics": (0.10, 0.2),
}
_COUNTRIES = {  # name: (share, risk shift, currency)
    "DE": (0.30, -0.2, "EUR"),
    "FR": (0.14, 0.0, "EUR"),
    "NL": (0.08, -0.3, "EUR"),
    "IT": (0.10, 0.35, "EUR"),
    "ES": (0.08, 0.3, "EUR"),
    "GB": (0.15, 0.05, "GBP"),
    "US": (0.15, 0.0, "USD"),
}
_TERMS = np.array([30, 45, 60])
# Orders per month relative to the average: a summer dip and a busy autumn and year end.
_SEASON = np.array([0.9, 0.95, 1.1, 1.0, 1.0, 1.05, 0.9, 0.75, 1.05, 1.1, 1.15, 1.05])
_NAME_HEADS = np.array(
    [
        "Alder",
        "Birch",
        "Cedar",
        "Delta",
        "Ember",
        "Falcon",
        "Granite",
        "Harbor",
        "Iris",
        "Juniper",
        "Kestrel",
        "Linden",
        "Meridian",
        "Nordic",
        "Orchid",
        "Pioneer",
        "Quarry",
        "Redwood",
        "Summit",
        "Tidal",
        "Union",
        "Vector",
        "Willow",
        "Zenith",
    ]
)
_NAME_TAILS = np.array(
    [
        "Supplies",
        "Foods",
        "Works",
        "Systems",
        "Trading",
        "Logistics",
        "Builders",
        "Health",
        "Labs",
        "Partners",
        "Retail",
        "Textiles",
        "Motors",
        "Digital",
        "Print",
        "Energy",
    ]
)
_NAME_FORMS = np.array(["GmbH", "SA", "BV", "Ltd", "Inc", "SpA", "SL", "AG", "LLC"])
_AUTHORS = np.array(["ana", "ben", "chloe", "dev", "emma"])

# Intercepts of the outcome models, tuned so that at typical risk levels roughly 40 % of
# invoices are paid late and 3-6 % default.
_LATE_INTERCEPT = -0.75
_DEFAULT_INTERCEPT = -5.1
# Liquidity trouble: how much it raises the risk logit, and the monthly chance it goes on.
_DISTRESS_SHIFT = 3.0
_DISTRESS_STAY = 0.8
_WANDER_REVERSION = 0.9
_CREDIT_HOLD_CLIMB = 2.0


@dataclass(frozen=True)
class _Customers:
    frame: pd.DataFrame
    created: np.ndarray  # datetime64[D]
    churned: np.ndarray  # datetime64[D]: no new invoices from this day on
    risk: np.ndarray  # (customers, months) latent logit
    monthly_invoices: np.ndarray
    log_size: np.ndarray  # log of the usual invoice amount
    terms: np.ndarray


def generate_ledger(
    *,
    customers: int,
    seed: int = 0,
    years: float = 3.0,
    end_date: datetime.date | None = None,
    default_rate: float | None = None,
    on_progress: ProgressCallback | None = None,
) -> dict[str, pd.DataFrame]:
    """Generate the five canonical tables for `customers` over `years` ending at `end_date`.

    Args:
        customers: number of customers (about 33 invoices each per year).
        seed: same seed, same arguments -> identical frames.
        years: length of the history.
        end_date: last day with events (default today).
        default_rate: override the share of defaulting invoices; 0.0 gives a ledger where
            every invoice is eventually paid within the horizon and nothing is written off.
        on_progress: called as (stage, done, total) after each stage.

    Returns:
        Frames keyed by table name with the canonical columns of `duecast.schema.TABLES`.
    """
    if customers < 1:
        raise ValueError(f"customers must be at least 1, got {customers}")
    if not 0.05 <= years <= 50:
        raise ValueError(f"years must be between 0.05 and 50, got {years}")
    if default_rate is not None and not 0.0 <= default_rate < 0.5:
        raise ValueError(f"default_rate must be in [0, 0.5), got {default_rate}")
    rng = np.random.default_rng(seed)
    end = np.datetime64(end_date or datetime.date.today(), "D")
    start = end - np.timedelta64(max(round(years * 365.25), 1) - 1, "D")
    months = np.arange(start.astype("datetime64[M]"), end.astype("datetime64[M]") + 1)

    def progress(stage: str) -> None:
        if on_progress is not None:
            on_progress("generate", _STAGES.index(stage) + 1, len(_STAGES))

    cust = _customers(rng, customers, start, end, months)
    progress("customers")
    inv = _invoices(rng, cust, start, end, months)
    progress("invoices")
    out = _outcomes(rng, cust, inv, default_rate)
    progress("outcomes")
    payments, adjustments = _settlements(rng, inv, out, end)
    progress("payments")
    progress("adjustments")
    actions = _actions(rng, inv, out, end)
    progress("actions")
    invoices = _invoice_frame(inv, out, end)
    frames = {
        "customers": cust.frame,
        "invoices": invoices,
        "payments": payments,
        "adjustments": adjustments,
        "actions": actions,
    }
    logger.info(
        "Generated %s customers, %s invoices, %s payments, %s adjustments, %s actions",
        *(f"{len(frames[name]):,}" for name in frames),
    )
    return frames


def _customers(
    rng: np.random.Generator,
    n: int,
    start: np.datetime64,
    end: np.datetime64,
    months: np.ndarray,
) -> _Customers:
    industries = np.array(list(_INDUSTRIES))
    industry = rng.choice(len(industries), n, p=[v[0] for v in _INDUSTRIES.values()])
    countries = np.array(list(_COUNTRIES))
    country = rng.choice(len(countries), n, p=[v[0] for v in _COUNTRIES.values()])
    base = (
        rng.normal(0.0, 0.7, n)
        + np.array([v[1] for v in _INDUSTRIES.values()])[industry]
        + np.array([v[1] for v in _COUNTRIES.values()])[country]
    )
    # Drift per year: most customers wander, some deteriorate, some improve.
    trend_kind = rng.choice(3, n, p=[0.7, 0.15, 0.15])
    slope = np.where(
        trend_kind == 0,
        rng.normal(0.0, 0.15, n),
        np.where(trend_kind == 1, 1.0, -1.0) * rng.uniform(0.4, 1.0, n),
    )
    m = len(months)
    # Month-to-month wander that reverts to the customer's level (AR(1)): without the
    # reversion its spread would grow every month and the whole portfolio would drift
    # into default, which real books don't do.
    shocks = rng.normal(0.0, 0.2, (n, m))
    walk = np.empty_like(shocks)
    walk[:, 0] = shocks[:, 0]
    for month in range(1, m):
        walk[:, month] = _WANDER_REVERSION * walk[:, month - 1] + shocks[:, month]
    risk = base[:, None] + slope[:, None] * (np.arange(m) / 12.0)[None, :] + walk

    span = int((end - start).astype(int)) + 1
    # A quarter of the customers join during the window (cold starts); the rest earlier.
    joins_late = rng.random(n) < 0.25
    created = np.where(
        joins_late,
        start + rng.integers(0, max(span - 30, 1), n).astype("timedelta64[D]"),
        start - rng.integers(1, 6 * 365, n).astype("timedelta64[D]"),
    )
    churns = rng.random(n) < 0.08
    churned = np.where(
        churns,
        created + rng.integers(90, 3 * 365, n).astype("timedelta64[D]"),
        end + np.timedelta64(1, "D"),
    )
    # A customer whose risk has climbed far above its level is put on credit hold (or
    # fails) a few months later: sellers stop shipping, so the book does not drift into
    # default as deteriorating customers accumulate.
    climbed = risk - base[:, None] > _CREDIT_HOLD_CLIMB
    first = np.where(climbed.any(axis=1), climbed.argmax(axis=1), m)
    hold_month = first + rng.integers(1, 5, n)
    hold = (months[0] + np.minimum(hold_month, m)).astype("datetime64[D]")
    churned = np.where(hold_month < m, np.minimum(churned, hold), churned)
    # Spells of liquidity trouble pass; they raise risk but do not end the relationship.
    risk += _DISTRESS_SHIFT * _distress_episodes(rng, base, m)
    monthly = rng.lognormal(np.log(3.4) - 0.5 * 0.7**2, 0.7, n)
    log_size = rng.normal(np.log(1800.0), 0.9, n)
    terms = _TERMS[rng.choice(3, n, p=[0.55, 0.25, 0.20])]
    # Limits follow expected exposure (monthly sales over the terms), with head-room.
    exposure = monthly * np.exp(log_size + 0.18) * terms / 30.0
    limit = np.maximum(np.round(exposure * rng.uniform(1.2, 2.5, n), -3), 1000.0)
    ids = _ids("C", n)
    names = (
        _NAME_HEADS[rng.integers(0, len(_NAME_HEADS), n)].astype(object)
        + " "
        + _NAME_TAILS[rng.integers(0, len(_NAME_TAILS), n)].astype(object)
        + " "
        + _NAME_FORMS[rng.integers(0, len(_NAME_FORMS), n)].astype(object)
    )
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "name": names,
            "country": countries[country],
            "industry": industries[industry],
            "created_at": created.astype("datetime64[ns]"),
            "credit_limit": np.where(rng.random(n) < 0.05, np.nan, limit),
            "payment_terms_days": terms,
            "currency": np.array([v[2] for v in _COUNTRIES.values()])[country],
        }
    )
    return _Customers(frame, created, churned, risk, monthly, log_size, terms)


@dataclass(frozen=True)
class _Invoices:
    cust: np.ndarray  # customer row
    issue: np.ndarray  # datetime64[D]
    due: np.ndarray
    amount: np.ndarray
    risk: np.ndarray  # latent logit at issue, with invoice noise
    ids: np.ndarray
    customer_ids: np.ndarray
    currency: np.ndarray


def _invoices(
    rng: np.random.Generator,
    cust: _Customers,
    start: np.datetime64,
    end: np.datetime64,
    months: np.ndarray,
) -> _Invoices:
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
    flat = np.repeat(np.arange(n * m), counts.ravel())
    c, mo = np.divmod(flat, m)
    days = active_days[c, mo]
    issue = lo[c, mo] + np.floor(rng.random(len(flat)) * days).astype("timedelta64[D]")
    issue = _off_weekends(issue, lo[c, mo], hi[c, mo])
    # The customer's usual size, a seasonal year-end bump and a rare very large order.
    log_amount = cust.log_size[c] + rng.normal(0.0, 0.6, len(c))
    log_amount += np.where(rng.random(len(c)) < 0.01, rng.uniform(1.0, 2.0, len(c)), 0.0)
    amount = np.round(np.maximum(np.exp(log_amount), 10.0), 2)
    terms = np.where(rng.random(len(c)) < 0.05, _TERMS[rng.integers(0, 3, len(c))], cust.terms[c])
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
        + rng.normal(0.0, 0.5, len(c))
    )
    order = np.lexsort((c, issue))
    c, issue, due, amount, risk = c[order], issue[order], due[order], amount[order], risk[order]
    return _Invoices(
        c,
        issue,
        due,
        amount,
        risk,
        _ids("INV-", len(c)),
        cust.frame["customer_id"].to_numpy()[c],
        cust.frame["currency"].to_numpy()[c],
    )


def _distress_episodes(rng: np.random.Generator, base: np.ndarray, months: int) -> np.ndarray:
    """(customers, months) 0/1: spells of liquidity trouble, more likely for risky customers.

    A spell starts in a month with a small probability and lasts a few months. It shows
    first as invoices going overdue while the customer's settled history still looks
    clean, which is what exposure features see and an average of past lateness does not.
    """
    start = np.clip(0.02 * np.exp(0.6 * base), 0.0, 0.15)
    spells = np.zeros((len(base), months), dtype=np.int8)
    state = np.zeros(len(base), dtype=bool)
    for month in range(months):  # a Markov chain over months, vectorised over customers
        u = rng.random(len(base))
        state = np.where(state, u < _DISTRESS_STAY, u < start)
        spells[:, month] = state
    return spells


def _off_weekends(day: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Move Saturday and Sunday invoices to the nearest weekday inside [lo, hi]."""
    weekday = (day.astype("datetime64[D]").astype(int) + 3) % 7  # Monday = 0
    shift = np.select([weekday == 5, weekday == 6], [-1, 1], 0).astype("timedelta64[D]")
    moved = day + shift
    return np.where((moved >= lo) & (moved <= hi), moved, day)


@dataclass(frozen=True)
class _Outcomes:
    defaults: np.ndarray  # bool
    settle: np.ndarray  # datetime64[D] when paid in full (NaT: never)
    write_off: np.ndarray  # datetime64[D] (NaT: none)
    disputed: np.ndarray  # bool
    dispute_date: np.ndarray  # datetime64[D]
    partial: np.ndarray  # share paid early by instalment, 0 when none
    partial_date: np.ndarray
    credit_share: np.ndarray  # share covered by a credit note, 0 when none
    credit_date: np.ndarray


def _outcomes(
    rng: np.random.Generator, cust: _Customers, inv: _Invoices, default_rate: float | None
) -> _Outcomes:
    k = len(inv.amount)
    r = inv.risk
    terms = (inv.due - inv.issue).astype(int)
    p_default = _default_probability(r, default_rate)
    defaults = rng.random(k) < p_default
    late = rng.random(k) < _sigmoid(0.9 * r + _LATE_INTERCEPT)
    late_days = 1 + np.floor(rng.gamma(1.3, 9.0 * np.exp(0.35 * r)))
    early_days = -np.minimum(rng.integers(0, 11, k), terms - 1)
    days_late = np.where(late, late_days, early_days)

    disputed = rng.random(k) < _sigmoid(0.5 * r - 3.6)
    dispute_date = inv.issue + rng.integers(3, terms + 16).astype("timedelta64[D]")
    # A dispute delays payment until it is resolved.
    days_late = np.where(disputed, np.maximum(days_late, 0) + rng.integers(10, 41, k), days_late)
    days_late = np.minimum(days_late, 85)  # paid within the horizon unless it defaults
    settle = inv.due + days_late.astype("timedelta64[D]")

    # Defaults: some are paid very late, the rest partly paid and written off.
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
    lasts = np.where(written_off, write_off, settle)  # the day the invoice closes

    # Instalments: a share paid before the rest, on a day strictly before closing.
    gap = (lasts - inv.issue).astype(int)
    has_partial = ((rng.random(k) < 0.08) | (written_off & (rng.random(k) < 0.35))) & (gap >= 2)
    partial = np.where(has_partial, rng.uniform(0.2, 0.7, k), 0.0)
    partial_date = inv.issue + np.floor(rng.random(k) * np.maximum(gap - 1, 1)).astype(
        "timedelta64[D]"
    )
    # Credit notes: returns soon after issue, and half of the disputes settle by one.
    returns = (rng.random(k) < 0.02) & ~disputed & (gap >= 3)
    dispute_credit = disputed & (rng.random(k) < 0.5)
    credit_share = np.where(
        returns,
        rng.uniform(0.05, 0.3, k),
        np.where(dispute_credit, rng.uniform(0.1, 1.0, k), 0.0),
    )
    credit_share = np.where(written_off, 0.0, credit_share)
    credit_date = np.where(
        returns,
        np.minimum(inv.issue + rng.integers(1, 15, k).astype("timedelta64[D]"), lasts - 1),
        np.maximum(lasts, dispute_date),
    )
    # The full credit note settles the invoice; a dispute date never follows settlement.
    dispute_date = np.minimum(dispute_date, np.where(np.isnat(lasts), dispute_date, lasts))
    return _Outcomes(
        defaults,
        settle,
        write_off,
        disputed,
        dispute_date,
        partial,
        partial_date,
        credit_share,
        credit_date,
    )


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


def _settlements(
    rng: np.random.Generator, inv: _Invoices, out: _Outcomes, end: np.datetime64
) -> tuple[pd.DataFrame, pd.DataFrame]:
    amount = inv.amount
    credit = np.round(amount * out.credit_share, 2)
    first = np.round((amount - credit) * out.partial, 2)
    rest = np.round(amount - credit - first, 2)
    written = ~np.isnat(out.write_off)
    parts = [
        (first > 0, first, out.partial_date),
        (~written & (rest > 0), rest, out.settle),
    ]
    payments = _events(inv, parts, end, "payment_date")
    payments.insert(0, "payment_id", _ids("PAY-", len(payments)))
    payments = payments[TABLES["payments"].column_names]

    kinds = [
        (credit > 0, credit, out.credit_date, "credit_note"),
        (written, np.round(amount - first, 2), out.write_off, "write_off"),
    ]
    frames = []
    for mask, value, day, kind in kinds:
        part = _events(inv, [(mask, value, day)], end, "date")
        part["kind"] = kind
        frames.append(part)
    adjustments = pd.concat(frames, ignore_index=True).sort_values(["date", "invoice_id"])
    adjustments.insert(0, "adjustment_id", _ids("ADJ-", len(adjustments)))
    return payments, adjustments[TABLES["adjustments"].column_names].reset_index(drop=True)


def _events(
    inv: _Invoices,
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    end: np.datetime64,
    date_column: str,
) -> pd.DataFrame:
    """Money events (mask, amount, date) per invoice, dated on or before `end`, by date."""
    rows = []
    for mask, value, day in parts:
        keep = mask & ~np.isnat(day) & (day <= end)
        idx = np.flatnonzero(keep)
        rows.append(
            pd.DataFrame(
                {
                    "invoice_id": inv.ids[idx],
                    "customer_id": inv.customer_ids[idx],
                    date_column: day[idx].astype("datetime64[ns]"),
                    "amount": value[idx],
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True)
    return frame.sort_values([date_column, "invoice_id"], kind="stable").reset_index(drop=True)


def _actions(
    rng: np.random.Generator, inv: _Invoices, out: _Outcomes, end: np.datetime64
) -> pd.DataFrame:
    k = len(inv.amount)
    closes = np.where(np.isnat(out.settle), out.write_off, out.settle)
    closes = np.where(np.isnat(closes), end + np.timedelta64(1, "D"), closes)
    overdue_days = (closes - inv.due).astype(int)
    call_day = inv.due + rng.integers(7, 15, k).astype("timedelta64[D]")
    calls = (overdue_days > 7) & (call_day < closes) & (rng.random(k) < 0.35)
    promises = calls & (rng.random(k) < 0.5)
    kept = promises & ~out.defaults & (rng.random(k) < 0.8)
    promised = np.where(kept, closes, call_day + rng.integers(5, 16, k).astype("timedelta64[D]"))
    legal_day = inv.due + rng.integers(31, 61, k).astype("timedelta64[D]")
    kinds = [
        ("reminder", (overdue_days > 0) & (rng.random(k) < 0.25), inv.due + 1),
        ("call", calls, call_day),
        ("promise", promises, call_day),
        ("dispute", out.disputed & (rng.random(k) < 0.5), out.dispute_date),
        ("legal", out.defaults & (legal_day < closes) & (rng.random(k) < 0.5), legal_day),
    ]
    texts = {
        "reminder": "Payment reminder sent",
        "call": "Called accounts payable",
        "promise": "Customer promised to pay",
        "dispute": "Customer disputes the invoice",
        "legal": "Handed over to legal collection",
    }
    frames = []
    for kind, mask, day in kinds:
        idx = np.flatnonzero(mask & (day <= end))
        minutes = rng.integers(8 * 60, 17 * 60, len(idx)).astype("timedelta64[m]")
        is_promise = kind == "promise"
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": inv.customer_ids[idx],
                    "invoice_id": inv.ids[idx],
                    "at": (day[idx].astype("datetime64[m]") + minutes).astype("datetime64[ns]"),
                    "kind": kind,
                    "promised_date": (
                        promised[idx] if is_promise else np.full(len(idx), np.datetime64("NaT"))
                    ).astype("datetime64[ns]"),
                    "promised_amount": inv.amount[idx] if is_promise else np.nan,
                    "author": _AUTHORS[rng.integers(0, len(_AUTHORS), len(idx))],
                    "text": texts[kind],
                }
            )
        )
    actions = pd.concat(frames, ignore_index=True).sort_values(["at", "invoice_id"], kind="stable")
    actions.insert(0, "action_id", _ids("ACT-", len(actions)))
    actions = actions.reset_index(drop=True)
    actions["at"] = actions["at"].dt.tz_localize("UTC")
    return actions[TABLES["actions"].column_names]


def _invoice_frame(inv: _Invoices, out: _Outcomes, end: np.datetime64) -> pd.DataFrame:
    disputed = out.disputed & (out.dispute_date <= end)
    return pd.DataFrame(
        {
            "invoice_id": inv.ids,
            "customer_id": inv.customer_ids,
            "issue_date": inv.issue.astype("datetime64[ns]"),
            "due_date": inv.due.astype("datetime64[ns]"),
            "amount": inv.amount,
            "currency": inv.currency,
            "disputed": disputed,
            "dispute_date": np.where(disputed, out.dispute_date, np.datetime64("NaT")).astype(
                "datetime64[ns]"
            ),
        }
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _ids(prefix: str, n: int) -> np.ndarray:
    width = max(len(str(n)), 6 if prefix != "C" else 5)
    return (prefix + pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(width)).to_numpy(
        dtype=object
    )


def write_ledger(
    frames: Mapping[str, pd.DataFrame], out_dir: Path, *, fmt: str = "csv"
) -> dict[str, Path]:
    """Write frames as `<table>.csv` or `<table>.parquet` in the canonical import format.

    Dates are ISO `YYYY-MM-DD`, booleans `true`/`false`, missing values empty. Each file
    is written to a temporary name and renamed, so a crash never leaves half a file.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in frames.items():
        table = _arrow_table(name, frame)
        path = out_dir / f"{name}.{fmt}"
        # Not mkstemp: its 0600 mode would survive the rename; this file honours the umask.
        tmp = out_dir / f".{name}.{os.getpid()}.tmp"
        try:
            if fmt == "csv":
                pacsv.write_csv(table, str(tmp), pacsv.WriteOptions(quoting_style="needed"))
            else:
                pq.write_table(table, str(tmp))
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        paths[name] = path
    return paths


def _arrow_table(name: str, frame: pd.DataFrame) -> pa.Table:
    """Canonical columns with file-friendly types: dates as date32, datetimes ISO text."""
    columns = {}
    for column in TABLES[name].columns:
        values = frame[column.name]
        if column.kind == "date":
            columns[column.name] = pa.array(values.dt.date, type=pa.date32())
        elif column.kind == "datetime":
            text = values.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            columns[column.name] = pa.array(text.where(values.notna(), None), type=pa.string())
        elif column.kind == "int":
            columns[column.name] = pa.array(values.astype("Int64"), type=pa.int64())
        else:
            columns[column.name] = pa.array(values, from_pandas=True)
    return pa.table(columns)
