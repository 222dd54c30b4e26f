"""Labels on hand-made ledgers: settlement, days late, default, maturity, as-of cuts."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from features.labels import label_invoices, settlement_dates
from features.ledger import Ledger, ledger_from_frames
from features.timeline import invoice_timeline

D = dt.date


def make_ledger(
    invoices: list[tuple[str, str, str, float]],
    payments: list[tuple[str, str, float]] = (),
    adjustments: list[tuple[str, str, float, str]] = (),
    disputes: dict[str, str] | None = None,
) -> Ledger:
    """A one-customer ledger: invoices (id, issue, due, amount), payments (invoice, date,
    amount), adjustments (invoice, date, amount, kind)."""
    disputes = disputes or {}
    return ledger_from_frames(
        {
            "customers": pd.DataFrame(
                {"customer_id": ["c1"], "name": ["Acme"], "created_at": ["2023-01-01"]}
            ),
            "invoices": pd.DataFrame(
                {
                    "invoice_id": [i[0] for i in invoices],
                    "customer_id": "c1",
                    "issue_date": [i[1] for i in invoices],
                    "due_date": [i[2] for i in invoices],
                    "amount": [i[3] for i in invoices],
                    "disputed": [i[0] in disputes for i in invoices],
                    "dispute_date": [disputes.get(i[0]) for i in invoices],
                }
            ),
            "payments": pd.DataFrame(
                {
                    "payment_id": [f"p{k}" for k in range(len(payments))],
                    "invoice_id": [p[0] for p in payments],
                    "customer_id": "c1",
                    "payment_date": [p[1] for p in payments],
                    "amount": [p[2] for p in payments],
                }
            ),
            "adjustments": pd.DataFrame(
                {
                    "adjustment_id": [f"a{k}" for k in range(len(adjustments))],
                    "invoice_id": [a[0] for a in adjustments],
                    "date": [a[1] for a in adjustments],
                    "amount": [a[2] for a in adjustments],
                    "kind": [a[3] for a in adjustments],
                }
            ),
        }
    )


def test_partial_payments_settle_on_the_day_they_cover_the_amount() -> None:
    ledger = make_ledger(
        [("i1", "2024-01-01", "2024-01-31", 100.0)],
        [("i1", "2024-01-20", 40.0), ("i1", "2024-02-10", 59.999), ("i1", "2024-03-01", 5.0)],
    )
    assert settlement_dates(ledger)["i1"] == pd.Timestamp("2024-02-10")
    row = label_invoices(ledger, as_of=D(2024, 6, 1)).loc["i1"]
    assert row["days_late"] == 10.0
    assert row["default"] == 0
    assert row["mature"]


def test_credit_note_counts_toward_settlement_whatever_its_sign() -> None:
    ledger = make_ledger(
        [("i1", "2024-01-01", "2024-01-31", 100.0)],
        [("i1", "2024-01-25", 70.0)],
        [("i1", "2024-01-28", -30.0, "credit_note")],
    )
    row = label_invoices(ledger, as_of=D(2024, 6, 1)).loc["i1"]
    assert row["settled_date"] == pd.Timestamp("2024-01-28")
    assert row["days_late"] == -3.0
    assert row["default"] == 0


def test_overpayment_settles_on_the_first_covering_day() -> None:
    ledger = make_ledger(
        [("i1", "2024-01-01", "2024-01-31", 100.0)],
        [("i1", "2024-02-05", 250.0)],
    )
    labels = label_invoices(ledger, as_of=D(2024, 2, 6))
    assert labels.loc["i1", "settled_date"] == pd.Timestamp("2024-02-05")
    assert labels.loc["i1", "days_late"] == 5.0


def test_write_off_is_a_default_even_before_the_horizon() -> None:
    ledger = make_ledger(
        [("i1", "2024-01-01", "2024-01-31", 100.0)],
        [("i1", "2024-02-15", 30.0)],
        [("i1", "2024-03-01", 70.0, "write_off")],
    )
    assert pd.isna(settlement_dates(ledger)["i1"])
    before = label_invoices(ledger, as_of=D(2024, 3, 1)).loc["i1"]
    assert not before["mature"]
    after = label_invoices(ledger, as_of=D(2024, 3, 2)).loc["i1"]
    assert after["mature"]
    assert after["default"] == 1
    assert after["days_late"] == 90.0


def test_unsettled_at_the_horizon_is_a_default_once_the_horizon_has_passed() -> None:
    ledger = make_ledger(
        [("i1", "2024-01-01", "2024-01-31", 100.0)],
        [("i1", "2024-06-01", 100.0)],
    )
    # due + 30 = 2024-03-01: the whole of that day must have passed.
    immature = label_invoices(ledger, as_of=D(2024, 3, 1), horizon_days=30).loc["i1"]
    assert not immature["mature"]
    assert pd.isna(immature["days_late"])
    mature = label_invoices(ledger, as_of=D(2024, 3, 2), horizon_days=30).loc["i1"]
    assert mature["mature"]
    assert mature["default"] == 1
    assert mature["days_late"] == 30.0
    assert pd.isna(mature["settled_date"])
    # Settled later than the horizon: still a default, days late capped.
    late = label_invoices(ledger, as_of=D(2024, 7, 1), horizon_days=30).loc["i1"]
    assert late["settled_date"] == pd.Timestamp("2024-06-01")
    assert (late["default"], late["days_late"]) == (1, 30.0)


def test_settled_on_the_last_day_of_the_horizon_is_not_a_default() -> None:
    ledger = make_ledger(
        [("i1", "2024-01-01", "2024-01-31", 100.0)],
        [("i1", "2024-03-01", 100.0)],
    )
    row = label_invoices(ledger, as_of=D(2024, 3, 2), horizon_days=30).loc["i1"]
    assert (row["default"], row["days_late"], row["mature"]) == (0, 30.0, True)


def test_not_yet_mature_and_later_events_are_ignored() -> None:
    ledger = make_ledger(
        [("i1", "2024-01-01", "2024-01-31", 100.0), ("i2", "2024-05-01", "2024-05-31", 50.0)],
        [("i1", "2024-02-20", 100.0)],
    )
    labels = label_invoices(ledger, as_of=D(2024, 2, 20))
    assert list(labels.index) == ["i1"]  # i2 not issued yet
    row = labels.loc["i1"]
    assert not row["mature"]
    assert pd.isna(row["settled_date"])
    assert row["default"] == 0
    assert labels.dtypes.to_dict() == {
        "settled_date": "datetime64[ns]",
        "days_late": "float64",
        "default": "int64",
        "very_late": "int64",
        "mature": "bool",
    }


def test_prepayment_settles_on_the_issue_date() -> None:
    ledger = make_ledger(
        [("i1", "2024-01-10", "2024-02-09", 100.0)],
        [("i1", "2024-01-05", 100.0)],
    )
    assert settlement_dates(ledger)["i1"] == pd.Timestamp("2024-01-10")


def test_labels_as_of_equal_labels_on_the_cut_ledger() -> None:
    ledger = make_ledger(
        [
            ("i1", "2024-01-01", "2024-01-31", 100.0),
            ("i2", "2024-02-01", "2024-03-02", 80.0),
            ("i3", "2024-04-01", "2024-05-01", 10.0),
        ],
        [("i1", "2024-02-10", 100.0), ("i2", "2024-03-20", 20.0), ("i2", "2024-07-01", 60.0)],
        [("i3", "2024-04-15", 10.0, "credit_note")],
    )
    for as_of in (D(2024, 2, 10), D(2024, 3, 21), D(2024, 4, 16), D(2024, 8, 1)):
        pd.testing.assert_frame_equal(
            label_invoices(ledger, as_of=as_of), label_invoices(ledger.before(as_of), as_of=as_of)
        )


def test_before_undoes_later_disputes_and_drops_later_events() -> None:
    ledger = make_ledger(
        [("i1", "2024-01-01", "2024-01-31", 100.0), ("i2", "2024-02-01", "2024-03-02", 80.0)],
        [("i1", "2024-01-15", 10.0), ("i1", "2024-02-15", 10.0)],
        disputes={"i1": "2024-02-01"},
    )
    cut = ledger.before(D(2024, 2, 1))
    assert list(cut.invoices["invoice_id"]) == ["i1"]
    assert not cut.invoices["disputed"].any()
    assert cut.invoices["dispute_date"].isna().all()
    assert list(cut.payments["payment_date"]) == [pd.Timestamp("2024-01-15")]
    assert ledger.before(D(2024, 2, 2)).invoices["disputed"].tolist() == [True, False]


def test_horizon_must_be_positive() -> None:
    ledger = make_ledger([("i1", "2024-01-01", "2024-01-31", 100.0)])
    with pytest.raises(ValueError, match="horizon_days"):
        label_invoices(ledger, as_of=D(2024, 3, 1), horizon_days=0)


def test_write_off_booked_on_a_settled_invoice_is_not_a_default() -> None:
    """Nothing was left to lose: the invoice stays settled on its payment date."""
    ledger = make_ledger(
        [("i1", "2024-01-01", "2024-01-31", 100.0)],
        [("i1", "2024-02-05", 100.0)],
        [("i1", "2024-02-20", 3.0, "write_off")],
    )
    row = label_invoices(ledger, as_of=D(2024, 6, 1)).loc["i1"]
    assert (row["settled_date"], row["default"], row["days_late"]) == (
        pd.Timestamp("2024-02-05"),
        0,
        5.0,
    )


def test_partial_payment_and_credit_note_then_write_off_of_the_rest() -> None:
    ledger = make_ledger(
        [("i1", "2024-01-01", "2024-01-31", 100.0)],
        [("i1", "2024-02-10", 50.0)],
        [("i1", "2024-02-15", 20.0, "credit_note"), ("i1", "2024-03-10", 30.0, "write_off")],
    )
    open_ = label_invoices(ledger, as_of=D(2024, 3, 10)).loc["i1"]
    assert not open_["mature"]  # 30.0 still open, write-off not yet known
    row = label_invoices(ledger, as_of=D(2024, 3, 11)).loc["i1"]
    assert pd.isna(row["settled_date"])
    assert (row["mature"], row["default"], row["days_late"]) == (True, 1, 90.0)


def test_overpayment_over_several_payments_never_leaves_a_negative_open_amount() -> None:
    ledger = make_ledger(
        [("i1", "2024-01-01", "2024-01-31", 100.0)],
        [("i1", "2024-01-20", 60.0), ("i1", "2024-02-03", 60.0), ("i1", "2024-02-04", 10.0)],
    )
    steps = invoice_timeline(ledger).steps
    assert steps["open_after"].tolist() == [40.0, 0.0, 0.0]
    assert steps["reduction"].tolist() == [60.0, 40.0, 0.0]
    row = label_invoices(ledger, as_of=D(2024, 3, 1)).loc["i1"]
    assert (row["settled_date"], row["days_late"]) == (pd.Timestamp("2024-02-03"), 3.0)


def test_early_settlement_is_mature_before_the_horizon_and_days_late_is_negative() -> None:
    ledger = make_ledger(
        [("i1", "2024-01-01", "2024-01-31", 100.0), ("i2", "2024-01-01", "2024-01-31", 10.0)],
        [("i1", "2024-01-21", 100.0)],
    )
    labels = label_invoices(ledger, as_of=D(2024, 1, 22))
    assert (labels.loc["i1", "mature"], labels.loc["i1", "days_late"]) == (True, -10.0)
    assert not labels.loc["i2", "mature"]  # open, not yet due: outcome unknown
    assert pd.isna(labels.loc["i2", "days_late"])


def test_a_payment_after_a_write_off_recovers_money_without_reopening_the_invoice() -> None:
    ledger = make_ledger(
        [("i1", "2024-01-01", "2024-01-31", 100.0)],
        [("i1", "2024-02-01", 40.0), ("i1", "2024-06-01", 10.0)],
        [("i1", "2024-05-01", 60.0, "write_off")],
    )
    steps = invoice_timeline(ledger).steps
    assert steps["open_after"].tolist() == [60.0, 0.0, 0.0]
    assert steps["reduction"].tolist() == [40.0, 60.0, 0.0]
    row = label_invoices(ledger, as_of=D(2024, 7, 1)).loc["i1"]
    assert (row["default"], row["days_late"]) == (1, 90.0)
    assert pd.isna(row["settled_date"])
