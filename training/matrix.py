"""The model matrix: one float64 encoding of feature rows for training and serving.

Feature columns in training order, categoricals as codes of the training categories,
unknown or missing values as NaN. Training builds its matrices with `feature_matrix`;
`Bundle.matrix` and `Bundle.row` (one dict, the API's hot path) build the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from features.attributes import is_attribute_feature
from features.spec import FeatureSpecError

__all__ = ["feature_matrix", "is_missing"]


def feature_matrix(
    rows: pd.DataFrame, feature_columns: Sequence[str], categories: Mapping[str, Sequence[str]]
) -> np.ndarray:
    """Float64 model matrix of `rows`: categoricals as training codes, unknown -> NaN.

    An issue-time attribute column (`features.attributes`) missing from `rows` is
    unknown (NaN): a store may hold no value of it for these invoices.

    Raises:
        FeatureSpecError: if any other feature column is missing from `rows`.
    """
    missing = [c for c in feature_columns if c not in rows.columns and not is_attribute_feature(c)]
    if missing:
        raise FeatureSpecError(f"rows lack feature columns {missing}")
    out = np.empty((len(rows), len(feature_columns)), dtype="float64")
    for j, name in enumerate(feature_columns):
        if name not in rows.columns:
            out[:, j] = np.nan
            continue
        col = rows[name]
        if name in categories:
            # Index lookup, not pd.Categorical: unseen values must become NaN, not raise.
            values = col.astype("object").where(col.notna(), None).to_numpy()
            keys = np.array([None if v is None else str(v) for v in values], dtype=object)
            codes = pd.Index(list(categories[name]), dtype="object").get_indexer(keys)
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, j] = pd.to_numeric(col, errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan
            )
    return out


def is_missing(value: object) -> bool:
    """True for None, pandas' NA and NaT, and float NaN: a value the model sees as NaN."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)
