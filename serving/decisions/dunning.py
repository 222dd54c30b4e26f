"""The dunning ladder: each open invoice's next step, promises to pay, follow-ups.

Dunning ladder (DESIGN.md, Domain rules): reminder from `reminder_at_days` overdue, call
from `call_from_days`, escalate when more than `escalate_after_days` overdue. Call and
escalation days are multiplied by the grade's `dunning_risk_factors` (< 1 for risky
grades), so high-risk customers move up the ladder sooner. A disputed invoice (ERP flag
or a logged `dispute`) goes to dispute resolution, never to dunning, until a `resolve`
closes it: outcome "valid" keeps it out of dunning awaiting its credit note
("await_credit_note"), "invalid" resumes dunning. An unbroken promise to pay (its date
plus `promise_grace_days` not passed) pauses dunning of the invoices it covers in full,
up to its amount, oldest first (`serving.decisions.pauses`). A broken promise raises the
step of the invoices it covered one rung at once (reminder -> call -> escalate), past
any follow-up interval, until a ladder step is logged after it broke.

Follow-up intervals: a logged reminder, call or escalation (action kind "legal") of the
customer, customer-wide or on any of its invoices, holds back that step and every lower
one for `follow_up_reminder_days` / `follow_up_call_days` / `follow_up_escalate_days`
from the day it was logged: such an invoice step becomes "follow_up_later", with the date
of the next follow-up, and does not count against collector capacity. Climbing to a
higher step is never held back: a customer reminded yesterday who is now past the call
threshold is called.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from kernel.policy import PolicySettings
from serving.decisions.pauses import Cover, DisputeState, dispute_states, promise_covers
from serving.decisions.pauses import instant as _when
from serving.decisions.records import ActionRecord, OpenInvoice

__all__ = [
    "ACTIONS",
    "WORK_ACTIONS",
    "ActionKind",
    "Dunning",
    "NextAction",
    "actions_until",
    "dunning_days",
    "dunning_steps",
    "follow_up_days",
    "hold_for_follow_up",
    "last_steps",
    "next_action",
    "urgency",
]

ActionKind = Literal[
    "escalate",
    "call",
    "dispute_resolution",
    "reminder",
    "follow_up_later",
    "wait_for_promise",
    "await_credit_note",
    "none",
]
# Most urgent first (the Literal's order): a customer's next action is the most urgent
# of its invoices'.
ACTIONS: tuple[ActionKind, ...] = get_args(ActionKind)
# Actions that take a collector's time today (and so count against capacity).
WORK_ACTIONS: frozenset[str] = frozenset({"escalate", "call", "dispute_resolution", "reminder"})
_URGENCY = {a: i for i, a in enumerate(ACTIONS)}
# The dunning ladder, lowest step first, and the logged action kind
# (`kernel.schema.ACTION_KINDS`) that records each step.
_LADDER_STEPS: tuple[str, ...] = ("reminder", "call", "escalate")
_LOGGED_STEP = {"reminder": "reminder", "call": "call", "legal": "escalate"}
_DONE_WORDS = {"reminder": "reminded", "call": "called", "escalate": "escalated"}


@dataclass(frozen=True)
class NextAction:
    """The next step for one invoice and why."""

    action: ActionKind
    reason: str


def dunning_days(grade: str, *, policy: PolicySettings) -> tuple[int, int, int]:
    """(reminder from, call from, escalate after) in days overdue for a customer of `grade`."""
    factor = policy.dunning_factor(grade)

    def scaled(days: int) -> int:
        # Only positive days shrink: scaling a negative (pre-due) day would move it later.
        return math.floor(days * factor) if days > 0 else days

    reminder = policy.reminder_at_days
    call = max(reminder, scaled(policy.call_from_days))
    escalate = max(call, scaled(policy.escalate_after_days))
    return reminder, call, escalate


def _promise_active(promised_date: dt.date, as_of: dt.date, policy: PolicySettings) -> bool:
    return (as_of - promised_date).days <= policy.promise_grace_days


def next_action(
    *,
    days_overdue: int,
    grade: str,
    policy: PolicySettings,
    disputed: bool = False,
    promised_date: dt.date | None = None,
    as_of: dt.date | None = None,
) -> NextAction:
    """Next step for one open invoice.

    Args:
        days_overdue: days past due today (negative = not yet due).
        grade: the customer's risk grade "A".."E" (riskier grades climb sooner).
        policy: the decision policy.
        disputed: the invoice is disputed (dispute resolution, no dunning).
        promised_date: date of the latest promise to pay covering this invoice, if any.
        as_of: today; needed with `promised_date` to tell whether the promise still holds.
    """
    if disputed:
        return NextAction(
            "dispute_resolution", "disputed, so no dunning until the dispute is resolved"
        )
    ladder = dunning_days(grade, policy=policy)
    if promised_date is None:
        return _ladder_step(days_overdue, grade, ladder, policy, "")
    if as_of is None:
        raise ValueError("next_action needs as_of to judge a promise to pay")
    if _promise_active(promised_date, as_of, policy):
        return NextAction(
            "wait_for_promise",
            f"promised to pay by {promised_date.isoformat()}: dunning paused until then",
        )
    return _raised(
        _ladder_step(days_overdue, grade, ladder, policy, ""), days_overdue, promised_date
    )


_RAISE: dict[str, ActionKind] = {
    "none": "reminder",
    "reminder": "call",
    "call": "escalate",
    "escalate": "escalate",
}


def _raised(step: NextAction, days_overdue: int, promised_date: dt.date) -> NextAction:
    """`step` one rung higher: a broken promise raises the next step at once."""
    broken = f"promise to pay by {promised_date.isoformat()} was broken"
    up: ActionKind = _RAISE.get(step.action, step.action) if days_overdue >= 0 else step.action
    if up == step.action:
        return NextAction(step.action, f"{broken}; {step.reason}")
    return NextAction(up, f"{broken}, so {up} at once instead of {step.action}: {step.reason}")


def _ladder_step(
    days_overdue: int, grade: str, ladder: tuple[int, int, int], policy: PolicySettings, broken: str
) -> NextAction:
    """The dunning step for `days_overdue` on a precomputed (reminder, call, escalate)."""
    reminder, call, escalate = ladder
    sooner = ""
    if (call, escalate) != (policy.call_from_days, policy.escalate_after_days):
        sooner = f" (grade {grade} moves up sooner: call from {call}, escalate after {escalate})"
    if days_overdue > escalate:
        return NextAction(
            "escalate",
            f"{broken}{days_overdue} days overdue, past the {escalate}-day escalation "
            f"point{sooner}",
        )
    if days_overdue >= call:
        return NextAction(
            "call", f"{broken}{days_overdue} days overdue: phone follow-up from day {call}{sooner}"
        )
    if days_overdue >= reminder:
        when = "due today" if days_overdue == 0 else _overdue_words(days_overdue)
        return NextAction("reminder", f"{broken}{when}: reminder (calls from day {call}){sooner}")
    if days_overdue < 0:
        return NextAction("none", f"{broken}not due yet ({-days_overdue} days to the due date)")
    return NextAction(
        "none", f"{broken}{_overdue_words(days_overdue)}: reminders start on day {reminder}"
    )


def follow_up_days(step: str, *, policy: PolicySettings) -> int:
    """Days to wait after a logged `step` ("reminder", "call", "escalate") before repeating it."""
    days = {
        "reminder": policy.follow_up_reminder_days,
        "call": policy.follow_up_call_days,
        "escalate": policy.follow_up_escalate_days,
    }
    if step not in days:
        raise ValueError(f"step must be one of {', '.join(_LADDER_STEPS)}, got {step!r}")
    return days[step]


def last_steps(actions: Iterable[ActionRecord], *, as_of: dt.date) -> dict[str, dt.date]:
    """Ladder step -> day it was last logged on or before `as_of` ("legal" = "escalate")."""
    done: dict[str, dt.date] = {}
    for action in actions:
        step = _LOGGED_STEP.get(action.kind)
        if step is None:
            continue
        day = _when(action.at).date()
        if day <= as_of and (step not in done or day > done[step]):
            done[step] = day
    return done


def hold_for_follow_up(
    step: NextAction, *, last_done: Mapping[str, dt.date], as_of: dt.date, policy: PolicySettings
) -> NextAction:
    """`step`, or "follow_up_later" while it or a higher step logged lately awaits follow-up.

    Args:
        step: the invoice's next step from the ladder (`next_action`).
        last_done: ladder step -> day last logged (`last_steps`).
        as_of: today.
        policy: gives the follow-up interval of each step.
    """
    if step.action not in _LADDER_STEPS:
        return step
    height = _LADDER_STEPS.index(step.action)
    # The latest end of any interval still running wins: that is when the step is next due.
    hold: tuple[dt.date, str, dt.date] | None = None
    for done, day in last_done.items():
        if _LADDER_STEPS.index(done) < height:
            continue  # a lower step done never holds back a higher one
        until = day + dt.timedelta(days=follow_up_days(done, policy=policy))
        if until > as_of and (hold is None or until > hold[0]):
            hold = (until, done, day)
    if hold is None:
        return step
    until, done, day = hold
    return NextAction(
        "follow_up_later",
        f"{_DONE_WORDS[done]} {_days_ago((as_of - day).days)} ({day.isoformat()}): next "
        f"follow-up on {until.isoformat()}; {step.reason}",
    )


def _days_ago(days: int) -> str:
    if days == 0:
        return "today"
    return "yesterday" if days == 1 else f"{days} days ago"


def _overdue_words(days: int) -> str:
    if days < 0:
        return f"due in {-days} days"
    return f"{days} day{'s' if days != 1 else ''} overdue"


def urgency(action: ActionKind) -> int:
    """Position of `action` in `ACTIONS`: 0 for the most urgent."""
    return _URGENCY[action]


def actions_until(actions: Iterable[ActionRecord], as_of: dt.date) -> list[ActionRecord]:
    """The actions logged on or before the day `as_of` (in their order)."""
    cutoff = dt.datetime.combine(as_of, dt.time.max)
    return [action for action in actions if _when(action.at) <= cutoff]


@dataclass(frozen=True)
class Dunning:
    """A customer's dunning today.

    Attributes:
        steps: the next step of each open invoice (in the invoices' order).
        promise: the promise that pauses dunning now, if any.
        last_action: the most recently logged action, if any.
    """

    steps: tuple[NextAction, ...]
    promise: ActionRecord | None
    last_action: ActionRecord | None


def dunning_steps(
    invoices: Sequence[OpenInvoice],
    actions: Sequence[ActionRecord],
    *,
    grade: str,
    as_of: dt.date,
    policy: PolicySettings,
) -> Dunning:
    """The next step of each of a customer's open invoices (see the module docstring).

    Args:
        invoices: the customer's open invoices.
        actions: its logged actions up to `as_of` (promises, ladder steps done).
        grade: its risk grade (riskier grades climb sooner).
        as_of: today.
        policy: the decision policy.
    """
    disputes = dispute_states(invoices, actions)
    covers = promise_covers(
        invoices, actions, disputed={k for k, d in disputes.items() if d.state == "open"}
    )
    done = last_steps(actions, as_of=as_of)
    ladder = dunning_days(grade, policy=policy)
    steps: list[NextAction] = []
    active: ActionRecord | None = None
    for inv in invoices:
        dpd = (as_of - inv.due_date).days
        dispute = disputes.get(inv.invoice_id)
        if dispute is not None and dispute.state != "invalid":
            steps.append(_dispute_step(dispute))
            continue
        step = _ladder_step(dpd, grade, ladder, policy, "")
        if dispute is not None:  # resolved as invalid: dunning resumes
            step = NextAction(step.action, f"{_resolved_words(dispute)}; {step.reason}")
        cover = covers.get(inv.invoice_id)
        hold = True
        if cover is not None:
            step, hold = _promised_step(step, cover, dpd, inv.open_amount, done, as_of, policy)
            if step.action == "wait_for_promise":
                active = active or cover.promise
        if done and hold:
            step = hold_for_follow_up(step, last_done=done, as_of=as_of, policy=policy)
        steps.append(step)
    last = max(actions, key=lambda a: _when(a.at), default=None)
    return Dunning(tuple(steps), active, last)


def _dispute_step(dispute: DisputeState) -> NextAction:
    """An invoice kept out of dunning by its dispute: open, or resolved as valid."""
    if dispute.state == "valid":
        return NextAction(
            "await_credit_note",
            f"{_resolved_words(dispute)}: a credit note is expected, so no dunning",
        )
    if dispute.action is None:
        return NextAction(
            "dispute_resolution", "disputed, so no dunning until the dispute is resolved"
        )
    day = _when(dispute.action.at).date().isoformat()
    return NextAction(
        "dispute_resolution",
        f"dispute logged on {day}: no dunning until it is resolved (action 'resolve')",
    )


def _resolved_words(dispute: DisputeState) -> str:
    assert dispute.action is not None  # a resolved dispute has its resolve action
    day = _when(dispute.action.at).date().isoformat()
    return f"dispute resolved as {dispute.state} on {day}"


def _promised_step(
    step: NextAction,
    cover: Cover,
    dpd: int,
    open_amount: float,
    done: Mapping[str, dt.date],
    as_of: dt.date,
    policy: PolicySettings,
) -> tuple[NextAction, bool]:
    """The step of an invoice a promise applies to, and whether follow-ups may hold it."""
    promise = cover.promise
    assert promise.promised_date is not None  # only dated promises apply
    if not cover.covered:
        words = (
            f"promise of {promise.promised_amount:,.0f} by {promise.promised_date.isoformat()} "
            f"covers {cover.spent:,.0f} of the {open_amount:,.0f} open here, so dunning goes on"
        )
        return NextAction(step.action, f"{words}; {step.reason}"), True
    if _promise_active(promise.promised_date, as_of, policy):
        when = promise.promised_date.isoformat()
        return NextAction(
            "wait_for_promise", f"promised to pay by {when}: dunning paused until then"
        ), False
    broke_on = promise.promised_date + dt.timedelta(days=policy.promise_grace_days)
    if any(day > broke_on for day in done.values()):
        # A ladder step was logged since the promise broke: the raise was acted on.
        words = f"promise to pay by {promise.promised_date.isoformat()} was broken"
        return NextAction(step.action, f"{words}; {step.reason}"), True
    return _raised(step, dpd, promise.promised_date), False
