"""Censoring: recent open invoices feed the hazard model, and recent defaults do not vanish.

One generated ledger (300 customers, 2 years, 10 % defaults) and its training table at
an as-of date half a year before the ledger's end, with the open invoices included: the
invoices of the last months before that date have an outcome that the as-of date does
not know but the full ledger does, so the hazard model's P(default) for them can be
checked against what happened.

With this ledger's terms (30/45/60 days) and its early payers, the hazard's first bin
ends about two weeks before due, so an invoice issued a week ago has no complete bin
yet: the tests check that it is in the table and censored in the model's observations,
and that an invoice a week past its due date contributes its observed bins, no event.
Fits use one thread and a fixed number of trees, as the champion refit does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from features.build import build_training_table
from features.ledger import ledger_from_frames
from features.spec import CATEGORICAL_COLUMNS
from features.synthetic import generate_ledger
from features.synthetic_profiles import get_profile
from training.bundle import feature_matrix
from training.candidates import Observed, fit_hazard_model
from training.dataset import issue_rows, model_feature_columns
from training.folds import censoring_at, known_before
from training.hazard import HazardModel
from training.hazard_data import expand, normalise_observations, observation_counts
from training.models import TrainConfig, lgb_params
from training.window_hazard import observed

END = dt.date(2025, 12, 31)
# Half a year before the end: invoices issued in the 60 days before it are due by the
# end of August and their outcome window (due + H) closes before END.
AS_OF = pd.Timestamp("2025-07-01")
HORIZON = 90
# The default book without its drift of latent risk (which raises the default rate by
# half over two years): a model of the past cannot foresee a trend, and the test is
# about censoring, so the recent invoices must default as often as the earlier ones.
PROFILE = dataclasses.replace(get_profile("default"), customers=300, years=2.0, risk_drift=0.0)
RECENT_DAYS = 60
CONFIG = TrainConfig(seed=0, threads=1, max_rounds=60, early_stopping=0, rounds={"hazard": 60})
MAX_ROWS = 5_000_000  # above the expansion (about 150k rows): no sampling


@dataclass(frozen=True)
class Case:
    """The table at AS_OF with open invoices, its model matrix, censoring and truth."""

    table: pd.DataFrame
    X: np.ndarray
    names: list[str]
    issue: np.ndarray
    stop: np.ndarray
    settled: np.ndarray
    censored: np.ndarray  # unpaid at AS_OF with the outcome window still open
    recent: np.ndarray  # issued in the RECENT_DAYS before AS_OF
    truth: np.ndarray  # eventual default of the recent invoices (labels at END)


@pytest.fixture(scope="module")
def case() -> Case:
    frames = generate_ledger(seed=3, end_date=END, default_rate=0.10, profile=PROFILE)
    ledger = ledger_from_frames(frames)
    table = build_training_table(
        ledger, as_of=AS_OF.date(), horizon_days=HORIZON, include_open=True
    )
    final = build_training_table(ledger, as_of=END + dt.timedelta(days=1), horizon_days=HORIZON)
    names = model_feature_columns()
    categories = {c: [str(v) for v in table[c].cat.categories] for c in CATEGORICAL_COLUMNS}
    issue = issue_rows(table)
    stop, settled = censoring_at(table, AS_OF, horizon_days=HORIZON)
    recent = issue & (table["issue_date"] >= AS_OF - pd.Timedelta(days=RECENT_DAYS)).to_numpy()
    outcome = final.loc[issue_rows(final)].set_index("invoice_id")["default"]
    truth = outcome.reindex(table.loc[recent, "invoice_id"]).to_numpy(dtype="float64")
    assert not np.isnan(truth).any(), "every recent invoice must be mature at the ledger's end"
    return Case(
        table=table,
        X=feature_matrix(table, names, categories),
        names=names,
        issue=issue,
        stop=stop,
        settled=settled,
        censored=issue & ~settled & (stop < HORIZON),
        recent=recent,
        truth=truth,
    )


def _fit(case: Case, train: np.ndarray) -> HazardModel:
    """The hazard model as the refit builds it: `train` rows censored at AS_OF, no validation."""
    obs = observed(
        case.table,
        case.X,
        train,
        np.zeros_like(train),
        cutoff=AS_OF,
        names=case.names,
        horizon_days=HORIZON,
    )
    return fit_hazard_model(obs, config=CONFIG, horizon_days=HORIZON, max_rows=MAX_ROWS)


def _p_recent(model: HazardModel, case: Case) -> np.ndarray:
    """P(default) of the recent invoices at issue, as served (given unpaid at the snapshot)."""
    X = case.X[case.recent]
    return model.p_default(X, days_overdue=model.unpaid_since(X))


@pytest.fixture(scope="module")
def model(case: Case) -> HazardModel:
    return _fit(case, case.issue)


def _expanded(case: Case, model: HazardModel, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows per invoice, expansion events) of `rows` with the model's bin edges."""
    stop, settled = normalise_observations(case.stop[rows], case.settled[rows], HORIZON)
    counts = observation_counts(stop, settled, model.edges)
    _, event, _ = expand(case.X[rows], stop, settled, model.edges)
    return counts, event


def test_week_old_invoices_are_in_the_table_and_censored(case: Case, model: HazardModel) -> None:
    age = (AS_OF - case.table["issue_date"]).dt.days.to_numpy()
    week_old = case.issue & (age <= 7)
    assert week_old.sum() > 20
    assert case.table.loc[week_old, "days_late"].isna().all()
    # In the hazard model's observations: unpaid, last seen before their due date.
    obs: Observed = observed(
        case.table,
        case.X,
        case.issue,
        np.zeros_like(case.issue),
        cutoff=AS_OF,
        names=case.names,
        horizon_days=HORIZON,
    )
    assert len(obs.stop_tr) == case.issue.sum()  # every invoice, open or not
    in_obs = week_old[case.issue]
    assert (obs.stop_tr[in_obs] < 0).all() and not obs.settled_tr[in_obs].any()
    np.testing.assert_array_equal(obs.stop_tr[in_obs], case.stop[week_old])
    # They contribute exactly the bins seen completely (none before the first bin's end).
    counts, event = _expanded(case, model, week_old)
    np.testing.assert_array_equal(counts, (model.edges[1:, None] <= case.stop[week_old]).sum(0))
    assert event.sum() == 0


def test_invoice_a_week_past_due_contributes_its_bins_and_no_event(
    case: Case, model: HazardModel
) -> None:
    due = case.table["due_date"].to_numpy()
    week_past = case.censored & (due == (AS_OF - pd.Timedelta(days=7)).to_datetime64())
    assert week_past.sum() > 0
    np.testing.assert_array_equal(case.stop[week_past], 6.0)  # seen unpaid through due + 6
    counts, event = _expanded(case, model, week_past)
    # Every bin ending on or before due + 6 (at least the open-below first bin).
    assert (counts == (model.edges[1:] <= 6.0).sum()).all() and (counts >= 1).all()
    assert len(event) == counts.sum() and event.sum() == 0


def test_open_invoices_of_the_last_weeks_add_rows_without_events(
    case: Case, model: HazardModel
) -> None:
    still_open = case.censored & case.recent
    counts, event = _expanded(case, model, still_open)
    # Those issued a month or more ago are past the first bin's end: about a third.
    assert (counts > 0).mean() > 0.2, (counts > 0).mean()
    assert event.sum() == 0
    everyone, events_all = _expanded(case, model, case.issue)
    rest, events_rest = _expanded(case, model, case.issue & ~case.censored)
    assert everyone.sum() - rest.sum() == _expanded(case, model, case.censored)[0].sum() > 0
    assert events_all.sum() == events_rest.sum()


def test_removing_the_open_invoices_changes_the_model(case: Case, model: HazardModel) -> None:
    without = _fit(case, case.issue & ~case.censored)
    p_with, p_without = _p_recent(model, case), _p_recent(without, case)
    # The censored invoices are the slow payers: without their unpaid weeks the model
    # sees payment come sooner and P(default) falls (about 0.09 -> 0.04 on this ledger).
    assert p_with.mean() - p_without.mean() > 0.02


def _clustered_se(defaults: np.ndarray, customers: np.ndarray) -> float:
    """Standard error of a default rate with customers as clusters.

    A customer's invoices default together (a spell of trouble), so the binomial error
    of independent invoices would understate it by about a quarter on this ledger.
    """
    frame = pd.DataFrame({"customer": customers, "default": defaults})
    per = frame.groupby("customer")["default"].agg(["sum", "size"])
    rate = float(defaults.mean())
    return float(np.sqrt(((per["sum"] - rate * per["size"]) ** 2).sum()) / len(defaults))


def _recalibrated(p_recent: np.ndarray, p_complete: np.ndarray, y_complete: np.ndarray) -> float:
    """Mean of `p_recent` scaled by the model's ratio of actual to predicted defaults on
    the invoices complete at AS_OF (a stand-in for the calibrator every candidate gets)."""
    return float(p_recent.mean() * y_complete.mean() / p_complete.mean())


def test_recent_defaults_do_not_vanish(case: Case, model: HazardModel) -> None:
    n, rate = len(case.truth), float(case.truth.mean())
    assert n > 1000 and rate > 0.05
    se = _clustered_se(case.truth, case.table.loc[case.recent, "customer_id"].to_numpy())
    y = case.table["default"].to_numpy()
    assert y[case.recent].sum() == 0  # no recent default is known at AS_OF
    complete = case.issue & known_before(case.table, AS_OF, horizon_days=HORIZON)
    X_complete = case.X[complete]
    # The raw hazard product runs about 12 % low on invoices it saw complete; measuring
    # that gap on those invoices separates it from what censoring does to recent ones.
    p_complete = model.p_default(X_complete, days_overdue=model.unpaid_since(X_complete))
    predicted = _recalibrated(_p_recent(model, case), p_complete, y[complete])
    # Naive: a classifier of the table's labels, where an open invoice reads default = 0.
    categorical = [case.names.index(c) for c in CATEGORICAL_COLUMNS if c in case.names]
    naive_model = lgb.train(
        lgb_params("binary", CONFIG),
        lgb.Dataset(case.X[case.issue], y[case.issue], categorical_feature=categorical),
        num_boost_round=60,
    )
    naive = _recalibrated(
        np.asarray(naive_model.predict(case.X[case.recent])),
        np.asarray(naive_model.predict(X_complete)),
        y[complete],
    )
    # Three standard errors of the realised rate (about 0.03 for ~1,900 invoices of ~300
    # customers at 11 %): the expected rate may miss the realised one by chance.
    assert abs(predicted - rate) < 3 * se, (predicted, rate, se)
    assert naive < rate - 3 * se and predicted - naive > 3 * se, (naive, predicted, se)
