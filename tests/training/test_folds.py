"""Rolling-origin windows: back to back, each learning only from outcomes known at its start."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.folds import plan_windows

H = 90


def _table(days: int, per_day: int = 4, seed: int = 0) -> pd.DataFrame:
    """Invoices issued every day for `days` days, 30-day terms, paid 0-60 days late."""
    rng = np.random.default_rng(seed)
    issue = pd.Timestamp("2023-01-01") + pd.to_timedelta(np.repeat(np.arange(days), per_day), "D")
    due = issue + pd.Timedelta(days=30)
    late = rng.integers(-5, 60, len(issue))
    return pd.DataFrame(
        {
            "issue_date": issue,
            "snapshot_date": issue,
            "due_date": due,
            "settled_date": due + pd.to_timedelta(late, "D"),
        }
    )


def test_windows_are_back_to_back_and_learn_only_what_was_known() -> None:
    table = _table(900)
    as_of = table["issue_date"].max() + pd.Timedelta(days=1)
    plan = plan_windows(
        table,
        as_of=as_of,
        horizon_days=H,
        windows=3,
        test_days=60,
        valid_days=60,
        min_train_rows=100,
    )
    assert len(plan.windows) == 3 and not plan.notes
    issue = table["issue_date"]
    horizon_end = table["due_date"] + pd.Timedelta(days=H)
    for newer, older in zip(plan.windows, plan.windows[1:], strict=False):
        assert older.test_period[1] == newer.test_period[0]
    for w in plan.windows:
        cutoff = pd.Timestamp(w.cutoff)
        assert w.cutoff == w.test_period[0]
        learnt = w.train | w.valid
        # Every row a window learns from had its whole outcome window closed before the cut-off.
        assert (horizon_end[learnt] < cutoff).all()
        assert issue[w.train].max() < issue[w.valid].min()
        assert (issue[w.test] >= cutoff).all()
        # And every test row's outcome is complete at the as-of date.
        assert (horizon_end[w.test] < as_of).all()
    assert plan.test_period == (plan.windows[-1].test_period[0], plan.windows[0].test_period[1])


def test_a_short_history_shrinks_the_windows_and_says_so() -> None:
    table = _table(420)
    as_of = table["issue_date"].max() + pd.Timedelta(days=1)
    plan = plan_windows(
        table,
        as_of=as_of,
        horizon_days=H,
        windows=3,
        test_days=90,
        valid_days=90,
        min_train_rows=200,
    )
    assert plan.windows, plan.notes
    assert plan.test_days < 90
    assert any("the history is short" in n for n in plan.notes)


def test_too_little_history_for_the_windows_asked_for_is_stated() -> None:
    table = _table(330)
    as_of = table["issue_date"].max() + pd.Timedelta(days=1)
    plan = plan_windows(
        table,
        as_of=as_of,
        horizon_days=H,
        windows=6,
        test_days=28,
        valid_days=28,
        min_train_rows=150,
    )
    assert 0 < len(plan.windows) < 6
    assert any(f"{len(plan.windows)} test window(s) instead of 6" in n for n in plan.notes)


def test_no_complete_outcome_means_no_window() -> None:
    table = _table(60)
    as_of = table["issue_date"].max() + pd.Timedelta(days=1)
    plan = plan_windows(
        table,
        as_of=as_of,
        horizon_days=H,
        windows=3,
        test_days=30,
        valid_days=30,
        min_train_rows=10,
    )
    assert plan.windows == [] and plan.notes
