"""The stored rows an import checks against: parents of the new rows, rows with a key.

Reads only what the files name, in `IN (...)` batches, or the whole table in one scan
when the files name very many keys.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from features.conversion import TypedFrame, is_in
from features.store import TABLE_OBJECTS
from kernel.schema import TABLES

__all__ = ["fetch_rows", "known_parents"]

# Above this many keys, read the whole table once rather than in IN (...) batches.
_WHOLE_TABLE_KEYS = 20_000
_IN_BATCH = 900


def known_parents(
    conn: sa.Connection, sources: dict[str, list[TypedFrame]]
) -> tuple[pd.Index, pd.DataFrame]:
    """Customer ids and invoices (customer, issue date) known from the files or the store."""
    file_customers = _keys(sources["customers"], "customer_id")
    wanted = pd.Index(
        pd.concat(
            [
                s.frame["customer_id"].dropna()
                for t in ("invoices", "payments", "actions")
                for s in sources[t]
            ]
            or [pd.Series([], dtype="str")]
        ).unique()
    )
    stored = fetch_rows(conn, "customers", ["customer_id"], wanted.difference(file_customers))
    customers = file_customers.append(pd.Index(stored["customer_id"])).unique()

    file_invoices = pd.concat(
        [s.frame[["invoice_id", "customer_id", "issue_date"]] for s in sources["invoices"]]
        or [pd.DataFrame(columns=["invoice_id", "customer_id", "issue_date"])]
    )
    file_invoices = file_invoices.dropna(subset=["invoice_id"]).drop_duplicates("invoice_id")
    wanted_invoices = pd.Index(
        pd.concat(
            [
                s.frame["invoice_id"].dropna()
                for t in ("payments", "adjustments", "actions")
                for s in sources[t]
            ]
            or [pd.Series([], dtype="str")]
        ).unique()
    ).difference(pd.Index(file_invoices["invoice_id"]))
    stored_invoices = fetch_rows(
        conn, "invoices", ["invoice_id", "customer_id", "issue_date"], wanted_invoices
    )
    if len(stored_invoices):
        stored_invoices["issue_date"] = pd.to_datetime(stored_invoices["issue_date"])
        file_invoices = pd.concat([file_invoices, stored_invoices], ignore_index=True)
    invoices = file_invoices.set_index("invoice_id")[["customer_id", "issue_date"]]
    return customers, invoices


def _keys(sources: list[TypedFrame], key: str) -> pd.Index:
    """The distinct non-missing `key` values of the typed files."""
    if not sources:
        return pd.Index([], dtype="str")
    return pd.Index(pd.concat([s.frame[key] for s in sources]).dropna().unique())


def fetch_rows(conn: sa.Connection, table: str, columns: list[str], keys: pd.Index) -> pd.DataFrame:
    """Stored rows of `table` whose key is in `keys` (only `columns`)."""
    if not len(keys):
        return pd.DataFrame(columns=columns)
    t = TABLE_OBJECTS[table]
    key = t.c[TABLES[table].key]
    select = sa.select(*(t.c[c] for c in columns))
    if len(keys) > _WHOLE_TABLE_KEYS:
        # Many keys: one scan of the table beats thousands of IN (...) round trips, and
        # raw driver values (converted by `normalise`, vectorised) beat per-row processing.
        sql = str(select.compile(dialect=conn.dialect))
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql)
            rows = pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
        finally:
            cursor.close()
        return rows[is_in(rows[key.name], keys)].reset_index(drop=True)
    values = keys.tolist()
    parts = [
        pd.DataFrame(
            conn.execute(select.where(key.in_(values[i : i + _IN_BATCH]))).all(), columns=columns
        )
        for i in range(0, len(values), _IN_BATCH)
    ]
    return pd.concat(parts, ignore_index=True)
