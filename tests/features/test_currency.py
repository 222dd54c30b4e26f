"""Currencies on import: amounts stored in the base currency, originals and rates kept.

A tiny EUR-based ledger with a GBP customer, written as CSV files in tmp_path; the
rates file import and its idempotency run on SQLite and PostgreSQL (`db_url`).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from features.importing import import_directory
from features.ledger import load_ledger
from features.store import get_engine
from features.synthetic_rates import draw_rates
from features.timeline import invoice_timeline
from kernel.config import get_settings
from kernel.errors import ConfigurationError, DataImportError


def _write(directory: Path, tables: dict[str, list[dict[str, object]]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        pd.DataFrame(rows).to_csv(directory / f"{name}.csv", index=False)
    return directory


def _ledger(**extra: list[dict[str, object]]) -> dict[str, list[dict[str, object]]]:
    """Two customers (EUR, GBP), one invoice each, a full GBP payment and a credit note."""
    tables: dict[str, list[dict[str, object]]] = {
        "customers": [
            {"customer_id": "C-EUR", "name": "Euro", "created_at": "2024-01-01", "currency": "EUR"},
            {
                "customer_id": "C-GBP",
                "name": "Pound",
                "created_at": "2024-01-01",
                "currency": "GBP",
            },
        ],
        "invoices": [
            {
                "invoice_id": "I-EUR",
                "customer_id": "C-EUR",
                "issue_date": "2024-03-01",
                "due_date": "2024-03-31",
                "amount": 1000.0,
                "currency": "",
            },
            {
                "invoice_id": "I-GBP",
                "customer_id": "C-GBP",
                "issue_date": "2024-03-15",
                "due_date": "2024-04-14",
                "amount": 1000.0,
                "currency": "",  # the customer's: GBP
            },
        ],
        "payments": [
            {
                "payment_id": "P-GBP",
                "invoice_id": "I-GBP",
                "payment_date": "2024-04-20",
                "amount": 900.0,
            },
        ],
        "adjustments": [
            {
                "adjustment_id": "A-GBP",
                "invoice_id": "I-GBP",
                "date": "2024-04-21",
                "amount": 100.0,
                "kind": "credit_note",
            }
        ],
        "exchange_rates": [
            {"rate_date": "2024-03-01", "currency": "GBP", "rate": "1.1712"},
            {"rate_date": "2024-03-14", "currency": "GBP", "rate": "1.1734"},
            {"rate_date": "2024-03-16", "currency": "GBP", "rate": "1.25"},  # after issue
            {"rate_date": "2024-04-20", "currency": "GBP", "rate": "1.30"},  # payment day
        ],
    }
    tables.update(extra)
    return tables


def _rows(engine: sa.Engine, sql: str) -> list[tuple[object, ...]]:
    """Rows of a raw query, numbers as floats (PostgreSQL hands back Decimals)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(sql)).all()
    return [tuple(float(v) if isinstance(v, Decimal) else v for v in r) for r in rows]


def test_invoice_payment_and_adjustment_converted_at_the_invoice_rate(
    tmp_path: Path, sqlite_url: str
) -> None:
    engine = get_engine(sqlite_url)
    import_directory(engine, _write(tmp_path / "in", _ledger()))
    invoices = _rows(
        engine,
        "SELECT invoice_id, amount, currency, original_amount, fx_rate FROM invoices "
        "ORDER BY invoice_id",
    )
    # Latest GBP rate on or before 2024-03-15 is 1.1734 (the 03-16 one comes after).
    assert invoices == [
        ("I-EUR", 1000.0, "EUR", 1000.0, 1.0),
        ("I-GBP", 1173.4, "GBP", 1000.0, 1.1734),
    ]
    # The payment is converted at its invoice's rate, not the 1.30 of its own day.
    assert _rows(engine, "SELECT amount, original_amount FROM payments") == [(1056.06, 900.0)]
    assert _rows(engine, "SELECT amount, original_amount FROM adjustments") == [(117.34, 100.0)]


def test_full_original_payment_settles_the_invoice(tmp_path: Path, sqlite_url: str) -> None:
    tables = _ledger()
    del tables["adjustments"]
    tables["invoices"][1]["amount"] = 987.65  # an amount whose conversion rounds
    tables["payments"][0]["amount"] = 987.65
    engine = get_engine(sqlite_url)
    import_directory(engine, _write(tmp_path / "in", tables))
    timeline = invoice_timeline(load_ledger(engine)).invoices.set_index("invoice_id")
    assert timeline.loc["I-GBP", "settled_date"] == pd.Timestamp("2024-04-20")
    assert _rows(engine, "SELECT amount FROM payments") == _rows(
        engine, "SELECT amount FROM invoices WHERE invoice_id = 'I-GBP'"
    )


def test_missing_rate_is_a_line_numbered_problem(tmp_path: Path, sqlite_url: str) -> None:
    tables = _ledger()
    tables["invoices"][0]["currency"] = "JPY"  # a JPY invoice on a EUR customer
    engine = get_engine(sqlite_url)
    with pytest.raises(DataImportError) as caught:
        import_directory(engine, _write(tmp_path / "in", tables))
    (bad,) = caught.value.bad_rows
    assert (bad.file, bad.line, bad.column) == ("invoices.csv", 2, "currency")
    assert "no JPY exchange rate on or before the issue date 2024-03-01" in bad.reason
    assert "exchange_rates.csv" in bad.reason and "fx_rate" in bad.reason
    assert _rows(engine, "SELECT count(*) FROM invoices") == [(0,)]


def test_customer_currency_without_rates_is_a_problem(tmp_path: Path, sqlite_url: str) -> None:
    tables = _ledger(exchange_rates=[{"rate_date": "2024-03-16", "currency": "GBP", "rate": 1.2}])
    with pytest.raises(DataImportError, match="no GBP exchange rate on or before") as caught:
        import_directory(get_engine(sqlite_url), _write(tmp_path / "in", tables))
    assert [(b.file, b.line) for b in caught.value.bad_rows] == [("invoices.csv", 3)]


def test_rate_column_on_the_invoice_wins(tmp_path: Path, sqlite_url: str) -> None:
    tables = _ledger()
    del tables["exchange_rates"]
    for row in tables["invoices"]:
        row["fx_rate"] = ""
    tables["invoices"][1]["fx_rate"] = "1.2"
    engine = get_engine(sqlite_url)
    import_directory(engine, _write(tmp_path / "in", tables))
    assert _rows(engine, "SELECT amount, fx_rate FROM invoices WHERE invoice_id = 'I-GBP'") == [
        (1200.0, 1.2)
    ]
    assert _rows(engine, "SELECT amount FROM payments") == [(1080.0,)]


def test_bad_rates_are_reported_by_line(tmp_path: Path, sqlite_url: str) -> None:
    rates = [
        {"rate_date": "2024-03-01", "currency": "GBP", "rate": "abc"},
        {"rate_date": "2024-03-01", "currency": "USD", "rate": "-1"},
        {"rate_date": "2024-03-02", "currency": "GBPX", "rate": "1.1"},
        {"rate_date": "2024-03-14", "currency": "GBP", "rate": "1.17"},
        {"rate_date": "2024-03-14", "currency": "gbp", "rate": "1.18"},
    ]
    with pytest.raises(DataImportError) as caught:
        import_directory(
            get_engine(sqlite_url), _write(tmp_path / "in", _ledger(exchange_rates=rates))
        )
    found = {(b.file, b.line, b.column) for b in caught.value.bad_rows}
    assert found == {
        ("exchange_rates.csv", 2, "rate"),
        ("exchange_rates.csv", 3, "rate"),
        ("exchange_rates.csv", 4, "currency"),
        ("exchange_rates.csv", 5, "rate_date"),
        ("exchange_rates.csv", 6, "rate_date"),
    }


def test_rates_file_import_is_idempotent(tmp_path: Path, db_url: str) -> None:
    engine = get_engine(db_url)
    folder = _write(tmp_path / "in", _ledger())
    first = import_directory(engine, folder)
    assert first.tables["exchange_rates"].inserted == 4
    stored = _rows(engine, "SELECT rate_id, rate FROM exchange_rates ORDER BY rate_id")
    assert stored[0] == ("GBP:2024-03-01", 1.1712)
    again = import_directory(engine, folder)
    assert not again.changed, again.tables
    # A payment imported later, alone, takes its stored invoice's rate.
    tables = {
        "customers": _ledger()["customers"],
        "invoices": [],
        "payments": [
            {"payment_id": "P-2", "invoice_id": "I-GBP", "payment_date": "2024-05-01", "amount": 10}
        ],
    }
    later = tmp_path / "later"
    later.mkdir()
    pd.DataFrame(tables["customers"]).to_csv(later / "customers.csv", index=False)
    pd.DataFrame(columns=list(_ledger()["invoices"][0])).to_csv(later / "invoices.csv", index=False)
    pd.DataFrame(tables["payments"]).to_csv(later / "payments.csv", index=False)
    import_directory(engine, later)
    assert _rows(engine, "SELECT amount FROM payments WHERE payment_id = 'P-2'") == [(11.73,)]


def test_empty_currencies_are_the_base_currency(tmp_path: Path, sqlite_url: str) -> None:
    tables = _ledger()
    del tables["exchange_rates"]
    tables["customers"][1]["currency"] = ""  # no currency: the base one, no rate needed
    engine = get_engine(sqlite_url)
    import_directory(engine, _write(tmp_path / "in", tables))
    assert _rows(engine, "SELECT currency, amount, fx_rate FROM invoices") == [
        ("EUR", 1000.0, 1.0),
        ("EUR", 1000.0, 1.0),
    ]


def test_base_currency_setting_decides_what_needs_a_rate(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUECAST_BASE_CURRENCY", "GBP")
    get_settings.cache_clear()
    tables = _ledger(exchange_rates=[{"rate_date": "2024-01-01", "currency": "EUR", "rate": 0.85}])
    engine = get_engine(sqlite_url)
    import_directory(engine, _write(tmp_path / "in", tables))
    assert _rows(engine, "SELECT invoice_id, amount FROM invoices ORDER BY invoice_id") == [
        ("I-EUR", 850.0),
        ("I-GBP", 1000.0),
    ]


def test_generated_rates_are_valued_in_the_base_currency() -> None:
    start, end = np.datetime64("2025-01-01"), np.datetime64("2025-03-31")
    in_eur = draw_rates(np.random.default_rng(0), ["EUR", "GBP", "USD"], start, end, "EUR")
    assert sorted(in_eur["currency"].unique()) == ["GBP", "USD"]
    assert len(in_eur) == 2 * 90 and in_eur["rate_id"].is_unique
    gbp = in_eur.loc[in_eur["currency"] == "GBP", "rate"]
    assert gbp.min() > 1.0 and gbp.max() < 1.4  # plausible pounds in euros
    in_usd = draw_rates(np.random.default_rng(0), ["EUR", "GBP", "USD"], start, end, "USD")
    assert sorted(in_usd["currency"].unique()) == ["EUR", "GBP"]
    with pytest.raises(ConfigurationError, match="no synthetic exchange rate for XYZ"):
        draw_rates(np.random.default_rng(0), ["EUR"], start, end, "XYZ")


def _thirds() -> dict[str, list[dict[str, object]]]:
    """100.00 GBP at 1.1734 (117.34 EUR) paid in three parts whose own cents sum to 117.33."""
    tables = _ledger()
    del tables["adjustments"]
    tables["invoices"][1]["amount"] = 100.0
    tables["payments"] = [
        {"payment_id": f"P-{i}", "invoice_id": "I-GBP", "payment_date": day, "amount": amount}
        for i, (day, amount) in enumerate(
            (("2024-04-01", 8.04), ("2024-04-10", 21.93), ("2024-04-20", 70.03))
        )
    ]
    return tables


def test_partial_payments_of_the_full_original_amount_settle(
    tmp_path: Path, sqlite_url: str
) -> None:
    engine = get_engine(sqlite_url)
    import_directory(engine, _write(tmp_path / "in", _thirds()))
    assert _rows(engine, "SELECT sum(amount) FROM payments") == [(117.34,)]
    timeline = invoice_timeline(load_ledger(engine)).invoices.set_index("invoice_id")
    assert timeline.loc["I-GBP", "settled_date"] == pd.Timestamp("2024-04-20")


def test_a_later_partial_payment_completes_the_stored_ones(tmp_path: Path, sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    tables = _thirds()
    last = tables["payments"].pop()
    first = _write(tmp_path / "first", tables)
    import_directory(engine, first)
    tables["payments"] = [last]
    import_directory(engine, _write(tmp_path / "later", tables))
    assert _rows(engine, "SELECT sum(amount) FROM payments") == [(117.34,)]
    assert not import_directory(engine, first).changed  # the stored third changes nothing
