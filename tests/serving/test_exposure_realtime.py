"""Real-time exposure without HTTP: today's ledger events and reservations.

`serving.exposure.ledger_today` counts what the point-in-time features leave out (the
serving day's invoices, payments, credit notes); `outstanding_reservations` says which
approved orders still count (not expired, not ended by their invoice).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from features.ledger import ledger_from_frames
from serving.decisions.exposure import (
    Exposure,
    RecentInvoice,
    Reservation,
    outstanding_reservations,
)
from serving.exposure import ledger_today

DAY = dt.date(2026, 3, 2)


def _reservation(
    rid: str, amount: float, decided: dt.date = DAY, days: int = 14, **kw: object
) -> Reservation:
    return Reservation(
        reservation_id=rid,
        customer_id="C1",
        amount=amount,
        decided_on=decided,
        expires_on=decided + dt.timedelta(days=days),
        **kw,  # type: ignore[arg-type]
    )


def _ledger(invoices: list[tuple], payments: list[tuple] = (), adjustments: list[tuple] = ()):  # type: ignore[assignment]
    customers = pd.DataFrame(
        {"customer_id": ["C1", "C2"], "name": ["One", "Two"], "created_at": ["2025-01-01"] * 2}
    )
    inv = pd.DataFrame(
        invoices, columns=["invoice_id", "customer_id", "issue_date", "due_date", "amount"]
    )
    pay = pd.DataFrame(
        list(payments),
        columns=["payment_id", "invoice_id", "customer_id", "payment_date", "amount"],
    )
    adj = pd.DataFrame(
        list(adjustments), columns=["adjustment_id", "invoice_id", "date", "amount", "kind"]
    )
    return ledger_from_frames(
        {"customers": customers, "invoices": inv, "payments": pay, "adjustments": adj}
    )


def test_todays_invoices_count_and_todays_payments_reduce() -> None:
    ledger = _ledger(
        [
            ("OLD", "C1", "2026-02-01", "2026-03-01", 5000.0),
            ("NEW", "C1", "2026-03-02", "2026-04-01", 4000.0),  # issued today
            ("LATER", "C1", "2026-03-03", "2026-04-02", 999.0),  # tomorrow: the future
            ("C2-OLD", "C2", "2026-02-01", "2026-03-01", 300.0),
        ],
        payments=[
            ("P1", "OLD", "C1", "2026-03-02", 1000.0),  # paid today
            ("P0", "OLD", "C1", "2026-02-20", 500.0),  # before today: in the features
            ("P2", "C2-OLD", "C2", "2026-03-02", 10_000.0),  # overpaid: clipped to 300
        ],
        adjustments=[("A1", "NEW", "2026-03-02", -250.0, "credit_note")],
    )
    today = ledger_today(ledger, as_of=DAY, window_days=14)
    assert today["C1"].change == 4000.0 - 1000.0 - 250.0
    assert today["C2"].change == -300.0
    assert [i.invoice_id for i in today["C1"].invoices] == ["NEW"]  # issued in the window
    assert today["C1"].issued_on(DAY) == frozenset({"NEW"})


def test_nothing_on_the_day_changes_nothing() -> None:
    ledger = _ledger([("OLD", "C1", "2026-01-01", "2026-02-01", 5000.0)])
    assert ledger_today(ledger, as_of=DAY, window_days=14) == {}


def test_reservations_expire_after_their_days() -> None:
    old = _reservation("R-old", 100.0, decided=DAY - dt.timedelta(days=14))  # expires today
    young = _reservation("R-young", 200.0, decided=DAY - dt.timedelta(days=13))
    future = _reservation("R-future", 300.0, decided=DAY + dt.timedelta(days=1))
    left = outstanding_reservations([old, young, future], [], as_of=DAY)
    assert [r.reservation_id for r in left] == ["R-young"]


def test_an_invoice_of_at_least_the_amount_ends_the_largest_reservation_it_covers() -> None:
    small, large = _reservation("R-small", 1000.0), _reservation("R-large", 4000.0)
    invoice = RecentInvoice("INV-1", DAY, 4000.0)
    left = outstanding_reservations([small, large], [invoice], as_of=DAY)
    assert [r.reservation_id for r in left] == ["R-small"]  # one invoice ends one order


def test_partial_older_known_and_future_invoices_end_nothing() -> None:
    order = _reservation("R", 4000.0, known_invoices=frozenset({"KNOWN"}))
    invoices = [
        RecentInvoice("PART", DAY, 2000.0),  # an order invoiced in parts: kept (safe side)
        RecentInvoice("BEFORE", DAY - dt.timedelta(days=1), 9000.0),  # before the approval
        RecentInvoice("KNOWN", DAY, 9000.0),  # already counted when it was approved
        RecentInvoice("TOMORROW", DAY + dt.timedelta(days=1), 9000.0),  # not yet issued
    ]
    assert outstanding_reservations([order], invoices, as_of=DAY) == [order]


def test_exposure_total_adds_the_parts_and_never_goes_negative() -> None:
    assert Exposure(open_amount=5128.0, today_change=4000.0, reserved=500.0).total == 9628.0
    assert Exposure(open_amount=100.0, today_change=-300.0, reserved=0.0).total == 0.0
