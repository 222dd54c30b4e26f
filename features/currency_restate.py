"""Stored payments and adjustments of an invoice whose rate an import changes.

A payment settles its invoice in the invoice's currency and is converted at the
invoice's rate (`features.currency`). When a re-export gives a stored invoice another
rate (the ERP's booked rate now in an `fx_rate` column, or a rate file now holding the
issue day's rate), its base amount changes. Its stored payments and credit notes that
the new files do not carry kept their earlier conversion, so an invoice paid in full in
its own currency showed a residual in the base currency (1,000 USD at 0.90 paid, the
invoice re-exported at 0.92: 20 open and overdue) and went back on the worklist.

So the import re-reads those stored rows as if the files carried them again, with their
original amounts: they are converted at the new rate and rounded together with the
invoice's other rows (`features.currency_cents`), written as updates, and counted among
the table's rows read (`TableCounts.restated` says how many). They are stored rows, so
the reference checks pass them by; if the invoice's own row is rejected (a reject file),
the invoice keeps its stored rate and they are dropped unchanged (`keep_restated_of`).
A row stored before currencies existed has no original amount and is left as it is.
An invoice event that re-posts a stored invoice with another rate (`serving.writes`)
converts that invoice's stored rows again the same way (`restate_invoice_rows`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.conversion import TypedFrame, normalise
from features.currency_cents import round_in_order
from features.import_lookup import fetch_rows
from features.store import TABLE_OBJECTS
from kernel.schema import TABLES

__all__ = ["RESTATED_FILE", "keep_restated_of", "restate_invoice_rows", "restated_children"]

# The "file" of the stored rows an import re-reads (problems and counts name it so).
RESTATED_FILE = "(stored rows of invoices with a new rate)"
_CHILDREN = ("payments", "adjustments")
_IN_BATCH = 900


def restated_children(
    conn: sa.Connection, sources: dict[str, list[TypedFrame]], rates: pd.Series
) -> list[TypedFrame]:
    """The stored payment and adjustment rows to convert again, one frame per table.

    Args:
        conn: the import's connection.
        sources: the files' typed rows (rows they carry are not re-read).
        rates: invoice id -> the rate the files give it (NaN: none).
    """
    changed = _invoices_with_new_rate(conn, rates)
    if not len(changed):
        return []
    owners = pd.concat(
        [
            pd.Series(t.frame["customer_id"].to_numpy(), index=t.frame["invoice_id"].to_numpy())
            for t in sources.get("invoices", [])
        ]
    )
    owners = owners[~owners.index.duplicated(keep="first")]
    out = []
    for table in _CHILDREN:
        key = TABLES[table].key
        in_files = pd.Index(
            pd.concat(
                [t.frame[key].dropna().astype("str") for t in sources.get(table, [])]
                or [pd.Series([], dtype="str")]
            ).unique()
        )
        stored = _stored_rows(conn, table, changed)
        stored = stored[
            ~stored[key].astype("str").isin(in_files) & stored["original_amount"].notna()
        ]
        if not len(stored):
            continue
        frame = stored.reset_index(drop=True)
        frame["amount"] = frame["original_amount"]  # in the invoice's currency, as a file has it
        if table == "payments":  # the invoice's customer as the files give it
            frame["customer_id"] = owners.reindex(frame["invoice_id"].astype("str")).to_numpy()
        out.append(
            TypedFrame(
                table=table,
                file=RESTATED_FILE,
                frame=frame,
                labels={},
                present=list(TABLES[table].column_names),
            )
        )
    return out


def keep_restated_of(sources: dict[str, list[TypedFrame]], accepted: pd.Index) -> None:
    """Drop, in place, the re-read rows of invoices whose own row was rejected (kept with
    its stored rate, so its stored rows stay as they are)."""
    for table in _CHILDREN:
        typed_files = sources.get(table, [])
        for i, typed in enumerate(typed_files):
            if typed.file == RESTATED_FILE:
                keep = typed.frame["invoice_id"].astype("str").isin(accepted).to_numpy()
                typed_files[i] = replace(typed, frame=typed.frame[keep].copy())


def restate_invoice_rows(conn: sa.Connection, invoice_id: str, rate: float) -> int:
    """Convert one stored invoice's payments and adjustments again at its new `rate`
    (an invoice event changed it: `serving.writes`); how many rows changed."""
    rows = []
    for order, (table, date) in enumerate((("payments", "payment_date"), ("adjustments", "date"))):
        t = TABLE_OBJECTS[table]
        key = t.c[TABLES[table].key]
        found = conn.execute(
            sa.select(key, t.c[date], t.c.amount, t.c.original_amount).where(
                t.c.invoice_id == invoice_id
            )
        ).all()
        rows += [(table, order, str(r[0]), r[1], r[2], r[3]) for r in found]
    if not rows:
        return 0
    frame = pd.DataFrame(rows, columns=["table", "order", "id", "date", "amount", "original"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame = frame.sort_values(["date", "order", "id"], kind="stable").reset_index(drop=True)
    stored = pd.to_numeric(frame["amount"]).astype("float64")
    new = round_in_order(pd.to_numeric(frame["original"]).astype("float64"), stored, rate)
    changed = new.notna() & ~np.isclose(new.fillna(0.0), stored, rtol=0.0, atol=0.001)
    for row in frame[changed.to_numpy()].itertuples():
        t = TABLE_OBJECTS[row.table]
        conn.execute(
            t.update().where(t.c[TABLES[row.table].key] == row.id).values(amount=new[row.Index])
        )
    return int(changed.sum())


def _invoices_with_new_rate(conn: sa.Connection, rates: pd.Series) -> list[str]:
    """Stored invoices (with a rate) whose rate in the files differs from the stored one."""
    given = rates[rates.notna()]
    if not len(given):
        return []
    stored = fetch_rows(conn, "invoices", ["invoice_id", "fx_rate"], pd.Index(given.index))
    stored = stored[stored["fx_rate"].notna()]
    old = pd.Series(
        pd.to_numeric(stored["fx_rate"]).to_numpy(dtype="float64"),
        index=stored["invoice_id"].astype("str").to_numpy(),
    )
    new = given.reindex(old.index).to_numpy(dtype="float64")
    # The stored rate is the file's rate as a float (`canonical_rates`): equal when unchanged.
    differ = ~np.isclose(old.to_numpy(), new, rtol=0.0, atol=1e-12)
    return sorted(old.index[differ])


def _stored_rows(conn: sa.Connection, table: str, invoices: list[str]) -> pd.DataFrame:
    """Every stored row of `table` belonging to `invoices`, in canonical dtypes."""
    t = TABLE_OBJECTS[table]
    columns = TABLES[table].column_names
    select = sa.select(*(t.c[c] for c in columns))
    parts = [
        pd.DataFrame(
            conn.execute(select.where(t.c.invoice_id.in_(invoices[i : i + _IN_BATCH]))).all(),
            columns=columns,
        )
        for i in range(0, len(invoices), _IN_BATCH)
    ]
    return normalise(pd.concat(parts, ignore_index=True), table)
