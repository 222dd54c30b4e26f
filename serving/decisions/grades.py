"""Risk grades A (best) .. E (worst) from the calibrated probability of the risk target.

The target is the bundle's (`serving.decisions.target`): default, or paying very late
when the ledger has too few defaults; the reason names it.

When the bundle has no default model (history too thin to have defaults), the grade
comes from the predicted median days late instead, with its own cut-offs, and the
reason says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kernel.policy import GRADES, PolicySettings
from serving.decisions.records import is_present
from serving.decisions.target import DEFAULT_TARGET, RiskTarget, chance_words

__all__ = ["RiskGrade", "assess_grade", "risk_grade"]

GradeBasis = Literal["p_default", "days_late", "none"]


@dataclass(frozen=True)
class RiskGrade:
    """A grade and how it was reached.

    Attributes:
        grade: "A" (best) .. "E" (worst).
        basis: "p_default" (calibrated default model), "days_late" (no default model:
            predicted median days late) or "none" (no score at all: middle grade "C").
        reason: one sentence for people.
    """

    grade: str
    basis: GradeBasis
    reason: str


def _grade_from(value: float, cutoffs: tuple[float, ...]) -> str:
    for grade, upper in zip(GRADES, cutoffs, strict=False):
        if value <= upper:
            return grade
    return GRADES[-1]


def assess_grade(
    p_default: float | None,
    days_late_p50: float | None = None,
    *,
    policy: PolicySettings,
    target: RiskTarget = DEFAULT_TARGET,
) -> RiskGrade:
    """Grade one score: from `p_default`, else (NaN / None) from `days_late_p50`.

    Args:
        p_default: calibrated probability of the risk target (NaN or None when unavailable).
        days_late_p50: predicted median days late, the fallback basis.
        policy: the decision policy; the serving state's holds the bundle's cut-offs.
        target: what `p_default` is the probability of (the bundle's risk target).
    """
    if is_present(p_default):
        p = float(p_default)
        grade = _grade_from(p, policy.grade_cutoffs)
        return RiskGrade(grade, "p_default", f"grade {grade}: {p:.1%} {chance_words(target)}")
    if is_present(days_late_p50):
        days = float(days_late_p50)
        grade = _grade_from(days, policy.grade_days_late_cutoffs)
        return RiskGrade(
            grade,
            "days_late",
            f"grade {grade} from expected lateness ({days:.0f} days typical): the model has "
            "too few defaults in its history to estimate a chance of default",
        )
    return RiskGrade("C", "none", "grade C by default: no score is available for this customer")


def risk_grade(
    p_default: float | None,
    days_late_p50: float | None = None,
    *,
    policy: PolicySettings,
) -> str:
    """Risk grade "A".."E" of one score (see `assess_grade` for the rules)."""
    return assess_grade(p_default, days_late_p50, policy=policy).grade
