"""An import and the limits credit managers approve: a manager's limit stays until the
ERP's own limit changes.

A customers file carries the limit the ERP holds. A credit manager may approve another
one through the API (`PUT /v1/customers/{id}/credit-limit`, logged in
`credit_limit_changes`). Re-importing the same export must not take that decision back,
so an import changes a stored limit only when the file's limit differs from the last one
the ERP gave: the newest limit an import logged (author `IMPORT_AUTHOR`) or, before any,
the limit the first manager change replaced. Each limit an import changes is logged the
same way, so the log says who set every limit a customer has had.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.import_write import Plan
from features.store import credit_limit_changes

__all__ = ["IMPORT_AUTHOR", "keep_approved_limits", "log_limit_changes"]

IMPORT_AUTHOR = "duecast import"
_REASON = "the imported customers file holds a new limit"
_IN_BATCH = 900


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    return ((a == b).fillna(False) | (a.isna() & b.isna())).to_numpy(dtype=bool)


def _erp_limits(conn: sa.Connection, customer_ids: list[str]) -> dict[str, float | None]:
    """Per customer whose latest limit change was a manager's: the ERP's last limit."""
    c = credit_limit_changes.c
    rows: list[sa.Row] = []
    for i in range(0, len(customer_ids), _IN_BATCH):
        rows += conn.execute(
            sa.select(c.customer_id, c.previous_limit, c.new_limit, c.author)
            .where(c.customer_id.in_(customer_ids[i : i + _IN_BATCH]))
            .order_by(c.change_id)
        ).all()
    history: dict[str, list[sa.Row]] = {}
    for row in rows:
        history.setdefault(row.customer_id, []).append(row)
    out: dict[str, float | None] = {}
    for customer, changes in history.items():
        if changes[-1].author == IMPORT_AUTHOR:
            continue  # the ERP's limit is in force: the file decides
        imported = [r for r in changes if r.author == IMPORT_AUTHOR]
        out[customer] = imported[-1].new_limit if imported else changes[0].previous_limit
    return out


def keep_approved_limits(conn: sa.Connection, plan: Plan) -> tuple[Plan, pd.DataFrame]:
    """The customers plan with managers' limits kept where the ERP's has not changed.

    Returns the plan and the limit changes it makes (customer_id, previous_limit,
    new_limit), to log with `log_limit_changes`.
    """
    none = pd.DataFrame({"customer_id": [], "previous_limit": [], "new_limit": []})
    if "credit_limit" not in plan.columns or not len(plan.updates):
        return plan, none
    updates, replaced = plan.updates.copy(), plan.replaced
    moved = ~_same(updates["credit_limit"], replaced["credit_limit"])
    erp = _erp_limits(conn, updates.index[moved].astype("str").tolist())
    if erp:
        last = pd.Series(updates.index.map(erp), index=updates.index, dtype="float64")
        known = updates.index.isin(list(erp))
        keep = known & moved & _same(updates["credit_limit"].astype("float64"), last)
        updates.loc[keep, "credit_limit"] = replaced.loc[keep, "credit_limit"]
    still = np.zeros(len(updates), dtype=bool)
    for column in plan.columns:
        still |= ~_same(updates[column], replaced[column])
    changed = ~_same(updates["credit_limit"], replaced["credit_limit"]) & still
    changes = pd.DataFrame(
        {
            "customer_id": updates.index[changed].astype("str"),
            "previous_limit": replaced["credit_limit"].to_numpy()[changed],
            "new_limit": updates["credit_limit"].to_numpy()[changed],
        }
    )
    kept = Plan(
        read=plan.read,
        columns=plan.columns,
        inserts=plan.inserts,
        updates=updates[still],
        unchanged=plan.unchanged + int((~still).sum()),
        replaced=replaced[still],
    )
    return kept, changes


def log_limit_changes(conn: sa.Connection, changes: pd.DataFrame) -> None:
    """Log the limits an import changed (a cleared limit has nothing to log)."""
    rows = changes[changes["new_limit"].notna()]
    if not len(rows):
        return
    at = dt.datetime.now(dt.UTC)
    conn.execute(
        credit_limit_changes.insert(),
        [
            {
                "customer_id": str(r.customer_id),
                "at": at,
                "previous_limit": None if pd.isna(r.previous_limit) else float(r.previous_limit),
                "new_limit": float(r.new_limit),
                "author": IMPORT_AUTHOR,
                "reason": _REASON,
            }
            for r in rows.itertuples(index=False)
        ],
    )
