"""An import that keeps its good rows: drop the bad ones, and the rows that need them.

With a reject file (`duecast import --reject-file FILE`) every row with a problem is left
out, then the references are checked again against what is left (and the store): a
payment of a rejected invoice, an invoice of a rejected new customer, an action on
either, are rejected in turn, round after round until no new problem appears. Every
problem is then written to the reject file, one line each, so the rows can be fixed and
imported again. Without a reject file the import stays all or nothing.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.conversion import TypedFrame, is_in
from features.currency_restate import RESTATED_FILE
from features.import_lookup import known_parents
from features.problems import Problems
from features.validate import check_references
from kernel.errors import DataImportError
from kernel.schema import TABLES

__all__ = [
    "REJECT_COLUMNS",
    "accepted_keys",
    "drop_rejected",
    "keep_accepted",
    "settle_references",
    "write_reject_file",
]

# The reject file's header: where the problem is, and what it is.
REJECT_COLUMNS = ("file", "line", "column", "reason")
_CHILD_TABLES = ("invoices", "payments", "adjustments", "actions")


def drop_rejected(sources: dict[str, list[TypedFrame]], problems: Problems) -> dict[str, int]:
    """Take every row with a problem out of the typed files (in place); rows taken, per table.

    A row is its file and physical line, so the payment an invoice row derives (a settled
    date, a paid amount) leaves with that invoice.
    """
    dropped: dict[str, int] = {}
    for table, typed_files in sources.items():
        for i, typed in enumerate(typed_files):
            bad = problems.bad_lines(typed.file)
            if not len(bad):
                continue
            hit = np.isin(typed.frame.index.to_numpy(dtype=np.int64), bad)
            if hit.any():
                typed_files[i] = replace(typed, frame=typed.frame[~hit].copy())
                dropped[table] = dropped.get(table, 0) + int(hit.sum())
    return dropped


def settle_references(
    conn: sa.Connection,
    sources: dict[str, list[TypedFrame]],
    problems: Problems,
    *,
    reject: bool,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Check the references; with `reject`, drop bad rows and check again until stable.

    Returns the known invoices (files and store: customer_id, issue_date by invoice_id)
    and the rows rejected per table (empty without `reject`: the caller raises instead).
    """
    rejected: dict[str, int] = {}
    gone = {"customers": pd.Index([], dtype="str"), "invoices": pd.Index([], dtype="str")}
    if reject:
        _flag_incomplete(sources, problems)
        gone = _add_rejected_ids(gone, sources, problems)
        rejected = drop_rejected(sources, problems)
    while True:
        customers, invoices = known_parents(conn, sources)
        found = problems.total
        for table in _CHILD_TABLES:
            check_references(
                table,
                # Stored rows read again for a new rate (`features.currency_restate`)
                # reference stored invoices by construction.
                [t for t in sources[table] if t.file != RESTATED_FILE],
                customers=customers,
                invoices=invoices,
                problems=problems,
                rejected=gone,
            )
        # Each new problem is on a row still present, which is dropped: this ends.
        if not reject or problems.total == found:
            return invoices, rejected
        gone = _add_rejected_ids(gone, sources, problems)
        for table, n in drop_rejected(sources, problems).items():
            rejected[table] = rejected.get(table, 0) + n


def _add_rejected_ids(
    gone: dict[str, pd.Index], sources: dict[str, list[TypedFrame]], problems: Problems
) -> dict[str, pd.Index]:
    """`gone` plus the ids of the customers and invoices about to be dropped."""
    out = dict(gone)
    for table, key in (("customers", "customer_id"), ("invoices", "invoice_id")):
        for typed in sources.get(table, []):
            hit = np.isin(
                typed.frame.index.to_numpy(dtype=np.int64), problems.bad_lines(typed.file)
            )
            ids = typed.frame[key][hit].dropna().astype("str")
            out[table] = out[table].append(pd.Index(ids)).unique()
    return out


def _flag_incomplete(sources: dict[str, list[TypedFrame]], problems: Problems) -> None:
    """Record rows left without a required value by a problem on another line.

    An invoice made of line items carries its first line only: an unreadable amount on
    a later line leaves its total empty, and the invoice must go with that line.
    """
    for table, typed_files in sources.items():
        required = [c.name for c in TABLES[table].columns if c.required]
        for typed in typed_files:
            f = typed.frame
            bad = problems.bad_lines(typed.file)
            for column in (c for c in required if c in f.columns):
                hit = f[column].isna().to_numpy(dtype=bool) & ~np.isin(
                    f.index.to_numpy(dtype=np.int64), bad
                )
                problems.add(
                    typed.file,
                    f.index[hit],
                    typed.label(column),
                    f"{column} is missing: another line of this {table[:-1]} has a problem",
                )


def accepted_keys(sources: list[TypedFrame], column: str) -> pd.Index:
    """The distinct `column` values of the rows left in the typed files."""
    if not sources:
        return pd.Index([], dtype="str")
    return pd.Index(pd.concat([s.frame[column] for s in sources]).dropna().unique())


def keep_accepted(values: pd.DataFrame, invoice_ids: pd.Index) -> pd.DataFrame:
    """Attribute values (long form) of the invoices left after rejection."""
    if not len(values):
        return values
    return values[is_in(values["invoice_id"], invoice_ids)]


def write_reject_file(path: Path, problems: Problems) -> int:
    """Write every problem (not only the listed ones) to `path` as CSV; how many.

    Raises:
        DataImportError: the file cannot be written (then nothing is imported).
    """
    count = 0
    try:
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(REJECT_COLUMNS)
            for row in problems.every_row():
                writer.writerow(
                    [row.file, "" if row.line is None else row.line, row.column or "", row.reason]
                )
                count += 1
    except OSError as exc:
        raise DataImportError(
            f"cannot write the reject file {path}: {exc.strerror or exc}; nothing was "
            "imported. Give a file in a folder that exists and can be written."
        ) from exc
    return count
