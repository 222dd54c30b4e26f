"""One invoice's model scores, and what follows from them: expected loss, payment dates.

    expected loss          = open amount × P(default)
    predicted payment date = due date + days late (rounded to whole days)

The one place these are computed: invoice scoring (API), the worklist and batch scoring
(`duecast score`) all call them.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Protocol, SupportsFloat

from serving.decisions.records import OpenInvoice, is_missing, is_present

__all__ = ["InvoiceScores", "ScoreArrays", "ScoreColumn", "expected_loss", "payment_date"]


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

    def expected_loss(self, open_amount: float) -> float | None:
        """Open amount × P(default); None when P(default) is unavailable."""
        return None if is_missing(self.p_default) else expected_loss(open_amount, self.p_default)


def expected_loss(open_amount: float, p_default: float | None) -> float:
    """Open amount × P(default); 0 when P(default) is unavailable (NaN / None)."""
    if not is_present(p_default):
        return 0.0
    return float(open_amount) * float(p_default)


def payment_date(due_date: dt.date, days_late: float) -> dt.date:
    """The day an invoice due on `due_date` is paid when `days_late` days late."""
    return due_date + dt.timedelta(days=round(days_late))
