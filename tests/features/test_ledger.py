"""The in-memory ledger: date parsing from files and databases, the as-of cut, last event."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from features.ledger import last_event_day, ledger_from_frames
from tests.utils.ledger_factory import LedgerSpec, day


def test_dates_from_files_and_drivers_become_naive_utc_days() -> None:
    """pandas 3 reads ISO text as `str`; drivers return date or aware datetime objects."""
    utc = dt.UTC
    frames = {
        "customers": pd.DataFrame(
            {
                "customer_id": ["c1", "c2", "c3"],
                "name": ["A", "B", "C"],
                "created_at": pd.Series(
                    ["2024-01-01T00:00:00Z", "2024-01-02", "2024-01-03T01:00:00+02:00"],
                    dtype="str",
                ),
            }
        ),
        "invoices": pd.DataFrame(
            {
                "invoice_id": ["i1"],
                "customer_id": ["c1"],
                "issue_date": pd.Series([dt.date(2024, 2, 1)], dtype=object),
                "due_date": pd.Series([dt.datetime(2024, 3, 2, tzinfo=utc)], dtype=object),
                "amount": [10.0],
            }
        ),
    }
    ledger = ledger_from_frames(frames)
    assert ledger.customers["created_at"].tolist() == [
        pd.Timestamp("2024-01-01"),
        pd.Timestamp("2024-01-02"),
        pd.Timestamp("2024-01-02"),  # 01:00 at +02:00 is the evening before in UTC
    ]
    assert ledger.invoices["issue_date"].dtype == "datetime64[ns]"
    assert ledger.invoices["due_date"].tolist() == [pd.Timestamp("2024-03-02")]


def test_before_drops_events_of_invoices_issued_on_or_after_the_cut() -> None:
    spec = LedgerSpec(
        customers=[("c0", 0, None, None, None, None), ("c1", 5, None, None, None, None)],
        invoices=[("i0", "c0", 0, 30, 100.0, None), ("i1", "c1", 10, 30, 50.0, None)],
        # A prepayment of i1 dated before the cut still belongs to an invoice not yet issued.
        payments=[("i0", 3, 40.0), ("i1", 8, 50.0), ("i0", 10, 60.0)],
        adjustments=[("i1", 9, 5.0, "credit_note")],
    )
    cut = spec.ledger().before(day(10))
    assert cut.invoices["invoice_id"].tolist() == ["i0"]
    assert cut.payments["amount"].tolist() == [40.0]
    assert cut.adjustments.empty
    # c1 was created before the cut: known, even without an invoice yet.
    assert cut.customers["customer_id"].tolist() == ["c0", "c1"]
    assert spec.ledger().before(day(5)).customers["customer_id"].tolist() == ["c0"]


def test_last_event_day_is_the_latest_dated_event_features_read() -> None:
    spec = LedgerSpec(
        customers=[("c0", 0, None, None, None, None)],
        invoices=[("i0", "c0", 0, 30, 100.0, 50), ("i1", "c0", 20, 30, 10.0, None)],
        payments=[("i0", 40, 100.0)],
        adjustments=[("i1", 45, 10.0, "credit_note")],
    )
    assert last_event_day(spec.ledger()) == day(50)  # the dispute
    no_dispute = spec.with_(invoices=[(*i[:5], None) for i in spec.invoices])
    assert last_event_day(no_dispute.ledger()) == day(45)
    assert last_event_day(LedgerSpec(customers=spec.customers).ledger()) is None
