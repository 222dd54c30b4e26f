"""The bounds every value must respect at every door: API models, import, mapping.

One place for them, so the import and the API refuse the same values with the same
words. A value the store holds must be one the feature code can read: dates within
`Settings.date_min .. date_max` (pandas' nanosecond timestamps end in 1677 and 2262),
amounts of at least one cent and at most `AMOUNT_MAX`, and texts without control
characters (a NUL byte cannot even be stored by PostgreSQL).

Each `*_problem` function returns None for a good value, else the reason naming the
field, so callers raise or collect it as they need. The import checks whole columns
with pandas; it uses the same constants and the `*_PATTERN` regular expressions.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from kernel.config import Settings, get_settings

__all__ = [
    "AMOUNT_MAX",
    "AMOUNT_MIN",
    "BLANKS",
    "CONTROL_PATTERN",
    "FREE_TEXT_CONTROL_PATTERN",
    "FREE_TEXT_FIELDS",
    "FREE_TEXT_PATTERN",
    "TERMS_DAYS_MAX",
    "TEXT_PATTERN",
    "amount_problem",
    "date_pattern",
    "date_problem",
    "date_range",
    "datetime_pattern",
    "digits_between",
    "range_text",
    "text_problem",
]

# One cent: smaller amounts round to 0.00 in the store's NUMERIC(18, 2) columns.
AMOUNT_MIN = 0.01
# Far above any receivable, far below what float64 and NUMERIC(18, 2) hold exactly.
AMOUNT_MAX = 1e12

# Longest payment terms, in days (a due date far beyond them is a typo, not a deal).
TERMS_DAYS_MAX = 365

# Fields holding free text (a collector's note), where tab and line breaks are allowed.
FREE_TEXT_FIELDS: frozenset[str] = frozenset({"text"})

# C0 and C1 control characters and DEL; written as escapes so that both Python's `re`
# and Arrow's RE2 (pandas' string columns) read the same pattern.
CONTROL_PATTERN = r"[\x00-\x1f\x7f-\x9f]"
# The same without tab, line feed and carriage return (a CRLF note from Windows).
FREE_TEXT_CONTROL_PATTERN = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
# The same rules as whole-value JSON-schema patterns (ECMA-262), for the OpenAPI document.
# Lone surrogates are left out of them: schemathesis' validator (jsonschema_rs, Rust
# regex) refuses `[\ud800-\udfff]` as "not a regex", and `\p{Cs}` means a surrogate only
# under ECMA's `u` flag (without it, as in most JavaScript clients, it bars the letters
# p, C, s). A JSON text holding a lone surrogate is not interoperable anyway (RFC 8259,
# 8.2); the validators still reject one.
TEXT_PATTERN = f"^[^{CONTROL_PATTERN[1:-1]}]*$"
FREE_TEXT_PATTERN = f"^[^{FREE_TEXT_CONTROL_PATTERN[1:-1]}]*$"
# What surrounding blanks are stripped from a value: Unicode white space except the
# control characters among it (vertical tab, form feed, the separators 0x1c-0x1f, NEL),
# which are rejected, not silently dropped.
BLANKS = (
    " \t\n\r\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)
# Lone UTF-16 surrogates: JSON can escape them ("\ud800"), UTF-8 and PostgreSQL cannot.
_SURROGATES = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile(CONTROL_PATTERN)
_FREE_TEXT_CONTROL = re.compile(FREE_TEXT_CONTROL_PATTERN)


def date_range(settings: Settings | None = None) -> tuple[dt.date, dt.date]:
    """The first and last day accepted anywhere (default: the environment's settings)."""
    settings = settings or get_settings()
    return settings.date_min, settings.date_max


def range_text(settings: Settings | None = None) -> str:
    """The accepted range as the messages show it, with the settings that change it."""
    low, high = date_range(settings)
    return f"{low} .. {high} (DUECAST_DATE_MIN .. DUECAST_DATE_MAX)"


def digits_between(low: int, high: int, width: int) -> str:
    """A regular expression matching exactly the `width`-digit numbers `low .. high`.

    Zero-padded, digits spelled `[0-9]` (Python's `\\d` also matches non-ASCII digits);
    for instance `digits_between(1900, 2199, 4)` is `(?:19[0-9]{2}|2[01][0-9]{2})`.
    """
    if not 0 <= low <= high < 10**width:
        raise ValueError(f"no {width}-digit numbers from {low} to {high}")
    return _alternatives(_digit_ranges(f"{low:0{width}d}", f"{high:0{width}d}"))


def _digit_ranges(low: str, high: str) -> list[str]:
    # Equal-length digit strings, low <= high: split on the first digit, so that each
    # alternative is a fixed prefix, one digit class, then free digits.
    rest = len(low) - 1
    if low == high:
        return [low]
    if low == "0" * len(low) and high == "9" * len(high):
        return ["[0-9]" if not rest else f"[0-9]{{{len(low)}}}"]
    if low[0] == high[0]:
        return [low[0] + _alternatives(_digit_ranges(low[1:], high[1:]))]
    parts = []
    first, last = int(low[0]), int(high[0])
    if low[1:] != "0" * rest:
        parts.append(low[0] + _alternatives(_digit_ranges(low[1:], "9" * rest)))
        first += 1
    tail = None
    if high[1:] != "9" * rest:
        tail = high[0] + _alternatives(_digit_ranges("0" * rest, high[1:]))
        last -= 1
    if first <= last:
        digit = str(first) if first == last else f"[{first}{'-' * (last > first + 1)}{last}]"
        parts.append(digit + ("" if not rest else "[0-9]" if rest == 1 else f"[0-9]{{{rest}}}"))
    if tail is not None:
        parts.append(tail)
    return parts


def _alternatives(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


# Widths and bounds of the parts of an ISO date; the day's bound ignores the month
# length, which `format: date` checks beside the pattern.
_DATE_PARTS = ((4, 0, 9999), (2, 1, 12), (2, 1, 31))


def _days_between(low: tuple[int, ...], high: tuple[int, ...]) -> str:
    # Lexicographic range of (year, month, day) tuples, joined by "-".
    if not low:
        return ""
    width = _DATE_PARTS[len(_DATE_PARTS) - len(low)][0]
    sep = "-" if len(low) > 1 else ""
    lowest = tuple(part[1] for part in _DATE_PARTS[len(_DATE_PARTS) - len(low) + 1 :])
    highest = tuple(part[2] for part in _DATE_PARTS[len(_DATE_PARTS) - len(low) + 1 :])
    if low[0] == high[0]:
        return f"{low[0]:0{width}d}{sep}{_days_between(low[1:], high[1:])}"
    parts = []
    start, end = low[0], high[0]
    if low[1:] != lowest:
        parts.append(f"{low[0]:0{width}d}{sep}{_days_between(low[1:], highest)}")
        start += 1
    tail = None
    if high[1:] != highest:
        tail = f"{high[0]:0{width}d}{sep}{_days_between(lowest, high[1:])}"
        end -= 1
    if start <= end:
        parts.append(digits_between(start, end, width) + sep + _days_between(lowest, highest))
    if tail is not None:
        parts.append(tail)
    return _alternatives(parts)


def _day_regex(low: dt.date, high: dt.date) -> str:
    return _days_between((low.year, low.month, low.day), (high.year, high.month, high.day))


def date_pattern(settings: Settings | None = None) -> str:
    """The JSON-schema pattern of an ISO date (`YYYY-MM-DD`) within `date_range`.

    Exact together with `format: date`, which rules out days such as 02-30 that the
    pattern's day range (01-31 in every month) lets through.
    """
    low, high = date_range(settings)
    return f"^{_day_regex(low, high)}$"


# RFC 3339 time as both the `date-time` format and pydantic accept it: no leap second
# (Python's datetime has none), an offset of at most 23:59.
_TIME = r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
_OFFSET = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"


def datetime_pattern(settings: Settings | None = None) -> str:
    """The JSON-schema pattern of an RFC 3339 date-time whose UTC day is in `date_range`.

    The validator judges a datetime by its UTC day. On the first day the pattern admits
    no positive offset and on the last no negative one (but +/-00:00), which is a little
    stricter than the validator: 1900-01-01T12:00:00+01:00 is accepted but undocumented.
    """
    low, high = date_range(settings)
    one_day = dt.timedelta(days=1)
    utc = "[Zz]|[+-]00:00"
    # The first day may only move later in UTC (a negative offset), the last earlier.
    branches = [f"{_day_regex(low, low)}{_TIME}(?:{utc}|-{_OFFSET})"]
    if low + one_day <= high - one_day:
        inner = _day_regex(low + one_day, high - one_day)
        branches.append(f"{inner}{_TIME}(?:[Zz]|[+-]{_OFFSET})")
    branches.append(f"{_day_regex(high, high)}{_TIME}(?:{utc}|\\+{_OFFSET})")
    return f"^(?:{'|'.join(branches)})$"


def date_problem(
    value: dt.date | dt.datetime, field: str, settings: Settings | None = None
) -> str | None:
    """Why `value` cannot be stored in `field`, or None when it lies in the range.

    A datetime counts by its UTC day (a naive one is taken as UTC, as the store does):
    a time late on the last day with a negative offset falls on the day after.
    """
    low, high = date_range(settings)
    day = value
    if isinstance(value, dt.datetime):
        try:
            day = (value.astimezone(dt.UTC) if value.tzinfo else value).date()
        except OverflowError:  # e.g. 0001-01-01T00:00+01:00: no UTC day exists
            day = dt.date.min
    if low <= day <= high:
        return None
    return f"{field} {value.isoformat()} is outside the accepted range {range_text(settings)}"


def amount_problem(value: float, field: str, *, allow_zero: bool = False) -> str | None:
    """Why `value` is no usable amount for `field` (not finite, below a cent, too large)."""
    if not math.isfinite(value):
        return f"{field} {value} is not a number"
    size = abs(value)
    if allow_zero and size == 0:
        return None
    if size < AMOUNT_MIN:
        return f"{field} {value:g} is below one cent ({AMOUNT_MIN})"
    if size > AMOUNT_MAX:
        return f"{field} {value:g} is above the largest amount accepted ({AMOUNT_MAX:g})"
    return None


def text_problem(value: str, field: str, *, free_text: bool | None = None) -> str | None:
    """Why `value` cannot be stored in `field`: a control character (or a lone surrogate).

    Tab and line breaks are allowed only in free text: `free_text`, by default whether
    `field` is one of `FREE_TEXT_FIELDS`.
    """
    if free_text is None:
        free_text = field in FREE_TEXT_FIELDS
    control = _FREE_TEXT_CONTROL if free_text else _CONTROL
    found = control.search(value) or _SURROGATES.search(value)
    if found is None:
        return None
    return (
        f"{field} holds the character {found.group()!r} at position {found.start()}; control "
        "characters (NUL and the like) and lone surrogates are never part of a value"
    )
