"""Odd ledgers that real companies have: `duecast train` ends cleanly on each, never a traceback.

Each case is a small seeded ledger (a few hundred invoices) imported into a fresh store
and trained as `duecast train` does. A clean outcome is either a registered challenger
(with warnings saying what is thin) or a `DuecastError` whose message says what is
missing. "Today" is injected, so the future-dated case does not depend on the clock.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.export import default_as_of, ledger_from_store
from features.importing import import_directory
from features.ledger import Ledger
from features.store import get_engine
from features.synthetic import write_ledger
from kernel.config import Settings, get_settings
from kernel.errors import DuecastError, InsufficientDataError, StoreError
from tests.utils.training_support import store_settings
from training.pipeline import TrainOutcome, train

TODAY = dt.date(2025, 6, 30)
_TERMS = 30
# Small models and few rounds: the cases test what happens, not how good the model is.
_FAST = {"train_max_rounds": 30, "train_early_stopping_rounds": 5, "min_defaults": 5}
_FAST_VALIDATION = {"min_validation_defaults": 3}


@dataclass(frozen=True)
class Plan:
    """One generated ledger: who, when issued, when paid (None: never)."""

    customers: int = 30
    invoices: int = 700
    days: int = 540  # issue dates spread over this many days before `end`
    end: dt.date = TODAY
    default_share: float = 0.06
    seed: int = 0


def _frames(plan: Plan) -> dict[str, pd.DataFrame]:
    """A seeded ledger: each customer has its own mean delay; defaults are never paid."""
    rng = np.random.default_rng(plan.seed)
    ids = [f"C{k:04d}" for k in range(plan.customers)]
    start = pd.Timestamp(plan.end) - pd.Timedelta(days=plan.days)
    issue = start + pd.to_timedelta(np.sort(rng.integers(0, plan.days, plan.invoices)), unit="D")
    who = rng.integers(0, plan.customers, plan.invoices)
    mean_delay = rng.gamma(2.0, 4.0, plan.customers)
    delay = np.rint(mean_delay[who] + rng.normal(0, 3, plan.invoices)).astype(int)
    due = issue + pd.Timedelta(days=_TERMS)
    paid = due + pd.to_timedelta(delay, unit="D")
    unpaid = rng.random(plan.invoices) < plan.default_share
    amount = np.round(rng.lognormal(7, 0.8, plan.invoices), 2)
    invoices = pd.DataFrame(
        {
            "invoice_id": [f"I{k:05d}" for k in range(plan.invoices)],
            "customer_id": [ids[k] for k in who],
            "issue_date": issue,
            "due_date": due,
            "amount": amount,
            "currency": "EUR",
            "disputed": False,
            "dispute_date": pd.NaT,
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "name": [f"Customer {c}" for c in ids],
            "country": "NL",
            "industry": "retail",
            "created_at": start - pd.Timedelta(days=400),
            "credit_limit": 50_000.0,
            "payment_terms_days": _TERMS,
            "currency": "EUR",
        }
    )
    frames = {"customers": customers, "invoices": invoices}
    return {**frames, "payments": _payments(invoices[~unpaid], paid[~unpaid])}


def _payments(invoices: pd.DataFrame, dates: pd.Series | pd.DatetimeIndex) -> pd.DataFrame:
    """One full payment per invoice on `dates`; none dated after the ledger's history ends."""
    return pd.DataFrame(
        {
            "payment_id": [f"P{k:05d}" for k in range(len(invoices))],
            "invoice_id": invoices["invoice_id"].to_numpy(),
            "customer_id": invoices["customer_id"].to_numpy(),
            "payment_date": np.asarray(dates),
            "amount": invoices["amount"].to_numpy(),
        }
    )


def _settle_by(frames: dict[str, pd.DataFrame], cut: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The ledger as known on `cut`: payments dated after it have not happened yet."""
    payments = frames["payments"]
    return {**frames, "payments": payments[payments["payment_date"] <= cut]}


def _with_defaults_where(
    frames: dict[str, pd.DataFrame], unpaid: Callable[[pd.DataFrame], pd.Series]
) -> dict[str, pd.DataFrame]:
    """Every invoice paid by today except those `unpaid` selects (left open for good)."""
    invoices = frames["invoices"]
    delay = np.random.default_rng(1).integers(-5, 20, len(invoices))
    paid = invoices["due_date"] + pd.to_timedelta(delay, unit="D")
    keep = ~np.asarray(unpaid(invoices), dtype=bool)
    payments = _payments(invoices[keep], paid[keep])
    return _settle_by({**frames, "payments": payments}, pd.Timestamp(TODAY))


def _future_instalments(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Plus 150 unpaid instalments issued monthly after today (a fee plan booked ahead)."""
    invoices = frames["invoices"]
    k = np.arange(150)
    issue = pd.Timestamp(TODAY) + pd.to_timedelta(1 + 30 * (k % 12), unit="D")
    future = pd.DataFrame(
        {
            "invoice_id": [f"F{j:05d}" for j in k],
            "customer_id": invoices["customer_id"].iloc[k % len(invoices)].to_numpy(),
            "issue_date": issue,
            "due_date": issue + pd.Timedelta(days=_TERMS),
            "amount": 500.0,
            "currency": "EUR",
            "disputed": False,
            "dispute_date": pd.NaT,
        }
    )
    return {**frames, "invoices": pd.concat([invoices, future], ignore_index=True)}


def _periods() -> tuple[pd.Timestamp, pd.Timestamp]:
    """Start of the validation and of the test period of a default-plan ledger.

    Outcomes are complete for invoices due more than 90 days before the as-of date (the
    day after the last payment, at most `TODAY`), so the test period ends about 120 days
    before it and the two 90-day periods come before that.
    """
    end = pd.Timestamp(TODAY) - pd.Timedelta(days=120)
    return end - pd.Timedelta(days=180), end - pd.Timedelta(days=90)


def _in_validation(invoices: pd.DataFrame, *, margin_days: int = 5) -> pd.Series:
    """Issued inside the validation period, `margin_days` off its edges (negative: beyond).

    The exact fold edges move by a few days with the last event day.
    """
    valid_start, test_start = _periods()
    margin = pd.Timedelta(days=margin_days)
    return (invoices["issue_date"] >= valid_start + margin) & (
        invoices["issue_date"] < test_start - margin
    )


def _in_test(invoices: pd.DataFrame) -> pd.Series:
    return invoices["issue_date"] >= _periods()[1] - pd.Timedelta(days=5)


def _paid_same_day(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every invoice settled by one bulk payment run, 20 days before today."""
    invoices = frames["invoices"]
    run = pd.Timestamp(TODAY) - pd.Timedelta(days=20)
    paid = invoices[invoices["issue_date"] <= run]
    return {**frames, "payments": _payments(paid, pd.Series(run, index=paid.index))}


def _issued_same_day(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every invoice issued on one day (a migration that stamped the import date)."""
    invoices = frames["invoices"].copy()
    invoices["issue_date"] = pd.Timestamp(TODAY) - pd.Timedelta(days=300)
    invoices["due_date"] = invoices["issue_date"] + pd.Timedelta(days=_TERMS)
    return _with_defaults_where({**frames, "invoices": invoices}, lambda i: i.index % 15 == 0)


@dataclass(frozen=True)
class Case:
    """An odd ledger, the settings it is trained with, and what a clean outcome says."""

    name: str
    frames: Callable[[], dict[str, pd.DataFrame]]
    settings: dict
    # Fragments of the message (error) or of the warnings / default reason (success).
    expect: tuple[str, ...]
    error: type[DuecastError] | None = None


def _base(**changes: object) -> dict[str, pd.DataFrame]:
    plan = Plan(**changes)  # type: ignore[arg-type]
    return _settle_by(_frames(plan), pd.Timestamp(plan.end))


CASES = [
    Case(
        "future-dated instalments",
        lambda: _future_instalments(_base()),
        {**_FAST, **_FAST_VALIDATION},
        ("150 invoices dated after today (2025-06-30)",),
    ),
    Case("zero defaults", lambda: _base(default_share=0.0), _FAST, ("0 defaults",)),
    Case(
        "defaults in validation only",
        lambda: _with_defaults_where(_base(), _in_validation),
        _FAST,
        # The windows place these defaults in one window's validation rows only.
        ("hold only defaults",),
    ),
    Case(
        "every validation invoice defaults",
        lambda: _with_defaults_where(
            _base(), lambda i: _in_validation(i, margin_days=-5) | (i.index % 9 == 0)
        ),
        # Platt scaling, as below 400 validation defaults (isotonic would map all to 1).
        {**_FAST, **_FAST_VALIDATION, "calibration_isotonic_min_defaults": 1000},
        ("only defaults",),
    ),
    Case(
        "every test invoice defaults",
        lambda: _with_defaults_where(_base(), lambda i: _in_test(i) | (i.index % 9 == 0)),
        {**_FAST, **_FAST_VALIDATION},
        ("test windows hold only one outcome of default",),
    ),
    Case("a single customer", lambda: _base(customers=1), _FAST, ("only 1 customers",)),
    Case(
        "very few invoices",
        lambda: _base(invoices=120),
        _FAST,
        ("DUECAST_MIN_SETTLED_INVOICES", "import more history"),
        InsufficientDataError,
    ),
    Case(
        "every invoice paid on the same day",
        lambda: _paid_same_day(_base()),
        _FAST,
        ("training rows hold only defaults",),
    ),
    Case(
        "every invoice issued on the same day",
        lambda: _issued_same_day(_base()),
        _FAST,
        ("no invoice has a complete outcome", "import more history"),
        InsufficientDataError,
    ),
]


def _store(tmp_path: Path, frames: dict[str, pd.DataFrame], **settings: object) -> Settings:
    """A fresh store (and MLflow store) holding `frames`."""
    values = store_settings(tmp_path / "home", **settings)
    write_ledger(frames, tmp_path / "ledger")
    import_directory(get_engine(values.database_url), tmp_path / "ledger")
    return values


def _said(outcome: TrainOutcome) -> str:
    return " ".join([*outcome.warnings, outcome.default_unavailable_reason or ""])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_train_ends_cleanly_on_odd_ledgers(tmp_path: Path, case: Case) -> None:
    settings = _store(tmp_path, case.frames(), **case.settings)
    if case.error is not None:
        with pytest.raises(case.error) as caught:
            train(settings, today=TODAY)
        for fragment in case.expect:
            assert fragment in str(caught.value)
        return
    outcome = train(settings, today=TODAY)
    assert outcome.version
    said = _said(outcome)
    for fragment in case.expect:
        assert fragment in said, said
    ev = outcome.evaluation
    if "dated after today" in said:  # the chosen date is named, and none is after today
        assert f"training uses as of {ev.as_of}" in said
        assert dt.date.fromisoformat(ev.as_of) <= TODAY + dt.timedelta(days=1)
    assert ev.days_late.model["mae"] is not None
    assert list(ev.warnings) == outcome.warnings
    if ev.default is not None:
        assert ev.calibration in ("isotonic", "sigmoid")


def _ledger(tmp_path: Path, frames: dict[str, pd.DataFrame]) -> Ledger:
    return ledger_from_store(get_engine(_store(tmp_path, frames).database_url))


def test_default_as_of_ignores_rows_dated_after_today(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = _base()
    without = default_as_of(_ledger(tmp_path / "without", base), today=TODAY)
    with caplog.at_level(logging.WARNING, logger="features.export"):
        chosen = default_as_of(_ledger(tmp_path / "with", _future_instalments(base)), today=TODAY)
    # Instalments booked ahead do not move the as-of date, and the log says so.
    assert chosen == without <= TODAY + dt.timedelta(days=1)
    assert f"150 invoices dated after today ({TODAY})" in caplog.text
    assert f"training uses as of {chosen}" in caplog.text


def test_default_as_of_is_the_day_after_the_last_event_without_future_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frames = _base()
    last = max(frames["invoices"]["issue_date"].max(), frames["payments"]["payment_date"].max())
    with caplog.at_level(logging.WARNING, logger="features.export"):
        chosen = default_as_of(_ledger(tmp_path, frames), today=TODAY + dt.timedelta(days=400))
    assert chosen == last.date() + dt.timedelta(days=1)
    assert "dated after today" not in caplog.text


def test_a_ledger_dated_entirely_after_today_says_so(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, _base())
    with pytest.raises(StoreError, match="every invoice of the ledger is dated after today"):
        default_as_of(ledger, today=dt.date(2020, 1, 1))


def test_cli_train_prints_the_future_dated_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[0]
    settings = _store(tmp_path, case.frames(), **case.settings)
    monkeypatch.setenv("DUECAST_HOME", str(settings.home))
    monkeypatch.setenv("DUECAST_MODELS_DIR", str(settings.models_dir))
    for key, value in {**case.settings, "train_threads": 1}.items():
        monkeypatch.setenv(f"DUECAST_{key.upper()}", str(value))
    monkeypatch.setattr("features.export.utc_today", lambda: TODAY)
    get_settings.cache_clear()
    from duecast.cli import app

    result = CliRunner().invoke(app, ["train"])
    assert result.exit_code == 0, result.output
    assert "150 invoices" in result.stderr and "dated after today" in result.stderr
