"""The training table as a file for people: read the store, build, write Parquet atomically.

`duecast features` is this module behind a command line. The table is exactly what
`features.build.build_training_table` returns (keys, base columns, features, labels),
so a data scientist looks at the same rows training sees.
"""

from __future__ import annotations

import datetime
import logging
import os
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from features.ledger import Ledger, last_event_day, load_ledger
from features.store import ensure_schema, schema_revision
from kernel.errors import StoreError

__all__ = [
    "default_as_of",
    "future_dated_note",
    "future_dated_rows",
    "ledger_from_store",
    "utc_today",
    "write_table",
]

logger = logging.getLogger(__name__)

_EMPTY_HINT = (
    "import your history first (`duecast import DIR`, or `duecast demo` for generated data)"
)

# The dated column of each table whose rows can lie in the future (instalments booked
# ahead, scheduled payments, a mistyped year).
_EVENT_DATES = (
    ("invoices", "issue_date"),
    ("invoices", "dispute_date"),
    ("payments", "payment_date"),
    ("adjustments", "date"),
)


def ledger_from_store(engine: sa.Engine) -> Ledger:
    """The whole ledger of the store.

    Raises:
        StoreError: if the database is unreachable, was never set up, or holds no invoices.
    """
    if schema_revision(engine) is None:
        raise StoreError(f"the store at {engine.url!r} is empty: {_EMPTY_HINT}")
    ensure_schema(engine)  # an older store is upgraded; at head this writes nothing
    ledger = load_ledger(engine)
    if not len(ledger.invoices):
        raise StoreError(f"the store at {engine.url!r} holds no invoices: {_EMPTY_HINT}")
    return ledger


def utc_today() -> datetime.date:
    """Today's date in UTC (the default "today" of `default_as_of`; tests replace it)."""
    return datetime.datetime.now(datetime.UTC).date()


def future_dated_rows(ledger: Ledger, *, today: datetime.date) -> dict[str, int]:
    """Rows per table dated after `today` (disputes as `invoice disputes`); empty: none."""
    cut = pd.Timestamp(today)
    counts: dict[str, int] = {}
    for table, column in _EVENT_DATES:
        n = int((getattr(ledger, table)[column] > cut).sum())
        name = "invoice disputes" if column == "dispute_date" else table
        if n:
            counts[name] = n
    return counts


def future_dated_note(ledger: Ledger, *, as_of: datetime.date, today: datetime.date) -> str | None:
    """The warning that rows dated after `today` were left out of the as-of date, or None."""
    counts = future_dated_rows(ledger, today=today)
    if not counts:
        return None
    rows = ", ".join(f"{n} {name}" for name, n in counts.items())
    return (
        f"{rows} dated after today ({today}) left out of the default as-of date: training "
        f"uses as of {as_of} (pass --as-of to choose another date)"
    )


def default_as_of(ledger: Ledger, *, today: datetime.date | None = None) -> datetime.date:
    """The day after the ledger's last event dated on or before today (UTC).

    Rows dated after today (instalments booked ahead, scheduled payments) are left out,
    with a warning: taken as known, every unpaid future instalment would be labelled a
    default.

    Raises:
        StoreError: if the ledger holds no invoices, or none dated on or before today.
    """
    if not len(ledger.invoices):
        raise StoreError(f"the ledger holds no invoices: {_EMPTY_HINT}")
    today = today or utc_today()
    future = future_dated_rows(ledger, today=today)
    known = ledger.before(today + datetime.timedelta(days=1)) if future else ledger
    last = last_event_day(known)
    if last is None:
        raise StoreError(
            f"every invoice of the ledger is dated after today ({today}): check the dates "
            "imported, or pass --as-of with a later date"
        )
    as_of = last + datetime.timedelta(days=1)
    if future:
        logger.warning("%s", future_dated_note(ledger, as_of=as_of, today=today))
    return as_of


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """Write `table` as Parquet at `path` atomically (temporary file, then rename).

    A crash or a full disk never leaves half a file, and an existing file is only
    replaced once the new one is complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its 0600 mode would survive the rename; this file honours the umask.
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        table.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    logger.info("Wrote %d rows x %d columns to %s", len(table), table.shape[1], path)
    return path
