"""An import keeps the limit a credit manager approved until the ERP's own limit changes."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from features.import_limits import IMPORT_AUTHOR
from features.store import get_engine
from serving.writes import set_credit_limit
from tests.features.test_import import make_ledger, run, write_ledger


def _limit(url: str, customer_id: str) -> float | None:
    with get_engine(url).connect() as conn:
        return conn.execute(
            sa.text("SELECT credit_limit FROM customers WHERE customer_id = :c"),
            {"c": customer_id},
        ).scalar()


def _authors(url: str, customer_id: str) -> list[str]:
    with get_engine(url).connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT author FROM credit_limit_changes WHERE customer_id = :c ORDER BY change_id"
            ),
            {"c": customer_id},
        )
        return [r.author for r in rows]


def _manager(url: str, customer_id: str, limit: float) -> None:
    set_credit_limit(
        get_engine(url), customer_id=customer_id, limit=limit, reason="review", author="ann"
    )


def test_a_managers_limit_survives_the_same_export_and_yields_to_a_new_erp_limit(
    db_url: str, tmp_path: Path
) -> None:
    frames = make_ledger(seed=7, customers=3, invoices=9)
    customers = frames["customers"]
    cid = str(customers["customer_id"].iloc[0])
    customers["credit_limit"] = "5000"
    run(db_url, write_ledger(frames, tmp_path / "first"))
    _manager(db_url, cid, 8000.0)

    again = run(db_url, write_ledger(frames, tmp_path / "same"))
    assert _limit(db_url, cid) == 8000.0
    assert again.tables["customers"].updated == 0 and not again.changed

    customers.loc[customers["customer_id"] == cid, "credit_limit"] = "6000"
    moved = run(db_url, write_ledger(frames, tmp_path / "erp changed"))
    assert moved.tables["customers"].updated == 1
    assert _limit(db_url, cid) == 6000.0
    assert _authors(db_url, cid) == ["ann", IMPORT_AUTHOR]

    # Two manager changes in a row: the ERP's 6000 is still the one to compare with.
    _manager(db_url, cid, 9000.0)
    _manager(db_url, cid, 9500.0)
    run(db_url, write_ledger(frames, tmp_path / "same again"))
    assert _limit(db_url, cid) == 9500.0


def test_other_columns_of_a_customer_still_update_beside_a_kept_limit(
    db_url: str, tmp_path: Path
) -> None:
    frames = make_ledger(seed=8, customers=3, invoices=9)
    customers = frames["customers"]
    cid = str(customers["customer_id"].iloc[0])
    customers["credit_limit"] = "5000"
    run(db_url, write_ledger(frames, tmp_path / "first"))
    _manager(db_url, cid, 7000.0)
    customers.loc[customers["customer_id"] == cid, "name"] = "Renamed Ltd"
    summary = run(db_url, write_ledger(frames, tmp_path / "renamed"))
    assert summary.tables["customers"].updated == 1
    assert _limit(db_url, cid) == 7000.0
    assert _authors(db_url, cid) == ["ann"]  # the import changed no limit
