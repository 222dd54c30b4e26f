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

__all__ = ["default_as_of", "ledger_from_store", "write_table"]

logger = logging.getLogger(__name__)

_EMPTY_HINT = (
    "import your history first (`duecast import DIR`, or `duecast demo` for generated data)"
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


def default_as_of(ledger: Ledger) -> datetime.date:
    """The day after the ledger's last event, so the table uses everything known.

    Raises:
        StoreError: if the ledger holds no invoices.
    """
    last = last_event_day(ledger)
    if last is None:
        raise StoreError(f"the ledger holds no invoices: {_EMPTY_HINT}")
    return last + datetime.timedelta(days=1)


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
