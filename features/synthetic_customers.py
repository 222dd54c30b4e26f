"""Synthetic customers: who they are, how their latent risk moves, when they come and go.

The first stage of `features.synthetic.generate_ledger`; the story it tells is in that
module's docstring. The latent risk never leaves the generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.synthetic_profiles import PROFILES, Profile

__all__ = ["TERMS", "Customers", "draw_customers", "sequential_ids"]

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
TERMS = np.array([30, 45, 60])
# Language of the reminders by country; every other country reads English.
_LANGUAGES = {"DE": "de", "FR": "fr"}
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

# Liquidity trouble: how much it raises the risk logit, and the monthly chance it goes on.
_DISTRESS_SHIFT = 3.0
_DISTRESS_STAY = 0.8
_WANDER_REVERSION = 0.9
_CREDIT_HOLD_CLIMB = 2.0


@dataclass(frozen=True)
class Customers:
    """Drawn customers: the customers table and the hidden traits behind it."""

    frame: pd.DataFrame
    created: np.ndarray  # datetime64[D]
    churned: np.ndarray  # datetime64[D]: no new invoices from this day on
    risk: np.ndarray  # (customers, months) latent logit
    monthly_invoices: np.ndarray
    log_size: np.ndarray  # log of the usual invoice amount
    terms: np.ndarray
    one_off: np.ndarray | None = None  # bool: exactly one invoice (None: nobody)


def draw_customers(
    rng: np.random.Generator,
    n: int,
    start: np.datetime64,
    end: np.datetime64,
    months: np.ndarray,
    profile: Profile = PROFILES["default"],
) -> Customers:
    """`n` customers with their latent risk per month in `months`, drawn from `rng`.

    The draws happen in a fixed order (the steps below): the same seed gives the same
    customers. Draws a profile adds come after them and only when it asks for them, so
    the `default` profile draws exactly what the generator always drew.
    """
    industries = np.array(list(_INDUSTRIES))
    industry = rng.choice(len(industries), n, p=[v[0] for v in _INDUSTRIES.values()])
    countries = np.array(list(_COUNTRIES))
    country = rng.choice(len(countries), n, p=[v[0] for v in _COUNTRIES.values()])
    base = (
        rng.normal(0.0, 0.7, n)
        + np.array([v[1] for v in _INDUSTRIES.values()])[industry]
        + np.array([v[1] for v in _COUNTRIES.values()])[country]
    )
    m = len(months)
    risk = _risk_paths(rng, base, m, profile.risk_drift)
    created, churned = _lifetimes(rng, base, risk, start, end, months)
    # Spells of liquidity trouble pass; they raise risk but do not end the relationship.
    risk += _DISTRESS_SHIFT * profile.risk_drift * _distress_episodes(rng, base, m)
    monthly = rng.lognormal(np.log(profile.monthly_invoices) - 0.5 * 0.7**2, 0.7, n)
    log_size = rng.normal(np.log(profile.amount_median), 0.9, n)
    choices = np.array(profile.terms)
    terms = choices[rng.choice(len(choices), n, p=list(profile.terms_weights))]
    # Limits follow expected exposure (monthly sales over the terms), with head-room.
    exposure = monthly * np.exp(log_size + 0.18) * terms / 30.0
    limit = np.maximum(np.round(exposure * rng.uniform(1.2, 2.5, n), -3), 1000.0)
    frame = pd.DataFrame(
        {
            "customer_id": sequential_ids("C", n),
            "name": _names(rng, n),
            "country": countries[country],
            "industry": industries[industry],
            "created_at": created.astype("datetime64[ns]"),
            "credit_limit": np.where(rng.random(n) < 0.05, np.nan, limit),
            "payment_terms_days": terms,
            "currency": np.array([v[2] for v in _COUNTRIES.values()])[country],
        }
    )
    frame["email"], frame["language"] = _contacts(frame)
    one_off = None
    if profile.one_off_share > 0:
        one_off = _one_off_customers(rng, frame, created, churned, start, end, profile)
    return Customers(frame, created, churned, risk, monthly, log_size, terms, one_off)


def _one_off_customers(
    rng: np.random.Generator,
    frame: pd.DataFrame,
    created: np.ndarray,
    churned: np.ndarray,
    start: np.datetime64,
    end: np.datetime64,
    profile: Profile,
) -> np.ndarray:
    """Mark the customers seen once; they join inside the window and never churn.

    Joining inside the window gives each of them an active day for its one invoice, so
    the share of one-off customers among those seen is the profile's share. Changes
    `frame`, `created` and `churned` in place.
    """
    n = len(frame)
    one_off = rng.random(n) < profile.one_off_share
    span = int((end - start).astype(int)) + 1
    joined = start + rng.integers(0, span, n).astype("timedelta64[D]")
    created[one_off] = joined[one_off]
    churned[one_off] = end + np.timedelta64(1, "D")
    frame["created_at"] = created.astype("datetime64[ns]")
    return one_off


def _risk_paths(
    rng: np.random.Generator, base: np.ndarray, m: int, drift: float = 1.0
) -> np.ndarray:
    """(customers, m) latent logits: each customer's level, a yearly drift and a wander.

    `drift` scales the drift and the wander (0: each customer keeps its level).
    """
    n = len(base)
    # Drift per year: most customers wander, some deteriorate, some improve.
    trend_kind = rng.choice(3, n, p=[0.7, 0.15, 0.15])
    slope = np.where(
        trend_kind == 0,
        rng.normal(0.0, 0.15, n),
        np.where(trend_kind == 1, 1.0, -1.0) * rng.uniform(0.4, 1.0, n),
    )
    # Month-to-month wander that reverts to the customer's level (AR(1)): without the
    # reversion its spread would grow every month and the whole portfolio would drift
    # into default, which real books don't do.
    shocks = rng.normal(0.0, 0.2, (n, m))
    walk = np.empty_like(shocks)
    walk[:, 0] = shocks[:, 0]
    for month in range(1, m):
        walk[:, month] = _WANDER_REVERSION * walk[:, month - 1] + shocks[:, month]
    # Written as before profiles existed (drift 1.0 multiplies exactly): same floats.
    return base[:, None] + drift * slope[:, None] * (np.arange(m) / 12.0)[None, :] + drift * walk


def _lifetimes(
    rng: np.random.Generator,
    base: np.ndarray,
    risk: np.ndarray,
    start: np.datetime64,
    end: np.datetime64,
    months: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's creation day and churn day (no new invoices from it on)."""
    n, m = risk.shape
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
    return created, churned


def _names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Company names such as "Cedar Foods GmbH"."""
    return (
        _NAME_HEADS[rng.integers(0, len(_NAME_HEADS), n)].astype(object)
        + " "
        + _NAME_TAILS[rng.integers(0, len(_NAME_TAILS), n)].astype(object)
        + " "
        + _NAME_FORMS[rng.integers(0, len(_NAME_FORMS), n)].astype(object)
    )


def _contacts(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(e-mail, language) of each customer, such as ap@c00001-cedar-foods.example and "de".

    Derived, not drawn: adding them leaves every other generated value as it was.
    """
    slug = frame["customer_id"].str.lower() + "-" + frame["name"].map(_slug)
    language = frame["country"].map(_LANGUAGES).fillna("en")
    return "ap@" + slug + ".example", language


def _slug(name: str) -> str:
    """Company name to e-mail slug: Cedar Foods GmbH -> cedar-foods (legal form left out)."""
    return "-".join(name.lower().split()[:-1])


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


def sequential_ids(prefix: str, n: int) -> np.ndarray:
    """`n` ids such as C00001 or INV-000001, zero-padded to one width."""
    width = max(len(str(n)), 6 if prefix != "C" else 5)
    return (prefix + pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(width)).to_numpy(
        dtype=object
    )
