"""No peeking at the future, and one feature path.

- Changing, removing or adding any event dated on or after a row's snapshot date never
  changes that row's features (hypothesis, random small ledgers).
- The training table as of D equals the one built on the ledger cut at D.
- The three builders give the same features for the same invoice and date.
"""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.build import (
    BASE_COLUMNS,
    KEY_COLUMNS,
    build_new_invoice_rows,
    build_open_invoice_rows,
    build_training_table,
    customer_state,
)
from features.spec import CATEGORICAL_COLUMNS, CUSTOMER_FEATURE_COLUMNS, FEATURE_COLUMNS
from tests.utils.ledger_factory import AMOUNTS, LedgerSpec, day, ledger_specs

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Late enough for every generated invoice to be mature (issue <= 120, terms <= 45, H = 90).
AS_OF = day(400)
POINT_IN_TIME = [*KEY_COLUMNS, *BASE_COLUMNS, *FEATURE_COLUMNS]


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Categories as plain values: category lists depend on which customers exist."""
    out = frame.copy()
    for column in CATEGORICAL_COLUMNS:
        out[column] = out[column].astype("object")
    return out


def _future_changes(data: st.DataObject, spec: LedgerSpec, cut: int) -> LedgerSpec:
    """Change only events dated on or after day `cut`: drop or move them, add new ones."""
    later = st.integers(cut, cut + 200)

    def keep_or_change(events: list[tuple], at: int, amount: int) -> list[tuple]:
        out = []
        for event in events:
            if event[at] < cut:
                out.append(event)
                continue
            action = data.draw(st.sampled_from(["keep", "drop", "move", "resize"]))
            if action == "move":
                out.append((*event[:at], data.draw(later), *event[at + 1 :]))
            elif action == "resize":
                new = round(event[amount] * data.draw(st.sampled_from([0.5, 2.0])), 2)
                out.append((*event[:amount], new, *event[amount + 1 :]))
            elif action == "keep":
                out.append(event)
        return out

    payments = keep_or_change(spec.payments, 1, 2)
    adjustments = keep_or_change(spec.adjustments, 1, 2)
    invoices = []
    for inv in spec.invoices:
        # A dispute dated on or after the cut may appear, vanish or move.
        if inv[5] is None or inv[5] >= cut:
            start = max(cut, inv[2])
            dispute = data.draw(st.one_of(st.none(), st.integers(start, start + 90)))
            inv = (*inv[:5], dispute)
        invoices.append(inv)
    customers = list(spec.customers)
    if data.draw(st.booleans()):
        customers.append(("c_new", data.draw(later), None, 30, "retail", "DE"))
    for k in range(data.draw(st.integers(0, 2))):
        issue = data.draw(later)
        owner = data.draw(st.sampled_from([c[0] for c in customers]))
        invoices.append((f"new{k}", owner, issue, 30, data.draw(st.sampled_from(AMOUNTS)), None))
    for inv in invoices:
        for _ in range(data.draw(st.integers(0, 1))):
            payments.append((inv[0], data.draw(later), data.draw(st.sampled_from(AMOUNTS))))
        if data.draw(st.integers(0, 4)) == 0:
            kind = data.draw(st.sampled_from(["credit_note", "write_off"]))
            adjustments.append((inv[0], max(data.draw(later), inv[2]), 20.0, kind))
    return spec.with_(
        customers=customers, invoices=invoices, payments=payments, adjustments=adjustments
    )


def _cut_day(data: st.DataObject, spec: LedgerSpec) -> int:
    """Any day, or often a day with an event: leaks hide at events dated on the snapshot."""
    event_days = sorted(
        {inv[2] for inv in spec.invoices}
        | {inv[5] for inv in spec.invoices if inv[5] is not None}
        | {p[1] for p in spec.payments}
        | {a[1] for a in spec.adjustments}
    )
    return data.draw(st.one_of(st.integers(0, 160), st.sampled_from(event_days)))


@SETTINGS
@given(spec=ledger_specs(consistent=False), data=st.data())
def test_future_events_never_change_past_rows(spec: LedgerSpec, data: st.DataObject) -> None:
    cut = _cut_day(data, spec)
    changed = _future_changes(data, spec, cut)
    before = build_training_table(spec.ledger(), as_of=AS_OF, snapshot_every_days=9)
    after = build_training_table(changed.ledger(), as_of=AS_OF, snapshot_every_days=9)
    past = pd.Timestamp(day(cut))
    old = _comparable(before[before["snapshot_date"] <= past][POINT_IN_TIME])
    new = _comparable(after[after["snapshot_date"] <= past][POINT_IN_TIME])
    # New invoices issued on the cut day add rows; no earlier row may vanish or change.
    new = new.merge(old[["invoice_id", "snapshot_date"]], on=["invoice_id", "snapshot_date"])
    assert len(new) == len(old)
    pd.testing.assert_frame_equal(new.reset_index(drop=True), old.reset_index(drop=True))


@SETTINGS
@given(
    spec=ledger_specs(consistent=False), cut=st.integers(0, 200), horizon=st.sampled_from([30, 90])
)
def test_training_table_as_of_equals_table_on_the_cut_ledger(
    spec: LedgerSpec, cut: int, horizon: int
) -> None:
    ledger = spec.ledger()
    as_of = day(cut)
    full = build_training_table(ledger, as_of=as_of, horizon_days=horizon, snapshot_every_days=7)
    cut_ledger = build_training_table(
        ledger.before(as_of), as_of=as_of, horizon_days=horizon, snapshot_every_days=7
    )
    pd.testing.assert_frame_equal(full, cut_ledger)
    assert (full["snapshot_date"] < pd.Timestamp(as_of)).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=ledger_specs(max_customers=2, max_invoices=6), data=st.data())
def test_three_builders_agree_on_the_same_invoice_and_date(
    spec: LedgerSpec, data: st.DataObject
) -> None:
    ledger = spec.ledger()
    table = _comparable(build_training_table(ledger, as_of=AS_OF, snapshot_every_days=11))
    dates = sorted(table["snapshot_date"].unique())
    # A few snapshot dates per ledger keep the test fast; hypothesis varies them.
    picked = data.draw(st.lists(st.sampled_from(dates), min_size=1, max_size=3, unique=True))
    for snap in picked:
        rows = table[table["snapshot_date"] == snap]
        as_of = pd.Timestamp(snap).date()
        later = rows[rows["snapshot_date"] > rows["issue_date"]]
        if len(later):
            open_rows = _comparable(build_open_invoice_rows(ledger, as_of=as_of))
            open_rows = open_rows.set_index("invoice_id").loc[later["invoice_id"]]
            pd.testing.assert_frame_equal(
                later.set_index("invoice_id")[POINT_IN_TIME[1:]], open_rows[POINT_IN_TIME[1:]]
            )
        fresh = rows[rows["snapshot_date"] == rows["issue_date"]]
        if len(fresh):
            orders = pd.DataFrame(
                {
                    "customer_id": fresh["customer_id"].to_numpy(),
                    "amount": fresh["amount"].to_numpy(),
                    "payment_terms_days": (fresh["due_date"] - fresh["issue_date"]).dt.days,
                    "invoice_id": fresh["invoice_id"].to_numpy(),
                }
            )
            new_rows = _comparable(build_new_invoice_rows(ledger, orders=orders, as_of=as_of))
            pd.testing.assert_frame_equal(
                new_rows[POINT_IN_TIME].reset_index(drop=True),
                fresh[POINT_IN_TIME].reset_index(drop=True),
            )
            state = customer_state(ledger, as_of=as_of)
            expected = _comparable(state.loc[fresh["customer_id"], CUSTOMER_FEATURE_COLUMNS])
            pd.testing.assert_frame_equal(
                fresh[CUSTOMER_FEATURE_COLUMNS].reset_index(drop=True),
                expected.reset_index(drop=True),
            )
