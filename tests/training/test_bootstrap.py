"""Paired bootstrap intervals: weighted metrics agree with sklearn and training.metrics,
and the intervals behave as intervals should (zero width for equal models, away from
zero for a clearly better one, wider when rows of a cluster move together)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    mean_absolute_error,
    roc_auc_score,
)

import training.bootstrap as bootstrap
from kernel.errors import InsufficientDataError, InvalidRequestError
from training.bootstrap import Interval, paired_interval, weighted_metric
from training.metrics import days_late_metrics, expected_calibration_error


def _scores(seed: int, n: int = 400, *, prevalence: float = 0.3) -> tuple[np.ndarray, ...]:
    """0/1 outcomes, tied scores rounded to 0.05, and positive weights with some zeros."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype("float64")
    p = np.round(np.clip(0.25 + 0.3 * y + rng.normal(0, 0.2, n), 0, 1) / 0.05) * 0.05
    w = rng.uniform(0, 3, n)
    w[rng.random(n) < 0.1] = 0.0
    return y, p, w


def _noisy_models(seed: int, n: int = 600, *, gap: float = 0.0) -> tuple[np.ndarray, ...]:
    """Outcomes and two scores of the same signal, b noisier by `gap`."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * signal))).astype("float64")
    a = signal + rng.normal(0, 1.0, n)
    b = signal + rng.normal(0, 1.0 + gap, n)
    return y, a, b


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("prevalence", [0.3, 0.8])
def test_weighted_ranking_metrics_equal_sklearn_with_ties(seed: int, prevalence: float) -> None:
    y, p, w = _scores(seed, prevalence=prevalence)
    assert len(np.unique(p)) < len(p) / 5  # many ties
    for weights in (None, w):
        assert weighted_metric("roc_auc", y, p, weights=weights) == pytest.approx(
            roc_auc_score(y, p, sample_weight=weights), abs=1e-12
        )
        assert weighted_metric("pr_auc", y, p, weights=weights) == pytest.approx(
            average_precision_score(y, p, sample_weight=weights), abs=1e-12
        )


@pytest.mark.parametrize("seed", [0, 1])
def test_weighted_error_metrics_equal_sklearn(seed: int) -> None:
    y, p, w = _scores(seed)
    assert weighted_metric("brier", y, p, weights=w) == pytest.approx(
        brier_score_loss(y, p, sample_weight=w), abs=1e-12
    )
    days = np.random.default_rng(seed).integers(-10, 60, len(y)).astype("float64")
    pred = days + np.random.default_rng(seed + 1).normal(0, 5, len(y))
    assert weighted_metric("mae", days, pred, weights=w) == pytest.approx(
        mean_absolute_error(days, pred, sample_weight=w), abs=1e-9
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ece_equals_training_metrics_on_repeated_rows(seed: int) -> None:
    y, p, _ = _scores(seed, n=157)
    counts = np.random.default_rng(seed).integers(0, 4, len(y))
    assert weighted_metric("ece", y, p) == pytest.approx(
        expected_calibration_error(y, p), abs=1e-12
    )
    assert weighted_metric("ece", y, p, weights=counts) == pytest.approx(
        expected_calibration_error(np.repeat(y, counts), np.repeat(p, counts)), abs=1e-12
    )


def test_coverage_equals_days_late_metrics() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(-5, 40, 300).astype("float64")
    p10, p90 = y - rng.uniform(-3, 8, 300), y + rng.uniform(-3, 8, 300)
    expected = days_late_metrics(y, y, p10=p10, p90=p90)["interval_coverage"]
    assert weighted_metric("coverage", y, (p10, p90)) == pytest.approx(expected, abs=1e-6)
    gap = weighted_metric("coverage_error", y, (p10, p90), nominal=0.8)
    assert gap == pytest.approx(abs(expected - 0.8), abs=1e-6)


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc", "brier", "ece"])
def test_identical_predictions_give_a_zero_interval(metric: str) -> None:
    y, p, _ = _scores(4)
    clusters = np.arange(len(y)) // 4
    interval = paired_interval(metric, y, p, p.copy(), clusters=clusters, resamples=200)
    assert (interval.estimate, interval.low, interval.high) == (0.0, 0.0, 0.0)
    assert not interval.excludes_zero
    assert interval.winner is None


def test_a_clearly_better_model_excludes_zero() -> None:
    y, a, b = _noisy_models(5, gap=2.0)
    auc = paired_interval("roc_auc", y, a, b, resamples=300)
    assert auc.estimate > 0 and auc.low > 0 and auc.excludes_zero
    assert auc.winner == "a"
    # Brier: lower is better, so b's larger error makes a the winner with a negative gap.
    pa, pb = 1 / (1 + np.exp(-a)), 1 / (1 + np.exp(-b))
    brier = paired_interval("brier", y, pa, pb, resamples=300)
    assert brier.high < 0 and brier.winner == "a"
    assert paired_interval("brier", y, pb, pa, resamples=300).winner == "b"


def test_equally_good_models_give_intervals_spanning_zero_in_most_seeds() -> None:
    spans = 0
    for seed in range(20):
        y, a, b = _noisy_models(100 + seed)
        interval = paired_interval("roc_auc", y, a, b, resamples=200, seed=seed)
        spans += interval.low <= 0 <= interval.high
    assert spans >= 16  # 95 % intervals: about 19 of 20


def test_cluster_resampling_is_wider_when_rows_of_a_cluster_are_copies() -> None:
    y, a, b = _noisy_models(6, n=300, gap=0.5)
    copies = 6
    y, a, b = (np.repeat(v, copies) for v in (y, a, b))
    clusters = np.repeat(np.arange(300), copies)
    by_row = paired_interval("roc_auc", y, a, b, resamples=400)
    by_cluster = paired_interval("roc_auc", y, a, b, clusters=clusters, resamples=400)
    assert by_cluster.estimate == by_row.estimate
    assert by_cluster.clusters == 300 and by_row.clusters == len(y)
    # Copies make row resampling see sqrt(6) times too little noise.
    assert (by_cluster.high - by_cluster.low) > 1.8 * (by_row.high - by_row.low)


def test_seeded_results_repeat_and_do_not_depend_on_chunking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    y, a, b = _noisy_models(7)
    clusters = np.arange(len(y)) % 97
    first = paired_interval("pr_auc", y, a, b, clusters=clusters, resamples=150, seed=3)
    assert paired_interval("pr_auc", y, a, b, clusters=clusters, resamples=150, seed=3) == first
    assert paired_interval("pr_auc", y, a, b, clusters=clusters, resamples=150, seed=4) != first
    monkeypatch.setattr(bootstrap, "_CHUNK_CELLS", 6000)  # ten resamples per chunk
    assert paired_interval("pr_auc", y, a, b, clusters=clusters, resamples=150, seed=3) == first


def test_undefined_resamples_are_dropped_and_counted() -> None:
    y, a, b = _noisy_models(8, n=40)
    y[:] = 0.0
    y[0] = 1.0  # one positive: absent from about a third of the resamples
    interval = paired_interval("roc_auc", y, a, b, resamples=300)
    assert 60 < interval.dropped < 150
    assert np.isfinite(interval.low) and interval.note is not None


def test_mostly_undefined_resamples_give_nan_bounds_with_a_reason() -> None:
    y = np.array([1.0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    a, b = np.linspace(1, 0, 10), np.linspace(0, 1, 10)
    weights = np.array([1.0, 1] + [0.0] * 8)  # one weighted row of each class
    interval = paired_interval("roc_auc", y, a, b, weights=weights, resamples=300)
    assert interval.estimate == 1.0
    assert np.isnan(interval.low) and np.isnan(interval.high)
    assert interval.dropped > 150 and "undefined" in (interval.note or "")
    assert interval.to_dict()["low"] is None
    assert interval.to_dict()["excludes_zero"] is False


def test_one_class_only_gives_a_nan_estimate() -> None:
    y = np.zeros(20)
    interval = paired_interval("roc_auc", y, np.arange(20.0), np.arange(20.0), resamples=10)
    assert np.isnan(interval.estimate) and "full data" in (interval.note or "")


def test_interval_to_dict_is_plain() -> None:
    interval = Interval(0.1, 0.05, 0.2, 0.95, 100, 10, "roc_auc", True)
    d = interval.to_dict()
    assert d["estimate"] == 0.1 and d["excludes_zero"] is True and d["winner"] == "a"


def test_bad_input_raises_errors_that_say_what_to_fix() -> None:
    y, a, b = _noisy_models(9, n=30)
    with pytest.raises(InvalidRequestError, match="unknown metric"):
        paired_interval("accuracy", y, a, b)
    with pytest.raises(InvalidRequestError, match="pair"):
        paired_interval("coverage", y, a, b)
    with pytest.raises(InvalidRequestError, match="30 finite"):
        paired_interval("brier", y, a[:-1], b)
    with pytest.raises(InvalidRequestError, match="0/1"):
        paired_interval("roc_auc", y + 2, a, b)
    with pytest.raises(InsufficientDataError):
        paired_interval("roc_auc", [], [], [])
