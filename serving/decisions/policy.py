"""The decision policy: every number the decisions use, in one frozen dataclass.

`Policy.from_settings(settings)` reads the `policy_*` fields of `duecast.config.Settings`
(plus `grade_cutoffs`, shared with training); `Policy.defaults()` gives the documented
defaults without reading the environment. Field meanings are the `Field` descriptions
of the matching `policy_<name>` settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from duecast.config import Settings, policy_problems
from duecast.errors import ConfigurationError

__all__ = ["GRADES", "Policy"]

GRADES: tuple[str, ...] = ("A", "B", "C", "D", "E")  # best .. worst


@dataclass(frozen=True)
class Policy:
    """Every policy number of the decisions (see `DUECAST_POLICY_*` settings).

    Attributes:
        grade_cutoffs: upper P(default) bounds of grades A..D (above D is E).
        grade_days_late_cutoffs: upper predicted median days late of A..D, used when
            there is no default model (thin history).
        reminder_at_days / call_from_days / escalate_after_days: the dunning ladder in
            days overdue (reminder from, call from, escalate when more than).
        dunning_risk_factors: per grade A..E, multiplier on call and escalation days.
        promise_grace_days: days after a promised date before the promise is broken.
        follow_up_reminder_days / follow_up_call_days / follow_up_escalate_days: days
            after a logged reminder / call / escalation ("legal") before that step, or a
            lower one, is proposed again (0 = no wait).
        cost_of_capital: annual rate (0.08 = 8 %/year).
        collector_capacity: worklist items one collector works per day.
        credit_limit_*: floor, ceiling, cold-start default, max change per review (share
            of the current limit), slack days on top of terms, risk slope, days-late
            zero point (no default model), history needed, rounding unit.
        order_*: review / decline shares of the suggested limit, grades never approved
            automatically, grades declined once over the review share, overdue share.
        cash_weeks / cash_interval: forecast horizon and coverage of its interval.
        discount_*: proposed rate, its band, and the discount window in days.
    """

    grade_cutoffs: tuple[float, float, float, float]
    grade_days_late_cutoffs: tuple[float, float, float, float]
    reminder_at_days: int
    call_from_days: int
    escalate_after_days: int
    dunning_risk_factors: tuple[float, float, float, float, float]
    promise_grace_days: int
    follow_up_reminder_days: int
    follow_up_call_days: int
    follow_up_escalate_days: int
    cost_of_capital: float
    collector_capacity: int
    credit_limit_floor: float
    credit_limit_ceiling: float
    credit_limit_default: float
    credit_limit_max_change: float
    credit_limit_slack_days: int
    credit_limit_risk_slope: float
    credit_limit_days_late_zero: float
    credit_limit_min_history: int
    credit_limit_rounding: float
    order_review_above: float
    order_decline_above: float
    order_review_grades: tuple[str, ...]
    order_decline_grades: tuple[str, ...]
    order_overdue_review_share: float
    cash_weeks: int
    cash_interval: float
    discount_rate: float
    discount_rate_min: float
    discount_rate_max: float
    discount_days: int

    def __post_init__(self) -> None:
        problems = policy_problems(dataclasses.asdict(self))
        if problems:
            raise ConfigurationError("unusable decision policy: " + "; ".join(problems))

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        """The policy configured in `settings` (`DUECAST_POLICY_*`, `DUECAST_GRADE_CUTOFFS`)."""
        return cls(**_policy_values(lambda name: getattr(settings, name)))

    @classmethod
    def defaults(cls) -> Policy:
        """The documented default policy, independent of the environment."""
        fields = Settings.model_fields
        return cls(
            **_policy_values(lambda name: fields[name].get_default(call_default_factory=True))
        )

    def with_grade_cutoffs(self, thresholds: Mapping[str, float] | None) -> Policy:
        """This policy with grade cut-offs from a bundle's `thresholds` (None: unchanged)."""
        if not thresholds:
            return self
        return dataclasses.replace(self, grade_cutoffs=_cutoff_tuple(thresholds))

    def dunning_factor(self, grade: str) -> float:
        """Multiplier on call / escalation days for a customer of `grade`."""
        if grade not in GRADES:
            raise ValueError(f"grade must be one of {', '.join(GRADES)}, got {grade!r}")
        return self.dunning_risk_factors[GRADES.index(grade)]


def _cutoff_tuple(thresholds: Mapping[str, float]) -> tuple[float, float, float, float]:
    missing = [g for g in GRADES[:4] if g not in thresholds]
    if missing:
        raise ConfigurationError(
            f"grade thresholds lack {missing}; expected upper P(default) bounds of A, B, C, D"
        )
    a, b, c, d = (float(thresholds[g]) for g in GRADES[:4])
    return (a, b, c, d)


def _policy_values(get: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Policy):
        if f.name == "grade_cutoffs":
            values[f.name] = _cutoff_tuple(get("grade_cutoffs"))
        else:
            value = get(f"policy_{f.name}")
            values[f.name] = tuple(value) if isinstance(value, list | tuple) else value
    return values
