"""A customer as the API shows it: grade, typical-invoice risk, limit, exposure, actions.

The grade is the customer's one grade of the day (`serving.decisions.grades.customer_grade`):
its open invoices and its next typical invoice; the facts it rests on come first among
the reasons, the model's reasons about the customer after them.
"""

from __future__ import annotations

from serving.reasons import risk_target
from serving.schemas import CreditLimitOut, CustomerOut
from serving.state import ServingState
from serving.usecases.orders import exposure_out
from serving.usecases.present import action_out, grade_reasons, model_reasons, optional

__all__ = ["customer_view"]

# Recent actions shown with a customer, newest first.
_RECENT_SHOWN = 5


def customer_view(state: ServingState, customer_id: str) -> CustomerOut:
    """Grade, typical-invoice risk, suggested limit, exposure, reasons, recent actions."""
    entry = state.entry(customer_id)
    typical = entry.typical
    target = risk_target(state.bundle)
    return CustomerOut(
        customer_id=customer_id,
        name=entry.name,
        currency=entry.currency,
        risk_grade=entry.grade.grade,
        grade_reason=entry.grade.reason,
        p_default=optional(typical.scores.p_default),
        risk_target=target.name,
        very_late_days=target.days,
        expected_days_late=typical.scores.days_late,
        typical_invoice_amount=typical.amount,
        credit_limit=CreditLimitOut(
            current=entry.credit_limit,
            suggested=entry.limit.amount,
            cold_start=entry.limit.cold_start,
            rationale=list(entry.limit.rationale),
        ),
        open_amount=round(entry.open_amount, 2),
        overdue_amount=round(entry.overdue_amount(state.as_of), 2),
        exposure=exposure_out(state.exposure(entry)),
        open_invoices=len(entry.invoices),
        reasons=grade_reasons(entry.grade) + model_reasons(typical.reasons),
        recent_actions=[action_out(a) for a in reversed(entry.actions[-_RECENT_SHOWN:])],
        model_version=state.bundle.model_version,
        as_of=state.as_of,
    )
