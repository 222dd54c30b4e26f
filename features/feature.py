"""What one feature's definition holds, and the numbers the definitions share.

A `FeatureSpec` is a model input: its dtype, unit and level, its description, and how a
reason about it reads (`reason`, and `unknown` when its value is NaN). The entries
themselves are in `features.spec_invoice` and `features.spec_customer`; import them and
everything else through `features.spec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from features.wording import Template, is_unknown, number
from kernel.errors import DuecastError

__all__ = [
    "DEFAULT_AFTER_DAYS",
    "EWM_ALPHA",
    "FEATURE_SET_VERSION",
    "HISTORY_CAP_DAYS",
    "NEW_CUSTOMER_DAYS",
    "TREND_RECENT",
    "Direction",
    "FeatureDtype",
    "FeatureSpec",
    "FeatureSpecError",
]

FeatureDtype = Literal["float", "int", "bool", "category"]
# Which way a feature moves risk by domain knowledge: 1 = a higher value never lowers
# risk (days past due, share paid late), -1 = never raises it, 0 = left to the data.
Direction = Literal[-1, 0, 1]
_DIRECTIONS: tuple[Direction, ...] = get_args(Direction)

# Bump when a definition below changes: models trained on another version are refused.
# 2: a write-off booked on an already settled invoice no longer counts as a default.
FEATURE_SET_VERSION = "2"
# A customer's past invoice counts as a default once it is this many days past due
# unpaid, or written off (a feature definition, independent of the label horizon).
DEFAULT_AFTER_DAYS = 90
# Days late of past invoices are capped so one ancient invoice cannot swamp an average.
HISTORY_CAP_DAYS = 365
# A customer younger than this (from creation or first invoice) is "new".
NEW_CUSTOMER_DAYS = 90
# Weight of the most recent invoice in the exponentially weighted days late.
EWM_ALPHA = 0.3
# "Recent" in the trend: the last few settled invoices against all earlier ones.
TREND_RECENT = 5


class FeatureSpecError(DuecastError):
    """A feature frame does not match the feature spec (missing column, dtype, NaN)."""


@dataclass(frozen=True)
class FeatureSpec:
    """One model input.

    Attributes:
        name: column name.
        dtype: "float", "int" (whole numbers and 0/1 flags), "bool" or "category".
        description: what it measures, in words a collector understands.
        nullable: NaN allowed (it means unknown, e.g. no history yet).
        unit: how to print a value: "money", "days", "share", "count", "flag" or "".
        level: "invoice" (depends on the invoice) or "customer" (same for every
            invoice of a customer at a date; served from `customer_state`).
        reason: the sentence of a known value, whichever way it moved the score
            ("paid 12 invoices 23 days late on average"); see `features.wording`.
        unknown: the sentence when the value is NaN; default "<description>: unknown".
        direction: how a higher value moves risk by domain knowledge (`Direction`):
            the models are monotone in it (`features.spec.monotone_constraints`) and
            a reason against it is not shown (`serving.reasons`).
        neutral: with a direction, the value that is neither good nor bad news: above
            it (below it for direction -1) the fact is worse, and a reason may only say
            it raises risk; at or below it, only that it lowers risk.
    """

    name: str
    dtype: FeatureDtype
    description: str
    nullable: bool = False
    unit: str = ""
    level: str = "customer"
    reason: Template = field(kw_only=True, compare=False, repr=False)
    unknown: str | None = field(default=None, kw_only=True)
    direction: Direction = field(default=0, kw_only=True)
    neutral: float = field(default=0.0, kw_only=True)

    def __post_init__(self) -> None:
        if self.direction not in _DIRECTIONS:
            raise FeatureSpecError(
                f"{self.name}: direction must be one of {_DIRECTIONS}, got {self.direction!r}"
            )
        if self.direction and self.dtype == "category":
            raise FeatureSpecError(f"{self.name}: a categorical feature has no direction")

    def worse(self, value: object) -> bool | None:
        """Whether `value` is bad news by the declared direction (None: no direction or
        unknown value)."""
        if not self.direction or is_unknown(value):
            return None
        return self.direction * (number(value) - self.neutral) > 0

    def sentence(self, values: Mapping[str, object]) -> str:
        """The sentence describing this feature at its value in `values` (a row by name)."""
        value = values.get(self.name)
        if is_unknown(value):
            return self.unknown if self.unknown is not None else f"{self.description}: unknown"
        return self.reason(value, values)
