"""Money as people write it, turned into plain number text ("$1,020.00" -> "1020.00").

`normalize_money` is text in, text out and vectorised (Arrow compute, RE2 regular
expressions: a million values in a fraction of a second). A value it can read becomes
plain text: an optional "-", digits, optionally "." and digits ("-1234.56"); the digits
are kept as written (no rounding, "1,020.00" -> "1020.00"). A value it cannot read
comes back unchanged, so conversion reports it with its line; "" stays "".

The rules, for one value (surrounding spaces ignored):

- Currency: at most one symbol or code, before or after the number, with or without a
  space: a three-letter code (USD, eur), a symbol ($ € £ ¥ ₹ ₩ ₽ ¢ ₺ ₪ ₫ ฿ ₴ ₦), one or
  two capitals before "$" (US$, R$), or kr / Fr / Rs / zł / Kč. Which currency it was is
  not kept: the currency column says that.
- Negative: a leading "-" (before or after the currency: "-$5", "$-5", "£-5"), a
  trailing "-" ("400.00-"), or parentheses around the whole ("(400.00)", "($400.00)").
  The Unicode minus "−" counts as "-"; a leading "+" is allowed. Two of these at once
  ("(-400)", "-400-") are unreadable.
- Decimal separator: `decimal`, "." (default) or ",". The fraction may be empty ("5.")
  and the whole part may be missing (".5" -> "0.5").
- Thousands separator: `thousands`; "" means none allowed. With None (auto), a value
  may use ONE of: with decimal "." a ",", a space or an apostrophe ("1,234.56",
  "1 234.56", "1'234.56"); with decimal "," a "." or a space ("1.234,56", "1 234,56").
  Groups must be well formed: one to three digits, then groups of exactly three
  ("1,2,3", "12,34.5" and Indian "1,23,456" stay unchanged). No-break and thin spaces
  count as spaces, a typographic apostrophe (’) as "'".

So with decimal "." the text "1,234" is 1234 and "1.234" is 1.234; with decimal ","
"1,234" is 1.234 and "1.234" is 1234: set `decimal` to the convention of the export.
"""

from __future__ import annotations

import re
import string

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kernel.errors import MappingError

__all__ = ["normalize_money"]

_SYMBOLS = "$€£¥₹₩₽¢₺₪₫฿₴₦"
# No currency token holds a digit, "-", "(" or a separator, so trimming currencies, signs,
# parentheses and spaces off both ends of a valid value leaves its number.
_CURRENCY = rf"(?:[A-Za-z]{{3}}|[A-Z]{{1,2}}\$|[{_SYMBOLS}]|kr|Fr|Rs|zł|Kč)"
# What `utf8_trim` removes around the number of a valid value.
_AROUND = "()+- " + string.ascii_letters + _SYMBOLS + "łč"
# Separators allowed in auto mode, per decimal separator.
_AUTO_THOUSANDS = {".": (",", " ", "'"), ",": (".", " ")}
# Characters written for a minus, a space or an apostrophe by spreadsheets and locales.
_LOOKALIKES = {"\u2212": "-", "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2019": "'"}


def normalize_money(
    column: pd.Series, *, decimal: str = ".", thousands: str | None = None
) -> pd.Series:
    """Money text as written -> plain number text ("-1234.56"); unreadable values unchanged.

    Only text values are looked at: a column of numbers (Parquet) comes back as it is.
    The rules are in the module docstring.

    Raises:
        MappingError: `decimal` is not "." or ",", or `thousands` is not one of
            ",", ".", " ", "'", "" or is the decimal separator.
    """
    pattern = _pattern(decimal, thousands)
    text = _text(column)
    if text is None:
        return column
    present = _present(text)
    clean = text
    for lookalike, plain in _LOOKALIKES.items():
        if lookalike in present:
            clean = pc.replace_substring(clean, lookalike, plain)
            present.add(plain)
    # Matching without capture groups runs on RE2's DFA: many times faster than extracting.
    valid = pc.fill_null(pc.match_substring_regex(clean, pattern), False)
    negative = None  # a valid value holding "-" or "(" is negative
    for marker in ("-", "("):
        if marker in present:
            hit = pc.match_substring(clean, marker)
            negative = hit if negative is None else pc.or_(negative, hit)
    # A valid value is its number with currency, signs, parentheses and spaces around it.
    number = pc.utf8_trim(clean, _AROUND)
    for separator in (" ", ",", ".", "'"):
        if separator != decimal and separator in present:
            number = pc.replace_substring(number, separator, "")
    number = pc.utf8_rtrim(number, decimal)  # "5." -> "5"
    if decimal != ".":
        number = pc.replace_substring(number, decimal, ".")
    number = pc.if_else(pc.starts_with(number, "."), _prepend(number, "0"), number)
    plain = number if negative is None else pc.if_else(negative, _prepend(number, "-"), number)
    result = pc.if_else(valid, plain, text)
    if column.dtype != object:
        return pd.Series(pd.array(result, dtype=column.dtype), index=column.index, name=column.name)
    # Values that are not text (numbers in a Parquet object column) stay as they are.
    read = result.to_numpy(zero_copy_only=False)
    is_text = pc.is_valid(text).to_numpy(zero_copy_only=False)
    return pd.Series(
        np.where(is_text, read, column.to_numpy()), index=column.index, name=column.name
    )


def _pattern(decimal: str, thousands: str | None) -> str:
    """The RE2 pattern a readable money value matches in full (one currency, one sign)."""
    if decimal not in _AUTO_THOUSANDS:
        raise MappingError(f'decimal = {decimal!r} is not allowed; use "." or ","')
    if thousands is None:
        separators: tuple[str, ...] = _AUTO_THOUSANDS[decimal]
    elif thousands in (",", ".", " ", "'", "", "\u00a0") and thousands != decimal:
        separators = (_LOOKALIKES.get(thousands, thousands),) if thousands else ()
    else:
        raise MappingError(
            f"thousands = {thousands!r} is not allowed with decimal = {decimal!r}; use one of "
            '",", ".", " ", "\'" (other than the decimal separator) or "" for none'
        )
    # One separator per value: an alternative per separator (RE2 has no backreferences).
    grouped = [rf"[0-9]{{1,3}}(?:{re.escape(s)}[0-9]{{3}})+" for s in separators]
    whole = "|".join([*grouped, "[0-9]+"])
    point = re.escape(decimal)
    n = rf"(?:(?:{whole})(?:{point}[0-9]*)?|{point}[0-9]+)"
    c, _ = _CURRENCY, r"\s*"
    # Each way to write a negative, with the currency in each place it is written.
    forms = [
        rf"\({_}{n}{_}\)",
        rf"\({_}{c}{_}{n}{_}\)",
        rf"\({_}{n}{_}{c}{_}\)",
        rf"[-+]?{_}{n}",
        rf"[-+]{_}{c}{_}{n}",
        rf"{n}{_}-",
        rf"{n}{_}{c}{_}-",
    ]
    bare = "|".join(forms[:1] + forms[3:4] + forms[5:6])  # room for a currency around
    return rf"^{_}(?:{c}{_}(?:{bare})|(?:{bare}){_}{c}|{'|'.join(forms)}){_}$"


def _present(text: pa.Array) -> set[str]:
    """The separators and look-alikes the values hold, to skip passes that change nothing."""
    data = text.buffers()[2]
    raw = b"" if data is None else data.to_pybytes()
    return {c for c in (" ", ",", ".", "'", "-", "(", *_LOOKALIKES) if c.encode() in raw}


def _prepend(values: pa.Array, prefix: str) -> pa.Array:
    return pc.utf8_replace_slice(values, start=0, stop=0, replacement=prefix)


def _text(column: pd.Series) -> pa.Array | None:
    """The column as an Arrow string array, or None when it holds no text to read."""
    if pd.api.types.is_string_dtype(column.dtype) and column.dtype != object:
        text = pa.array(column.array, type=pa.string(), from_pandas=True)
        # A large column read by Arrow comes in chunks; the passes below want one array.
        return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    if column.dtype != object:
        return None
    texts = column.map(lambda value: value if isinstance(value, str) else None)
    if texts.isna().all():
        return None
    return pa.array(texts.to_numpy(), type=pa.string(), from_pandas=True)
