"""Property: a dry run with a reject file reports exactly what the import then does.

Small canonical ledgers are drawn with some bad rows (unreadable values, amounts not
positive, unknown parents, duplicate keys) and some rows already in the store
(as they are, or changed). Whatever the dry run reports per table (inserted, updated,
unchanged, rejected, deleted), the customers it would log and the problems it lists,
the real import then does, and the dry run itself writes nothing: every table and the
change log are as they were.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.store import get_engine
from tests.features.test_import import dump, make_ledger, run, write_ledger

_COUNTER = itertools.count()
# Mutations that make a row bad: (table, column, value).
_BREAKS = (
    ("invoices", "amount", "lots"),
    ("invoices", "due_date", "1999-01-01"),  # before the issue date
    ("invoices", "customer_id", "NOBODY"),
    ("payments", "amount", "-5"),
    ("payments", "invoice_id", "INV-9999"),
    ("customers", "credit_limit", "-1"),
    ("customers", "created_at", "yesterday"),
    ("actions", "kind", "shout"),
    ("adjustments", "amount", "x"),
)


def _change_log(url: str) -> pd.DataFrame:
    with get_engine(url).connect() as conn:
        return pd.read_sql(sa.text("SELECT * FROM change_log ORDER BY seq"), conn)


@st.composite
def _exports(draw: st.DrawFn) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame] | None]:
    """The export to import, and what the store holds before (None: an empty store)."""
    seed = draw(st.integers(0, 10_000), label="seed")
    customers = draw(st.integers(2, 5), label="customers")
    invoices = draw(st.integers(3, 12), label="invoices")
    frames = {
        k: v.astype(object)
        for k, v in make_ledger(seed=seed, customers=customers, invoices=invoices).items()
    }
    for table, column, value in draw(
        st.lists(st.sampled_from(_BREAKS), max_size=4, unique=True), label="breaks"
    ):
        frame = frames[table]
        row = draw(st.integers(0, len(frame) - 1), label=f"{table} row")
        frame.loc[row, column] = value
    if draw(st.booleans(), label="duplicate invoice"):
        inv = frames["invoices"]
        frames["invoices"] = pd.concat([inv, inv.iloc[[0]]], ignore_index=True)
    if not draw(st.booleans(), label="store holds rows"):
        return frames, None
    stored = make_ledger(seed=seed, customers=customers, invoices=invoices)
    share = draw(st.floats(0.2, 1.0), label="share stored")
    stored["invoices"] = stored["invoices"].iloc[: max(1, int(invoices * share))]
    kept = set(stored["invoices"]["invoice_id"])
    for table in ("payments", "adjustments", "actions"):
        frame = stored[table]
        stored[table] = frame[frame["invoice_id"].isin(kept) | (frame["invoice_id"] == "")]
    if draw(st.booleans(), label="stored amounts differ"):
        stored["invoices"] = stored["invoices"].assign(amount=stored["invoices"]["amount"] + 1)
    return frames, stored


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=_exports())
def test_a_dry_run_reports_exactly_what_the_import_does(
    tmp_path: Path, case: tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame] | None]
) -> None:
    frames, stored = case
    root = tmp_path / f"case{next(_COUNTER)}"
    url = f"sqlite:///{root / 'store.db'}"
    if stored is not None:
        run(url, write_ledger(stored, root / "before"))
    folder = write_ledger(frames, root / "export")
    before = dump(url) if stored is not None else None
    log_before = _change_log(url) if stored is not None else None

    dry = run(url, folder, dry_run=True, reject_file=root / "dry.csv")

    if before is None:  # a new store: not even its file is made
        assert not (root / "store.db").exists()
    else:
        after = dump(url)
        for name, table in before.items():
            pd.testing.assert_frame_equal(table, after[name])
        pd.testing.assert_frame_equal(log_before, _change_log(url))

    real = run(url, folder, reject_file=root / "real.csv")
    assert real.tables == dry.tables
    assert (real.customers_changed, real.rejected_rows, real.problems) == (
        dry.customers_changed,
        dry.rejected_rows,
        dry.problems,
    )
    assert (root / "dry.csv").read_text() == (root / "real.csv").read_text()
    final = dump(url)
    for name, counts in real.tables.items():
        held = 0 if before is None else len(before[name])
        assert len(final[name]) == held + counts.inserted - counts.deleted, name
        assert counts.read == counts.inserted + counts.updated + counts.unchanged + counts.rejected
