"""How feature values read in a collector's sentence: days, lateness, shares, money, counts.

Each feature's spec entry words its reasons with these helpers, so that a number prints
the same way in every sentence. A `Template` takes the feature's value (known, never
NaN) and the row's other values, which a few sentences also mention.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable, Mapping

import numpy as np

__all__ = [
    "Template",
    "count",
    "days",
    "due",
    "flag",
    "is_unknown",
    "late",
    "money",
    "month",
    "number",
    "pct",
    "probability",
    "share_of",
    "tenure",
    "times",
    "trend",
    "weekday",
    "whole",
]

Template = Callable[[object, Mapping[str, object]], str]


def is_unknown(value: object) -> bool:
    """True for a missing value: None or a float NaN."""
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def number(value: object) -> float:
    """A known value as a float (values reach the wording as floats, ints or numpy)."""
    return float(value)  # type: ignore[arg-type]  # the templates pass known numbers only


def whole(value: object) -> int:
    """The value rounded to a whole number (half to even, as `round`)."""
    return round(number(value))


def days(value: object) -> str:
    """'1 day', '12 days' (the sign dropped)."""
    d = whole(value)
    return f"{abs(d)} day{'s' if abs(d) != 1 else ''}"


def late(value: object) -> str:
    """'12 days late', '3 days early' or 'on time'."""
    d = whole(value)
    if d == 0:
        return "on time"
    return f"{days(d)} {'late' if d > 0 else 'early'}"


def pct(value: object) -> str:
    """A share as a whole percentage with thousands separators: '35%', '1,250%'."""
    return f"{number(value) * 100:,.0f}%"


# Beyond this many times a whole, a percentage stops meaning anything to a reader
# ("666,807% of the limit"): the sentence says "over 10 times" instead.
_TIMES_CAP = 10.0


def share_of(value: object, whole: str) -> str:
    """A share of `whole` as people say it: '35% of its credit limit', 'over 10 times its
    credit limit' (above 1,000%)."""
    if number(value) > _TIMES_CAP:
        return f"over {_TIMES_CAP:.0f} times {whole}"
    return f"{pct(value)} of {whole}"


def probability(value: object) -> str:
    """A probability with one decimal: '1.2%', '100%', 'under 0.1%' (never '0.0%')."""
    p = number(value)
    if p >= 1.0:
        return "100%"
    if 0.0 < p < 0.0005:
        return "under 0.1%"
    return f"{p * 100:.1f}%"


def money(value: object) -> str:
    """An amount without cents, with thousands separators: '12,345'."""
    return f"{number(value):,.0f}"


def times(value: object) -> str:
    """A ratio to one decimal: '1.6 times'."""
    return f"{number(value):.1f} times"


def count(value: object, noun: str) -> str:
    """'1 invoice', '12 invoices'."""
    n = whole(value)
    return f"{n} {noun}{'' if n == 1 else 's'}"


def tenure(value: object) -> str:
    """A relationship's age in days as 'a customer for 3 years' (or months, or days)."""
    d = whole(value)
    if d >= 730:
        return f"a customer for {d / 365.25:.0f} years"
    if d >= 60:
        return f"a customer for {d / 30.4:.0f} months"
    return f"a customer for {days(d)}"


def due(value: object) -> str:
    """Days past due as 'the invoice is 4 days past due' (or due today, or due in N days)."""
    d = whole(value)
    if d > 0:
        return f"the invoice is {days(d)} past due"
    if d == 0:
        return "the invoice is due today"
    return f"the invoice is due in {days(d)}"


def trend(value: object) -> str:
    """A change in days late as 'recently pays 4 days later than before'."""
    d = whole(value)
    if d == 0:
        return "pays about as late as before"
    return f"recently pays {days(d)} {'later' if d > 0 else 'earlier'} than before"


def month(value: object) -> str:
    """Month number 1-12 as its name."""
    return calendar.month_name[whole(value)]


def weekday(value: object) -> str:
    """Weekday number (0 = Monday) as its name."""
    return calendar.day_name[whole(value) % 7]


def flag(yes: str, no: str) -> Template:
    """The template of a 0/1 flag: `yes` when set, else `no`."""
    return lambda v, _values: yes if whole(v) else no
