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

from kernel.config import Settings
from kernel.errors import ConfigurationError
from kernel.schema import ACTION_KINDS
from serving.decisions import (
    ACTIONS,
    GRADES,
    WORK_ACTIONS,
    ActionRecord,
    OpenInvoice,
    PolicySettings,
    cost_of_waiting,
    dunning_days,
    expected_loss,
    next_action,
    priority,
    rank_worklist,
)

POLICY = PolicySettings.defaults()
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
    # Issue 10: a broken promise raises the next step at once (call -> escalate).
    assert _item(wl, "c1").next_action == "escalate"
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
    policy = POLICY.replace(collector_capacity=2)
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
    policy = POLICY.replace(
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
    policy = POLICY.replace(reminder_at_days=3)
    step = next_action(days_overdue=1, grade="A", policy=policy)
    assert step.action == "none"
    assert "reminders start on day 3" in step.reason


# --- follow-up intervals ------------------------------------------------------------


def _logged(customer_id: str, kind: str, *, days_ago: int, invoice_id: str | None = None):
    return ActionRecord(
        customer_id=customer_id,
        kind=kind,
        at=dt.datetime.combine(TODAY - dt.timedelta(days=days_ago), dt.time(10, 30)),
        invoice_id=invoice_id,
    )


def _next(invoices, actions, policy=POLICY):
    wl = rank_worklist(invoices, as_of=TODAY, policy=policy, actions=actions)
    return wl, _item(wl, invoices[0].customer_id)


def test_follow_up_intervals_come_from_the_environment(settings, monkeypatch):
    assert (
        POLICY.follow_up_reminder_days,
        POLICY.follow_up_call_days,
        POLICY.follow_up_escalate_days,
    ) == (7, 5, 30)
    monkeypatch.setenv("DUECAST_POLICY_FOLLOW_UP_CALL_DAYS", "3")
    monkeypatch.setenv("DUECAST_POLICY_FOLLOW_UP_ESCALATE_DAYS", "0")
    policy = Settings().policy
    assert (policy.follow_up_call_days, policy.follow_up_escalate_days) == (3, 0)
    with pytest.raises(ConfigurationError, match="follow_up_reminder_days"):
        POLICY.replace(follow_up_reminder_days=-1)


def test_call_logged_two_days_ago_is_not_repeated_and_the_reason_names_the_next_date():
    policy = POLICY.replace(follow_up_call_days=5)
    call = _logged("c1", "call", days_ago=2)
    wl, item = _next([_inv("i1", "c1", overdue=20)], [call], policy)
    assert item.next_action == "follow_up_later"
    assert item in wl.waiting and item.rank == 0 and not wl.items
    assert item.invoices[0].action == "follow_up_later"
    assert "called 2 days ago (2026-11-23): next follow-up on 2026-11-28" in item.reasons[0]
    assert "phone follow-up from day 7" in item.reasons[0]  # the step that waits
    assert item.last_action == call


@pytest.mark.parametrize(
    ("days_ago", "action"),
    [(0, "follow_up_later"), (4, "follow_up_later"), (5, "call"), (6, "call")],
)
def test_call_is_proposed_again_once_its_interval_has_passed(days_ago, action):
    policy = POLICY.replace(follow_up_call_days=5)
    _, item = _next(
        [_inv("i1", "c1", overdue=20)], [_logged("c1", "call", days_ago=days_ago)], policy
    )
    assert item.next_action == action


def test_climbing_the_ladder_is_never_held_back():
    reminded = [_logged("c1", "reminder", days_ago=1)]
    # Still in the reminder band: the reminder waits a week ...
    _, item = _next([_inv("i1", "c1", overdue=3)], reminded)
    assert item.next_action == "follow_up_later"
    assert "reminded yesterday (2026-11-24): next follow-up on 2026-12-01" in item.reasons[0]
    # ... but past the call threshold the customer is called, and later escalated.
    _, item = _next([_inv("i1", "c1", overdue=8)], reminded)
    assert item.next_action == "call"
    _, item = _next([_inv("i1", "c1", overdue=40)], [_logged("c1", "call", days_ago=1)])
    assert item.next_action == "escalate"


def test_a_higher_step_holds_back_lower_ones_for_its_own_interval():
    # A call two days ago also covers the reminder a newly due invoice would get.
    _, item = _next([_inv("i1", "c1", overdue=1)], [_logged("c1", "call", days_ago=2)])
    assert item.next_action == "follow_up_later"
    # Handed to legal 10 days ago: no call, no new escalation for 30 days.
    legal = [_logged("c1", "legal", days_ago=10)]
    for overdue in (20, 60):
        _, item = _next([_inv("i1", "c1", overdue=overdue)], legal)
        assert item.next_action == "follow_up_later"
        assert "escalated 10 days ago (2026-11-15): next follow-up on 2026-12-15" in item.reasons[0]


def test_an_action_on_any_invoice_of_the_customer_counts_and_notes_do_not():
    invoices = [_inv("i1", "c1", overdue=20), _inv("i2", "c1", overdue=25)]
    _, item = _next(invoices, [_logged("c1", "call", days_ago=1, invoice_id="paid-long-ago")])
    assert {s.action for s in item.invoices} == {"follow_up_later"}
    # Issue 10: a logged dispute now pauses dunning (tests/serving/test_worklist_disputes.py).
    _, item = _next(invoices, [_logged("c1", "note", days_ago=1)])
    assert item.next_action == "call"
    _, item = _next(invoices, [_logged("c2", "call", days_ago=1)])
    assert item.next_action == "call"


def test_the_latest_interval_still_running_sets_the_date():
    actions = [_logged("c1", "call", days_ago=3), _logged("c1", "reminder", days_ago=1)]
    _, item = _next([_inv("i1", "c1", overdue=2)], actions)
    # The call's interval ends 2026-11-27, the reminder's 2026-12-01: reminders wait for that.
    assert "reminded yesterday (2026-11-24): next follow-up on 2026-12-01" in item.reasons[0]


def test_disputes_are_worked_while_dunning_waits_for_follow_up():
    invoices = [_inv("i1", "c1", overdue=20), _inv("i2", "c1", overdue=20, disputed=True)]
    wl, item = _next(invoices, [_logged("c1", "call", days_ago=1)])
    assert item.next_action == "dispute_resolution" and item in wl.items
    assert [s.action for s in item.invoices] == ["dispute_resolution", "follow_up_later"]


def test_zero_interval_never_waits():
    policy = POLICY.replace(follow_up_call_days=0)
    _, item = _next([_inv("i1", "c1", overdue=20)], [_logged("c1", "call", days_ago=0)], policy)
    assert item.next_action == "call"


def test_customers_waiting_for_follow_up_do_not_use_capacity():
    policy = POLICY.replace(collector_capacity=1)
    invoices = [
        _inv("b1", "big", overdue=20, amount=50_000),
        _inv("s1", "small", overdue=20, amount=1_000),
        _inv("m1", "mid", overdue=20, amount=5_000),
    ]
    wl = rank_worklist(
        invoices, as_of=TODAY, policy=policy, actions=[_logged("big", "call", days_ago=1)]
    )
    assert "follow_up_later" in ACTIONS and "follow_up_later" not in WORK_ACTIONS
    assert [it.customer_id for it in wl.items] == ["mid"]
    assert [it.rank for it in (*wl.items, *wl.overflow)] == [1, 2]
    assert [it.customer_id for it in wl.overflow] == ["small"]
    assert [(it.customer_id, it.next_action) for it in wl.waiting] == [("big", "follow_up_later")]


def _urgency(action: str) -> int:
    """Rank in the ladder, 0 = most urgent; actions asking no collector work rank last, tied."""
    return ACTIONS.index(action) if action in WORK_ACTIONS else len(ACTIONS)


@hypothesis.settings(max_examples=200, deadline=None)
@given(
    invoices=st.lists(
        st.tuples(st.integers(-10, 90), st.floats(0.0, 0.5), st.booleans()),
        min_size=1,
        max_size=4,
    ),
    actions=st.lists(
        st.tuples(
            # Issue 10: disputes, resolutions and broken promises may rightly raise urgency
            # (tests/serving/test_worklist_disputes.py); every other logged action may not.
            st.sampled_from([k for k in ACTION_KINDS if k not in ("dispute", "resolve")]),
            st.integers(0, 60),
            st.integers(-POLICY.promise_grace_days, 30),
            st.one_of(st.none(), st.integers(0, 3)),
        ),
        max_size=6,
    ),
    intervals=st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 60)),
)
def test_logging_an_action_never_makes_the_next_step_more_urgent(invoices, actions, intervals):
    policy = POLICY.replace(
        follow_up_reminder_days=intervals[0],
        follow_up_call_days=intervals[1],
        follow_up_escalate_days=intervals[2],
    )
    invs = [
        _inv(f"i{k}", "c1", overdue=overdue, p=p, disputed=disputed)
        for k, (overdue, p, disputed) in enumerate(invoices)
    ]
    logged = [
        dataclasses.replace(
            _logged("c1", kind, days_ago=ago, invoice_id=None if inv is None else f"i{inv}"),
            promised_date=TODAY + dt.timedelta(days=promised) if kind == "promise" else None,
        )
        for kind, ago, promised, inv in actions
    ]
    _, bare = _next(invs, [], policy)
    _, worked = _next(invs, logged, policy)
    # Waiting (for a promise or a follow-up date) and nothing to do are equally calm:
    # none of them asks a collector for work, so moving between them is not urgency.
    assert _urgency(worked.next_action) >= _urgency(bare.next_action)
    # Only reminders, calls and escalations hold back a step, and only to follow_up_later.
    ladder_kinds = {"reminder", "call", "legal"}
    if not any(kind in ladder_kinds for kind, *_ in actions):
        assert "follow_up_later" not in {s.action for s in worked.invoices}
