"""The scoring service without HTTP: reasons in words, the fast path, the calibrator."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from features.spec import FEATURE_COLUMNS, FEATURE_SPEC
from features.store import get_engine
from serving.reasons import explain, sentence
from serving.state import ServingState
from serving.usecases.orders import assess_order
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for
from training.bundle import ScoreCalibrator, load_bundle

# One value per feature, as a customer's row might hold them.
VALUES: dict[str, object] = {
    spec.name: (
        "retail"
        if spec.dtype == "category"
        else 1
        if spec.unit == "flag"
        else 23.4
        if spec.unit in ("days", "")
        else 0.35
        if spec.unit == "share"
        else 12
        if spec.unit == "count"
        else 12_345.0
    )
    for spec in FEATURE_SPEC
}
VALUES["invoice_issue_month"] = 3
VALUES["invoice_issue_weekday"] = 4


@pytest.mark.parametrize("feature", FEATURE_COLUMNS)
def test_every_feature_reads_as_words_with_its_value(feature: str) -> None:
    text = sentence(feature, VALUES)
    assert not any(re.search(rf"\b{name}\b", text) for name in FEATURE_COLUMNS), text
    assert "_" not in text and len(text) < 120
    unknown = sentence(feature, {**VALUES, feature: None})
    assert "_" not in unknown and unknown != text


def test_the_collector_sentences() -> None:
    row = {"history_settled_count": 5, "history_days_late_mean": 23.0}
    assert sentence("history_days_late_mean", row) == "paid 5 invoices 23 days late on average"
    assert sentence("history_days_late_mean", {**row, "history_days_late_mean": -2.0}) == (
        "paid 5 invoices 2 days early on average"
    )
    assert sentence("invoice_days_past_due", {"invoice_days_past_due": 41}) == (
        "the invoice is 41 days past due"
    )
    assert sentence("exposure_days_since_last_payment", {}) == "has never paid anything"
    assert sentence("customer_country", {"customer_country": "DE"}) == "is based in DE"


def test_explain_takes_the_largest_contributions_in_order() -> None:
    contributions = np.zeros(len(FEATURE_COLUMNS))
    big = FEATURE_COLUMNS.index("history_days_late_mean")
    mid = FEATURE_COLUMNS.index("exposure_open_amount")  # undirected: may lower risk
    small = FEATURE_COLUMNS.index("customer_tenure_days")
    contributions[[big, mid, small]] = [0.9, -0.5, 0.2]
    reasons = explain(contributions, VALUES, feature_columns=FEATURE_COLUMNS, top=2)
    assert [r.feature for r in reasons] == ["history_days_late_mean", "exposure_open_amount"]
    assert [r.effect for r in reasons] == ["raises risk", "lowers risk"]
    # Amount and log amount say the same thing: said once.
    both = np.zeros(len(FEATURE_COLUMNS))
    both[FEATURE_COLUMNS.index("invoice_amount")] = 0.4
    both[FEATURE_COLUMNS.index("invoice_log_amount")] = 0.3
    texts = [r.text for r in explain(both, VALUES, feature_columns=FEATURE_COLUMNS)]
    assert len(texts) == len(set(texts)) == 1


@pytest.fixture
def state(api_template: ApiTemplate, tmp_path: Path) -> ServingState:
    settings = settings_for(api_template, tmp_path)
    return ServingState.build(
        get_engine(settings.database_url),
        bundle=load_bundle(settings.models_dir / "champion"),
        policy=settings.policy,
        as_of=AS_OF,
    )


def test_order_decision_builds_no_frame_and_reads_no_database(
    state: ServingState, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_frames(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the order hot path built a DataFrame")

    monkeypatch.setattr(pd.DataFrame, "__init__", no_frames)
    # The decision is made in memory; only an approval then writes its reservation
    # (`confirm_order`, tests/serving/test_api_exposure.py).
    draft = assess_order(state, None, customer_id="C00001", amount=1234.0)  # type: ignore[arg-type]
    assert draft.answer.decision in {"approve", "review", "decline"}


def test_calibrator_closed_forms_equal_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(size=2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-raw))).astype(int)
    probe = np.concatenate([rng.normal(size=500) * 3, [-50.0, 50.0, raw.min(), raw.max()]])
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
    platt = LogisticRegression().fit(raw.reshape(-1, 1), y)
    np.testing.assert_array_equal(
        ScoreCalibrator("isotonic", iso)(probe), np.clip(iso.predict(probe), 0, 1)
    )
    np.testing.assert_array_equal(
        ScoreCalibrator("sigmoid", platt)(probe),
        np.clip(platt.predict_proba(probe.reshape(-1, 1))[:, 1], 0, 1),
    )


def test_one_calibrated_score_equals_the_array_path() -> None:
    # The order decision calibrates one float (`ScoreCalibrator.one`): bit for bit the
    # value the array path gives, out-of-range and missing scores included.
    rng = np.random.default_rng(1)
    raw = rng.normal(size=2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-raw))).astype(int)
    probe = [*(rng.normal(size=200) * 3), -50.0, 50.0, float(raw.min()), float(raw.max())]
    calibrators = [
        ScoreCalibrator(
            "isotonic", IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
        ),
        ScoreCalibrator("sigmoid", LogisticRegression().fit(raw.reshape(-1, 1), y)),
    ]
    for calibrator in calibrators:
        for value in probe:
            assert calibrator.one(value) == calibrator(np.array([value]))[0], calibrator.method
        assert np.isnan(calibrator.one(float("nan"))) == np.isnan(calibrator(np.array([np.nan]))[0])
