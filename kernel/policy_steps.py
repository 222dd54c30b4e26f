"""The worklist's capacity settings: a part of `kernel.policy.PolicySettings`.

Kept in their own module so the policy stays readable; `PolicySettings` inherits these
fields (`DUECAST_POLICY_<FIELD>`) and checks them with the rest (`step_problems`). The
step tables are given as JSON objects by step ({"call": 20, ...}) and held as tuples in
`WORK_STEPS` order, so the policy stays hashable. docs/worklist.md explains the rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import (
    Field,
    FieldSerializationInfo,
    ValidationInfo,
    field_serializer,
    field_validator,
)
from pydantic_settings import BaseSettings

__all__ = ["WORK_STEPS", "WorklistCapacity", "step_problems"]

# The worklist steps that take work, and their defaults (docs/worklist.md).
WORK_STEPS: tuple[str, ...] = ("escalate", "call", "dispute_resolution", "reminder")
# Calls 20 + escalations 12 + disputes 8 = 40 items; reminders only when sent by hand.
_STEP_CAPACITY = {"call": 20, "escalate": 12, "dispute_resolution": 8, "reminder": 10}
_STEP_COLLECT_RATE = {"reminder": 0.2, "call": 0.4, "escalate": 0.3, "dispute_resolution": 0.5}
_STEP_COST = {"reminder": 1.0, "call": 15.0, "escalate": 150.0, "dispute_resolution": 40.0}
_STEP_TABLES = ("step_capacity", "step_collect_rate", "step_cost")


class WorklistCapacity(BaseSettings):
    """Who works how much of the day's worklist, and what each step is worth."""

    collector_capacity: int = Field(
        default=40, ge=1, description="Worklist items one collector works per day, all steps."
    )
    collector_capacities: tuple[tuple[str, int], ...] = Field(
        default=(), description='Per named collector, their own items per day: {"chloe": 20}.'
    )
    # The three step tables are held as tuples in WORK_STEPS order (hashable, as the
    # policy is) and read and shown as {"call": 20, ...}.
    step_capacity: tuple[int, int, int, int] = Field(
        default=_STEP_CAPACITY,  # validated into a tuple
        validate_default=True,
        description="Items per collector per day of each step (a step left out gets 0), "
        "scaled to the collector's capacity if they add up to another total.",
    )
    reminders_automated: bool = Field(
        default=True,
        description="The system sends reminders: on the day's list, no collector capacity.",
    )
    step_collect_rate: tuple[float, float, float, float] = Field(
        default=_STEP_COLLECT_RATE,  # validated into a tuple
        validate_default=True,
        description="Per step, the chance acting today collects what the customer will pay.",
    )
    step_cost: tuple[float, float, float, float] = Field(
        default=_STEP_COST,  # validated into a tuple
        validate_default=True,
        description="Per step, the cost of doing it once (base currency).",
    )

    @field_validator(*_STEP_TABLES, "collector_capacities", mode="before")
    @classmethod
    def _tables_by_name(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, Mapping):
            return value
        if info.field_name == "collector_capacities":
            return tuple(sorted(value.items()))
        unknown = sorted(set(value) - set(WORK_STEPS))
        if unknown:
            raise ValueError(f"unknown steps {unknown}; the steps: {', '.join(WORK_STEPS)}")
        return tuple(value.get(s, 0) for s in WORK_STEPS)

    @field_serializer(*_STEP_TABLES, "collector_capacities")
    def _tables_as_mappings(
        self, value: tuple[Any, ...], info: FieldSerializationInfo
    ) -> dict[str, Any]:
        if info.field_name == "collector_capacities":
            return dict(value)
        return dict(zip(WORK_STEPS, value, strict=True))


def step_problems(p: WorklistCapacity) -> list[str]:
    """Contradictions in the worklist capacity settings, as sentences."""
    problems = []
    manual = [s for s in WORK_STEPS if s != "reminder" or not p.reminders_automated]
    if sum(c for s, c in zip(WORK_STEPS, p.step_capacity, strict=True) if s in manual) <= 0:
        problems.append(
            f"step_capacity gives no items to the steps collectors work ({', '.join(manual)})"
            ": give at least one a positive number"
        )
    if any(not 0 <= v <= 1 for v in p.step_collect_rate):
        problems.append("step collect rates must lie in [0, 1]")
    numbers = [*p.step_capacity, *p.step_cost, *(c for _, c in p.collector_capacities)]
    if min([*numbers, 0]) < 0:
        problems.append("step capacities and costs and collector capacities must not be negative")
    return problems
