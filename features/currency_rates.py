"""Exchange rates: the rows of an `exchange_rates` file, the stored ones, and look-ups.

A rate says what 1 unit of a currency is worth in the base currency from its date on;
the rate of a day is the latest one dated on or before it. Rates are carried as text
in the import's typed rows (the canonical form of the float the store keeps), so that
the import's diff compares a re-imported rate with the stored one exactly and no rate
is ever rounded to cents like an amount.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.conversion import TypedFrame
from features.problems import Problems
from features.store import exchange_rates

__all__ = [
    "RATE_COLUMNS",
    "canonical_rates",
    "currency_codes",
    "file_rates",
    "latest_rates",
    "parse_rates",
    "rates_on",
    "stored_rates",
    "unreadable_rate",
]

# A rate table: one row per (currency, rate_date), rate as float.
RATE_COLUMNS = ["currency", "rate_date", "rate"]


def parse_rates(text: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Rates as floats, and which present values are not a positive finite number."""
    present = text.notna().to_numpy(dtype=bool)
    values = pd.to_numeric(text.where(text.notna(), None), errors="coerce").astype("float64")
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        good = np.isfinite(numbers) & (numbers > 0)
    return values.where(good), present & ~good


def canonical_rates(values: pd.Series) -> pd.Series:
    """Float rates as the text the store's floats read back as (missing stay missing)."""
    return values.astype("float64").astype("str")


def currency_codes(typed: TypedFrame, column: str, problems: Problems) -> None:
    """Upper-case the 3-letter codes of `column` in place; other values are problems."""
    codes = typed.frame[column].str.upper()
    bad = codes.notna() & ~codes.str.fullmatch(r"[A-Z]{3}").fillna(False).astype(bool)
    mask = bad.to_numpy(dtype=bool)
    shown = codes[mask].reset_index(drop=True)
    problems.add(
        typed.file,
        typed.frame.index[mask],
        typed.label(column),
        lambda i: f"currency {shown.iloc[i]!r} is not a 3-letter ISO 4217 code such as EUR",
    )
    typed.frame[column] = codes.mask(bad)


def file_rates(sources: list[TypedFrame], base: str, problems: Problems) -> pd.DataFrame:
    """Check the files' rates, fill their keys in place; the good ones as a rate table."""
    parts = []
    for typed in sources:
        f = typed.frame
        currency_codes(typed, "currency", problems)
        values, bad = parse_rates(f["rate"])
        problems.add(
            typed.file,
            f.index[bad],
            typed.label("rate"),
            unreadable_rate(f["rate"][bad], f"1 unit of the row's currency in {base}"),
        )
        is_base = (f["currency"] == base).fillna(False).to_numpy(dtype=bool)
        odd = is_base & values.notna().to_numpy() & (values != 1.0).to_numpy()
        problems.add(
            typed.file,
            f.index[odd],
            typed.label("rate"),
            f"{base} is the base currency: its rate is 1 (leave it out of the file)",
        )
        dates = f["rate_date"].dt.strftime("%Y-%m-%d")
        f["rate_id"] = (f["currency"] + ":" + dates).astype("str")
        f["rate"] = canonical_rates(values)
        if "rate_id" not in typed.present:
            typed.present.append("rate_id")
        good = f["rate_id"].notna() & values.notna()
        parts.append(
            pd.DataFrame(
                {
                    "currency": f["currency"][good],
                    "rate_date": f["rate_date"][good],
                    "rate": values[good],
                    "line": f.index[good.to_numpy()],
                    "file": typed.file,
                    "label": typed.label("rate_date"),
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=RATE_COLUMNS)
    rates = pd.concat(parts, ignore_index=True)
    _check_duplicate_days(rates, problems)
    return rates.drop_duplicates(["currency", "rate_date"])[RATE_COLUMNS]


def _check_duplicate_days(rates: pd.DataFrame, problems: Problems) -> None:
    """Two rates of one currency on one day: which one holds is not for us to guess."""
    dup = rates.duplicated(["currency", "rate_date"], keep=False).to_numpy()
    for (file, label), rows in rates[dup].groupby(["file", "label"], sort=False):
        problems.add(str(file), rows["line"], str(label), _second_rate(rows))


def _second_rate(rows: pd.DataFrame) -> Callable[[int], str]:
    shown = rows.reset_index(drop=True)
    return lambda i: (
        f"a second {shown['currency'].iloc[i]} rate dated "
        f"{shown['rate_date'].iloc[i]:%Y-%m-%d}: keep one rate per currency and day"
    )


def unreadable_rate(values: pd.Series, meaning: str) -> Callable[[int], str]:
    """The reason of each unreadable rate in `values` (`meaning`: what a rate is worth)."""
    shown = values.reset_index(drop=True)
    return lambda i: (
        f"cannot read {shown.iloc[i]!r} as an exchange rate: expected a positive number, "
        f"the value of {meaning} (e.g. 1.1734)"
    )


def stored_rates(conn: sa.Connection, currencies: list[str] | None) -> pd.DataFrame:
    """The stored rates of `currencies` (every currency when None), as a rate table."""
    t = exchange_rates
    select = sa.select(t.c.currency, t.c.rate_date, t.c.rate)
    if currencies is not None:
        if not currencies:
            return pd.DataFrame(columns=RATE_COLUMNS)
        select = select.where(t.c.currency.in_(currencies))
    rows = pd.DataFrame(conn.execute(select).all(), columns=RATE_COLUMNS)
    rows["rate_date"] = pd.to_datetime(rows["rate_date"]).astype("datetime64[ns]")
    rows["rate"] = rows["rate"].astype("float64")
    rows["currency"] = rows["currency"].astype("str")
    return rows


def rates_on(rates: pd.DataFrame, currencies: pd.Series, days: pd.Series) -> pd.Series:
    """The rate of each (currency, day): the latest dated on or before it; NaN if none.

    Rows with a missing currency or day get NaN. The result has the index of `days`.
    """
    out = pd.Series(np.nan, index=days.index, dtype="float64")
    known = currencies.notna() & days.notna()
    if not known.any() or not len(rates):
        return out
    left = pd.DataFrame(
        {
            "currency": currencies[known].astype("str").to_numpy(),
            "day": days[known].astype("datetime64[ns]").to_numpy(),
            "pos": np.flatnonzero(known.to_numpy()),
        }
    ).sort_values("day", kind="stable")
    right = rates.assign(
        currency=rates["currency"].astype("str"),
        rate_date=rates["rate_date"].astype("datetime64[ns]"),
    ).sort_values("rate_date", kind="stable")
    found = pd.merge_asof(
        left, right, left_on="day", right_on="rate_date", by="currency", direction="backward"
    )
    values = out.to_numpy().copy()
    values[found["pos"].to_numpy()] = found["rate"].to_numpy(dtype="float64")
    return pd.Series(values, index=days.index)


def latest_rates(conn: sa.Connection, as_of: dt.date | None = None) -> dict[str, float]:
    """Each stored currency's latest rate dated on or before `as_of` (default: any date).

    What an order is converted at: one small query, read once per serving state.
    """
    t = exchange_rates
    dated = sa.select(t.c.currency, sa.func.max(t.c.rate_date).label("day"))
    if as_of is not None:
        dated = dated.where(t.c.rate_date <= as_of)
    last = dated.group_by(t.c.currency).subquery()
    select = sa.select(t.c.currency, t.c.rate).join(
        last, sa.and_(t.c.currency == last.c.currency, t.c.rate_date == last.c.day)
    )
    return {str(currency): float(rate) for currency, rate in conn.execute(select).all()}
