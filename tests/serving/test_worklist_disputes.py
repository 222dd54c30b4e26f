"""Disputes and promises that mean what they say (issue 10, point 6).

Measured on main before: a logged `dispute` did not pause dunning, there was no way to
resolve one, a customer-wide promise of 500 paused 70,000 overdue, a promise dated
2020-01-01 was accepted and at once reported broken.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from features.build import build_open_invoice_rows
from kernel.policy import PolicySettings
from serving.app import create_app
from serving.decisions import ActionRecord, OpenInvoice, rank_worklist
from serving.decisions.worklist import WorklistItem
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for

POLICY = PolicySettings.defaults()
TODAY = dt.date(2026, 11, 25)


def _inv(invoice_id: str, *, overdue: int, amount: float = 1_000.0, **kw) -> OpenInvoice:
    return OpenInvoice(
        invoice_id=invoice_id,
        customer_id="c1",
        due_date=TODAY - dt.timedelta(days=overdue),
        open_amount=amount,
        p_default=0.1,
        days_late=10.0,
        days_late_p50=10.0,
        **kw,
    )


def _act(kind: str, *, days_ago: int = 1, **kw) -> ActionRecord:
    at = dt.datetime.combine(TODAY - dt.timedelta(days=days_ago), dt.time(9), tzinfo=dt.UTC)
    return ActionRecord(customer_id="c1", kind=kind, at=at, **kw)


def _steps(invoices: list[OpenInvoice], actions: list[ActionRecord]) -> dict[str, str]:
    wl = rank_worklist(invoices, as_of=TODAY, policy=POLICY, actions=actions)
    (item,) = (*wl.items, *wl.overflow, *wl.waiting)
    return {s.invoice_id: s.action for s in item.invoices}


def _reason(invoices: list[OpenInvoice], actions: list[ActionRecord], invoice_id: str) -> str:
    wl = rank_worklist(invoices, as_of=TODAY, policy=POLICY, actions=actions)
    (item,) = (*wl.items, *wl.overflow, *wl.waiting)
    return next(s.reason for s in item.invoices if s.invoice_id == invoice_id)


TWO = [_inv("i1", overdue=20), _inv("i2", overdue=40)]


# --- disputes ------------------------------------------------------------------------------


def test_a_logged_dispute_pauses_the_invoice_it_names_or_every_invoice():
    assert _steps(TWO, []) == {"i1": "call", "i2": "escalate"}
    named = [_act("dispute", invoice_id="i2")]
    assert _steps(TWO, named) == {"i1": "call", "i2": "dispute_resolution"}
    assert "dispute logged on 2026-11-24" in _reason(TWO, named, "i2")
    everything = [_act("dispute")]
    assert _steps(TWO, everything) == {"i1": "dispute_resolution", "i2": "dispute_resolution"}


def test_resolve_invalid_resumes_dunning_and_valid_awaits_the_credit_note():
    disputed = [_act("dispute", days_ago=5)]
    invalid = [*disputed, _act("resolve", outcome="invalid")]
    assert _steps(TWO, invalid) == {"i1": "call", "i2": "escalate"}
    assert "dispute resolved as invalid on 2026-11-24" in _reason(TWO, invalid, "i1")
    valid = [*disputed, _act("resolve", outcome="valid", invoice_id="i2")]
    assert _steps(TWO, valid) == {"i1": "dispute_resolution", "i2": "await_credit_note"}
    wl = rank_worklist(
        TWO, as_of=TODAY, policy=POLICY, actions=[*valid, _act("resolve", outcome="valid")]
    )
    assert wl.waiting[0].next_action == "await_credit_note" and not wl.items


def test_resolve_also_closes_an_erp_dispute_and_a_new_dispute_reopens():
    erp = [_inv("i1", overdue=20, disputed=True)]
    assert _steps(erp, []) == {"i1": "dispute_resolution"}
    assert _steps(erp, [_act("resolve", outcome="invalid")]) == {"i1": "call"}
    reopened = [_act("resolve", days_ago=3, outcome="invalid"), _act("dispute", days_ago=1)]
    assert _steps(erp, reopened) == {"i1": "dispute_resolution"}


def test_a_resolve_without_a_dispute_changes_nothing():
    assert _steps(TWO, [_act("resolve", outcome="valid")]) == {"i1": "call", "i2": "escalate"}


# --- promises ------------------------------------------------------------------------------


def _promise(amount: float | None, *, days_ahead: int = 5, invoice_id: str | None = None):
    return _act(
        "promise",
        promised_date=TODAY + dt.timedelta(days=days_ahead),
        promised_amount=amount,
        invoice_id=invoice_id,
    )


def test_a_customer_wide_promise_of_500_does_not_pause_70000():
    big = [_inv("i1", overdue=60, amount=70_000)]
    assert _steps(big, [_promise(500)]) == {"i1": "escalate"}
    assert "covers 500 of the 70,000 open here" in _reason(big, [_promise(500)], "i1")
    assert _steps(big, [_promise(None)]) == {"i1": "wait_for_promise"}  # no amount: all


def test_a_partial_promise_pauses_only_what_it_covers_oldest_first():
    invoices = [
        _inv("young", overdue=10, amount=300),
        _inv("oldest", overdue=50, amount=300),
        _inv("middle", overdue=35, amount=400),
    ]
    steps = _steps(invoices, [_promise(500)])
    # 500 covers the oldest (300); the 200 left cannot cover the middle one (400), and
    # the walk stops there: the youngest is not paused although 200 < 300 would not fit.
    assert steps == {"oldest": "wait_for_promise", "middle": "escalate", "young": "call"}
    steps = _steps(invoices, [_promise(700)])
    assert steps == {"oldest": "wait_for_promise", "middle": "wait_for_promise", "young": "call"}


def test_a_promise_on_one_invoice_pauses_it_only_when_it_covers_it():
    assert _steps(TWO, [_promise(999, invoice_id="i1")])["i1"] == "call"
    assert _steps(TWO, [_promise(1_000, invoice_id="i1")])["i1"] == "wait_for_promise"


def test_a_broken_promise_raises_the_next_step_at_once():
    broken = _promise(None, days_ahead=-(POLICY.promise_grace_days + 1))
    reminder = [_inv("i1", overdue=3)]
    assert _steps(reminder, []) == {"i1": "reminder"}
    assert _steps(reminder, [broken]) == {"i1": "call"}
    assert "was broken, so call at once instead of reminder" in _reason(reminder, [broken], "i1")
    # A call logged before the promise would hold a call back 5 days; not once it broke.
    called = [_act("call", days_ago=2), broken]
    assert _steps([_inv("i1", overdue=20)], called) == {"i1": "escalate"}
    # Once a ladder step is logged after the break, the raise has been acted on.
    acted = [broken, _act("call", days_ago=0)]
    assert _steps(reminder, acted) == {"i1": "follow_up_later"}


# --- through the API -----------------------------------------------------------------------


@pytest.fixture
def client(api_template: ApiTemplate, tmp_path: Path) -> Iterator[TestClient]:
    """An app on its own copy of the generated store (these tests write)."""
    with TestClient(create_app(settings_for(api_template, tmp_path))) as c:
        yield c


def _entry_item(client: TestClient, customer_id: str) -> WorklistItem:
    state = client.app.state.runtime.state  # type: ignore[attr-defined]
    item = state.entries[customer_id].item
    assert item is not None
    return item


def _customer_with_invoices(client: TestClient, api_template: ApiTemplate) -> str:
    rows = build_open_invoice_rows(api_template.ledger, as_of=AS_OF)
    disputed = set(rows.loc[rows["invoice_disputed"] == 1, "customer_id"])
    counts = rows.groupby("customer_id").size()
    state = client.app.state.runtime.state  # type: ignore[attr-defined]
    return next(
        cid
        for cid, n in counts.sort_index().items()
        if n >= 2
        and cid not in disputed
        and state.entries[cid].item is not None
        and state.entries[cid].item.next_action in ("reminder", "call", "escalate")
    )


def test_dispute_and_resolve_through_the_api(client: TestClient, api_template: ApiTemplate):
    keys = {"X-API-Key": api_template.keys["collector"]}
    cid = _customer_with_invoices(client, api_template)
    before = {s.invoice_id: s.action for s in _entry_item(client, cid).invoices}
    named = sorted(before)[0]

    def post(body: dict) -> dict:
        answer = client.post("/v1/actions", json={"customer_id": cid, **body}, headers=keys)
        assert answer.status_code == 201, answer.text
        return answer.json()

    post({"kind": "dispute", "invoice_id": named, "text": "wrong quantity"})
    after = {s.invoice_id: s.action for s in _entry_item(client, cid).invoices}
    assert after == {**before, named: "dispute_resolution"}
    stored = post({"kind": "resolve", "invoice_id": named, "outcome": "invalid"})
    assert stored["outcome"] == "invalid"
    assert {s.invoice_id: s.action for s in _entry_item(client, cid).invoices} == before
    post({"kind": "dispute"})  # names no invoice: every invoice of the customer
    assert {s.action for s in _entry_item(client, cid).invoices} == {"dispute_resolution"}
    post({"kind": "resolve", "outcome": "valid"})
    assert {s.action for s in _entry_item(client, cid).invoices} == {"await_credit_note"}
    waiting = client.get(
        "/v1/worklist", params={"include_waiting": True, "limit": 1000}, headers=keys
    ).json()["data"]
    mine = next(it for it in waiting if it["customer_id"] == cid)
    assert mine["next_action"] == "await_credit_note" and not mine["today"]


def test_resolve_needs_an_outcome_and_only_resolve_has_one(
    client: TestClient, api_template: ApiTemplate
):
    keys = {"X-API-Key": api_template.keys["collector"]}
    for body in ({"kind": "resolve"}, {"kind": "note", "outcome": "valid"}):
        answer = client.post("/v1/actions", json={"customer_id": "C00001", **body}, headers=keys)
        assert answer.status_code == 422 and answer.json()["error"] == "RequestValidationError"


def test_a_past_dated_promise_is_422_naming_the_field(
    client: TestClient, api_template: ApiTemplate
):
    keys = {"X-API-Key": api_template.keys["collector"]}
    body = {"customer_id": "C00001", "kind": "promise", "promised_date": "2020-01-01"}
    answer = client.post("/v1/actions", json=body, headers=keys)
    assert answer.status_code == 422
    error = answer.json()
    assert set(error) == {"detail", "error", "request_id", "errors"}
    assert [e["loc"] for e in error["errors"]] == [["body", "promised_date"]]
    assert "before today (2026-03-02)" in error["detail"]
    today = client.post(
        "/v1/actions", json={**body, "promised_date": AS_OF.isoformat()}, headers=keys
    )
    assert today.status_code == 201, today.text


def test_a_partial_promise_through_the_api_pauses_only_the_oldest(
    client: TestClient, api_template: ApiTemplate
):
    keys = {"X-API-Key": api_template.keys["collector"]}
    cid = _customer_with_invoices(client, api_template)
    item = _entry_item(client, cid)
    oldest = min(item.invoices, key=lambda s: (s.due_date, s.invoice_id))
    body = {
        "customer_id": cid,
        "kind": "promise",
        "promised_date": (AS_OF + dt.timedelta(days=7)).isoformat(),
        "promised_amount": round(oldest.open_amount, 2),
    }
    assert client.post("/v1/actions", json=body, headers=keys).status_code == 201
    paused = {
        s.invoice_id for s in _entry_item(client, cid).invoices if s.action == "wait_for_promise"
    }
    assert paused == {oldest.invoice_id}


def test_a_promise_and_a_logged_step_still_decide_after_many_later_actions(
    client: TestClient, api_template: ApiTemplate
):
    """A served entry kept only a customer's last 20 actions: a promise, or a logged call,
    followed by 20 other actions (notes, reminders of other invoices) stopped pausing the
    invoices it covers, or holding the step back."""
    keys = {"X-API-Key": api_template.keys["collector"]}
    cid = _customer_with_invoices(client, api_template)
    item = _entry_item(client, cid)
    oldest = min(item.invoices, key=lambda s: (s.due_date, s.invoice_id))

    def post(body: dict) -> None:
        answer = client.post("/v1/actions", json={"customer_id": cid, **body}, headers=keys)
        assert answer.status_code == 201, answer.text

    def steps() -> dict[str, str]:
        return {s.invoice_id: s.action for s in _entry_item(client, cid).invoices}

    before = steps()
    top = max(
        (a for a in before.values() if a in ("reminder", "call", "escalate")),
        key=("reminder", "call", "escalate").index,
    )
    post({"kind": {"escalate": "legal"}.get(top, top)})  # logged: held for follow-up
    promised = (AS_OF + dt.timedelta(days=7)).isoformat()
    post(
        {
            "kind": "promise",
            "invoice_id": oldest.invoice_id,
            "promised_date": promised,
            "promised_amount": round(oldest.open_amount, 2),
        }
    )
    decided = steps()
    assert decided[oldest.invoice_id] == "wait_for_promise"
    assert "follow_up_later" in decided.values() and decided != before
    for k in range(25):
        post({"kind": "note", "text": f"note {k}"})
    assert steps() == decided


def test_the_entry_keeps_the_latest_deciding_actions_on_or_before_its_day():
    """A store served on a pinned past day may hold many actions after it: the actions
    dunning reads (those on or before the day) are kept however many come after."""
    from serving.entries import _actions_by_customer

    def row(kind: str, day: int, **kw) -> dict:
        at = pd.Timestamp(TODAY) + pd.Timedelta(days=day, hours=9)
        return {"customer_id": "c1", "kind": kind, "at": at, "invoice_id": None,
                "promised_date": pd.NaT, "promised_amount": None, "author": None,
                "text": None, "outcome": None, **kw}  # fmt: skip

    promise = row(
        "promise", -6, invoice_id="i1", promised_date=pd.Timestamp(TODAY) + pd.Timedelta(days=9)
    )
    rows = [row("call", -9), promise, row("call", -3)]
    rows += [row("reminder", day) for day in range(1, 30)] + [row("call", 31)]
    kept = _actions_by_customer(pd.DataFrame(rows), TODAY)["c1"]
    until = [a for a in kept if a.at.date() <= TODAY]
    assert [(a.kind, a.at.date()) for a in until] == [
        ("promise", TODAY - dt.timedelta(days=6)),
        ("call", TODAY - dt.timedelta(days=3)),
    ]
    assert len(kept) == 2 + 20  # and the last 20 of all, the call of day 31 among them
    calls = [_inv("i1", overdue=20), _inv("i2", overdue=15)]
    assert _steps(calls, []) == {"i1": "call", "i2": "call"}
    assert _steps(calls, until) == {"i1": "wait_for_promise", "i2": "follow_up_later"}
