"""The decision policy: every number serving's decisions use, one frozen settings group.

`PolicySettings` reads `DUECAST_POLICY_<FIELD>` (and `DUECAST_GRADE_CUTOFFS`, shared
with training, which stores it in the bundle) and refuses contradictory numbers at
start-up. `Settings.policy` holds it; the serving state swaps in the bundle's grade
cut-offs once (`with_grade_cutoffs`) and hands that one object to every decision.
`PolicySettings.defaults()` gives the documented defaults without reading the
environment, `replace(**changes)` a checked copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any, Self

from pydantic import Field, ValidationError, field_serializer, field_validator, model_validator
from pydantic_settings import InitSettingsSource, SettingsConfigDict

from kernel.errors import ConfigurationError
from kernel.policy_steps import WORK_STEPS, WorklistCapacity, step_problems

__all__ = ["GRADES", "WORK_STEPS", "PolicySettings"]  # WORK_STEPS: kernel.policy_steps

GRADES: tuple[str, ...] = ("A", "B", "C", "D", "E")  # best .. worst; cut-offs bound A..D

_CUT = GRADES[:-1]  # the grades with an upper bound; above the last one is GRADES[-1]
_GRADE_CUTOFFS_ENV = "DUECAST_GRADE_CUTOFFS"  # shared with training: no policy prefix


class PolicySettings(WorklistCapacity):
    """Every policy number of the decisions; each field is `DUECAST_POLICY_<FIELD>`.

    `grade_cutoffs` is the exception: `DUECAST_GRADE_CUTOFFS`, a JSON object
    {"A": .., "B": .., "C": .., "D": ..}, held as a tuple in grade order.
    """

    model_config = SettingsConfigDict(env_prefix="DUECAST_POLICY_", frozen=True, extra="ignore")

    grade_cutoffs: tuple[float, float, float, float] = Field(
        default={"A": 0.02, "B": 0.05, "C": 0.10, "D": 0.20},  # validated into a tuple
        validate_default=True,  # as every settings field is; said here so the checker knows
        validation_alias=_GRADE_CUTOFFS_ENV,
        description="Risk grades: upper probability-of-default bound of A..D (above D is E); "
        "stored in the exported bundle, whose cut-offs the serving state then uses.",
    )
    grade_days_late_cutoffs: tuple[float, float, float, float] = Field(
        default=(0.0, 5.0, 15.0, 30.0),
        description="Risk grades when no default model exists (thin history): upper bound of "
        "the predicted median days late for A..D (above D is E).",
    )
    reminder_at_days: int = Field(
        default=0,
        ge=-30,
        le=365,
        description="Dunning step 1: automatic reminder from this many days overdue "
        "(0 = on the due date, negative = before it).",
    )
    call_from_days: int = Field(
        default=7, ge=-30, le=365, description="Dunning step 2: phone call from N days overdue."
    )
    escalate_after_days: int = Field(
        default=30,
        ge=0,
        le=3650,
        description="Dunning step 3: escalate (legal / agency) once more than N days overdue.",
    )
    dunning_risk_factors: tuple[float, float, float, float, float] = Field(
        default=(1.0, 1.0, 1.0, 0.7, 0.5),
        description="Per grade A..E, multiplier on the call and escalation days: below 1 moves "
        "riskier customers up the dunning ladder sooner (non-increasing, in (0, 1]).",
    )
    promise_grace_days: int = Field(
        default=2,
        ge=0,
        le=30,
        description="Days after a promised payment date before the promise counts as broken "
        "(payments take a day or two to post).",
    )
    follow_up_reminder_days: int = Field(
        default=7,
        ge=0,
        le=365,
        description="Days after a logged reminder before the worklist proposes another "
        "reminder (0 = no wait); a call or escalation is still proposed once due.",
    )
    follow_up_call_days: int = Field(
        default=5,
        ge=0,
        le=365,
        description="Days after a logged call before the worklist proposes another call or a "
        "reminder (0 = no wait); escalation is still proposed once due.",
    )
    follow_up_escalate_days: int = Field(
        default=30,
        ge=0,
        le=3650,
        description="Days after a logged escalation (action kind 'legal') before the worklist "
        "proposes any dunning step again (0 = no wait).",
    )
    cost_of_capital: float = Field(
        default=0.08,
        ge=0.0,
        le=1.0,
        description="Annual cost of capital (0.08 = 8 %/year): prices the cost of waiting "
        "for cash and the value of an early-payment discount.",
    )
    # collector_capacity and the worklist's step capacities: `kernel.policy_steps`.
    credit_limit_floor: float = Field(
        default=1_000.0, ge=0.0, description="Smallest credit limit duecast suggests."
    )
    credit_limit_ceiling: float = Field(
        default=250_000.0, gt=0.0, description="Largest credit limit duecast suggests."
    )
    credit_limit_default: float = Field(
        default=10_000.0,
        ge=0.0,
        description="Credit limit of a cold-start customer (too little history to size one).",
    )
    credit_limit_max_change: float = Field(
        default=0.25,
        gt=0.0,
        le=10.0,
        description="Largest change per review as a share of the current limit (0.25 = ±25 %).",
    )
    credit_limit_slack_days: int = Field(
        default=15,
        ge=0,
        le=365,
        description="Days of sales on top of the payment terms that a limit should cover "
        "(orders placed while earlier invoices are still open).",
    )
    credit_limit_risk_slope: float = Field(
        default=4.0,
        gt=0.0,
        description="Risk factor of the limit = 1 - slope × P(default), at least 0 "
        "(4 = a 5 % default risk takes 20 % off the limit).",
    )
    credit_limit_days_late_zero: float = Field(
        default=60.0,
        gt=0.0,
        description="Without a default model: predicted median days late at which the "
        "limit's risk factor reaches 0 (falls linearly from 1 at 0 days).",
    )
    credit_limit_min_history: int = Field(
        default=3,
        ge=0,
        description="Paid invoices needed before a limit is sized from history "
        "(fewer = cold start, the policy default).",
    )
    credit_limit_rounding: float = Field(
        default=100.0, ge=0.0, description="Suggested limits are rounded to this unit (0 = off)."
    )
    order_review_above: float = Field(
        default=1.0,
        gt=0.0,
        description="Order decision: exposure after the order above this share of the "
        "suggested limit needs a human review.",
    )
    order_decline_above: float = Field(
        default=1.25,
        gt=0.0,
        description="Order decision: exposure after the order above this share of the "
        "suggested limit is declined.",
    )
    order_review_grades: tuple[str, ...] = Field(
        default=("D", "E"),
        description="Grades never approved automatically (always at least a review).",
    )
    order_decline_grades: tuple[str, ...] = Field(
        default=("E",),
        description="Grades declined as soon as the order takes them over the review share.",
    )
    order_overdue_review_share: float = Field(
        default=0.25,
        ge=0.0,
        description="Order decision: overdue amount above this share of the suggested limit "
        "needs a human review.",
    )
    reservation_days: int = Field(
        default=14,
        ge=0,
        le=365,
        description="Days an approved order reserves its amount in the customer's exposure "
        "until its invoice arrives (0 = approvals reserve nothing).",
    )
    cash_weeks: int = Field(
        default=13, ge=1, le=104, description="Weeks the cash forecast covers (13 = a quarter)."
    )
    cash_interval: float = Field(
        default=0.8,
        gt=0.0,
        lt=1.0,
        description="Coverage of the cash forecast's weekly interval (0.8 = 10 %-90 %).",
    )
    discount_rate: float = Field(
        default=0.01,
        gt=0.0,
        lt=0.2,
        description="Early-payment discount duecast proposes (0.01 = 1 %), within the band.",
    )
    discount_rate_min: float = Field(
        default=0.008, gt=0.0, lt=0.2, description="Lower end of the usual discount band."
    )
    discount_rate_max: float = Field(
        default=0.015, gt=0.0, lt=0.2, description="Upper end of the usual discount band."
    )
    discount_days: int = Field(
        default=10,
        ge=0,
        le=365,
        description="Days from issue within which payment earns the discount (2/10 net 30: 10).",
    )

    @model_validator(mode="before")
    @classmethod
    def _grade_cutoffs_by_name(cls, data: Any) -> Any:
        # The field's alias is its environment name; Python callers (and `replace`) pass
        # `grade_cutoffs=`, which wins as an init value wins over the environment.
        if isinstance(data, Mapping) and "grade_cutoffs" in data:
            data = {k: v for k, v in data.items() if k != "grade_cutoffs"} | {
                _GRADE_CUTOFFS_ENV: data["grade_cutoffs"]
            }
        return data

    @field_validator("grade_cutoffs", mode="before")
    @classmethod
    def _cutoffs_in_grade_order(cls, value: object) -> object:
        if not isinstance(value, Mapping) or sorted(value) != list(_CUT):
            got = sorted(value) if isinstance(value, Mapping) else value
            raise ValueError(f"grade cut-offs need exactly the keys A, B, C, D, got {got}")
        return tuple(value[g] for g in _CUT)

    @field_serializer("grade_cutoffs")
    def _cutoffs_by_grade(self, value: tuple[float, ...]) -> dict[str, float]:
        return dict(zip(_CUT, value, strict=True))

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        problems = [*_grade_problems(self), *_ladder_problems(self), *_limit_problems(self)]
        problems += _order_problems(self) + _discount_problems(self) + step_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @classmethod
    def defaults(cls) -> Self:
        """The documented default policy, independent of the environment."""
        return cls._from_values({})

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes`, checked like the environment's values.

        Raises:
            ConfigurationError: the changed policy is contradictory or out of range.
        """
        return self._from_values(self.model_dump() | changes)

    def with_grade_cutoffs(self, thresholds: Mapping[str, float] | None) -> Self:
        """This policy with a bundle's grade cut-offs `thresholds` (None or empty: unchanged).

        Raises:
            ConfigurationError: a grade A..D lacks its cut-off, or they do not rise.
        """
        if not thresholds:
            return self
        missing = [g for g in _CUT if g not in thresholds]
        if missing:
            raise ConfigurationError(
                f"grade thresholds lack {missing}; expected upper P(default) bounds of A, B, C, D"
            )
        return self.replace(grade_cutoffs={g: float(thresholds[g]) for g in _CUT})

    def grade_thresholds(self) -> dict[str, float]:
        """The P(default) cut-offs as a bundle stores them: {"A": .., "D": ..}."""
        return dict(zip(_CUT, self.grade_cutoffs, strict=True))

    def dunning_factor(self, grade: str) -> float:
        """Multiplier on call / escalation days for a customer of `grade`."""
        if grade not in GRADES:
            raise ValueError(f"grade must be one of {', '.join(GRADES)}, got {grade!r}")
        return self.dunning_risk_factors[GRADES.index(grade)]

    @classmethod
    def _from_values(cls, values: dict[str, Any]) -> Self:
        # The given values and the defaults, never the environment (`cls()` reads it).
        try:
            return cls(_build_sources=((InitSettingsSource(cls, init_kwargs=values),), values))
        except ValidationError as exc:
            raise ConfigurationError(f"unusable decision policy: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{error['loc'][0]}: {message}" if error["loc"] else message)
    return "; ".join(parts)


def _increasing(values: tuple[float, ...]) -> bool:
    return all(a < b for a, b in pairwise(values))


def _grade_problems(p: PolicySettings) -> list[str]:
    problems = []
    cutoffs = list(p.grade_cutoffs)
    if not (_increasing(p.grade_cutoffs) and cutoffs[0] > 0 and cutoffs[-1] < 1):
        problems.append(f"grade cut-offs must rise strictly within (0, 1), got {cutoffs}")
    if not _increasing(p.grade_days_late_cutoffs):
        problems.append("days-late grade cut-offs must rise strictly from A to D")
    return problems


def _ladder_problems(p: PolicySettings) -> list[str]:
    problems = []
    if not p.reminder_at_days <= p.call_from_days <= p.escalate_after_days:
        problems.append("dunning days must satisfy reminder <= call <= escalate")
    factors = list(p.dunning_risk_factors)
    if any(not 0 < f <= 1 for f in factors) or any(a < b for a, b in pairwise(factors)):
        problems.append(f"dunning risk factors must lie in (0, 1] and not rise A..E, got {factors}")
    return problems


def _limit_problems(p: PolicySettings) -> list[str]:
    problems = []
    floor, ceiling = p.credit_limit_floor, p.credit_limit_ceiling
    if floor > ceiling:
        problems.append(f"credit limit floor {floor} is above the ceiling {ceiling}")
    if not floor <= p.credit_limit_default <= ceiling:
        problems.append("the default credit limit must lie between the floor and the ceiling")
    return problems


def _order_problems(p: PolicySettings) -> list[str]:
    problems = []
    if p.order_review_above > p.order_decline_above:
        problems.append("order review share must not exceed the decline share")
    for key in ("order_review_grades", "order_decline_grades"):
        grades = set(getattr(p, key))
        if not grades <= set(GRADES):
            problems.append(f"{key} holds unknown grades {sorted(grades - set(GRADES))}")
        elif grades and grades != set(GRADES[GRADES.index(min(grades)) :]):
            # A worse grade must never be treated more leniently than a better one.
            problems.append(f"{key} must be the worst grades (e.g. D, E), got {sorted(grades)}")
    if not set(p.order_decline_grades) <= set(p.order_review_grades):
        problems.append("every order decline grade must also be a review grade")
    return problems


def _discount_problems(p: PolicySettings) -> list[str]:
    low, rate, high = p.discount_rate_min, p.discount_rate, p.discount_rate_max
    if not low <= rate <= high:
        return [f"discount rate {rate} must lie in its band [{low}, {high}]"]
    return []
