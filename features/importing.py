"""`duecast import`: read, map, validate, then upsert a folder of exports in one transaction.

The order is what makes the import safe:

1. find and read every file (missing, empty, mis-encoded or mis-delimited files stop
   here, before the database is touched);
2. map and convert every column, check every row (types, required values, dates,
   amounts, kinds, duplicate keys), then the references against the files *and* the
   rows already in the store;
3. if anything is wrong, raise `DataImportError` listing every problem (up to the cap)
   — nothing has been written;
4. otherwise diff against the stored rows by key and, in one transaction, insert the
   new rows and update the changed ones. Identical rows are left alone, so importing
   the same files twice changes nothing; rows absent from the files are never deleted
   (actions typed by people are never lost);
5. in the same transaction, append change-log rows (`features.changes`) naming every
   customer whose rows were inserted or updated, so running API workers reload them on
   their next request (a large import asks them to rebuild everything instead). An
   import that changes nothing logs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from duecast.errors import DataImportError, StoreError
from duecast.schema import IMPORT_ORDER, TABLES
from features.changes import log_change, log_changes
from features.mapping import ImportMapping, apply_mapping, load_mapping
from features.readers import RawFile, read_raw
from features.store import TABLE_OBJECTS, ensure_schema
from features.validate import (
    Problems,
    TypedFrame,
    check_duplicates,
    check_references,
    check_rows,
    convert,
    derive_settled_payments,
    is_in,
    normalise,
)

__all__ = [
    "CHANGE_KIND",
    "FULL_REBUILD_CUSTOMERS",
    "ImportSummary",
    "TableCounts",
    "import_directory",
]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]

_REQUIRED = ("customers", "invoices", "payments")
# Above this many keys, read the whole table once rather than in IN (...) batches.
_WHOLE_TABLE_KEYS = 20_000
_IN_BATCH = 900
# Change-log kind of an import's rows.
CHANGE_KIND = "import"
# Above this many touched customers, one change-log row tells workers to rebuild their
# whole state instead of one row per customer. Below it, the first request after the
# import waits while its worker reloads the named customers (one batched read, exact at
# once); above it, that wait would stall requests, so workers rebuild in the background
# (roughly the start-up time, with two states in memory meanwhile) and serve the old
# state, stale for every customer, until the new one is complete.
FULL_REBUILD_CUSTOMERS = 5_000


@dataclass(frozen=True)
class TableCounts:
    """Rows of one table: read from the files, and what the import did with them.

    `rejected` is 0 after a successful import: an import with bad rows raises
    `DataImportError` (which counts them) and writes nothing.
    """

    read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int


@dataclass(frozen=True)
class ImportSummary:
    """What an import did, per table (in import order), and which files it read."""

    tables: dict[str, TableCounts]
    files: dict[str, list[str]] = field(default_factory=dict)
    # Customers whose rows were inserted or updated (a changed invoice's old and new owner).
    customers_changed: int = 0

    @property
    def changed(self) -> bool:
        """Whether the import wrote anything."""
        return any(c.inserted or c.updated for c in self.tables.values())


def import_directory(
    engine: sa.Engine,
    directory: Path,
    *,
    mapping: Path | None = None,
    error_cap: int = 200,
    chunk_rows: int = 50_000,
    on_progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Validate and import the exports in `directory` into the store, all or nothing.

    Files are `<table>.csv` or `<table>.parquet` (or the names the mapping gives);
    customers and invoices are required, payments too unless the mapping derives
    them from a settled date; adjustments and actions are optional.

    Line numbers in reported problems are physical lines (header = line 1); for
    Parquet files a row's "line" is its row number + 2, numbered the same way.

    Args:
        engine: the store.
        directory: folder holding the exported files.
        mapping: optional TOML column mapping (see `features.mapping`).
        error_cap: how many problems to list at most (all are counted).
        chunk_rows: rows per database round trip.
        on_progress: called as `(stage, done, total)` while reading, checking, writing.

    Returns:
        Per-table counts of rows read, inserted, updated and unchanged, and how many
        customers changed (each logged in the change log, or one row for all of them
        above `FULL_REBUILD_CUSTOMERS`).

    Raises:
        DataImportError: missing or unreadable files, or bad rows; nothing is written.
        MappingError: the mapping file is unusable.
    """
    progress = on_progress or (lambda _stage, _done, _total: None)
    spec = load_mapping(mapping)
    raws = _read_files(directory, spec, progress)

    problems = Problems(cap=error_cap)
    sources: dict[str, list[TypedFrame]] = {name: [] for name in IMPORT_ORDER}
    progress("check rows", 0, len(raws))
    for i, (table, raw) in enumerate(raws.items()):
        typed = convert(apply_mapping(raw, spec.for_table(table)), problems)
        check_rows(typed, problems)
        sources[table].append(typed)
        if table == "invoices":
            derived = derive_settled_payments(typed)
            if derived is not None:
                sources["payments"].append(derived)
        progress("check rows", i + 1, len(raws))
    for table in IMPORT_ORDER:
        check_duplicates(sources[table], problems)

    ensure_schema(engine)
    counts: dict[str, TableCounts] = {}
    # One transaction from the reference checks to the last write: the rows the diff
    # is computed against are the rows the writes land on. Raising rolls back.
    try:
        with engine.begin() as conn:
            customers, invoices = _known_parents(conn, sources)
            for table in ("invoices", "payments", "adjustments", "actions"):
                check_references(
                    table, sources[table], customers=customers, invoices=invoices, problems=problems
                )
            if problems:
                raise problems.error()
            touched: list[pd.Index] = []
            for table in IMPORT_ORDER:
                if not sources[table]:
                    continue
                plan = _plan(conn, table, *_combined(sources[table]))
                _write(conn, table, plan, chunk_rows=chunk_rows, progress=progress)
                touched.append(_touched_customers(conn, table, plan, invoices))
                counts[table] = TableCounts(
                    read=plan.read,
                    inserted=len(plan.inserts),
                    updated=len(plan.updates),
                    unchanged=plan.unchanged,
                    rejected=0,
                )
            changed = _log_customers(conn, touched)
    except sa.exc.DBAPIError as exc:  # e.g. a concurrent writer; the transaction rolled back
        raise StoreError(
            f"the database refused the import ({exc.orig}); nothing was written"
        ) from exc
    for table, c in counts.items():
        logger.info(
            "%s: %d read, %d inserted, %d updated, %d unchanged",
            table,
            c.read,
            c.inserted,
            c.updated,
            c.unchanged,
        )
    files = {t: [s.file for s in sources[t]] for t in IMPORT_ORDER if sources[t]}
    return ImportSummary(tables=counts, files=files, customers_changed=changed)


# ------------------------------------------------------------------ reading


def _read_files(
    directory: Path, spec: ImportMapping, progress: ProgressCallback
) -> dict[str, RawFile]:
    if not directory.is_dir():
        raise DataImportError(
            f"{directory}: no such folder; expected a folder with customers.csv, "
            "invoices.csv and payments.csv (or .parquet)"
        )
    found = sorted(p.name for p in directory.iterdir() if p.is_file())
    paths: dict[str, Path] = {}
    missing: list[str] = []
    for table in IMPORT_ORDER:
        candidates = spec.for_table(table).candidate_files()
        hits = [directory / c for c in candidates if (directory / c).is_file()]
        if len(hits) > 1:
            raise DataImportError(
                f"{directory}: both {hits[0].name} and {hits[1].name} are present for the "
                f"{table} table; keep one of them"
            )
        hit = hits[0] if hits else None
        if hit is not None:
            paths[table] = hit
        elif table in _REQUIRED and not (table == "payments" and spec.derives_payments):
            missing.append(" or ".join(candidates))
    if missing:
        raise DataImportError(
            f"{directory}: missing required file(s): {'; '.join(missing)}. "
            f"Found: {', '.join(found) or '(no files)'}. Name the files like the tables, "
            "or give their names in a mapping file (--mapping)."
        )
    raws: dict[str, RawFile] = {}
    for i, (table, path) in enumerate(paths.items()):
        progress("read files", i, len(paths))
        table_spec = spec.for_table(table)
        raws[table] = read_raw(
            path, delimiter=table_spec.csv_delimiter(path), encoding=table_spec.encoding
        )
        logger.info("read %s: %d rows", path.name, len(raws[table].frame))
    progress("read files", len(paths), len(paths))
    return raws


# ------------------------------------------------------------------ references


def _known_parents(
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
    stored = _fetch(conn, "customers", ["customer_id"], wanted.difference(file_customers))
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
    stored_invoices = _fetch(
        conn, "invoices", ["invoice_id", "customer_id", "issue_date"], wanted_invoices
    )
    if len(stored_invoices):
        stored_invoices["issue_date"] = pd.to_datetime(stored_invoices["issue_date"])
        file_invoices = pd.concat([file_invoices, stored_invoices], ignore_index=True)
    invoices = file_invoices.set_index("invoice_id")[["customer_id", "issue_date"]]
    return customers, invoices


def _keys(sources: list[TypedFrame], key: str) -> pd.Index:
    if not sources:
        return pd.Index([], dtype="str")
    return pd.Index(pd.concat([s.frame[key] for s in sources]).dropna().unique())


def _fetch(conn: sa.Connection, table: str, columns: list[str], keys: pd.Index) -> pd.DataFrame:
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


# ------------------------------------------------------------------ diff and write


@dataclass
class _Plan:
    read: int
    columns: list[str]
    inserts: pd.DataFrame
    updates: pd.DataFrame
    unchanged: int
    # The stored rows the updates replace (their owner may differ from the new one).
    replaced: pd.DataFrame


def _combined(sources: list[TypedFrame]) -> tuple[pd.DataFrame, list[str]]:
    """All rows of one table, and the columns every file carried (the updatable ones)."""
    spec = TABLES[sources[0].table]
    frame = pd.concat([s.frame[spec.column_names] for s in sources], ignore_index=True)
    present = [c for c in spec.column_names if all(c in s.present for s in sources)]
    if sources[0].table == "payments":  # filled from the invoice when absent
        present = [*present, "customer_id"] if "customer_id" not in present else present
    return frame, present


def _plan(conn: sa.Connection, table: str, frame: pd.DataFrame, present: list[str]) -> _Plan:
    key = TABLES[table].key
    frame = frame.set_index(key, drop=False)
    stored = _fetch(conn, table, TABLES[table].column_names, pd.Index(frame.index))
    if not len(stored):
        return _Plan(len(frame), present, frame, frame.iloc[:0], 0, frame.iloc[:0])
    stored = normalise(stored, table).set_index(key, drop=False)
    is_new = ~is_in(frame.index, stored.index)
    old_rows = frame[~is_new]
    before = stored.reindex(old_rows.index)
    changed = np.zeros(len(old_rows), dtype=bool)
    for column in present:
        a, b = old_rows[column], before[column]
        same = (a == b).fillna(False).to_numpy(dtype=bool) | (a.isna() & b.isna()).to_numpy()
        changed |= ~same
    return _Plan(
        read=len(frame),
        columns=present,
        inserts=frame[is_new],
        updates=old_rows[changed],
        unchanged=int((~changed).sum()),
        replaced=before[changed],
    )


def _touched_customers(
    conn: sa.Connection, table: str, plan: _Plan, invoices: pd.DataFrame
) -> pd.Index:
    """Customers owning a row the plan inserts or updates (before and after the update)."""
    rows = [plan.inserts, plan.updates, plan.replaced]
    if table != "adjustments":
        return _keys_of(rows, "customer_id")
    # Adjustments name only their invoice: its owner is known from the files or the
    # store (`invoices`), except the previous invoice of a moved adjustment.
    invoice_ids = _keys_of(rows, "invoice_id")
    owners = invoices["customer_id"].reindex(invoice_ids)
    unknown = pd.Index(owners.index[owners.isna()])
    stored = _fetch(conn, "invoices", ["invoice_id", "customer_id"], unknown)
    return pd.Index(pd.concat([owners.dropna(), stored["customer_id"]]).astype("str").unique())


def _keys_of(frames: list[pd.DataFrame], column: str) -> pd.Index:
    return pd.Index(pd.concat([f[column] for f in frames]).dropna().astype("str").unique())


def _log_customers(conn: sa.Connection, touched: list[pd.Index]) -> int:
    """Log the changed customers (or every customer, above the threshold); how many."""
    customers = pd.Index([], dtype="str").append(touched).unique()
    if not len(customers):
        return 0
    if len(customers) > FULL_REBUILD_CUSTOMERS:
        log_change(conn, customer_id=None, kind=CHANGE_KIND)
        logger.info("%d customers changed: serving workers will rebuild", len(customers))
    else:
        log_changes(conn, sorted(customers), kind=CHANGE_KIND)
        logger.info("%d customers changed: logged for serving workers", len(customers))
    return len(customers)


def _write(
    conn: sa.Connection,
    table: str,
    plan: _Plan,
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
            _copy_rows(conn, copy, chunk)
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


def _copy_rows(conn: sa.Connection, statement: str, rows: list[tuple[object, ...]]) -> None:
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
