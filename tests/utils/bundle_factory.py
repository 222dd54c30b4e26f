"""A small, quickly trained `Bundle` on random feature rows, for tests that need one.

The rows follow the feature spec (dtypes, categories, NaN where allowed) but the values
are noise with a planted signal; it is for plumbing tests (save/load, serving), not for
model quality. Use `make_feature_rows` for rows to score with it.
"""

from __future__ import annotations

from functools import lru_cache

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from features.spec import CATEGORICAL_COLUMNS, FEATURE_COLUMNS, FEATURE_SET_VERSION, FEATURE_SPEC
from training.bundle import Bundle, ScoreCalibrator, feature_matrix

CATEGORIES = {
    "customer_industry": ["construction", "retail", "wholesale"],
    "customer_country": ["DE", "FR", "NL"],
}


def make_feature_rows(n: int, *, seed: int = 0) -> pd.DataFrame:
    """`n` random rows with every feature column in its spec dtype."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for spec in FEATURE_SPEC:
        if spec.dtype == "category":
            cats = CATEGORIES[spec.name]
            values = rng.choice([*cats, None], size=n)
            data[spec.name] = pd.Categorical(values, categories=cats)
        elif spec.dtype == "int":
            data[spec.name] = rng.integers(0, 2 if spec.unit == "flag" else 60, size=n)
        else:
            col = rng.gamma(2.0, 10.0, size=n)
            if spec.nullable:
                col[rng.random(n) < 0.1] = np.nan
            data[spec.name] = col
    return pd.DataFrame(data)


def _booster(X: np.ndarray, y: np.ndarray, params: dict) -> lgb.Booster:
    categorical = [FEATURE_COLUMNS.index(c) for c in CATEGORICAL_COLUMNS]
    train = lgb.Dataset(X, y, categorical_feature=categorical, free_raw_data=False)
    base = {"verbose": -1, "seed": 0, "num_threads": 1, "min_data_in_leaf": 5}
    return lgb.train({**base, **params}, train, num_boost_round=15)


@lru_cache(maxsize=4)
def make_bundle(*, with_default: bool = True, seed: int = 0) -> Bundle:
    """A bundle of tiny LightGBM models (cached: treat it as read-only)."""
    rows = make_feature_rows(400, seed=seed)
    X = feature_matrix(rows, FEATURE_COLUMNS, CATEGORIES)
    rng = np.random.default_rng(seed + 1)
    late = rows["history_days_late_mean"].fillna(10).to_numpy()
    days = late + rng.normal(0, 5, len(rows))
    models = {"mean": _booster(X, days, {"objective": "regression"})}
    for key, alpha in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9)):
        models[key] = _booster(X, days, {"objective": "quantile", "alpha": alpha})
    default_model = calibrator = None
    reason = "no defaults in the training data"
    if with_default:
        y = (days + rng.normal(0, 10, len(rows)) > 35).astype(int)
        default_model = _booster(X, y, {"objective": "binary"})
        raw = default_model.predict(X, raw_score=True)
        calibrator = ScoreCalibrator("sigmoid", LogisticRegression().fit(raw.reshape(-1, 1), y))
        reason = None
    return Bundle(
        model_version="1",
        trained_at="2026-01-01T00:00:00+00:00",
        as_of="2025-12-31",
        feature_set_version=FEATURE_SET_VERSION,
        feature_columns=list(FEATURE_COLUMNS),
        categories={k: list(v) for k, v in CATEGORIES.items()},
        horizon_days=90,
        default_model=default_model,
        calibrator=calibrator,
        default_unavailable_reason=reason,
        days_late_models=models,
        metrics={"default": None if not with_default else {"model": {"roc_auc": 0.7}}},
        thresholds={"A": 0.02, "B": 0.05, "C": 0.1, "D": 0.2},
    )
