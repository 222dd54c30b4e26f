"""What a bundle's probability is of: the risk target, and the one wording of it.

A bundle's `p_default` is the calibrated probability of its risk target
(`training.bundle.Bundle.risk_target`):

    "default"    not settled within H days after due, or written off
    "very_late"  settled more than V days after due, or not at all (the target of
                 ledgers with too few defaults to learn from; `features.labels`)

Grades, credit limits, order decisions and the worklist rest on that probability, and
every sentence that names it takes its words from `chance_words`, so an answer never
calls a very-late probability a chance of default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DEFAULT_TARGET", "RISK_TARGETS", "RiskTarget", "RiskTargetName", "chance_words"]

RiskTargetName = Literal["default", "very_late"]
RISK_TARGETS: tuple[RiskTargetName, ...] = ("default", "very_late")


@dataclass(frozen=True)
class RiskTarget:
    """The event a risk probability is of; `very_late_days` (V) only for "very_late"."""

    name: RiskTargetName = "default"
    very_late_days: int | None = None

    def __post_init__(self) -> None:
        if self.name not in RISK_TARGETS:
            raise ValueError(
                f"unknown risk target {self.name!r}: expected one of {', '.join(RISK_TARGETS)}"
            )
        if self.name == "very_late" and (self.very_late_days is None or self.very_late_days < 1):
            raise ValueError(
                f"the very_late risk target needs very_late_days >= 1, got {self.very_late_days}"
            )

    @classmethod
    def of(cls, name: str, very_late_days: int | None = None) -> RiskTarget:
        """The target a bundle names (`bundle.risk_target`, `bundle.very_late_days`)."""
        if name == "very_late":
            return cls("very_late", very_late_days)
        if name == "default":
            return cls("default")
        raise ValueError(f"unknown risk target {name!r}: expected one of {', '.join(RISK_TARGETS)}")

    @property
    def days(self) -> int | None:
        """V for "very_late", None for "default" (the API's `very_late_days`)."""
        return self.very_late_days if self.name == "very_late" else None


DEFAULT_TARGET = RiskTarget()


def chance_words(target: RiskTarget = DEFAULT_TARGET) -> str:
    """The words of a probability of `target`: "chance of default", or "chance of paying
    more than V days late"."""
    if target.name == "very_late":
        return f"chance of paying more than {target.very_late_days} days late"
    return "chance of default"
