"""Helpers of the input-bounds tests: a one-row-per-table export and a store fingerprint."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import sqlalchemy as sa

from features.store import TABLE_OBJECTS, change_log
from kernel.schema import IMPORT_ORDER, TABLES


def base_rows() -> dict[str, dict[str, str]]:
    """One valid row per canonical table, as the CSV texts of a canonical export."""
    return {
        "exchange_rates": {"rate_date": "2024-01-01", "currency": "GBP", "rate": "1.1734"},
        "customers": {
            "customer_id": "C1",
            "name": "Alder Print AG",
            "country": "DE",
            "industry": "retail",
            "created_at": "2020-01-01",
            "credit_limit": "1000.00",
            "payment_terms_days": "30",
            "currency": "EUR",
        },
        "invoices": {
            "invoice_id": "INV-1",
            "customer_id": "C1",
            "issue_date": "2024-01-01",
            "due_date": "2024-01-31",
            "amount": "100.00",
            "currency": "EUR",
            "disputed": "false",
            "dispute_date": "",
        },
        "payments": {
            "payment_id": "PAY-1",
            "invoice_id": "INV-1",
            "customer_id": "C1",
            "payment_date": "2024-02-05",
            "amount": "99.00",
        },
        "adjustments": {
            "adjustment_id": "ADJ-1",
            "invoice_id": "INV-1",
            "date": "2024-02-06",
            "amount": "1.00",
            "kind": "credit_note",
        },
        "actions": {
            "action_id": "ACT-1",
            "customer_id": "C1",
            "invoice_id": "INV-1",
            "at": "2024-02-01T09:00:00Z",
            "kind": "promise",
            "promised_date": "2024-02-04",
            "promised_amount": "99.00",
            "author": "chloe",
            "text": "AP promised to pay",
        },
    }


def write_export(directory: Path, rows: dict[str, list[dict[str, str]]]) -> None:
    """Write `<table>.csv` per table, header = the union of the rows' columns."""
    directory.mkdir(parents=True, exist_ok=True)
    for table, table_rows in rows.items():
        columns = list(dict.fromkeys(c for row in table_rows for c in row))
        with (directory / f"{table}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(table_rows)


def fingerprint(engine: sa.Engine) -> str:
    """A digest of every row of every canonical table and of the change log, in key order."""
    digest = hashlib.sha256()
    tables = [TABLE_OBJECTS[name] for name in IMPORT_ORDER] + [change_log]
    with engine.connect() as conn:
        for table in tables:
            key = TABLES[table.name].key if table.name in TABLES else next(iter(table.c)).name
            for row in conn.execute(sa.select(table).order_by(table.c[key])):
                digest.update(repr(tuple(row)).encode())
            digest.update(b"|")
    return digest.hexdigest()
