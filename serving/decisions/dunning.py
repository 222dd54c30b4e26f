"""The dunning ladder: each open invoice's next step, promises to pay, follow-ups.

Dunning ladder (DESIGN.md, Domain rules): reminder from `reminder_at_days` overdue, call
from `call_from_days`, escalate when more than `escalate_after_days` overdue. Call and
escalation days are multiplied by the grade's `dunning_risk_factors` (< 1 for risky
grades), so high-risk customers move up the ladder sooner. A disputed invoice goes to
dispute resolution, never to dunning; an unbroken promise to pay (its date plus
`promise_grace_days` not passed) pauses dunning of the invoices it covers.

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
    broken = ""
    if promised_date is not None:
        if as_of is None:
            raise ValueError("next_action needs as_of to judge a promise to pay")
        if _promise_active(promised_date, as_of, policy):
            return NextAction(
                "wait_for_promise",
                f"promised to pay by {promised_date.isoformat()}: dunning paused until then",
            )
        broken = f"promise to pay by {promised_date.isoformat()} was broken; "
    return _ladder_step(days_overdue, grade, dunning_days(grade, policy=policy), policy, broken)


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


def _when(value: dt.date | dt.datetime) -> dt.datetime:
    """Comparable instant of a date or (naive or aware) datetime; aware ones in UTC."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    return dt.datetime.combine(value, dt.time.min)


def _latest_promises(
    actions: Sequence[ActionRecord],
) -> tuple[ActionRecord | None, dict[str, ActionRecord], ActionRecord | None]:
    """(latest customer-wide promise, latest promise per invoice, latest action)."""
    wide: ActionRecord | None = None
    per_invoice: dict[str, ActionRecord] = {}
    last: ActionRecord | None = None
    for action in actions:
        if last is None or _when(action.at) >= _when(last.at):
            last = action
        if action.kind != "promise" or action.promised_date is None:
            continue
        if action.invoice_id is None:
            if wide is None or _when(action.at) >= _when(wide.at):
                wide = action
        else:
            old = per_invoice.get(action.invoice_id)
            if old is None or _when(action.at) >= _when(old.at):
                per_invoice[action.invoice_id] = action
    return wide, per_invoice, last


def _applicable_promise(
    invoice_id: str, wide: ActionRecord | None, per_invoice: dict[str, ActionRecord]
) -> ActionRecord | None:
    # The newer of the invoice's own promise and a customer-wide one supersedes the other.
    own = per_invoice.get(invoice_id)
    if own is None or wide is None:
        return own or wide
    return own if _when(own.at) >= _when(wide.at) else wide


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
    wide, per_invoice, last = _latest_promises(actions)
    done = last_steps(actions, as_of=as_of)
    ladder = dunning_days(grade, policy=policy)
    steps: list[NextAction] = []
    active: ActionRecord | None = None
    for inv in invoices:
        dpd = (as_of - inv.due_date).days
        promise = _applicable_promise(inv.invoice_id, wide, per_invoice)
        if inv.disputed or promise is not None:
            step = next_action(
                days_overdue=dpd,
                grade=grade,
                policy=policy,
                disputed=bool(inv.disputed),
                promised_date=promise.promised_date if promise else None,
                as_of=as_of,
            )
        else:  # the common case, without recomputing the ladder per invoice
            step = _ladder_step(dpd, grade, ladder, policy, "")
        if done:
            step = hold_for_follow_up(step, last_done=done, as_of=as_of, policy=policy)
        if step.action == "wait_for_promise":
            active = promise
        steps.append(step)
    return Dunning(tuple(steps), active, last)
