"""The discrete-time hazard model: expansion, recovery of known hazards, censoring."""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pytest

from training.hazard import HazardModel, fit_hazard
from training.hazard_data import expand, hazard_edges, observation_counts, observations
from training.row_predict import RowPredictor

H = 90
TERMS = 14
ISSUE_DAYS = 350
# Ground truth of the simulation, per group (x0 = 0 / 1): share never paid, and the
# days-late distribution of the others (normal, rounded).
P_NEVER = (0.08, 0.30)
LATE_MEAN = (-2.0, 15.0)
LATE_SD = (8.0, 15.0)
PARAMS = {"num_threads": 1, "learning_rate": 0.1, "num_leaves": 8, "min_data_in_leaf": 50}


def _draw_days(rng: np.random.Generator, group: np.ndarray) -> np.ndarray:
    """True days late of each invoice; inf when never paid."""
    p_never = np.take(P_NEVER, group)
    days = np.round(rng.normal(np.take(LATE_MEAN, group), np.take(LATE_SD, group)))
    days = np.maximum(days, -40.0)
    return np.where(rng.random(len(group)) < p_never, np.inf, days)


@lru_cache(maxsize=1)
def _truth() -> tuple[np.ndarray, np.ndarray]:
    """P(default) and median of capped days late per group, by a large simulation."""
    rng = np.random.default_rng(99)
    p_default, median = [], []
    for g in (0, 1):
        days = _draw_days(rng, np.full(400_000, g))
        p_default.append(float(np.mean(days > H)))
        median.append(float(np.median(np.minimum(days, H))))
    return np.array(p_default), np.array(median)


@lru_cache(maxsize=1)
def _ledger(n: int = 4000, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 2, n)
    noise = rng.normal(size=n)
    issue = rng.integers(0, ISSUE_DAYS, n).astype("float64")
    return {
        "X": np.column_stack([group, noise]).astype("float64"),
        "group": group,
        "issue": issue,
        "due": issue + TERMS,
        "days": _draw_days(rng, group),
        "valid": rng.random(n) < 0.25,
    }


def _observe(cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """(stop, settled) of every invoice as known at the start of day `cutoff`."""
    led = _ledger()
    observed = (cutoff - 1) - led["due"]
    known = np.where(led["days"] <= observed, led["days"], np.nan)
    return observations(known, observed, H)


def test_observations_at_a_cutoff() -> None:
    stop, settled = observations(
        np.array([3.0, np.nan, np.nan, 95.0, 90.0, 90.0]),
        np.array([10.0, 5.0, 200.0, 200.0, 200.0, 200.0]),
        H,
        known_default=np.array([False, False, False, False, False, True]),
    )
    np.testing.assert_array_equal(stop, [3.0, 5.0, H, H, H, H])
    # Settled at exactly H is in time; after H, or a capped default label, is a default.
    np.testing.assert_array_equal(settled, [True, False, False, False, True, False])


def _fit(cutoff: float, seed: int = 3) -> HazardModel:
    led = _ledger()
    stop, settled = _observe(cutoff)
    tr, va = ~led["valid"], led["valid"]
    return fit_hazard(
        led["X"][tr],
        stop[tr],
        settled[tr],
        led["X"][va],
        stop[va],
        settled[va],
        feature_names=["x0", "x1"],
        categorical=[],
        horizon_days=H,
        params=PARAMS,
        num_boost_round=300,
        early_stopping_rounds=20,
        seed=seed,
        max_rows=None,
    )


COMPLETE = ISSUE_DAYS + TERMS + H + 2  # every outcome known
CENSORED = ISSUE_DAYS + 1  # the latest ~30 % of invoices still inside their window


@pytest.fixture(scope="module")
def full_model() -> HazardModel:
    return _fit(COMPLETE)


@pytest.fixture(scope="module")
def censored_model() -> HazardModel:
    return _fit(CENSORED)


def _kaplan_meier(stop: np.ndarray, settled: np.ndarray) -> tuple[float, float]:
    """KM estimate of P(not settled by H) and the median of capped days late."""
    survival, median = 1.0, float(H)
    for day in np.unique(stop[settled]):
        at_risk = np.sum(stop >= day)
        survival *= 1.0 - np.sum(settled & (stop == day)) / at_risk
        if survival <= 0.5 and median == H:
            median = float(day)
    return survival, median


EDGES = np.array([-20.0, -14.0, -7.0, 0.0, 7.0, 14.0, 21.0])  # K = 6 bins, H = 21


@pytest.mark.parametrize(
    ("stop", "settled", "rows", "event"),
    [
        (-30.0, True, 1, True),  # before the lower edge: the open-below bin 0
        (0.0, True, 3, True),  # exactly on an edge: the bin it closes
        (3.0, True, 4, True),
        (21.0, True, 6, True),  # settled at exactly H: in time
        (6.5, False, 3, False),  # censored: (0, 7] only partly seen, left out
        (7.0, False, 4, False),  # censored on an edge: (0, 7] fully seen
        (-16.0, False, 0, False),  # open, due far ahead: no bin fully seen yet
        (21.0, False, 6, False),  # known default: every bin, no event
    ],
)
def test_expansion_counts(stop: float, settled: bool, rows: int, event: bool) -> None:
    X = np.array([[5.0, 1.0]])
    X_exp, y, invoice = expand(X, np.array([stop]), np.array([settled]), EDGES)
    assert len(y) == rows
    assert y.sum() == int(event)
    if event:
        assert y[-1] == 1
    np.testing.assert_array_equal(X_exp[:, -1], np.arange(rows))
    np.testing.assert_array_equal(X_exp[:, :2], np.repeat(X, rows, axis=0))
    assert (invoice == 0).all()


def test_expansion_cap_samples_whole_invoices() -> None:
    rng = np.random.default_rng(0)
    stop = rng.integers(-30, 22, 500).astype("float64")
    settled = rng.random(500) < 0.7
    X = np.arange(500, dtype="float64").reshape(-1, 1)
    counts = observation_counts(stop, settled, EDGES)
    X_exp, y, invoice = expand(X, stop, settled, EDGES, max_rows=600, seed=1)
    assert 600 - counts.max() < len(y) <= 600
    kept, per_invoice = np.unique(invoice, return_counts=True)
    np.testing.assert_array_equal(per_invoice, counts[kept])
    np.testing.assert_array_equal(X_exp[:, 0], invoice)  # each row carries its invoice's X
    again = expand(X, stop, settled, EDGES, max_rows=600, seed=1)
    np.testing.assert_array_equal(again[2], invoice)


def test_edges_weekly_from_a_rounded_lower_quantile() -> None:
    stop = np.concatenate([np.full(20, -200.0), np.linspace(-10, 60, 180)])
    edges = hazard_edges(stop, np.ones(200, dtype=bool), H)
    assert edges[1] == -56.0  # the 5 % quantile (-200) is bounded at -8 weeks
    assert edges[-1] == H
    assert np.all(np.diff(edges[1:-1]) == 7.0)
    edges = hazard_edges(np.linspace(-10, 60, 200), np.ones(200, dtype=bool), H)
    assert edges[1] == -7.0  # 5 % quantile -6.5, rounded down to a week


def test_recovers_simulated_truth(full_model: HazardModel) -> None:
    led = _ledger()
    stop, settled = _observe(COMPLETE)
    p_true, median_true = _truth()
    p_default = full_model.p_default(led["X"])
    p50 = full_model.days_late(led["X"])["p50"]
    for g in (0, 1):
        mine = led["group"] == g
        km_p, km_median = _kaplan_meier(stop[mine], settled[mine])
        assert abs(p_default[mine].mean() - p_true[g]) < 0.04
        assert abs(p_default[mine].mean() - km_p) < 0.03
        assert abs(np.median(p50[mine]) - median_true[g]) < 3.5
        assert abs(np.median(p50[mine]) - km_median) < 3.5


def test_censoring_keeps_recent_defaults(censored_model: HazardModel) -> None:
    led = _ledger()
    stop, settled = _observe(CENSORED)
    p_true, _ = _truth()
    recent = led["due"] + H >= CENSORED - 1
    assert 0.25 < recent.mean() < 0.35
    p_default = censored_model.p_default(led["X"])
    for g in (0, 1):
        mine = recent & (led["group"] == g)
        # A direct model's label: open invoices counted as non-defaults.
        naive = np.mean(~settled[mine] & (stop[mine] >= H))
        assert abs(p_default[mine].mean() - p_true[g]) < 0.05
        assert naive < p_true[g] / 2
        assert p_default[mine].mean() > 2 * naive


def test_week_old_invoice_contributes_rows(censored_model: HazardModel) -> None:
    issue = CENSORED - 7
    stop = (CENSORED - 1) - (issue + TERMS)
    counts = observation_counts(np.array([stop]), np.array([False]), censored_model.edges)
    assert counts[0] >= 1
    _, y, _ = expand(np.zeros((1, 2)), np.array([stop]), np.array([False]), censored_model.edges)
    assert len(y) == counts[0] and y.sum() == 0


OVERDUE = np.array([-30.0, -10.0, 0.0, 3.5, 20.0, 60.0, 89.0, 90.0, 150.0])


def test_conditional_answers_respect_today(full_model: HazardModel) -> None:
    X = np.column_stack([np.tile([0.0, 1.0], len(OVERDUE)), np.zeros(2 * len(OVERDUE))])
    overdue = np.repeat(OVERDUE, 2)
    out = full_model.days_late(X, overdue)
    for key in ("mean", "p10", "p50", "p90"):
        assert (out[key] >= np.minimum(overdue, H) - 1e-9).all(), key
        assert (out[key] <= H + 1e-9).all(), key
    assert (out["p10"] <= out["p50"] + 1e-12).all()
    assert (out["p50"] <= out["p90"] + 1e-12).all()
    p_default = full_model.p_default(X, overdue)
    assert (np.diff(p_default.reshape(-1, 2), axis=0) >= -1e-12).all()  # grows with age
    np.testing.assert_allclose(p_default[overdue >= H], 1.0)
    unconditional = full_model.days_late(X)
    early = overdue < -29
    np.testing.assert_allclose(out["p50"][early], unconditional["p50"][early], atol=1.0)


def test_predict_row_equals_batch(full_model: HazardModel) -> None:
    X = _ledger()["X"][:12]
    overdue = np.linspace(-20, 100, 12)
    for days in (None, overdue):
        batch = full_model.days_late(X, days)
        batch["p_default"] = full_model.p_default(X, days)
        for i in range(len(X)):
            row = full_model.predict_row(X[i : i + 1], None if days is None else days[i])
            for key, value in row.items():
                assert abs(value - batch[key][i]) < 1e-9, key


def test_the_same_row_question_twice_is_answered_once(
    full_model: HazardModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An order's risk and its days late ask the same row: one sweep, the same answer;
    # another row, another days_overdue or another quantiles flag gets its own.
    X = _ledger()["X"][:2]
    first = full_model.predict_row(X[:1], 5.0, quantiles=False)
    sweeps = []
    sweep = RowPredictor.sweep

    def counted(self: RowPredictor, *args: object) -> list[float]:
        sweeps.append(1)
        return sweep(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(RowPredictor, "sweep", counted)
    first["p_default"] = -1.0  # the caller's dict is its own
    again = full_model.predict_row(X[:1], 5.0, quantiles=False)
    assert sweeps == [] and again["p_default"] != -1.0
    for x, days, quantiles in ((X[1:2], 5.0, False), (X[:1], 6.0, False), (X[:1], 5.0, True)):
        expected = full_model.days_late(x, np.array([days]))
        expected["p_default"] = full_model.p_default(x, np.array([days]))
        answer = full_model.predict_row(x, days, quantiles=quantiles)
        for key, value in answer.items():
            assert abs(value - expected[key][0]) < 1e-9, key
    assert len(sweeps) == 3


def test_deterministic_and_round_trip(full_model: HazardModel) -> None:
    X = _ledger()["X"][:200]
    again = _fit(COMPLETE)
    np.testing.assert_array_equal(again.hazards(X), full_model.hazards(X))
    loaded = HazardModel.from_dict(json.loads(json.dumps(full_model.to_dict())))
    np.testing.assert_array_equal(loaded.hazards(X), full_model.hazards(X))
    np.testing.assert_array_equal(loaded.edges, full_model.edges)
    assert loaded.predict_row(X[:1]) == full_model.predict_row(X[:1])


def test_contributions_signed_as_hazard(full_model: HazardModel) -> None:
    led = _ledger()
    contrib = full_model.contributions(led["X"][:400])
    assert contrib.shape == (400, 2)
    group = led["group"][:400]
    # Group 1 pays later and defaults more: x0 lowers its hazard of paying.
    assert contrib[group == 1, 0].mean() < 0 < contrib[group == 0, 0].mean()
    assert np.abs(contrib[:, 0]).mean() > np.abs(contrib[:, 1]).mean()
