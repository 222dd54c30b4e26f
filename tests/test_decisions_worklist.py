"""Worklist: priority, the risk-adjusted dunning ladder, disputes, promises, capacity."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving.decisions import (
    GRADES,
    ActionRecord,
    OpenInvoice,
    Policy,
    cost_of_waiting,
    dunning_days,
    expected_loss,
    next_action,
    priority,
    rank_worklist,
)

POLICY = Policy.defaults()
TODAY = dt.date(2026, 11, 25)


def _inv(
    invoice_id: str,
    customer_id: str,
    *,
    overdue: int,
    amount: float = 1_000.0,
    p: float = 0.05,
    late: float = 10.0,
    disputed: bool = False,
) -> OpenInvoice:
    return OpenInvoice(
        invoice_id=invoice_id,
        customer_id=customer_id,
        due_date=TODAY - dt.timedelta(days=overdue),
        open_amount=amount,
        p_default=p,
        days_late=late,
        days_late_p10=late - 5,
        days_late_p50=late,
        days_late_p90=late + 20,
        disputed=disputed,
    )


def _promise(customer_id: str, *, days_ahead: int, invoice_id: str | None = None, logged=-1):
    return ActionRecord(
        customer_id=customer_id,
        kind="promise",
        at=TODAY + dt.timedelta(days=logged),
        invoice_id=invoice_id,
        promised_date=TODAY + dt.timedelta(days=days_ahead),
        promised_amount=1_000.0,
    )


def _item(worklist, customer_id):
    for item in (*worklist.items, *worklist.overflow, *worklist.waiting):
        if item.customer_id == customer_id:
            return item
    raise AssertionError(f"{customer_id} not on the worklist")


# --- priority ---------------------------------------------------------------------------


def test_priority_is_expected_loss_plus_cost_of_waiting():
    assert expected_loss(10_000, 0.1) == pytest.approx(1_000)
    # 10,000 × 8 % × 73 / 365 = 160.
    assert cost_of_waiting(10_000, 73, policy=POLICY) == pytest.approx(160)
    assert priority(
        open_amount=10_000, p_default=0.1, expected_days_late=73, policy=POLICY
    ) == pytest.approx(1_160)
    # Early payment costs nothing to wait for; an unknown probability adds no loss.
    assert cost_of_waiting(10_000, -5, policy=POLICY) == 0
    assert expected_loss(10_000, math.nan) == 0


# --- the ladder ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "action"),
    [(-3, "none"), (0, "reminder"), (6, "reminder"), (7, "call"), (30, "call"), (31, "escalate")],
)
def test_ladder_for_a_low_risk_customer(days, action):
    assert next_action(days_overdue=days, grade="A", policy=POLICY).action == action


@pytest.mark.parametrize(
    ("days", "action"), [(2, "reminder"), (3, "call"), (15, "call"), (16, "escalate")]
)
def test_high_risk_customers_climb_sooner(days, action):
    # Grade E: factor 0.5 → call from day 3, escalate after 15.
    assert dunning_days("E", policy=POLICY) == (0, 3, 15)
    step = next_action(days_overdue=days, grade="E", policy=POLICY)
    assert step.action == action
    if action != "reminder":
        assert "grade E moves up sooner" in step.reason


def test_ladder_days_never_later_for_a_worse_grade():
    days = [dunning_days(g, policy=POLICY) for g in GRADES]
    for better, worse in itertools.pairwise(days):
        assert all(w <= b for b, w in zip(better, worse, strict=True))


def test_dispute_beats_dunning_and_promise():
    step = next_action(
        days_overdue=60,
        grade="E",
        policy=POLICY,
        disputed=True,
        promised_date=TODAY + dt.timedelta(days=5),
        as_of=TODAY,
    )
    assert step.action == "dispute_resolution"


def test_promise_pauses_until_its_date_plus_grace_then_counts_as_broken():
    promised = TODAY - dt.timedelta(days=POLICY.promise_grace_days)
    held = next_action(
        days_overdue=40, grade="A", policy=POLICY, promised_date=promised, as_of=TODAY
    )
    assert held.action == "wait_for_promise"
    assert promised.isoformat() in held.reason
    late = next_action(
        days_overdue=40,
        grade="A",
        policy=POLICY,
        promised_date=promised - dt.timedelta(days=1),
        as_of=TODAY,
    )
    assert late.action == "escalate"
    assert "was broken" in late.reason


def test_promise_needs_today():
    with pytest.raises(ValueError, match="as_of"):
        next_action(days_overdue=3, grade="A", policy=POLICY, promised_date=TODAY)


# --- the ranked worklist ------------------------------------------------------------


def test_disputed_invoice_goes_to_dispute_resolution():
    wl = rank_worklist([_inv("i1", "c1", overdue=45, disputed=True)], as_of=TODAY, policy=POLICY)
    item = _item(wl, "c1")
    assert item.next_action == "dispute_resolution"
    assert item.invoices[0].action == "dispute_resolution"
    assert item in wl.items  # dispute resolution is work for today
    assert "dispute" in item.reasons[0]


def test_unbroken_promise_pauses_dunning():
    invoices = [_inv("i1", "c1", overdue=20), _inv("i2", "c2", overdue=20)]
    actions = [_promise("c1", days_ahead=4)]
    wl = rank_worklist(invoices, as_of=TODAY, policy=POLICY, actions=actions)
    paused, dunned = _item(wl, "c1"), _item(wl, "c2")
    assert paused.next_action == "wait_for_promise"
    assert paused in wl.waiting and paused.rank == 0
    assert paused.promise == actions[0]
    assert paused.last_action == actions[0]
    assert dunned.next_action == "call" and dunned in wl.items


def test_promise_on_one_invoice_leaves_the_others_dunned():
    invoices = [_inv("i1", "c1", overdue=20), _inv("i2", "c1", overdue=40)]
    wl = rank_worklist(
        invoices,
        as_of=TODAY,
        policy=POLICY,
        actions=[_promise("c1", days_ahead=4, invoice_id="i2")],
    )
    item = _item(wl, "c1")
    steps = {s.invoice_id: s.action for s in item.invoices}
    assert steps == {"i1": "call", "i2": "wait_for_promise"}
    assert item.next_action == "call"


def test_broken_promise_resumes_dunning_and_newer_promise_wins():
    invoices = [_inv("i1", "c1", overdue=20)]
    broken = _promise("c1", days_ahead=-10, logged=-15)
    wl = rank_worklist(invoices, as_of=TODAY, policy=POLICY, actions=[broken])
    assert _item(wl, "c1").next_action == "call"
    assert "was broken" in _item(wl, "c1").reasons[0]
    renewed = _promise("c1", days_ahead=3, logged=-1)
    wl = rank_worklist(invoices, as_of=TODAY, policy=POLICY, actions=[renewed, broken])
    assert _item(wl, "c1").next_action == "wait_for_promise"


def test_actions_logged_after_today_are_ignored():
    wl = rank_worklist(
        [_inv("i1", "c1", overdue=20)],
        as_of=TODAY,
        policy=POLICY,
        actions=[_promise("c1", days_ahead=5, logged=+1)],
    )
    item = _item(wl, "c1")
    assert item.next_action == "call" and item.last_action is None


def test_high_risk_customer_is_called_earlier_than_low_risk_with_same_overdue_days():
    invoices = [
        _inv("i1", "risky", overdue=5, p=0.40),
        _inv("i2", "safe", overdue=5, p=0.01),
    ]
    wl = rank_worklist(invoices, as_of=TODAY, policy=POLICY)
    risky, safe = _item(wl, "risky"), _item(wl, "safe")
    assert (risky.grade, risky.next_action) == ("E", "call")
    assert (safe.grade, safe.next_action) == ("A", "reminder")
    assert [it.customer_id for it in wl.items] == ["risky", "safe"]


def test_given_grades_override_the_invoice_based_grade():
    wl = rank_worklist(
        [_inv("i1", "c1", overdue=5, p=0.01)], as_of=TODAY, policy=POLICY, grades={"c1": "E"}
    )
    assert _item(wl, "c1").next_action == "call"
    with pytest.raises(ValueError, match="unknown grade"):
        rank_worklist([_inv("i1", "c1", overdue=5)], as_of=TODAY, policy=POLICY, grades={"c1": "Z"})


def test_customers_ranked_by_priority_with_numbers_that_add_up():
    invoices = [
        _inv("a1", "small", overdue=10, amount=1_000, p=0.05, late=20),
        _inv("b1", "big", overdue=10, amount=20_000, p=0.05, late=20),
        _inv("b2", "big", overdue=-5, amount=5_000, p=0.02, late=0),
        _inv("c1", "mid", overdue=10, amount=8_000, p=0.10, late=40),
    ]
    wl = rank_worklist(invoices, as_of=TODAY, policy=POLICY)
    assert [it.customer_id for it in wl.items] == ["big", "mid", "small"]
    assert [it.rank for it in wl.items] == [1, 2, 3]
    big = wl.items[0]
    expected = (20_000 * 0.05 + 20_000 * 0.08 * 20 / 365) + 5_000 * 0.02
    assert big.priority == pytest.approx(expected)
    assert big.priority == pytest.approx(sum(s.priority for s in big.invoices))
    assert big.open_amount == 25_000 and big.overdue_amount == 20_000
    assert big.max_days_overdue == 10
    # The invoice that sets the action comes first.
    assert [s.invoice_id for s in big.invoices] == ["b1", "b2"]
    assert any("expected loss" in r for r in big.reasons)


def test_overdue_days_are_a_floor_on_expected_days_late():
    # 50 days overdue but predicted 10 days late: the wait is at least 50 days.
    wl = rank_worklist([_inv("i1", "c1", overdue=50, late=10)], as_of=TODAY, policy=POLICY)
    step = _item(wl, "c1").invoices[0]
    assert step.expected_days_late == 50
    assert step.cost_of_waiting == pytest.approx(1_000 * 0.08 * 50 / 365)


def test_capacity_is_respected():
    policy = dataclasses.replace(POLICY, collector_capacity=2)
    invoices = [_inv(f"i{k}", f"c{k}", overdue=10, amount=1_000 * (k + 1)) for k in range(3)]
    invoices.append(_inv("n1", "not-due", overdue=-10))
    wl = rank_worklist(invoices, as_of=TODAY, policy=policy)
    assert wl.capacity == 2
    assert [it.customer_id for it in wl.items] == ["c2", "c1"]
    assert [it.customer_id for it in wl.overflow] == ["c0"]
    assert wl.overflow[0].rank == 3
    assert [it.customer_id for it in wl.waiting] == ["not-due"]
    assert wl.waiting[0].next_action == "none"
    two = rank_worklist(invoices, as_of=TODAY, policy=policy, collectors=2)
    assert len(two.items) == 3 and not two.overflow


def test_without_default_model_the_worklist_still_ranks_and_says_why():
    invoices = [
        dataclasses.replace(_inv("i1", "c1", overdue=10, late=30), p_default=math.nan),
        dataclasses.replace(_inv("i2", "c2", overdue=10, late=5), p_default=math.nan),
    ]
    wl = rank_worklist(invoices, as_of=TODAY, policy=POLICY)
    assert [it.customer_id for it in wl.items] == ["c1", "c2"]
    c1 = wl.items[0]
    assert c1.expected_loss == 0
    assert any("cost of waiting" in r and "no default model" in r for r in c1.reasons)
    assert any("expected lateness" in r for r in c1.reasons)


def test_closed_invoices_are_ignored_and_empty_input_is_an_empty_list():
    wl = rank_worklist([_inv("i1", "c1", overdue=10, amount=0.0)], as_of=TODAY, policy=POLICY)
    assert wl.items == wl.overflow == wl.waiting == ()


_LADDER = ("none", "reminder", "call", "escalate")


@hypothesis.settings(max_examples=200, deadline=None)
@given(
    factors=st.lists(st.floats(0.05, 1.0), min_size=5, max_size=5),
    days=st.tuples(st.integers(0, 20), st.integers(0, 60), st.integers(0, 200)),
    overdue=st.integers(-30, 300),
    pair=st.tuples(st.sampled_from(GRADES), st.sampled_from(GRADES)),
)
def test_a_worse_grade_is_never_lower_on_the_ladder(factors, days, overdue, pair):
    reminder, call, escalate = sorted(days)
    policy = dataclasses.replace(
        POLICY,
        dunning_risk_factors=tuple(sorted(factors, reverse=True)),
        reminder_at_days=reminder,
        call_from_days=call,
        escalate_after_days=escalate,
    )
    better, worse = sorted(pair)
    steps = [
        next_action(days_overdue=overdue, grade=g, policy=policy).action for g in (better, worse)
    ]
    assert _LADDER.index(steps[0]) <= _LADDER.index(steps[1])


def test_unknown_grade_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="A, B, C, D, E"):
        next_action(days_overdue=3, grade="Z", policy=POLICY)


def test_late_reminder_policy_leaves_early_overdue_days_without_action():
    policy = dataclasses.replace(POLICY, reminder_at_days=3)
    step = next_action(days_overdue=1, grade="A", policy=policy)
    assert step.action == "none"
    assert "reminders start on day 3" in step.reason
