"""Reasons: the largest LightGBM `pred_contrib` of a score, as sentences a collector reads.

Each feature's sentence is built from its value ("paid 12 invoices 23 days late on
average"), never its raw name, by the wording its spec entry carries
(`features.spec.FeatureSpec.sentence`). The direction says whether the feature pushed
the score toward risk (a higher probability of the risk target, or later payment) or
away from it. A reason never says a worse fact lowers risk (nor a better one raises it):
a contribution against the feature's declared direction (`FeatureSpec.worse`) is left
out, as are invoice-level features when the row is a hypothetical typical invoice
(`levels`). `risk_target` says what the bundle's probability is of (default, or
paying very late), for the sentences of `serving.decisions.target.chance_words`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from features.feature import FeatureSpec
from features.spec import FEATURE_SPEC
from features.spec_attributes import attribute_spec
from features.wording import is_unknown
from serving.decisions.target import RiskTarget
from training.bundle import Bundle

__all__ = [
    "CUSTOMER_LEVEL",
    "TOP_REASONS",
    "Reason",
    "RiskTarget",
    "agrees",
    "explain",
    "feature_values",
    "risk_target",
    "sentence",
]

_SPEC = {f.name: f for f in FEATURE_SPEC}
# Model reasons given per score.
TOP_REASONS = 3
# Contributions smaller than this (log-odds or days) do not make a reason.
_MIN_CONTRIBUTION = 1e-3
# The levels of the facts of a typical new invoice: its invoice features are made up.
CUSTOMER_LEVEL: frozenset[str] = frozenset({"customer"})


@dataclass(frozen=True)
class Reason:
    """One reason behind a score."""

    feature: str
    text: str
    effect: str  # "raises risk" or "lowers risk"
    contribution: float  # raw model scale: log-odds of the risk target, or days late


def _spec(feature: str) -> FeatureSpec | None:
    """A feature's spec: the static spec's, or an issue-time attribute's (by its name)."""
    return _SPEC.get(feature) or attribute_spec(feature)


def risk_target(bundle: Bundle) -> RiskTarget:
    """What the bundle's `p_default` is the probability of (default, or very late)."""
    return RiskTarget.of(bundle.risk_target, bundle.very_late_days)


def sentence(feature: str, values: Mapping[str, object]) -> str:
    """The sentence describing `feature` at its value in `values`."""
    spec = _spec(feature)
    if spec is not None:
        return spec.sentence(values)
    # A feature the spec does not define (a bundle from another feature set): its name.
    if is_unknown(values.get(feature)):
        return feature
    return f"{feature.replace('_', ' ')}: {values.get(feature)}"


def feature_values(bundle: Bundle, x: np.ndarray) -> dict[str, object]:
    """Feature values by name of one model row (categorical codes back to their values)."""
    values: dict[str, object] = {}
    for j, name in enumerate(bundle.feature_columns):
        v = float(x[j])
        if name in bundle.categories:
            values[name] = None if math.isnan(v) else bundle.categories[name][int(v)]
        else:
            values[name] = v
    return values


def agrees(feature: str, value: object, contribution: float) -> bool:
    """False when a contribution's sign contradicts the feature's declared direction:
    a worse fact that lowers risk, or a better one that raises it."""
    spec = _spec(feature)
    worse = None if spec is None else spec.worse(value)
    return worse is None or worse == (contribution > 0)


def explain(
    contributions: np.ndarray,
    values: Mapping[str, object],
    *,
    feature_columns: Sequence[str],
    top: int = TOP_REASONS,
    levels: frozenset[str] | None = None,
) -> list[Reason]:
    """The `top` largest contributions of one score as reasons, largest first.

    Args:
        contributions: one row of `Bundle.contributions` (n_features,).
        values: the row's feature values by name.
        feature_columns: the bundle's feature order.
        top: how many reasons at most.
        levels: only features of these levels (`CUSTOMER_LEVEL` for a typical
            invoice); None = all.
    """
    contributions = np.asarray(contributions, dtype="float64")
    order = np.argsort(-np.abs(contributions), kind="stable")
    reasons: list[Reason] = []
    seen: set[str] = set()
    for j in order:
        c = float(contributions[j])
        if len(reasons) >= top or abs(c) < _MIN_CONTRIBUTION:
            break
        feature = feature_columns[j]
        spec = _spec(feature)
        if levels is not None and spec is not None and spec.level not in levels:
            continue
        if not agrees(feature, values.get(feature), c):
            continue
        text = sentence(feature, values)
        if text in seen:  # amount and log amount say the same thing
            continue
        seen.add(text)
        reasons.append(
            Reason(
                feature=feature,
                text=text,
                effect="raises risk" if c > 0 else "lowers risk",
                contribution=round(c, 4),
            )
        )
    return reasons
