"""Money as people write it: symbols, codes, separators, negatives, decimal commas."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.money import normalize_money
from kernel.errors import MappingError


def one(value: str, **options: str | None) -> str:
    return str(normalize_money(pd.Series([value]), **options).iloc[0])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("written", "plain"),
    [
        ("$1,020.00", "1020.00"),
        ("(400.00)", "-400.00"),
        ("($1,020.00)", "-1020.00"),
        ("$(12)", "-12"),
        ("-400", "-400"),
        ("400.00-", "-400.00"),
        ("400 EUR-", "-400"),
        ("USD 100", "100"),
        ("100 EUR", "100"),
        ("usd 9", "9"),
        ("US$ 5", "5"),
        ("£-5", "-5"),
        ("-$5", "-5"),
        ("(USD 5)", "-5"),
        ("−400", "-400"),  # the Unicode minus
        ("1'234.56", "1234.56"),
        ("1’234.56", "1234.56"),
        ("1 234 567.5", "1234567.5"),
        ("+7", "7"),
        (" 12 ", "12"),
        (".5", "0.5"),
        ("5.", "5"),
        ("1,234", "1234"),
        ("1.234", "1.234"),
        ("0042", "0042"),
    ],
)
def test_decimal_point_values(written: str, plain: str) -> None:
    assert one(written) == plain


@pytest.mark.parametrize(
    ("written", "plain"),
    [
        ("€ 1.234,56", "1234.56"),
        ("1 234,56", "1234.56"),
        ("1\u00a0234,56", "1234.56"),  # no-break space, as French exports write it
        ("1\u202f234,5 €", "1234.5"),
        ("-1.234.567,5", "-1234567.5"),
        ("1,234", "1.234"),
        ("1.234", "1234"),
        ("(12,50)", "-12.50"),
        ("5 Kč", "5"),
        ("zł 5,5", "5.5"),
    ],
)
def test_decimal_comma_values(written: str, plain: str) -> None:
    assert one(written, decimal=",") == plain


@pytest.mark.parametrize(
    "written",
    [
        "",
        "abc",
        "USD",
        "-",
        "()",
        "1,2,3",  # groups of three or nothing
        "12,34.5",
        "1,23,456",  # Indian grouping is not read
        "1.2.3",
        "(-400)",  # two negatives
        "-400-",
        "(400",
        "USD 5 EUR",  # two currencies
        "1,234 567",  # two different separators
        "12abc34",
        "N/A",
    ],
)
def test_unreadable_values_come_back_unchanged(written: str) -> None:
    assert one(written) == written


def test_explicit_thousands_separator_is_the_only_one_allowed() -> None:
    assert one("1.234,5", decimal=",", thousands=".") == "1234.5"
    assert one("1 234,5", decimal=",", thousands=".") == "1 234,5"
    assert one("1'234.5", thousands="'") == "1234.5"
    assert one("1,234.5", thousands="'") == "1,234.5"
    assert one("1,234", thousands="") == "1,234"  # no thousands separator at all
    assert one("1234.5", thousands="") == "1234.5"


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"decimal": ";"}, "decimal = ';' is not allowed"),
        ({"decimal": ",", "thousands": ","}, "thousands = ',' is not allowed with decimal = ','"),
        ({"thousands": "_"}, "thousands = '_' is not allowed"),
    ],
)
def test_bad_options_are_mapping_errors(options: dict[str, str], said: str) -> None:
    with pytest.raises(MappingError, match=said):
        normalize_money(pd.Series(["1"]), **options)


def test_index_name_missing_values_and_dtype_are_kept() -> None:
    column = pd.Series(["$5", None, "x"], index=[7, 9, 12], name="Amount", dtype="str")

    out = normalize_money(column)

    assert out.index.tolist() == [7, 9, 12] and out.name == "Amount"
    assert out.dtype == column.dtype
    assert out.iloc[0] == "5" and pd.isna(out.iloc[1]) and out.iloc[2] == "x"


def test_numbers_and_mixed_object_columns() -> None:
    numbers = pd.Series([1.5, 2.0])
    assert normalize_money(numbers) is numbers  # nothing to read: Parquet numbers stay

    mixed = pd.Series(["$1,000", 3.5, None], dtype=object)
    assert normalize_money(mixed).tolist() == ["1000", 3.5, None]


STYLES: dict[str, tuple[Callable[[Decimal], str], dict[str, str]]] = {
    "us": (lambda v: f"{'-' if v < 0 else ''}${abs(v):,.2f}", {}),
    "accounting": (lambda v: f"({abs(v):,.2f})" if v < 0 else f"{v:,.2f}", {}),
    "trailing": (lambda v: f"{abs(v):,.2f}{'-' if v < 0 else ''} USD", {}),
    "swiss": (lambda v: f"CHF {v:,.2f}".replace(",", "'"), {}),
    "unicode minus": (lambda v: f"{v:.2f}".replace("-", "−"), {}),
    "german": (
        lambda v: f"{v:,.2f} €".replace(",", "_").replace(".", ",").replace("_", "."),
        {"decimal": ","},
    ),
    "french": (
        lambda v: f"{v:,.2f}".replace(",", "\u202f").replace(".", ","),
        {"decimal": ","},
    ),
}


@given(
    value=st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False),
    style=st.sampled_from(sorted(STYLES)),
)
def test_any_amount_in_any_style_reads_back(value: Decimal, style: str) -> None:
    write, options = STYLES[style]
    written = write(value)

    plain = one(written, **options)

    assert float(plain) == float(value), (written, plain)


def test_a_large_column_in_one_call() -> None:
    rng = np.random.default_rng(7)
    values = rng.uniform(-1e6, 1e6, 5_000).round(2)
    written = [f"${v:,.2f}" if i % 2 else f"({abs(v):,.2f})" for i, v in enumerate(values)]

    plain = normalize_money(pd.Series(written)).astype(float).to_numpy()

    expected = np.where(np.arange(len(values)) % 2 == 1, values, -np.abs(values))
    np.testing.assert_allclose(plain, expected)


def test_a_column_arrow_holds_in_several_chunks() -> None:
    # Large files come back from the CSV reader as chunked Arrow arrays.
    chunked = pa.chunked_array([pa.array(["$1,020.00", "(400.00)"]), pa.array(["400.00-", "x"])])
    column = pd.Series(pd.arrays.ArrowStringArray(chunked))
    assert list(normalize_money(column)) == ["1020.00", "-400.00", "-400.00", "x"]
