"""The blend candidate served: the plain average of two served models.

The backtest's `blend` averages the LightGBM model and the customer-history baseline
(calibrated probabilities for risk; mean and quantiles for days late). On a small or
stable ledger the baseline is hard to beat and the trees add noise; on a large one the
trees win: the average hedges between them, and the backtest says whether it is worth
serving. Equal weights, because weights chosen on the test windows would be fitted to
the very data the choice is judged on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.scorers import DAYS_LATE_KEYS, RiskScorer, RowFunction, TimingScorer

__all__ = ["BlendRisk", "BlendTiming"]


class BlendRisk:
    """The mean of its parts' probabilities (each part calibrated on its own)."""

    kind = "blend"

    def __init__(self, parts: Sequence[RiskScorer]) -> None:
        if len(parts) < 2:
            raise ValueError(f"a blend needs at least two parts, got {len(parts)}")
        self.parts = list(parts)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n,) probabilities."""
        return np.mean([p.predict(X) for p in self.parts], axis=0)

    def predict_row(self, x: np.ndarray) -> float:
        """The probability of one row."""
        return float(sum(p.predict_row(x) for p in self.parts) / len(self.parts))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """The mean of the parts' contributions (each on its own log-odds scale)."""
        return np.mean([p.contributions(X) for p in self.parts], axis=0)

    def row_functions(self) -> dict[str, RowFunction]:
        """Every part's one-row functions, made now (serving warms them at load)."""
        return _row_functions(self.parts)


class BlendTiming:
    """The mean of its parts' days-late mean and quantiles (quantiles kept in order)."""

    kind = "blend"

    def __init__(self, parts: Sequence[TimingScorer]) -> None:
        if len(parts) < 2:
            raise ValueError(f"a blend needs at least two parts, got {len(parts)}")
        self.parts = list(parts)

    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Arrays "mean", "p10", "p50", "p90"."""
        each = [p.predict(X) for p in self.parts]
        out = {k: np.mean([e[k] for e in each], axis=0) for k in DAYS_LATE_KEYS}
        out["p10"], out["p50"], out["p90"] = np.sort(
            np.vstack([out["p10"], out["p50"], out["p90"]]), axis=0
        )
        return out

    def predict_row(self, x: np.ndarray, quantiles: bool = True) -> dict[str, float]:
        """The same for one row."""
        each = [p.predict_row(x, quantiles) for p in self.parts]
        out = {k: float(sum(e[k] for e in each) / len(each)) for k in each[0]}
        if quantiles:
            out["p10"], out["p50"], out["p90"] = sorted((out["p10"], out["p50"], out["p90"]))
        return out

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """The mean of the parts' contributions."""
        return np.mean([p.contributions(X) for p in self.parts], axis=0)

    def row_functions(self) -> dict[str, RowFunction]:
        """Every part's one-row functions."""
        return _row_functions(self.parts)


def _row_functions(parts: Sequence[RiskScorer | TimingScorer]) -> dict[str, RowFunction]:
    """The parts' one-row functions, keyed by part number and name."""
    out: dict[str, RowFunction] = {}
    for k, part in enumerate(parts):
        out.update({f"{k}.{name}": f for name, f in part.row_functions().items()})
    return out
