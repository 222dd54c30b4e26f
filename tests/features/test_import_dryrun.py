"""`duecast import --dry-run`: every check and count of the real import, nothing written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command

from features.store import _alembic_config, get_engine, schema_revision
from kernel.errors import DataImportError
from tests.features.test_import import dump, make_ledger, run, write_ledger
from tests.kernel.test_settings_store import HEAD


def _change_log(url: str) -> pd.DataFrame:
    with get_engine(url).connect() as conn:
        return pd.read_sql(sa.text("SELECT * FROM change_log ORDER BY seq"), conn)


def _reexport(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The next export: new rows, changed rows, and bad rows (some with dependants)."""
    again = make_ledger(seed=31, customers=8, invoices=45)  # 2 customers, 15 invoices more
    again["customers"].loc[1, "credit_limit"] = 123_000.0  # an update
    again["invoices"]["amount"] = again["invoices"]["amount"].astype(object)
    again["invoices"].loc[40, "amount"] = "n/a"  # a new invoice rejected
    again["payments"].loc[0, "invoice_id"] = "INV-9999"  # no such invoice
    assert set(frames["customers"]["customer_id"]) < set(again["customers"]["customer_id"])
    return again


def test_a_dry_run_counts_what_the_import_does_and_writes_nothing(
    db_url: str, tmp_path: Path
) -> None:
    frames = make_ledger(seed=31, customers=6, invoices=30)
    run(db_url, write_ledger(frames, tmp_path / "first"))
    before, log_before = dump(db_url), _change_log(db_url)
    folder = write_ledger(_reexport(frames), tmp_path / "second")

    dry_rejects, real_rejects = tmp_path / "dry.csv", tmp_path / "real.csv"
    dry = run(db_url, folder, dry_run=True, reject_file=dry_rejects)

    after = dump(db_url)
    for name, table in before.items():
        pd.testing.assert_frame_equal(table, after[name])
    pd.testing.assert_frame_equal(log_before, _change_log(db_url))
    assert dry.dry_run and dry.changed and dry.rejected_rows >= 2

    real = run(db_url, folder, reject_file=real_rejects)
    assert not real.dry_run
    assert real.tables == dry.tables
    assert (real.customers_changed, real.rejected_rows, real.problems) == (
        dry.customers_changed,
        dry.rejected_rows,
        dry.problems,
    )
    assert dry_rejects.read_text() == real_rejects.read_text()
    stored = dump(db_url)
    for name, counts in real.tables.items():
        assert len(stored[name]) == len(before[name]) + counts.inserted - counts.deleted, name
    assert len(_change_log(db_url)) == len(log_before) + real.customers_changed


def test_a_dry_run_with_bad_rows_and_no_reject_file_fails_like_the_import(
    sqlite_url: str, tmp_path: Path
) -> None:
    frames = make_ledger(seed=32, customers=4, invoices=12)
    frames["invoices"].loc[3, "due_date"] = "tomorrow"
    folder = write_ledger(frames, tmp_path / "in")
    with pytest.raises(DataImportError) as dry:
        run(sqlite_url, folder, dry_run=True)
    with pytest.raises(DataImportError) as real:
        run(sqlite_url, folder)
    assert dry.value.bad_rows == real.value.bad_rows
    assert all(len(t) == 0 for t in dump(sqlite_url).values())


def test_a_dry_run_on_a_new_sqlite_store_creates_no_file(sqlite_url: str, tmp_path: Path) -> None:
    """It created the store's file and schema while saying it wrote nothing."""
    frames = make_ledger(seed=33, customers=4, invoices=12)
    summary = run(sqlite_url, write_ledger(frames, tmp_path / "in"), dry_run=True)
    assert summary.tables["invoices"].inserted == 12
    assert summary.customers_changed == 4 and not summary.schema_changed
    assert not (tmp_path / "store.db").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in"]


def test_a_dry_run_leaves_an_older_sqlite_store_at_its_revision(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A store of an earlier release is diffed as it is (on a copy), and upgraded only by
    an import: the dry run upgraded it while saying it wrote nothing."""
    frames = make_ledger(seed=35, customers=4, invoices=12)
    engine = get_engine(sqlite_url)
    with engine.begin() as conn:  # a store of the release before the last migration
        command.upgrade(_alembic_config(conn), "0008")
        conn.execute(
            sa.text("INSERT INTO customers (customer_id, name, created_at) VALUES (:c, 'Old', :d)"),
            {"c": frames["customers"]["customer_id"].iloc[0], "d": "2020-01-01"},
        )
    folder = write_ledger(frames, tmp_path / "in")

    dry = run(sqlite_url, folder, dry_run=True)

    assert schema_revision(engine) == "0008" and not dry.schema_changed
    assert (dry.tables["customers"].inserted, dry.tables["customers"].updated) == (3, 1)
    assert dry.tables["invoices"].inserted == 12
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM invoices")).scalar() == 0
    real = run(sqlite_url, folder)
    assert real.tables == dry.tables and real.schema_changed
    assert schema_revision(engine) == HEAD


def test_a_dry_run_on_a_new_postgres_store_says_it_made_the_schema(
    postgres_url: str, tmp_path: Path
) -> None:
    """A server's database is not copied: its schema is made, and the summary says so."""
    frames = make_ledger(seed=33, customers=4, invoices=12)
    summary = run(postgres_url, write_ledger(frames, tmp_path / "in"), dry_run=True)
    assert summary.schema_changed and summary.tables["invoices"].inserted == 12
    assert all(len(t) == 0 for t in dump(postgres_url).values())
    assert _change_log(postgres_url).empty
    again = run(postgres_url, write_ledger(frames, tmp_path / "in"), dry_run=True)
    assert not again.schema_changed


def test_a_dry_run_counts_attribute_changes_and_stores_none(db_url: str, tmp_path: Path) -> None:
    frames = make_ledger(seed=34, customers=4, invoices=12)
    run(db_url, write_ledger(frames, tmp_path / "first"))
    log_before = _change_log(db_url)
    frames["invoices"]["region"] = ["north"] * 3 + [""] * 9  # three invoices gain a value
    folder = write_ledger(frames, tmp_path / "second")
    (folder / "mapping.toml").write_text("[invoices.attributes]\nregion = 'category'\n")
    owners = frames["invoices"]["customer_id"].iloc[:3].nunique()

    dry = run(db_url, folder, mapping=folder / "mapping.toml", dry_run=True)

    assert dry.customers_changed == owners and not dry.changed
    with get_engine(db_url).connect() as conn:
        for table in ("invoice_attributes", "attribute_kinds"):
            assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar() == 0
    pd.testing.assert_frame_equal(log_before, _change_log(db_url))
    real = run(db_url, folder, mapping=folder / "mapping.toml")
    assert real.customers_changed == owners
