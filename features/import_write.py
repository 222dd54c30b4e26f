"""The import's writes: diff the typed rows against the store, then insert and update.

Identical rows are left alone, rows absent from the files are never deleted; inserts go
through PostgreSQL COPY when the driver allows it, everything else through executemany.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.conversion import TypedFrame, is_in, normalise
from features.import_lookup import fetch_rows
from features.mapping_model import PAID_PAYMENT_PREFIX, SETTLED_PAYMENT_PREFIX
from features.store import TABLE_OBJECTS
from kernel.errors import StoreError
from kernel.schema import TABLES

__all__ = [
    "DERIVED_PREFIXES",
    "Plan",
    "ProgressCallback",
    "combined_rows",
    "copy_rows",
    "delete_rows",
    "insert_only",
    "plan_table",
    "stale_derived_payments",
    "touched_customers",
    "write_plan",
]

logger = logging.getLogger(__name__)

# Called as (stage, done, total) while the import reads, checks and writes.
ProgressCallback = Callable[[str, int, int], None]

# Ids of the payments an import derives from invoice columns (settled date, paid amount).
DERIVED_PREFIXES = (SETTLED_PAYMENT_PREFIX, PAID_PAYMENT_PREFIX)
_IN_BATCH = 900


@dataclass
class Plan:
    """What the import does with one table's rows: insert, update, or leave alone."""

    read: int
    columns: list[str]
    inserts: pd.DataFrame
    updates: pd.DataFrame
    unchanged: int
    # The stored rows the updates replace (their owner may differ from the new one).
    replaced: pd.DataFrame


def combined_rows(sources: list[TypedFrame], table: str) -> tuple[pd.DataFrame, list[str]]:
    """All rows of one table, and the columns every file carried (the updatable ones)."""
    spec = TABLES[table]
    if not sources:  # e.g. no payment derived any more: nothing to insert or update
        return pd.DataFrame({c: pd.Series(dtype="object") for c in spec.column_names}), []
    frame = pd.concat(
        [s.frame.reindex(columns=spec.column_names) for s in sources], ignore_index=True
    )
    present = [c for c in spec.column_names if all(c in s.present for s in sources)]
    if spec.name == "invoices":  # NOT NULL in the store; a file without them means false
        for flag in ("disputed", "voided"):
            frame[flag] = frame[flag].astype("boolean").fillna(False)
    if table == "payments":  # filled from the invoice when absent
        present = [*present, "customer_id"] if "customer_id" not in present else present
    return frame, present


def plan_table(conn: sa.Connection, table: str, frame: pd.DataFrame, present: list[str]) -> Plan:
    """Split a table's rows into new, changed (in the `present` columns) and unchanged."""
    key = TABLES[table].key
    frame = frame.set_index(key, drop=False)
    stored = fetch_rows(conn, table, TABLES[table].column_names, pd.Index(frame.index))
    if not len(stored):
        return Plan(len(frame), present, frame, frame.iloc[:0], 0, frame.iloc[:0])
    stored = normalise(stored, table).set_index(key, drop=False)
    is_new = ~is_in(frame.index, stored.index)
    old_rows = frame[~is_new]
    before = stored.reindex(old_rows.index)
    changed = np.zeros(len(old_rows), dtype=bool)
    for column in present:
        a, b = old_rows[column], before[column]
        same = (a == b).fillna(False).to_numpy(dtype=bool) | (a.isna() & b.isna()).to_numpy()
        changed |= ~same
    return Plan(
        read=len(frame),
        columns=present,
        inserts=frame[is_new],
        updates=old_rows[changed],
        unchanged=int((~changed).sum()),
        replaced=before[changed],
    )


def insert_only(plan: Plan) -> Plan:
    """The plan without its updates: stored rows are left as they are (counted unchanged)."""
    none = plan.updates.iloc[:0]
    return Plan(
        plan.read, plan.columns, plan.inserts, none, plan.unchanged + len(plan.updates), none
    )


def stale_derived_payments(
    conn: sa.Connection, invoice_ids: pd.Index, derived: pd.Index
) -> pd.DataFrame:
    """Stored payments an export derived from `invoice_ids` that it no longer derives.

    A settled date or paid amount removed in a later export takes its derived payment
    ("SETTLED-" / "PAID-" id) back; payments read from a payments file are never touched.
    Columns payment_id and customer_id.
    """
    columns = ["payment_id", "invoice_id", "customer_id"]
    if not len(invoice_ids):
        return pd.DataFrame(columns=["payment_id", "customer_id"])
    t = TABLE_OBJECTS["payments"]
    ids = invoice_ids.astype("str").unique().tolist()
    derived_id = sa.or_(*(t.c.payment_id.startswith(p, autoescape=True) for p in DERIVED_PREFIXES))
    parts = [
        pd.DataFrame(
            conn.execute(
                sa.select(*(t.c[c] for c in columns)).where(
                    t.c.invoice_id.in_(ids[i : i + _IN_BATCH]), derived_id
                )
            ).all(),
            columns=columns,
        )
        for i in range(0, len(ids), _IN_BATCH)
    ]
    stored = pd.concat(parts, ignore_index=True)
    stale = stored[~is_in(stored["payment_id"], derived)]
    return stale[["payment_id", "customer_id"]].reset_index(drop=True)


def delete_rows(conn: sa.Connection, table: str, keys: pd.Index, *, chunk_rows: int) -> None:
    """Delete the rows of `table` with these keys, `chunk_rows` per round trip."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    quote = conn.dialect.identifier_preparer.quote
    key = quote(TABLES[table].key)
    values = [(k,) for k in keys.astype("str")]
    for start in range(0, len(values), chunk_rows):
        conn.exec_driver_sql(
            f"DELETE FROM {quote(table)} WHERE {key} = {mark}", values[start : start + chunk_rows]
        )


def touched_customers(
    conn: sa.Connection, table: str, plan: Plan, invoices: pd.DataFrame
) -> pd.Index:
    """Customers owning a row the plan inserts or updates (before and after the update)."""
    rows = [plan.inserts, plan.updates, plan.replaced]
    if table == "exchange_rates":  # stored amounts are converted already: nobody changes
        return pd.Index([], dtype="str")
    if table != "adjustments":
        return _keys_of(rows, "customer_id")
    # Adjustments name only their invoice: its owner is known from the files or the
    # store (`invoices`), except the previous invoice of a moved adjustment.
    invoice_ids = _keys_of(rows, "invoice_id")
    owners = invoices["customer_id"].reindex(invoice_ids)
    unknown = pd.Index(owners.index[owners.isna()])
    stored = fetch_rows(conn, "invoices", ["invoice_id", "customer_id"], unknown)
    return pd.Index(pd.concat([owners.dropna(), stored["customer_id"]]).astype("str").unique())


def _keys_of(frames: list[pd.DataFrame], column: str) -> pd.Index:
    """The distinct values of `column` in `frames`, as text."""
    return pd.Index(pd.concat([f[column] for f in frames]).dropna().astype("str").unique())


def write_plan(
    conn: sa.Connection,
    table: str,
    plan: Plan,
    *,
    chunk_rows: int,
    progress: ProgressCallback,
) -> None:
    """Insert the new rows, then update the changed ones, `chunk_rows` per round trip.

    Statements go to the driver's executemany with plain tuples: SQLAlchemy's per-row
    parameter processing would cost more than the database itself on a million rows.
    Values are prepared column by column, vectorised, in the form SQLAlchemy itself
    would bind (on SQLite: ISO date strings, as its Date type stores them).
    """
    spec = TABLES[table]
    stage = f"write {table}"
    total = len(plan.inserts) + len(plan.updates)
    done = 0
    progress(stage, 0, total)
    quote = conn.dialect.identifier_preparer.quote
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    name = quote(table)
    sqlite = conn.dialect.name == "sqlite"

    columns = spec.column_names
    insert = (
        f"INSERT INTO {name} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))})"
    )
    copy = (
        f"COPY {name} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
        if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"
        else None
    )
    for chunk in _rows(plan.inserts, table, columns, chunk_rows, sqlite=sqlite):
        if copy:
            copy_rows(conn, copy, chunk)
        else:
            conn.exec_driver_sql(insert, chunk)
        done += len(chunk)
        progress(stage, done, total)

    key = spec.key
    settable = [c for c in plan.columns if c != key]
    if len(plan.updates) and settable:
        update = (
            f"UPDATE {name} SET {', '.join(f'{quote(c)} = {mark}' for c in settable)} "
            f"WHERE {quote(key)} = {mark}"
        )
        for chunk in _rows(plan.updates, table, [*settable, key], chunk_rows, sqlite=sqlite):
            conn.exec_driver_sql(update, chunk)
            done += len(chunk)
            progress(stage, done, total)
    logger.debug("%s: wrote %d rows", table, done)


def copy_rows(conn: sa.Connection, statement: str, rows: list[tuple[object, ...]]) -> None:
    """PostgreSQL COPY through psycopg, inside the import's transaction (~10x executemany)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except conn.dialect.loaded_dbapi.Error as exc:  # not wrapped by SQLAlchemy here
        raise StoreError(f"the database refused the import ({exc}); nothing was written") from exc


def _rows(
    frame: pd.DataFrame, table: str, columns: list[str], chunk_rows: int, *, sqlite: bool
) -> Iterator[list[tuple[object, ...]]]:
    """Rows as tuples of plain Python values (None for missing), chunk by chunk."""
    kinds = {c.name: c.kind for c in TABLES[table].columns}
    for start in range(0, len(frame), chunk_rows):
        part = frame.iloc[start : start + chunk_rows]
        arrays = [_python_values(part[c], kinds[c], sqlite=sqlite) for c in columns]
        yield list(zip(*arrays, strict=True))


def _python_values(column: pd.Series, kind: str, *, sqlite: bool) -> np.ndarray:
    """A column as the plain Python values the driver binds (None for missing)."""
    missing = column.isna().to_numpy()
    if kind == "date":
        if sqlite:  # the text SQLAlchemy's SQLite Date type stores and parses back
            values = np.datetime_as_string(column.to_numpy(dtype="datetime64[D]"), unit="D")
            values = values.astype(object)
        else:
            values = column.dt.date.to_numpy(dtype=object)
    elif kind == "datetime":
        if sqlite:  # SQLAlchemy's SQLite DateTime text, in UTC
            naive = column.dt.tz_convert("UTC").dt.tz_localize(None)
            text = np.datetime_as_string(naive.to_numpy(dtype="datetime64[us]"), unit="us")
            values = np.char.replace(text, "T", " ").astype(object)
        else:
            values = np.asarray(column.dt.to_pydatetime(), dtype=object)
    else:  # str, money (float64), int (Int64), bool (boolean) give plain Python values
        values = column.to_numpy(dtype=object, na_value=None)
    if missing.any():
        values = values.copy()
        values[missing] = None
    return values
