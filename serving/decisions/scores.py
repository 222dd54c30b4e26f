"""One invoice's model scores, and what follows from them: expected loss, payment dates.

    expected loss          = open amount × P(default)
    predicted payment date = due date + days late (rounded to whole days)

An invoice still open on the serving date D is scored given what the ledger says of it
(`InvoiceScores.open_on`):

    due date + H < D  →  a default (the label rule of training): P(default) = 1
                         (with the very-late target: due date + V < D, already very late)
    days late         ≥  D − due date, for the mean and each quantile (it is unpaid today)

so no answer gives a past payment date, and every answer built on open invoices (invoice
scoring, the worklist, the cash forecast, `duecast score`) counts the same defaults.

The one place these are computed: invoice scoring (API), the worklist and batch scoring
(`duecast score`) all call them.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Protocol, SupportsFloat

from serving.decisions.records import OpenInvoice, is_missing, is_present
from serving.decisions.target import DEFAULT_TARGET, RiskTarget

__all__ = [
    "InvoiceScores",
    "ScoreArrays",
    "ScoreColumn",
    "certain_days",
    "certain_reason",
    "expected_loss",
    "past_horizon",
    "past_horizon_reason",
    "payment_date",
]


class ScoreColumn(Protocol):
    """One model output for n rows, indexed by row (a numpy array)."""

    def __getitem__(self, k: int, /) -> SupportsFloat: ...


class ScoreArrays(Protocol):
    """Model outputs for n rows, one array each (`training.bundle.Scores`); read only."""

    @property
    def p_default(self) -> ScoreColumn: ...
    @property
    def days_late(self) -> ScoreColumn: ...
    @property
    def days_late_p10(self) -> ScoreColumn: ...
    @property
    def days_late_p50(self) -> ScoreColumn: ...
    @property
    def days_late_p90(self) -> ScoreColumn: ...


@dataclass(frozen=True)
class InvoiceScores:
    """The five model outputs for one invoice (NaN where a model is missing)."""

    p_default: float = math.nan
    days_late: float = math.nan
    days_late_p10: float = math.nan
    days_late_p50: float = math.nan
    days_late_p90: float = math.nan

    @classmethod
    def at(cls, scores: ScoreArrays, k: int) -> InvoiceScores:
        """Row `k` of a batch of model outputs, as Python floats."""
        return cls(
            p_default=float(scores.p_default[k]),
            days_late=float(scores.days_late[k]),
            days_late_p10=float(scores.days_late_p10[k]),
            days_late_p50=float(scores.days_late_p50[k]),
            days_late_p90=float(scores.days_late_p90[k]),
        )

    @classmethod
    def of(cls, invoice: OpenInvoice) -> InvoiceScores:
        """The scores an open invoice carries."""
        return cls(
            p_default=invoice.p_default,
            days_late=invoice.days_late,
            days_late_p10=invoice.days_late_p10,
            days_late_p50=invoice.days_late_p50,
            days_late_p90=invoice.days_late_p90,
        )

    def open_on(
        self,
        *,
        due_date: dt.date,
        as_of: dt.date,
        horizon_days: int,
        target: RiskTarget = DEFAULT_TARGET,
    ) -> InvoiceScores:
        """These scores for an invoice due on `due_date` and still unpaid on `as_of`.

        Past due + `horizon_days` it is a default by the ledger's own rule: P(default) = 1,
        with or without a default model (a fact, not a prediction); with the very-late
        `target`, past due + V it is already very late: P = 1 too. Days late (mean and
        quantiles) are at least the days already overdue: the prediction given that it
        is unpaid today, so p10 ≤ p50 ≤ p90 stay ordered and no payment date is past.
        """
        overdue = float((as_of - due_date).days)
        days = certain_days(target, horizon_days)
        default = past_horizon(due_date, as_of=as_of, horizon_days=days)
        return InvoiceScores(
            p_default=1.0 if default else self.p_default,
            days_late=_at_least(self.days_late, overdue),
            days_late_p10=_at_least(self.days_late_p10, overdue),
            days_late_p50=_at_least(self.days_late_p50, overdue),
            days_late_p90=_at_least(self.days_late_p90, overdue),
        )

    def expected_loss(self, open_amount: float) -> float | None:
        """Open amount × P(default); None when P(default) is unavailable."""
        return None if is_missing(self.p_default) else expected_loss(open_amount, self.p_default)


def _at_least(days_late: float, floor: float) -> float:
    # A missing prediction stays missing: it is not known to be `floor`.
    return days_late if is_missing(days_late) else max(days_late, floor)


def past_horizon(due_date: dt.date, *, as_of: dt.date, horizon_days: int) -> bool:
    """True when an invoice still open on `as_of` is a default: due date + H before `as_of`.

    The label rule of training (`features.labels`): unsettled H days after due, known
    from the day after.
    """
    return due_date + dt.timedelta(days=horizon_days) < as_of


def past_horizon_reason(horizon_days: int) -> str:
    """The reason, in words, of P(default) = 1 for an invoice past due + H."""
    return f"more than {horizon_days} days past due: counted as a default"


def certain_days(target: RiskTarget, horizon_days: int) -> int:
    """Days past due after which an unpaid invoice is certain to meet `target` (H, or V)."""
    if target.name == "very_late" and target.very_late_days is not None:
        return min(target.very_late_days, horizon_days)
    return horizon_days


def certain_reason(target: RiskTarget, horizon_days: int) -> str:
    """The reason, in words, of P = 1 for an invoice unpaid past `certain_days`."""
    if target.name == "very_late":
        days = certain_days(target, horizon_days)
        return f"more than {days} days past due: already more than {days} days late"
    return past_horizon_reason(horizon_days)


def expected_loss(open_amount: float, p_default: float | None) -> float:
    """Open amount × P(default); 0 when P(default) is unavailable (NaN / None)."""
    if not is_present(p_default):
        return 0.0
    return float(open_amount) * float(p_default)


def payment_date(due_date: dt.date, days_late: float) -> dt.date:
    """The day an invoice due on `due_date` is paid when `days_late` days late."""
    return due_date + dt.timedelta(days=round(days_late))
