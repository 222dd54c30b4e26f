"""The exported bundle: save/load round trip, one encoding for frames and dicts, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.spec import FEATURE_COLUMNS, FeatureSpecError
from kernel.errors import ModelNotFoundError
from tests.utils.bundle_factory import make_bundle, make_feature_rows
from training.bundle import load_bundle, save_bundle


def _scores_equal(a, b) -> None:
    for name in ("p_default", "days_late", "days_late_p10", "days_late_p50", "days_late_p90"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("with_default", [True, False], ids=["default-model", "days-late-only"])
def test_saved_and_loaded_bundle_scores_identically(tmp_path: Path, with_default: bool) -> None:
    bundle = make_bundle(with_default=with_default)
    rows = make_feature_rows(200, seed=5)
    path = save_bundle(bundle, tmp_path / "champion")
    loaded = load_bundle(path)

    X = bundle.matrix(rows)
    np.testing.assert_array_equal(loaded.matrix(rows), X)
    _scores_equal(loaded.predict(X), bundle.predict(X))
    np.testing.assert_array_equal(loaded.contributions(X), bundle.contributions(X))
    for name in ("model_version", "as_of", "feature_columns", "categories", "thresholds"):
        assert getattr(loaded, name) == getattr(bundle, name)
    assert loaded.default_unavailable_reason == bundle.default_unavailable_reason
    assert loaded.has_default_model is with_default


@pytest.mark.parametrize("with_default", [True, False], ids=["default-model", "days-late-only"])
def test_one_row_fast_path_scores_like_the_matrix_path(tmp_path: Path, with_default: bool) -> None:
    bundle = load_bundle(save_bundle(make_bundle(with_default=with_default), tmp_path / "b"))
    rows = make_feature_rows(120, seed=4)
    rows.loc[::7, "customer_country"] = None
    X = bundle.matrix(rows)
    X[::5, ::3] = np.nan  # missing values take the trees' default branches
    whole = bundle.predict(X)
    for i in range(len(X)):
        one = bundle.predict_row(X[i : i + 1])
        for name in ("p_default", "days_late", "days_late_p10", "days_late_p50", "days_late_p90"):
            np.testing.assert_allclose(
                getattr(one, name), getattr(whole, name)[i : i + 1], rtol=1e-12, err_msg=name
            )
    lean = bundle.predict_row(X[:1], quantiles=False)
    np.testing.assert_allclose(lean.days_late, whole.days_late[:1], rtol=1e-12)
    np.testing.assert_allclose(lean.p_default, whole.p_default[:1], rtol=1e-12)
    assert np.isnan(lean.days_late_p50).all()


def test_scores_have_the_documented_shape_and_order() -> None:
    bundle = make_bundle()
    X = bundle.matrix(make_feature_rows(300, seed=2))
    scores = bundle.predict(X)
    assert ((scores.p_default >= 0) & (scores.p_default <= 1)).all()
    assert (scores.days_late_p10 <= scores.days_late_p50).all()
    assert (scores.days_late_p50 <= scores.days_late_p90).all()
    assert bundle.contributions(X).shape == (300, len(FEATURE_COLUMNS))


def test_without_default_model_p_default_is_nan_and_contributions_explain_days_late() -> None:
    bundle = make_bundle(with_default=False)
    X = bundle.matrix(make_feature_rows(50, seed=3))
    assert np.isnan(bundle.predict(X).p_default).all()
    contrib = bundle.days_late_models["mean"].predict(X, pred_contrib=True)[:, :-1]
    np.testing.assert_array_equal(bundle.contributions(X), contrib)


def test_row_equals_matrix_for_the_same_features() -> None:
    bundle = make_bundle()
    rows = make_feature_rows(60, seed=9)
    rows.loc[3, "customer_country"] = None  # unknown category value -> NaN in both
    X = bundle.matrix(rows)
    for i in range(len(rows)):
        values = {c: rows[c].iloc[i] for c in FEATURE_COLUMNS}
        np.testing.assert_array_equal(bundle.row(values), X[i : i + 1])


def test_unseen_category_and_missing_value_become_nan() -> None:
    bundle = make_bundle()
    values = {c: make_feature_rows(1)[c].iloc[0] for c in FEATURE_COLUMNS}
    values["customer_country"] = "Atlantis"
    values["history_days_late_mean"] = None
    row = bundle.row(values)
    frame = pd.DataFrame({c: [values[c]] for c in FEATURE_COLUMNS})
    np.testing.assert_array_equal(bundle.matrix(frame), row)
    assert np.isnan(row[0, FEATURE_COLUMNS.index("customer_country")])
    assert np.isnan(row[0, FEATURE_COLUMNS.index("history_days_late_mean")])
    assert row[0, FEATURE_COLUMNS.index("customer_industry")] >= 0


def test_matrix_names_missing_feature_columns() -> None:
    bundle = make_bundle()
    rows = make_feature_rows(5).drop(columns=["invoice_amount"])
    with pytest.raises(FeatureSpecError, match="invoice_amount"):
        bundle.matrix(rows)


def test_missing_bundle_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"duecast train.*duecast promote"):
        load_bundle(tmp_path / "nothing-here")


def test_saving_replaces_an_existing_bundle(tmp_path: Path) -> None:
    target = tmp_path / "champion"
    save_bundle(make_bundle(with_default=True), target)
    save_bundle(make_bundle(with_default=False), target)
    assert not load_bundle(target).has_default_model
    assert not (target / "default.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["champion"]


def test_bundle_from_another_feature_set_is_refused(tmp_path: Path) -> None:
    import joblib

    path = save_bundle(make_bundle(), tmp_path / "champion")
    meta = joblib.load(path / "bundle.joblib")
    joblib.dump({**meta, "feature_set_version": "0"}, path / "bundle.joblib")
    (path / "manifest.json").unlink()  # an older export: an edited file would fail its hash first
    with pytest.raises(ModelNotFoundError, match="feature set"):
        load_bundle(path)


def test_grades_follow_thresholds() -> None:
    bundle = make_bundle()
    assert [bundle.grade(p) for p in (0.0, 0.03, 0.07, 0.15, 0.5)] == ["A", "B", "C", "D", "E"]
