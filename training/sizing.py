"""LightGBM parameters sized to the number of training rows.

The fixed parameters of `training.models` (31 leaves, 40 rows per leaf, learning rate
0.08) suit a table of a million invoices. On a ledger of a few thousand they overfit:
each tree splits the data into pieces of a few dozen noisy rows, early stopping then
halts after 40-100 rounds, and the model loses to a ridge regression. Small data needs
the opposite on every axis:

- fewer leaves (shallower interactions that the data can support),
- a leaf minimum that is a larger share of the data (20 rows of 1,000 is 2 %, 40 rows
  of a million is 0.004 %), and a larger minimum hessian per leaf,
- stronger L2 on leaf values (shrinks leaves fitted on few rows toward zero),
- fewer features per tree (decorrelates trees, a regulariser that costs nothing),
- a slower learning rate, paid for with more rounds (`sized_rounds`).

The rule: with s = position of log10(n) between log10(1,000) and log10(1,000,000),
clipped to [0, 1], every parameter moves geometrically from its small-data value at
s = 0 to today's value at s = 1:

    value(n) = small * (large / small) ** s

So parameters are continuous in n (no cliff; integers are rounded), monotone, equal
to the small-data values below 1,000 rows and to `training.models._BASE_PARAMS` at
1,000,000 rows and above. The small-data end was chosen on generated ledgers (the
`thin` profile, about 2,500 invoices); see the figures in issue 14.
"""

from __future__ import annotations

import math

__all__ = ["LARGE_ROWS", "SMALL_ROWS", "size_position", "sized_params", "sized_rounds"]

SMALL_ROWS = 1_000
LARGE_ROWS = 1_000_000

# (small-data value, value at LARGE_ROWS: today's fixed parameters).
_LEAVES = (4.0, 31.0)
_MIN_DATA = (20.0, 40.0)
_LEARNING_RATE = (0.03, 0.08)
_LAMBDA_L2 = (10.0, 1.0)
_FEATURE_FRACTION = (0.7, 0.9)
# LightGBM's default min_sum_hessian_in_leaf is 1e-3; 100x more on small data keeps
# binary leaves from resting on a handful of confidently classified rows.
_MIN_HESSIAN = (0.1, 1e-3)
# Every tree sees at least this many features, whatever feature_fraction says.
_MIN_FEATURES_PER_TREE = 4

# The parameters sizing does not change (today's values).
_FIXED = {
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "cat_smooth": 10.0,
    "max_bin": 255,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}


def size_position(n_rows: int) -> float:
    """Where `n_rows` lies between SMALL_ROWS (0.0) and LARGE_ROWS (1.0), on a log scale."""
    if n_rows <= SMALL_ROWS:
        return 0.0
    s = (math.log10(n_rows) - math.log10(SMALL_ROWS)) / (
        math.log10(LARGE_ROWS) - math.log10(SMALL_ROWS)
    )
    return min(1.0, s)


def _between(ends: tuple[float, float], s: float) -> float:
    small, large = ends
    return small * (large / small) ** s


def sized_params(n_rows: int, *, n_features: int) -> dict:
    """LightGBM parameters for a training table of `n_rows` rows and `n_features` features.

    Objective, seed and threads are not included (`training.models.lgb_params` adds them).
    """
    if n_rows < 1 or n_features < 1:
        raise ValueError(
            f"sizing needs at least one row and one feature, got {n_rows} rows "
            f"and {n_features} features"
        )
    s = size_position(n_rows)
    feature_fraction = max(
        _between(_FEATURE_FRACTION, s), min(1.0, _MIN_FEATURES_PER_TREE / n_features)
    )
    return {
        "learning_rate": round(_between(_LEARNING_RATE, s), 6),
        "num_leaves": max(2, round(_between(_LEAVES, s))),
        "min_data_in_leaf": max(1, round(_between(_MIN_DATA, s))),
        "min_sum_hessian_in_leaf": round(_between(_MIN_HESSIAN, s), 6),
        "feature_fraction": round(feature_fraction, 6),
        "lambda_l2": round(_between(_LAMBDA_L2, s), 6),
        **_FIXED,
    }


def sized_rounds(n_rows: int, *, max_rounds: int, early_stopping: int) -> tuple[int, int]:
    """(max rounds, early-stopping patience) scaled up as the learning rate is scaled down.

    A tree at half the learning rate does about half the work, so a slower model gets
    proportionally more rounds and more patience; at LARGE_ROWS both are unchanged.
    """
    factor = _LEARNING_RATE[1] / _between(_LEARNING_RATE, size_position(n_rows))
    return math.ceil(max_rounds * factor), math.ceil(early_stopping * factor)
