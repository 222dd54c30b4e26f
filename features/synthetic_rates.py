"""Synthetic exchange rates: a daily random walk per currency, valued in the base currency.

The generator writes amounts in each customer's own currency (EUR, GBP, USD); the
import converts them to the base currency (`features.currency`) at these rates, so a
generated folder imports under any base currency whose value is known here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kernel.errors import ConfigurationError

__all__ = ["EUR_VALUE", "draw_rates"]

# What 1 unit was worth in EUR, roughly, in the mid-2020s: where each walk is centred.
EUR_VALUE: dict[str, float] = {"EUR": 1.0, "GBP": 1.17, "USD": 0.92, "CHF": 1.05, "JPY": 0.0062}
# Daily volatility of a major currency against EUR (about 7% a year).
_DAILY_SIGMA = 0.0045


def draw_rates(
    rng: np.random.Generator,
    currencies: list[str],
    start: np.datetime64,
    end: np.datetime64,
    base: str,
) -> pd.DataFrame:
    """One rate per day from `start` to `end` for each non-base currency in `currencies`.

    Each currency's value in EUR follows a mean-reverting log random walk around
    `EUR_VALUE`; a rate is that value divided by the base currency's, to 6 significant
    digits (as published rates are). Columns: the canonical exchange_rates columns.

    Raises:
        ConfigurationError: a currency (or the base) has no reference value here.
    """
    unknown = sorted({*currencies, base} - EUR_VALUE.keys())
    if unknown:
        raise ConfigurationError(
            f"no synthetic exchange rate for {', '.join(unknown)}: the generator knows "
            f"{', '.join(EUR_VALUE)} (set DUECAST_BASE_CURRENCY to one of them)"
        )
    days = np.arange(start, end + np.timedelta64(1, "D"), dtype="datetime64[D]")
    walks = {
        c: (np.ones(len(days)) if c == "EUR" else _walk(rng, len(days))) * EUR_VALUE[c]
        for c in sorted({*currencies, base})
    }
    frames = []
    for currency in sorted(set(currencies) - {base}):
        rate = walks[currency] / walks[base]
        digits = 5 - np.floor(np.log10(rate)).astype(int)
        rounded = [round(float(r), int(d)) for r, d in zip(rate, digits, strict=True)]
        frames.append(
            pd.DataFrame(
                {
                    # The key the import makes from currency and date (it re-makes it).
                    "rate_id": [f"{currency}:{day}" for day in days.astype(str)],
                    "rate_date": days.astype("datetime64[ns]"),
                    "currency": currency,
                    "rate": rounded,
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            {
                "rate_id": pd.Series(dtype="object"),
                "rate_date": pd.Series(dtype="datetime64[ns]"),
                "currency": pd.Series(dtype="object"),
                "rate": pd.Series(dtype="float64"),
            }
        )
    return pd.concat(frames, ignore_index=True)


def _walk(rng: np.random.Generator, n: int) -> np.ndarray:
    """A mean-reverting log walk around 1."""
    steps = rng.normal(0.0, _DAILY_SIGMA, n)
    level = np.empty(n)
    x = 0.0
    for i, step in enumerate(steps):
        x = 0.995 * x + step  # pulls back within months, stays within a plausible band
        level[i] = x
    return np.exp(level)
