"""Risk moves the right way: the models are monotone in every feature the spec directs.

The labels below fall with each directed feature on part of its range (a wave on top of
a rising trend): a model free to follow the data learns risk that moves the wrong way
there. With the spec's `monotone_constraints`, worsening any directed feature never
lowers P(default), the grade, the expected days late, nor the hazard's P(default).
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.spec import (
    CATEGORICAL_COLUMNS,
    FEATURE_COLUMNS,
    FEATURE_SPEC,
    monotone_constraints,
)
from kernel.policy import GRADES, PolicySettings
from serving.decisions.grades import assess_grade
from training.baselines import fit_linear, fit_logistic
from training.bundle import ScoreCalibrator
from training.hazard import HazardModel, fit_hazard
from training.models import (
    TrainConfig,
    fit_calibrator,
    fit_days_late_models,
    fit_default_model,
    monotone_params,
)

DIRECTED = [f.name for f in FEATURE_SPEC if f.direction]
_CONFIG = TrainConfig(seed=0, threads=1, max_rounds=60, early_stopping=60)
_CATEGORICAL = [FEATURE_COLUMNS.index(c) for c in CATEGORICAL_COLUMNS]
_POLICY = PolicySettings.defaults()


def _matrix(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows with the spec's columns, and a risk score that waves against the directions."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(FEATURE_COLUMNS)))
    X[:, _CATEGORICAL] = rng.integers(0, 3, size=(n, len(_CATEGORICAL)))
    score = np.zeros(n)
    for name in DIRECTED[:6]:
        x = X[:, FEATURE_COLUMNS.index(name)]
        score += 0.6 * x - 1.5 * np.sin(2.5 * x)
    return X, score


@pytest.fixture(scope="module")
def risk() -> tuple:
    X, score = _matrix(4000, seed=1)
    rng = np.random.default_rng(2)
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-(score - 2.0)))).astype("int64")
    days = 10 * score + rng.normal(scale=3, size=len(X))
    half = len(X) // 2
    booster = fit_default_model(
        X[:half], y[:half], X[half:], y[half:], feature_names=FEATURE_COLUMNS, config=_CONFIG
    )
    calibrator = fit_calibrator(
        np.asarray(booster.predict(X[half:], raw_score=True)), y[half:], isotonic_min_defaults=50
    )
    mean = fit_days_late_models(
        X[:half], days[:half], X[half:], days[half:], feature_names=FEATURE_COLUMNS, config=_CONFIG
    )["mean"]
    return X, booster, calibrator, mean


def _p(booster: lgb.Booster, calibrator: ScoreCalibrator, X: np.ndarray) -> np.ndarray:
    return calibrator(np.asarray(booster.predict(X, raw_score=True)))


def _worse(X: np.ndarray, row: int, feature: str, step: float) -> tuple[np.ndarray, np.ndarray]:
    j = FEATURE_COLUMNS.index(feature)
    before = X[row : row + 1].copy()
    after = before.copy()
    after[0, j] += step * next(f.direction for f in FEATURE_SPEC if f.name == feature)
    return before, after


def test_the_constraint_vector_follows_the_spec() -> None:
    vector = monotone_constraints(FEATURE_COLUMNS)
    assert [c for c, f in zip(vector, FEATURE_SPEC, strict=True) if c] == [
        f.direction for f in FEATURE_SPEC if f.direction
    ]
    for name in (
        "invoice_days_past_due",
        "exposure_oldest_overdue_days",
        "exposure_overdue_amount",
        "history_share_late",
        "history_days_late_mean",
        "exposure_credit_utilisation",
    ):
        assert vector[FEATURE_COLUMNS.index(name)] == 1, name
    # A hazard (the chance to be paid) falls with risk; a column the spec lacks is free.
    assert monotone_constraints(["history_share_late", "interval"], sign=-1) == [-1, 0]
    assert monotone_params(["customer_country"]) == {}


@settings(max_examples=300, deadline=None)
@given(
    row=st.integers(0, 3999),
    feature=st.sampled_from(DIRECTED),
    step=st.floats(0.01, 5.0),
)
def test_worsening_a_directed_feature_never_lowers_risk_nor_the_grade(
    risk: tuple, row: int, feature: str, step: float
) -> None:
    X, booster, calibrator, mean = risk
    before, after = _worse(X, row, feature, step)
    p0, p1 = (float(_p(booster, calibrator, x)[0]) for x in (before, after))
    assert p1 >= p0 - 1e-12, (feature, p0, p1)
    g0 = assess_grade(p0, policy=_POLICY).grade
    g1 = assess_grade(p1, policy=_POLICY).grade
    assert GRADES.index(g1) >= GRADES.index(g0)
    # The days-late mean regressor carries the same constraints (same sign as risk).
    assert float(mean.predict(after)[0]) >= float(mean.predict(before)[0]) - 1e-9


def test_the_hazard_model_is_monotone_through_its_hazards() -> None:
    X, score = _matrix(1500, seed=3)
    rng = np.random.default_rng(4)
    stop = np.clip(20 * score + rng.normal(scale=10, size=len(X)), -20, 120)
    settled = stop < 90
    half = len(X) // 2
    model: HazardModel = fit_hazard(
        X[:half], stop[:half], settled[:half], X[half:], stop[half:], settled[half:],
        feature_names=FEATURE_COLUMNS, categorical=_CATEGORICAL, horizon_days=90,
        params={"num_leaves": 15, "min_data_in_leaf": 20, "num_threads": 1, "verbose": -1},
        num_boost_round=40, early_stopping_rounds=0, seed=0,
    )  # fmt: skip
    rows = X[half : half + 200]
    for feature in DIRECTED:
        worse = rows.copy()
        worse[:, FEATURE_COLUMNS.index(feature)] += 1.0
        assert np.all(model.p_default(worse) >= model.p_default(rows) - 1e-9), feature


@pytest.fixture(scope="module")
def linear() -> tuple:
    """The logistic and ridge baselines fitted on rows whose labels wave against the spec."""
    X, score = _matrix(3000, seed=5)
    rng = np.random.default_rng(6)
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-(score - 2.0)))).astype("int64")
    days = 10 * score + rng.normal(scale=3, size=len(X))
    # A wrong-way feature the data insists on: the baselines must not follow it.
    j = FEATURE_COLUMNS.index(DIRECTED[0])
    y = np.where(X[:, j] > 1.0, 0, y)
    days = days - 30 * X[:, j]
    names = list(FEATURE_COLUMNS)
    return X, fit_logistic(X, y, feature_names=names), fit_linear(X, days, feature_names=names)


def test_linear_baselines_leave_out_what_would_lower_risk_for_a_worse_fact(linear: tuple) -> None:
    _, logistic, ridge = linear
    directions = monotone_constraints(FEATURE_COLUMNS)
    for pipeline in (logistic, ridge):
        numeric = list(pipeline.named_steps["prepare"].transformers_[0][2])
        coef = np.ravel(pipeline.named_steps["model"].coef_)[: len(numeric)]
        assert all(directions[j] * c >= 0 for j, c in zip(numeric, coef, strict=True))
        # The feature the labels push the wrong way was left out, not kept with its sign.
        assert FEATURE_COLUMNS.index(DIRECTED[0]) not in numeric


@settings(max_examples=200, deadline=None)
@given(row=st.integers(0, 2999), feature=st.sampled_from(DIRECTED), step=st.floats(0.01, 5.0))
def test_linear_baselines_never_lower_risk_for_a_worse_fact(
    linear: tuple, row: int, feature: str, step: float
) -> None:
    X, logistic, ridge = linear
    before, after = _worse(X, row, feature, step)
    p0, p1 = (float(logistic.predict_proba(x)[0, 1]) for x in (before, after))
    assert p1 >= p0 - 1e-12, (feature, p0, p1)
    d0, d1 = (float(ridge.predict(x)[0]) for x in (before, after))
    assert d1 >= d0 - 1e-9, (feature, d0, d1)
