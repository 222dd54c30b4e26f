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
5. in the same transaction, upsert the invoices' issue-time attributes a mapping declares
   (`features.attribute_store`; checked in step 2 like every other value), then append
   change-log rows (`features.changes`) naming every customer whose rows (or invoice
   attributes) were inserted or updated, so running API workers reload them on their
   next request (a large import asks them to rebuild everything instead). An import
   that changes nothing logs nothing.

This module runs the steps and reads the files; the stored rows come from
`features.import_lookup`, the diff and the writes are in `features.import_write`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from features.attribute_store import attribute_values, write_attributes
from features.changes import log_change, log_changes
from features.import_lookup import known_parents
from features.import_write import (
    ProgressCallback,
    combined_rows,
    plan_table,
    touched_customers,
    write_plan,
)
from features.mapping import ImportMapping, apply_mapping, load_mapping
from features.readers import RawFile, read_raw
from features.store import ensure_schema
from features.validate import (
    Problems,
    TypedFrame,
    check_duplicates,
    check_references,
    check_rows,
    convert,
    derive_settled_payments,
)
from kernel.errors import DataImportError, StoreError
from kernel.schema import IMPORT_ORDER

__all__ = [
    "CHANGE_KIND",
    "FULL_REBUILD_CUSTOMERS",
    "ImportSummary",
    "TableCounts",
    "import_directory",
]

logger = logging.getLogger(__name__)

_REQUIRED = ("customers", "invoices", "payments")
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
    sources, attributes = _check_files(raws, spec, problems, progress)

    ensure_schema(engine)
    # One transaction from the reference checks to the last write: the rows the diff
    # is computed against are the rows the writes land on. Raising rolls back.
    try:
        with engine.begin() as conn:
            customers, invoices = known_parents(conn, sources)
            for table in ("invoices", "payments", "adjustments", "actions"):
                check_references(
                    table, sources[table], customers=customers, invoices=invoices, problems=problems
                )
            if problems:
                raise problems.error()
            counts, touched = _write_tables(
                conn, sources, invoices, chunk_rows=chunk_rows, progress=progress
            )
            declared = spec.for_table("invoices").attributes
            if declared:
                changed_ids = write_attributes(conn, declared, attributes, chunk_rows=chunk_rows)
                owners = invoices["customer_id"].reindex(changed_ids).dropna()
                touched.append(pd.Index(owners.astype("str").unique()))
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


def _check_files(
    raws: dict[str, RawFile], spec: ImportMapping, problems: Problems, progress: ProgressCallback
) -> tuple[dict[str, list[TypedFrame]], pd.DataFrame]:
    """Map, convert and check every file's rows, then the duplicate keys of each table.

    Returns the typed rows per table and the invoices' attribute values (long form).
    """
    sources: dict[str, list[TypedFrame]] = {name: [] for name in IMPORT_ORDER}
    attributes = pd.DataFrame()
    progress("check rows", 0, len(raws))
    for i, (table, raw) in enumerate(raws.items()):
        typed = convert(apply_mapping(raw, spec.for_table(table)), problems)
        check_rows(typed, problems)
        sources[table].append(typed)
        if table == "invoices":
            attributes = attribute_values(raw, spec.for_table(table), typed, problems)
            derived = derive_settled_payments(typed)
            if derived is not None:
                sources["payments"].append(derived)
        progress("check rows", i + 1, len(raws))
    for table in IMPORT_ORDER:
        check_duplicates(sources[table], problems)
    return sources, attributes


def _write_tables(
    conn: sa.Connection,
    sources: dict[str, list[TypedFrame]],
    invoices: pd.DataFrame,
    *,
    chunk_rows: int,
    progress: ProgressCallback,
) -> tuple[dict[str, TableCounts], list[pd.Index]]:
    """Insert and update every table in import order; its counts and touched customers."""
    counts: dict[str, TableCounts] = {}
    touched: list[pd.Index] = []
    for table in IMPORT_ORDER:
        if not sources[table]:
            continue
        plan = plan_table(conn, table, *combined_rows(sources[table]))
        write_plan(conn, table, plan, chunk_rows=chunk_rows, progress=progress)
        touched.append(touched_customers(conn, table, plan, invoices))
        counts[table] = TableCounts(
            read=plan.read,
            inserted=len(plan.inserts),
            updated=len(plan.updates),
            unchanged=plan.unchanged,
            rejected=0,
        )
    return counts, touched


# ------------------------------------------------------------------ reading


def _read_files(
    directory: Path, spec: ImportMapping, progress: ProgressCallback
) -> dict[str, RawFile]:
    """Find every table's file (one per table; the required ones present) and read it."""
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
