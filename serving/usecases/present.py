"""API forms shared by the use cases: model and grade reasons, logged actions, optional numbers."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence

from serving.decisions.grades import CustomerGrade
from serving.decisions.records import ActionRecord
from serving.reasons import Reason
from serving.schemas import ActionOut, ReasonOut

__all__ = ["action_out", "grade_reasons", "model_reasons", "optional"]


def optional(value: float) -> float | None:
    """`value`, or None for NaN (a score the bundle could not give)."""
    return None if math.isnan(value) else float(value)


def model_reasons(reasons: Sequence[Reason]) -> list[ReasonOut]:
    """The API form of the model's reasons."""
    return [
        ReasonOut(text=r.text, source="model", feature=r.feature, effect=r.effect) for r in reasons
    ]


def grade_reasons(grade: CustomerGrade) -> list[ReasonOut]:
    """The facts behind a customer's grade, as policy reasons (the deciding one first)."""
    return [ReasonOut(text=fact, source="policy") for fact in grade.facts]


def action_out(action: ActionRecord | Mapping[str, object]) -> ActionOut:
    """The API form of a logged action."""
    if isinstance(action, ActionRecord):
        at = action.at
        if not isinstance(at, dt.datetime):
            at = dt.datetime.combine(at, dt.time.min, tzinfo=dt.UTC)
        return ActionOut(
            customer_id=action.customer_id,
            invoice_id=action.invoice_id,
            at=at,
            kind=action.kind,
            promised_date=action.promised_date,
            promised_amount=action.promised_amount,
            author=action.author,
            text=action.text,
            outcome=action.outcome,
        )
    return ActionOut.model_validate(dict(action))
