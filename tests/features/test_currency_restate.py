"""A re-export that gives a stored invoice another rate converts its stored payments and
credit notes again, even when the new files no longer carry them.

Measured before: 1,000 USD invoiced at 0.90 and paid in full, the invoice re-exported
with fx_rate 0.92 and a payments file holding only a newer payment: the invoice became
920, its stored payment stayed 900, and the paid invoice showed 20 open and overdue.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from features.importing import import_directory
from features.ledger import load_ledger
from features.store import get_engine
from features.timeline import invoice_timeline
from tests.features.test_currency import _ledger, _rows, _thirds, _write

_EUR_PAYMENT = {
    "payment_id": "P-EUR",
    "invoice_id": "I-EUR",
    "payment_date": "2024-04-02",
    "amount": 10,
}


def _closed_on(engine: sa.Engine, invoice_id: str) -> pd.Timestamp:
    """The day nothing was left open of the invoice (NaT: still open)."""
    timeline = invoice_timeline(load_ledger(engine)).invoices.set_index("invoice_id")
    return timeline.loc[invoice_id, "closed_date"]


def test_a_new_rate_converts_the_stored_payments_again(tmp_path: Path, db_url: str) -> None:
    engine = get_engine(db_url)
    tables = _thirds()  # 100.00 GBP at 1.1734, paid in three parts
    import_directory(engine, _write(tmp_path / "first", tables))
    assert _rows(engine, "SELECT sum(amount) FROM payments") == [(117.34,)]

    tables["invoices"][1]["fx_rate"] = "1.25"  # the rate the ERP booked it at
    # The next export holds a newer payment of the other invoice only.
    tables["payments"] = [_EUR_PAYMENT]
    again = _write(tmp_path / "again", tables)
    dry = import_directory(engine, again, dry_run=True)
    real = import_directory(engine, again)

    assert _rows(engine, "SELECT amount FROM invoices WHERE invoice_id = 'I-GBP'") == [(125.0,)]
    gbp = "SELECT amount FROM payments WHERE invoice_id = 'I-GBP' ORDER BY payment_id"
    assert _rows(engine, gbp) == [(10.05,), (27.41,), (87.54,)]  # 125.00 in all
    assert _closed_on(engine, "I-GBP") == pd.Timestamp("2024-04-20")
    payments = real.tables["payments"]
    assert (payments.read, payments.restated, payments.inserted, payments.updated) == (4, 3, 1, 3)
    assert dry.tables == real.tables
    # Imported again: the rate is the stored one, nothing is read twice or changed.
    assert not import_directory(engine, again).changed
    assert import_directory(engine, again).tables["payments"].restated == 0


def test_a_new_rate_converts_a_stored_credit_note_again(tmp_path: Path, sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    tables = _ledger()  # 1,000 GBP paid 900, credited 100
    import_directory(engine, _write(tmp_path / "first", tables))
    del tables["adjustments"]  # not in the next export
    tables["invoices"][1]["fx_rate"] = "1.2"
    summary = import_directory(engine, _write(tmp_path / "again", tables))
    assert _rows(engine, "SELECT amount FROM adjustments") == [(120.0,)]
    assert _rows(engine, "SELECT amount FROM payments") == [(1080.0,)]
    assert _closed_on(engine, "I-GBP") == pd.Timestamp("2024-04-21")
    assert summary.tables["adjustments"].restated == 1


def test_a_row_stored_before_currencies_is_left_as_it_is(tmp_path: Path, sqlite_url: str) -> None:
    """Without its original amount a stored row cannot be converted again."""
    engine = get_engine(sqlite_url)
    tables = _thirds()
    import_directory(engine, _write(tmp_path / "first", tables))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE payments SET original_amount = NULL WHERE payment_id = 'P-0'"))
    tables["invoices"][1]["fx_rate"] = "1.25"
    tables["payments"] = tables["payments"][-1:]
    summary = import_directory(engine, _write(tmp_path / "again", tables))
    assert summary.tables["payments"].restated == 1  # P-1 only
    stored = dict(_rows(engine, "SELECT payment_id, amount FROM payments"))
    assert stored["P-0"] == 9.43  # 8.04 at 1.1734, as stored
    assert pd.notna(stored["P-1"])


def test_a_rejected_invoice_keeps_its_rate_and_its_stored_rows(
    tmp_path: Path, sqlite_url: str
) -> None:
    """With a reject file, an invoice row left out keeps its stored rate: its stored rows
    are not read again, nor reported as rejected (the files held no bad payment)."""
    engine = get_engine(sqlite_url)
    tables = _thirds()
    import_directory(engine, _write(tmp_path / "first", tables))
    before = _rows(engine, "SELECT payment_id, amount FROM payments ORDER BY payment_id")  # I-GBP's
    tables["invoices"][1].update(fx_rate="1.25", customer_id="NOBODY")  # unknown: rejected
    tables["payments"] = [_EUR_PAYMENT]
    rejects = tmp_path / "rejects.csv"
    summary = import_directory(engine, _write(tmp_path / "again", tables), reject_file=rejects)
    assert summary.tables["invoices"].rejected == 1
    payments = summary.tables["payments"]
    assert (payments.read, payments.restated, payments.rejected) == (1, 0, 0)
    gbp = "SELECT payment_id, amount FROM payments WHERE invoice_id = 'I-GBP' ORDER BY payment_id"
    assert _rows(engine, gbp) == before
    assert _rows(engine, "SELECT fx_rate FROM invoices WHERE invoice_id = 'I-GBP'") == [(1.1734,)]
    assert len(pd.read_csv(rejects)) == 1


def test_one_invoices_rows_rounded_in_order_add_up_to_its_amount() -> None:
    """The event path's rounding (`round_in_order`): the import's, for one invoice."""
    from features.currency_cents import round_in_order

    originals = pd.Series([8.04, 21.93, 70.03])
    stored = pd.Series([9.43, 25.74, 82.17])  # at the old rate 1.1734
    assert round_in_order(originals, stored, 1.25).tolist() == [10.05, 27.41, 87.54]
    # A row stored before currencies keeps its amount, which also stands for its original
    # (all that is known of it, as `round_together` counts such a row).
    before = round_in_order(pd.Series([None, 21.93, 70.03], dtype="float64"), stored, 1.25)
    assert pd.isna(before[0]) and before[1:].tolist() == [29.77, 87.54]
    assert round(9.43 + before[1] + before[2], 2) == round((9.43 + 21.93 + 70.03) * 1.25, 2)
