"""Pure decisions of duecast: functions of scores and policy, no web, no database.

Inputs are plain floats, dates and small frozen dataclasses (no pandas on the per-order
path), so one order decision costs microseconds. The policy is the settings group
`kernel.policy.PolicySettings`: take `get_settings().policy`, apply the bundle's grade
cut-offs once (`.with_grade_cutoffs(bundle.thresholds)`, done when the serving state is
built) and pass it to every call. Every result carries its reasons in words.

Modules: `records` (inputs), `target` (what P is of: default, or paying more than V days
late, and the one wording of it), `scores` (one invoice's scores, expected loss, payment
date; `InvoiceScores.open_on` conditions them on the invoice being unpaid on the serving
date: past due + horizon it is a default, P = 1, and no payment date lies before that
day), `grades`, `dunning` (the ladder, promises, follow-ups), `pauses` (disputes and promises
that pause dunning), `allocation` (the day's list by collector and step), `worklist` (items and
ranking: `worklist_item` builds one customer's item, `rank_key` is the one ranking
order), `limits`, `orders`, `cash`, `discount`.

Public API (all keyword-only after the first argument where shown):

Policy and records
    settings.policy -> PolicySettings;  PolicySettings.defaults() -> PolicySettings
    policy.with_grade_cutoffs(thresholds: Mapping[str, float] | None) -> PolicySettings
    policy.replace(**changes) -> PolicySettings (checked);  GRADES = ("A", .., "E")
    OpenInvoice(invoice_id, customer_id, due_date, open_amount, p_default=nan,
                days_late=nan, days_late_p10=nan, days_late_p50=nan, days_late_p90=nan,
                disputed=False)
    ActionRecord(customer_id, kind, at, invoice_id=None, promised_date=None,
                 promised_amount=None, author=None, text=None, outcome=None)

Risk target (every function below that words a probability takes `target=`, default
DEFAULT_TARGET; the serving state passes the bundle's, `serving.reasons.risk_target`)
    RiskTarget(name "default"|"very_late", very_late_days=None);  RiskTarget.of(name, days)
    chance_words(target) -> "chance of default" | "chance of paying more than V days late"

Grades
    assess_grade(p_default, days_late_p50=None, *, policy, target) -> RiskGrade
        RiskGrade(grade "A".."E", basis "p_default"|"days_late"|"none", reason)
    risk_grade(p_default, days_late_p50=None, *, policy) -> str

Worklist
    expected_loss(open_amount, p_default) -> float
    cost_of_waiting(open_amount, expected_days_late, *, policy) -> float
    priority(*, open_amount, p_default, expected_days_late, policy) -> float
    dunning_days(grade, *, policy) -> (reminder_from, call_from, escalate_after)
    next_action(*, days_overdue, grade, policy, disputed=False, promised_date=None,
                as_of=None) -> NextAction(action, reason)
        action in ACTIONS: "escalate", "call", "dispute_resolution", "reminder",
        "follow_up_later", "wait_for_promise", "await_credit_note", "none"
        (WORK_ACTIONS: the first four); logged disputes, resolutions and promises:
        `pauses.dispute_states`, `pauses.promise_covers`
    follow_up_days(step, *, policy) -> int
    last_steps(actions, *, as_of) -> dict[step, date last logged]
    hold_for_follow_up(step: NextAction, *, last_done, as_of, policy) -> NextAction
        "follow_up_later" while the step, or a higher one, logged lately awaits follow-up
    rank_worklist(invoices, *, as_of, policy, actions=(), grades=None, collectors=1,
                  target, assigned=None)
        -> Worklist(as_of, capacity, items, overflow, waiting, quotas)
        items: the day's list (`allocation.plan_day`: capacity per collector and step,
        ranked within a step by `allocation.expected_recovery`)
        items: WorklistItem(customer_id, rank, priority, expected_loss,
        cost_of_waiting, open_amount, overdue_amount, max_days_overdue, grade,
        next_action, reasons, invoices: tuple[InvoiceStep], last_action, promise,
        collector, expected_recovery)

Credit limits
    monthly_sales_estimate(*, invoice_count, median_invoice_amount, tenure_days)
        -> float | None
    suggest_credit_limit(*, monthly_sales, terms_days, p_default, policy,
                         current_limit=None, history_invoices=None, days_late_p50=None,
                         target, typical_invoice=None, grade=None)
        -> CreditLimit(amount, cold_start, base, risk_factor, rationale)

Exposure
    outstanding_reservations(reservations, invoices, *, as_of) -> list[Reservation]
        approved orders still counted: active, not ended by an invoice covering them
    Exposure(open_amount, today_change, reserved, reservations).total

Orders
    order_decision(*, amount, open_amount, credit_limit, grade, policy,
                   overdue_amount=0.0, limit_kind="suggested")
        -> OrderDecision(decision "approve"|"review"|"decline", reasons,
                         exposure_after_order, utilisation, grade)

Cash
    payment_cdf(days_late, *, p10, p50, p90) -> float
    cash_forecast(invoices, *, as_of, policy, weeks=None)
        -> CashForecast(as_of, weeks: tuple[WeekForecast(week_start, week_end,
           expected, low, high)], later, expected_total, open_total, expected_loss,
           interval, notes)

Discount
    discount_advice(*, amount, terms_days, expected_days_late, policy, rate=None)
        -> DiscountAdvice(worth_offering, rate, days_earlier, financing_gain,
           discount_cost, net_benefit, break_even_rate, reasons)

Errors: `PolicySettings.replace` / `.with_grade_cutoffs` raise
`kernel.errors.ConfigurationError` for contradictory numbers (the environment's are
refused when `Settings` is built); the functions raise `ValueError` for inputs the API
must reject with 422 first (negative amounts, unknown grades).
"""

from __future__ import annotations

from kernel.policy import GRADES, PolicySettings
from serving.decisions.cash import CashForecast, WeekForecast, cash_forecast, payment_cdf
from serving.decisions.discount import DiscountAdvice, discount_advice
from serving.decisions.grades import RiskGrade, assess_grade, risk_grade
from serving.decisions.limits import CreditLimit, monthly_sales_estimate, suggest_credit_limit
from serving.decisions.orders import DECISIONS, Decision, OrderDecision, order_decision
from serving.decisions.records import ActionRecord, OpenInvoice
from serving.decisions.target import DEFAULT_TARGET, RiskTarget, chance_words
from serving.decisions.worklist import (
    ACTIONS,
    WORK_ACTIONS,
    ActionKind,
    InvoiceStep,
    NextAction,
    Worklist,
    WorklistItem,
    cost_of_waiting,
    dunning_days,
    expected_loss,
    follow_up_days,
    hold_for_follow_up,
    last_steps,
    next_action,
    priority,
    rank_worklist,
)

__all__ = [
    "ACTIONS",
    "DECISIONS",
    "DEFAULT_TARGET",
    "GRADES",
    "WORK_ACTIONS",
    "ActionKind",
    "ActionRecord",
    "CashForecast",
    "CreditLimit",
    "Decision",
    "DiscountAdvice",
    "InvoiceStep",
    "NextAction",
    "OpenInvoice",
    "OrderDecision",
    "PolicySettings",
    "RiskGrade",
    "RiskTarget",
    "WeekForecast",
    "Worklist",
    "WorklistItem",
    "assess_grade",
    "cash_forecast",
    "chance_words",
    "cost_of_waiting",
    "discount_advice",
    "dunning_days",
    "expected_loss",
    "follow_up_days",
    "hold_for_follow_up",
    "last_steps",
    "monthly_sales_estimate",
    "next_action",
    "order_decision",
    "payment_cdf",
    "priority",
    "rank_worklist",
    "risk_grade",
    "suggest_credit_limit",
]
