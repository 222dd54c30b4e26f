"""`duecast import`: read, map, validate, then upsert a folder of exports in one transaction.

The order is what makes the import safe:

1. find and read every file (missing, empty, mis-encoded or mis-delimited files stop
   here, before the database is touched);
2. map and convert every column, check every row (types, required values, dates,
   amounts, kinds, duplicate keys), then the references against the files *and* the
   rows already in the store;
3. if anything is wrong, raise `DataImportError` listing every problem (up to the cap)
   — nothing has been written. With a reject file the bad rows, and the rows that need
   them, are left out instead and every problem is written to that file
   (`features.import_reject`); a problem with a whole file still stops the import;
4. otherwise diff against the stored rows by key and, in one transaction, insert the
   new rows and update the changed ones. Identical rows are left alone, so importing
   the same files twice changes nothing; rows absent from the files are never deleted
   (actions typed by people are never lost) — except the payments an earlier export
   derived from an invoice (settled date, paid amount) that this export no longer
   derives; customers derived from invoices are only inserted, never updated;
5. in the same transaction, upsert the invoices' issue-time attributes a mapping declares
   (`features.attribute_store`; checked in step 2 like every other value), then append
   change-log rows (`features.changes`) naming every customer whose rows (or invoice
   attributes) were inserted or updated, so running API workers reload them on their
   next request (a large import asks them to rebuild everything instead). An import
   that changes nothing logs nothing.

A dry run does all of this but writes nothing: the same counts, then a rollback.

This module runs the steps; the files are read by `features.import_sources`, the stored
rows come from `features.import_lookup`, the diff and the writes are in
`features.import_write`, rejected rows are handled by `features.import_reject`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from features.attribute_store import write_attributes
from features.changes import log_change, log_changes
from features.currency import to_base
from features.currency_restate import RESTATED_FILE, keep_restated_of
from features.import_limits import keep_approved_limits, log_limit_changes
from features.import_reject import (
    accepted_keys,
    keep_accepted,
    settle_references,
    write_reject_file,
)
from features.import_sources import Sources, read_sources
from features.import_store import import_store
from features.import_write import (
    ProgressCallback,
    combined_rows,
    delete_rows,
    insert_only,
    plan_table,
    stale_derived_payments,
    touched_customers,
    write_plan,
)
from features.mapping import ImportMapping, load_mapping
from features.validate import Problems
from kernel.errors import StoreError
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

    read = inserted + updated + unchanged + rejected. `rejected` counts rows left out
    with a reject file (without one, an import with bad rows raises `DataImportError`
    and writes nothing); `deleted` the payments an earlier export derived from an
    invoice (settled date, paid amount) that this one no longer derives; `restated`
    the stored rows the files did not carry, read again because their invoice got a
    new rate (`features.currency_restate`), counted in `read`.
    """

    read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    deleted: int = 0
    restated: int = 0


@dataclass(frozen=True)
class ImportSummary:
    """What an import did (or, with `dry_run`, would do), per table in import order."""

    tables: dict[str, TableCounts]
    files: dict[str, list[str]] = field(default_factory=dict)
    # Customers whose rows were inserted or updated (a changed invoice's old and new owner).
    customers_changed: int = 0
    # Nothing was written: the counts are what the same import would do.
    dry_run: bool = False
    # The store's schema was created or upgraded (a dry run does so on PostgreSQL only).
    schema_changed: bool = False
    # Rows of the files left out (reject file), and the problems written to that file.
    rejected_rows: int = 0
    problems: int = 0

    @property
    def changed(self) -> bool:
        """Whether the import wrote (or, dry, would write) anything."""
        return any(c.inserted or c.updated or c.deleted for c in self.tables.values())


def import_directory(
    engine: sa.Engine,
    directory: Path,
    *,
    mapping: Path | ImportMapping | None = None,
    dry_run: bool = False,
    reject_file: Path | None = None,
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
        mapping: optional TOML column mapping (see `features.mapping`), or one parsed.
        dry_run: check everything and count what the import would do; write nothing
            to the store (a PostgreSQL store's schema is created or upgraded:
            `features.import_store`).
        reject_file: import the good rows and write every problem to this CSV file
            (file, line, column, reason); rows needing a rejected row are rejected too.
            Problems with a whole file (a missing column) still stop the import.
        error_cap: how many problems to list at most (all are counted).
        chunk_rows: rows per database round trip.
        on_progress: called as `(stage, done, total)` while reading, checking, writing.

    Returns:
        Per-table counts of rows read, inserted, updated, unchanged and rejected, and
        how many customers changed (each logged in the change log, or one row for all
        of them above `FULL_REBUILD_CUSTOMERS`).

    Raises:
        DataImportError: missing or unreadable files, or bad rows (without a reject
            file); nothing is written.
        MappingError: the mapping file is unusable.
    """
    progress = on_progress or (lambda _stage, _done, _total: None)
    spec = mapping if isinstance(mapping, ImportMapping) else load_mapping(mapping)
    problems = Problems(cap=error_cap)
    found = read_sources(directory, spec, problems, progress)
    reject = reject_file is not None
    # A file's header (after its title lines) holds no row that could be left out.
    header_line = 1 + max(m.skip_rows for m in spec.tables.values())
    if reject and problems.stops_rows_import(header_line):
        raise problems.error()

    with import_store(engine, dry_run=dry_run) as store:
        try:
            counts, changed = _import_rows(
                store.engine,
                spec,
                found,
                problems,
                reject_file=reject_file,
                dry_run=dry_run,
                chunk=chunk_rows,
                progress=progress,
            )
        except sa.exc.DBAPIError as exc:  # e.g. a concurrent writer: rolled back
            raise StoreError(
                f"the database refused the import ({exc.orig}); nothing was written"
            ) from exc
    for table, c in counts.items():
        logger.info("%s%s: %s", "(dry run) " if dry_run else "", table, c)
    files = {t: [s.file for s in found.tables[t]] for t in IMPORT_ORDER if found.tables.get(t)}
    return ImportSummary(
        tables=counts,
        files=files,
        customers_changed=changed,
        dry_run=dry_run,
        schema_changed=store.schema_changed,
        rejected_rows=problems.bad_row_count() if reject else 0,
        problems=problems.total if reject else 0,
    )


def _import_rows(
    engine: sa.Engine,
    spec: ImportMapping,
    found: Sources,
    problems: Problems,
    *,
    reject_file: Path | None,
    dry_run: bool,
    chunk: int,
    progress: ProgressCallback,
) -> tuple[dict[str, TableCounts], int]:
    """Check the references, then write (dry: only count) in one transaction; counts, customers.

    One transaction from the reference checks to the last write: the rows the diff is
    computed against are the rows the writes land on. Raising rolls back; so does a dry
    run, which writes only what is diffed inside the database (attributes).
    """
    reject = reject_file is not None
    with engine.connect() as conn, conn.begin() as transaction:
        # Amounts in the base currency (`features.currency`), before the references.
        to_base(conn, found.tables, problems)
        invoices, rejected = settle_references(conn, found.tables, problems, reject=reject)
        if problems and not reject:
            raise problems.error()
        keep_restated_of(found.tables, accepted_keys(found.tables["invoices"], "invoice_id"))
        counts, touched = _write_tables(
            conn, found, invoices, rejected, dry_run=dry_run, chunk=chunk, progress=progress
        )
        touched.append(_write_attributes(conn, spec, found, invoices, chunk_rows=chunk))
        changed = _log_customers(conn, touched, dry_run=dry_run)
        if reject_file is not None:
            write_reject_file(reject_file, problems)
        if dry_run:
            transaction.rollback()
    return counts, changed


def _write_tables(
    conn: sa.Connection,
    found: Sources,
    invoices: pd.DataFrame,
    rejected: dict[str, int],
    *,
    dry_run: bool,
    chunk: int,
    progress: ProgressCallback,
) -> tuple[dict[str, TableCounts], list[pd.Index]]:
    """Insert and update every table in import order (dry: only plan); counts, customers."""
    counts: dict[str, TableCounts] = {}
    touched: list[pd.Index] = []
    derived = pd.Index(found.derived_payment_invoices).intersection(
        accepted_keys(found.tables["invoices"], "invoice_id")  # a rejected row takes nothing
    )
    for table in IMPORT_ORDER:
        sources = found.tables.get(table) or []
        if not sources and not (table == "payments" and len(derived)):
            continue
        plan = plan_table(conn, table, *combined_rows(sources, table))
        if table == "customers" and found.derived_customers:
            plan = insert_only(plan)  # derived from invoices: never overwrite a real record
        limits = pd.DataFrame()
        if table == "customers":  # a credit manager's limit outlives an unchanged export
            plan, limits = keep_approved_limits(conn, plan)
        stale = pd.DataFrame({"payment_id": [], "customer_id": []}, dtype="str")
        if table == "payments":
            stale = stale_derived_payments(conn, derived, accepted_keys(sources, "payment_id"))
        if not dry_run:
            write_plan(conn, table, plan, chunk_rows=chunk, progress=progress)
            delete_rows(conn, table, pd.Index(stale["payment_id"]), chunk_rows=chunk)
            if len(limits):
                log_limit_changes(conn, limits)
        touched.append(touched_customers(conn, table, plan, invoices))
        touched.append(pd.Index(stale["customer_id"].dropna().astype("str").unique()))
        counts[table] = TableCounts(
            read=plan.read + rejected.get(table, 0),
            inserted=len(plan.inserts),
            updated=len(plan.updates),
            unchanged=plan.unchanged,
            rejected=rejected.get(table, 0),
            deleted=len(stale),
            restated=sum(len(s.frame) for s in sources if s.file == RESTATED_FILE),
        )
    return counts, touched


def _write_attributes(
    conn: sa.Connection,
    spec: ImportMapping,
    found: Sources,
    invoices: pd.DataFrame,
    *,
    chunk_rows: int,
) -> pd.Index:
    """Upsert the declared attributes of the invoices left; the customers they changed."""
    declared = spec.for_table("invoices").attributes
    if not declared:
        return pd.Index([], dtype="str")
    accepted = accepted_keys(found.tables["invoices"], "invoice_id")
    values = keep_accepted(found.attributes, accepted)
    changed_ids = write_attributes(conn, declared, values, chunk_rows=chunk_rows)
    owners = invoices["customer_id"].reindex(changed_ids).dropna()
    return pd.Index(owners.astype("str").unique())


def _log_customers(conn: sa.Connection, touched: list[pd.Index], *, dry_run: bool) -> int:
    """Log the changed customers (or every customer, above the threshold); how many."""
    customers = pd.Index([], dtype="str").append(touched).unique()
    if not len(customers) or dry_run:
        return len(customers)
    if len(customers) > FULL_REBUILD_CUSTOMERS:
        log_change(conn, customer_id=None, kind=CHANGE_KIND)
        logger.info("%d customers changed: serving workers will rebuild", len(customers))
    else:
        log_changes(conn, sorted(customers), kind=CHANGE_KIND)
        logger.info("%d customers changed: logged for serving workers", len(customers))
    return len(customers)
