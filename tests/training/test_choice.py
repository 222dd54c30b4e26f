"""The choice of the candidate to serve: the model only when it clearly beats every baseline."""

from __future__ import annotations

import numpy as np

from training.choice import choose
from training.metrics import days_late_metrics


def _days(y: np.ndarray, preds: dict[str, np.ndarray]) -> tuple[dict, dict]:
    pooled = {n: days_late_metrics(y, p) for n, p in preds.items()}
    return pooled, {n: {"mean": p} for n, p in preds.items()}


def _data(seed: int = 0, n: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.normal(5, 10, n)
    y = truth + rng.normal(0, 3, n)
    clusters = rng.integers(0, 300, n)
    return truth, y, clusters


def test_a_model_that_clearly_wins_is_served() -> None:
    truth, y, clusters = _data()
    rng = np.random.default_rng(1)
    pooled, preds = _days(
        y,
        {
            "lightgbm": truth,
            "lightgbm_residual": truth + rng.normal(0, 2, len(y)),
            "history": truth + rng.normal(0, 8, len(y)),
            "linear": truth + rng.normal(0, 6, len(y)),
        },
    )
    choice = choose(
        "days_late", pooled, y=y, predictions=preds, clusters=clusters, resamples=300, seed=0
    )
    assert choice.model == "lightgbm" and choice.served == "lightgbm"
    assert set(choice.intervals) == {"history", "linear"}
    assert all(iv.excludes_zero and iv.estimate < 0 for iv in choice.intervals.values())


def test_a_model_inside_the_noise_yields_to_the_simpler_baseline() -> None:
    truth, y, clusters = _data()
    rng = np.random.default_rng(6)
    pooled, preds = _days(
        y,
        {
            # Equally good, independent errors: any difference is noise.
            "lightgbm": truth + rng.normal(0, 4, len(y)),
            "lightgbm_residual": truth + rng.normal(0, 9, len(y)),
            "history": truth + rng.normal(0, 4, len(y)),
            "linear": truth + rng.normal(0, 9, len(y)),
        },
    )
    choice = choose(
        "days_late", pooled, y=y, predictions=preds, clusters=clusters, resamples=300, seed=0
    )
    # The model is ahead on the point estimate (a rule by point estimate would serve it)...
    assert pooled["lightgbm"]["mae"] < pooled["history"]["mae"]
    # ...but its interval spans zero, so the simpler baseline is served, and said so.
    assert choice.served == "history"
    assert not choice.intervals["history"].excludes_zero
    assert "not clearly better than history" in choice.reason


def test_a_better_baseline_is_served_and_said_so() -> None:
    truth, y, clusters = _data()
    rng = np.random.default_rng(3)
    pooled, preds = _days(
        y,
        {
            "lightgbm": truth + rng.normal(0, 6, len(y)),
            "lightgbm_residual": truth + rng.normal(0, 7, len(y)),
            "history": truth + rng.normal(0, 8, len(y)),
            "linear": truth,
        },
    )
    choice = choose(
        "days_late", pooled, y=y, predictions=preds, clusters=clusters, resamples=300, seed=0
    )
    assert choice.served == "linear"
    assert choice.intervals["linear"].winner == "b"
    assert choice.reason.startswith("linear is at least as good")


def test_risk_choice_uses_roc_auc() -> None:
    rng = np.random.default_rng(4)
    n = 4000
    score = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(score * 2 - 2)))).astype(int)
    preds = {
        "lightgbm": score,
        "lightgbm_residual": score + rng.normal(0, 1.5, n),
        "logistic": score + rng.normal(0, 1.0, n),
        "history": rng.normal(size=n),
    }
    from training.metrics import default_metrics

    pooled = {k: default_metrics(y, 1 / (1 + np.exp(-p)), np.ones(n)) for k, p in preds.items()}
    choice = choose(
        "risk",
        pooled,
        y=y,
        predictions={k: {"p": p} for k, p in preds.items()},
        clusters=np.arange(n),
        resamples=300,
        seed=0,
    )
    assert choice.served == "lightgbm"
    assert choice.to_json()["metric"] == "roc_auc"
