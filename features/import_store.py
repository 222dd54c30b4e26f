"""The store an import works on: the store at this release's schema, or for a dry run
of a SQLite file not yet at it, a throwaway copy.

A dry run's rows are rolled back, but the schema it needs is not: creating or upgrading
it (`ensure_schema`) commits. On a SQLite file store not yet at this release's schema
(no file yet, or an older revision), `duecast import --dry-run` would so create the store
or upgrade it while saying it wrote nothing. There, the dry run works on a copy in a
temporary folder instead (an empty one when the file does not exist): its counts are the
same, since the rows it diffs against are the store's. A PostgreSQL store's schema is
created or upgraded as a real import would do it, and the summary says so
(`schema_changed`): copying a server's database is not a dry run's business.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from features.store import ensure_schema, new_engine, schema_at_head

__all__ = ["ImportStore", "import_store"]


@dataclass(frozen=True)
class ImportStore:
    """The engine an import works on, and whether the store's own schema was changed."""

    engine: sa.Engine
    schema_changed: bool


@contextmanager
def import_store(engine: sa.Engine, *, dry_run: bool) -> Iterator[ImportStore]:
    """The store an import (or its dry run) works on, at this release's schema (module)."""
    database = engine.url.database
    sqlite_file = engine.url.get_backend_name() == "sqlite" and database not in (
        None,
        "",
        ":memory:",
    )
    if not dry_run or not sqlite_file or database is None:
        changed = not schema_at_head(engine)
        ensure_schema(engine)
        yield ImportStore(engine, changed)
        return
    path = Path(database)
    # Checked before connecting: connecting to a SQLite path creates the file.
    if path.exists() and schema_at_head(engine):
        yield ImportStore(engine, False)
        return
    with tempfile.TemporaryDirectory(prefix="duecast-dry-run-") as folder:
        copy = Path(folder) / path.name
        if path.exists():
            _copy_sqlite(path, copy)
        scratch = new_engine(f"sqlite:///{copy}")
        try:
            ensure_schema(scratch)
            yield ImportStore(scratch, False)
        finally:
            scratch.dispose()


def _copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite file, even while others write to it (backup API)."""
    with (
        closing(sqlite3.connect(source)) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
