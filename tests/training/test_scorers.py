"""The served scorers: one row = the batch, save/load round trips, the arrays = the pipelines.

Every scorer kind a bundle can serve (LightGBM, LightGBM on a history offset, the linear
baselines, the history baseline, the hazard model) is scored by batch and row by row,
saved and loaded through a bundle, and checked against what it replaces: the linear
arrays against the scikit-learn pipelines, the LightGBM scorers against the arithmetic
of the first bundle format, which must still load.
"""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import joblib
import lightgbm as lgb
import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from features.spec import CATEGORICAL_COLUMNS, FEATURE_COLUMNS
from kernel.config import Settings
from kernel.errors import BundleError
from tests.utils.bundle_factory import CATEGORIES, make_bundle, make_feature_rows
from training.baselines import fit_history_baseline, fit_linear, fit_logistic
from training.bundle import Bundle, load_bundle, save_bundle
from training.bundle_checks import MANIFEST_FILE, write_manifest
from training.hazard import fit_hazard
from training.matrix import feature_matrix
from training.offsets import fit_history_offset
from training.run_bundle import bundle_from_scorers, risk_scorer, timing_scorer
from training.scorers import (
    HistoryRisk,
    HistoryTiming,
    LightGBMRisk,
    LightGBMTiming,
    ScoreCalibrator,
    residual_quantiles,
)
from training.scorers_blend import BlendRisk, BlendTiming
from training.scorers_hazard import HazardRisk, HazardTiming
from training.scorers_linear import LinearModel, LinearRisk, LinearTiming

KEYS = ("mean", "p10", "p50", "p90")
KINDS = ("lightgbm", "lightgbm_residual", "logistic_linear", "history", "hazard", "blend")


@lru_cache(maxsize=1)
def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model matrix (with NaN), a 0/1 risk label and days late, seeded."""
    rows = make_feature_rows(500, seed=11)
    X = feature_matrix(rows, FEATURE_COLUMNS, CATEGORIES)
    rng = np.random.default_rng(12)
    late = np.nan_to_num(X[:, FEATURE_COLUMNS.index("history_days_late_mean")], nan=10.0)
    days = np.clip(late + rng.normal(0, 5, len(X)), -20, 90)
    y = (days + rng.normal(0, 10, len(X)) > 30).astype("int64")
    return X, y, days


def _scoring_rows() -> np.ndarray:
    """Rows to score: NaN in places and a categorical code unseen in training."""
    X = feature_matrix(make_feature_rows(60, seed=13), FEATURE_COLUMNS, CATEGORIES)
    X[::4, ::3] = np.nan
    X[::5, FEATURE_COLUMNS.index(CATEGORICAL_COLUMNS[0])] = 7.0  # unknown code
    return X


def _booster(X: np.ndarray, y: np.ndarray, params: dict, init: np.ndarray | None = None):
    categorical = [FEATURE_COLUMNS.index(c) for c in CATEGORICAL_COLUMNS]
    data = lgb.Dataset(X, y, init_score=init, categorical_feature=categorical)
    base = {"verbose": -1, "seed": 0, "num_threads": 1, "min_data_in_leaf": 5}
    return lgb.train({**base, **params}, data, num_boost_round=10)


def _platt(raw: np.ndarray, y: np.ndarray) -> ScoreCalibrator:
    return ScoreCalibrator("sigmoid", LogisticRegression().fit(raw.reshape(-1, 1), y))


@lru_cache(maxsize=8)
def _scorers(kind: str):
    """(risk, timing) scorers of one kind, fitted on `_data`."""
    X, y, days = _data()
    names = list(FEATURE_COLUMNS)
    if kind == "lightgbm":
        bundle = make_bundle()
        return bundle.risk, bundle.timing
    if kind == "lightgbm_residual":
        logit = fit_history_offset(X, y, feature_names=names, kind="logit")
        start = fit_history_offset(X, days, feature_names=names, kind="days")
        booster = _booster(X, y, {"objective": "binary"}, logit.values(X))
        raw = booster.predict(X, raw_score=True) + logit.values(X)
        models = {"mean": _booster(X, days, {"objective": "regression"}, start.values(X))}
        for key, alpha in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9)):
            params = {"objective": "quantile", "alpha": alpha}
            models[key] = _booster(X, days, params, start.values(X))
        return LightGBMRisk(booster, _platt(raw, y), logit), LightGBMTiming(models, start)
    if kind == "logistic_linear":
        risk = LinearRisk(LinearModel.from_pipeline(fit_logistic(X, y, feature_names=names)))
        ridge = fit_linear(X, days, feature_names=names)
        bands = residual_quantiles(days - ridge.predict(X))
        return risk, LinearTiming(LinearModel.from_pipeline(ridge), bands)
    if kind == "history":
        base = fit_history_baseline(X, days, feature_names=names)
        share = base.default_score(X)
        history = HistoryRisk(base.share_late_column, base.fallback_share_late, _platt(share, y))
        bands = residual_quantiles(days - base.days_late(X))
        return history, HistoryTiming(base.days_late_column, base.fallback_days_late, bands)
    if kind == "blend":
        parts = [_scorers(k) for k in ("lightgbm", "history")]
        return BlendRisk([r for r, _ in parts]), BlendTiming([t for _, t in parts])
    assert kind == "hazard"
    half = len(X) // 2
    settled = days < 90
    model = fit_hazard(
        X[:half],
        days[:half],
        settled[:half],
        X[half:],
        days[half:],
        settled[half:],
        feature_names=names,
        categorical=[names.index(c) for c in CATEGORICAL_COLUMNS],
        horizon_days=90,
        params={"num_threads": 1, "num_leaves": 7, "min_data_in_leaf": 5},
        num_boost_round=8,
        early_stopping_rounds=4,
        seed=0,
    )
    return HazardRisk(model), HazardTiming(model)


def _bundle(kind: str) -> Bundle:
    risk, timing = _scorers(kind)
    return bundle_from_scorers(
        risk,
        timing,
        feature_columns=list(FEATURE_COLUMNS),
        categories=CATEGORIES,
        settings=Settings(),
        as_of="2025-12-31",
        trained_at="2026-01-01T00:00:00+00:00",
    )


@pytest.mark.parametrize("kind", KINDS)
def test_one_row_scores_equal_the_batch(kind: str) -> None:
    risk, timing = _scorers(kind)
    X = _scoring_rows()
    p = risk.predict(X)
    days = timing.predict(X)
    assert ((p >= 0) & (p <= 1)).all()
    assert (days["p10"] <= days["p50"]).all() and (days["p50"] <= days["p90"]).all()
    for i in range(len(X)):
        x = X[i : i + 1]
        assert risk.predict_row(x) == pytest.approx(p[i], abs=1e-9)
        row = timing.predict_row(x)
        for key in KEYS:
            assert row[key] == pytest.approx(days[key][i], abs=1e-9), key
        assert timing.predict_row(x, quantiles=False) == {"mean": row["mean"]}
    assert risk.contributions(X).shape == X.shape
    assert timing.contributions(X).shape == X.shape
    assert set(risk.row_functions()) | set(timing.row_functions())


@pytest.mark.parametrize("kind", KINDS)
def test_saved_bundle_of_each_kind_scores_identically_and_is_hashed(
    tmp_path: Path, kind: str
) -> None:
    bundle = _bundle(kind)
    path = save_bundle(bundle, tmp_path / "champion")
    loaded = load_bundle(path)
    X = _scoring_rows()
    expected, got = bundle.predict(X), loaded.predict(X)
    for name in ("p_default", "days_late", "days_late_p10", "days_late_p50", "days_late_p90"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
    np.testing.assert_array_equal(loaded.contributions(X), bundle.contributions(X))
    assert loaded.served == bundle.served == {"risk": _kind(kind, "risk"), "days_late": _kind(kind)}
    assert json.loads((path / "metadata.json").read_text())["served"] == bundle.served
    manifest = json.loads((path / MANIFEST_FILE).read_text())["sha256"]
    assert set(manifest) == {f.name for f in path.iterdir()} - {MANIFEST_FILE}
    assert loaded.row_predictors()
    for name in manifest:  # one changed byte in any file is refused
        data = bytearray((path / name).read_bytes())
        data[len(data) // 2] ^= 0x01
        (path / name).write_bytes(bytes(data))
        with pytest.raises(BundleError, match=name.replace(".", r"\.")):
            load_bundle(path)
        data[len(data) // 2] ^= 0x01
        (path / name).write_bytes(bytes(data))
    load_bundle(path)


def _kind(kind: str, question: str = "days_late") -> str:
    if kind == "logistic_linear":
        return "logistic" if question == "risk" else "linear"
    return kind


def test_linear_arrays_equal_the_sklearn_pipelines() -> None:
    X, y, days = _data()
    names = list(FEATURE_COLUMNS)
    X_fit = X.copy()
    numeric = [j for j, c in enumerate(names) if c not in CATEGORICAL_COLUMNS]
    X_fit[:, numeric[-1]] = np.nan  # a column missing in every training row
    logistic = fit_logistic(X_fit, y, feature_names=names)
    ridge = fit_linear(X_fit, days, feature_names=names)
    Z = _scoring_rows()
    risk = LinearRisk(LinearModel.from_pipeline(logistic))
    np.testing.assert_allclose(risk.predict(Z), logistic.predict_proba(Z)[:, 1], atol=1e-9)
    model = LinearModel.from_pipeline(ridge)
    np.testing.assert_allclose(model.score(Z), ridge.predict(Z), atol=1e-9)
    # Contributions add up to the score minus the intercept.
    np.testing.assert_allclose(
        model.contributions(Z).sum(axis=1), ridge.predict(Z) - model.intercept, atol=1e-9
    )
    restored = LinearModel.from_dict(model.to_dict())
    np.testing.assert_array_equal(restored.score(Z), model.score(Z))


def test_lightgbm_scorers_are_bit_identical_to_the_first_bundle_format() -> None:
    bundle = make_bundle()
    X = _scoring_rows()
    model, calibrator = bundle.default_model, bundle.calibrator
    assert model is not None and calibrator is not None
    raw = np.asarray(model.predict(X, raw_score=True))
    days = {k: m.predict(X) for k, m in bundle.days_late_models.items()}
    p10, p50, p90 = np.sort(np.vstack([days["p10"], days["p50"], days["p90"]]), axis=0)
    scores = bundle.predict(X)
    np.testing.assert_array_equal(scores.p_default, calibrator(raw))
    np.testing.assert_array_equal(scores.days_late, days["mean"])
    for got, want in ((scores.days_late_p10, p10), (scores.days_late_p50, p50)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(scores.days_late_p90, p90)
    contrib = np.asarray(model.predict(X, pred_contrib=True))[:, :-1]
    np.testing.assert_array_equal(bundle.contributions(X), contrib)


def test_offset_scorer_is_the_booster_raw_score_plus_the_offset() -> None:
    risk, timing = _scorers("lightgbm_residual")
    X = _scoring_rows()
    raw = risk.booster.predict(X, raw_score=True) + risk.offset.values(X)
    np.testing.assert_array_equal(risk.raw(X), raw)
    np.testing.assert_array_equal(risk.predict(X), risk.calibrator(raw))
    mean = timing.boosters["mean"].predict(X) + timing.offset.values(X)
    np.testing.assert_array_equal(timing.predict(X)["mean"], mean)
    # The offset's part of the explanation sits on the history mean's column.
    plain = risk.booster.predict(X, pred_contrib=True)[:, :-1]
    moved = np.flatnonzero(np.any(risk.contributions(X) != plain, axis=0))
    assert set(moved) <= {risk.offset.mean_column}


def test_a_first_format_bundle_still_loads(tmp_path: Path) -> None:
    bundle = make_bundle()
    path = tmp_path / "old"
    path.mkdir()
    assert bundle.default_model is not None
    bundle.default_model.save_model(str(path / "default.txt"))
    for key, model in bundle.days_late_models.items():
        model.save_model(str(path / f"days_late_{key}.txt"))
    meta = {
        "format_version": 1,
        **{k: getattr(bundle, k) for k in ("model_version", "trained_at", "as_of")},
        "feature_set_version": bundle.feature_set_version,
        "feature_columns": bundle.feature_columns,
        "categories": bundle.categories,
        "horizon_days": bundle.horizon_days,
        "default_unavailable_reason": None,
        "metrics": bundle.metrics,
        "thresholds": bundle.thresholds,
        "calibrator": bundle.calibrator,
    }
    joblib.dump(meta, path / "bundle.joblib")
    write_manifest(path, format_version=1)
    loaded = load_bundle(path)
    X = _scoring_rows()
    np.testing.assert_array_equal(loaded.predict(X).p_default, bundle.predict(X).p_default)
    np.testing.assert_array_equal(loaded.predict(X).days_late_p90, bundle.predict(X).days_late_p90)
    assert loaded.served == {"risk": "lightgbm", "days_late": "lightgbm"}
    assert (loaded.risk_target, loaded.very_late_days) == ("default", None)


def test_risk_target_round_trips_and_is_checked(tmp_path: Path) -> None:
    bundle = dataclasses.replace(make_bundle(), risk_target="very_late", very_late_days=30)
    loaded = load_bundle(save_bundle(bundle, tmp_path / "b"))
    assert (loaded.risk_target, loaded.very_late_days) == ("very_late", 30)
    with pytest.raises(ValueError, match="risk_target"):
        dataclasses.replace(make_bundle(), risk_target="late")


def test_replacing_the_lightgbm_models_replaces_the_scorers() -> None:
    bundle = make_bundle()
    without = dataclasses.replace(bundle, default_model=None, calibrator=None)
    assert not without.has_default_model and without.served["risk"] is None
    kept = dataclasses.replace(_bundle("lightgbm_residual"), model_version="2")
    assert kept.served == {"risk": "lightgbm_residual", "days_late": "lightgbm_residual"}
    assert kept.risk is _scorers("lightgbm_residual")[0]


def test_backtest_fits_become_scorers() -> None:
    X, y, days = _data()
    names = list(FEATURE_COLUMNS)
    base = fit_history_baseline(X, days, feature_names=names)
    calibrator = _platt(base.default_score(X), y)
    fit = SimpleNamespace(name="history", calibrator=calibrator, booster=None, pipeline=None)
    fit.history = base
    risk = risk_scorer(fit)
    np.testing.assert_array_equal(risk.predict(X), calibrator(base.default_score(X)))
    pipeline = fit_linear(X, days, feature_names=names)
    bands = {"p10": -3.0, "p50": 0.5, "p90": 6.0}
    days_fit = SimpleNamespace(name="linear", boosters=None, pipeline=pipeline, history=None)
    days_fit.residual_quantiles = bands
    timing = timing_scorer(days_fit)
    np.testing.assert_allclose(timing.predict(X)["p90"], pipeline.predict(X) + 6.0, atol=1e-9)


def test_the_blend_is_the_average_of_its_parts() -> None:
    X = _scoring_rows()
    risk, timing = _scorers("blend")
    parts = [_scorers(k) for k in ("lightgbm", "history")]
    expected = (parts[0][0].predict(X) + parts[1][0].predict(X)) / 2
    np.testing.assert_allclose(risk.predict(X), expected)
    mean = (parts[0][1].predict(X)["mean"] + parts[1][1].predict(X)["mean"]) / 2
    np.testing.assert_allclose(timing.predict(X)["mean"], mean)


def test_a_calibrated_hazard_risk_scores_one_row_as_the_batch() -> None:
    # The one-row path calibrates a float (`ScoreCalibrator.one`), the batch an array.
    risk, _ = _scorers("hazard")
    X = _scoring_rows()
    raw = np.log(risk.predict(X) / (1 - risk.predict(X)))
    y = (np.arange(len(raw)) % 3 == 0).astype(int)
    for calibrator in (
        _platt(raw, y),
        ScoreCalibrator(
            "isotonic", IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
        ),
    ):
        calibrated = HazardRisk(risk.model, calibrator)
        p = calibrated.predict(X)
        for i in range(len(X)):
            assert calibrated.predict_row(X[i : i + 1]) == pytest.approx(p[i], abs=1e-12)
