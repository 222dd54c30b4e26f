"""One settings object, read from `DUECAST_*` environment variables.

Nothing here touches the disk at import: paths are resolved when settings are built
and folders are created by the code that writes into them.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["PANDAS_DATE_MAX", "PANDAS_DATE_MIN", "Settings", "get_settings", "policy_problems"]

# The whole days pandas' nanosecond timestamps can hold (1677-09-21 .. 2262-04-11).
PANDAS_DATE_MIN = datetime.date(1677, 9, 22)
PANDAS_DATE_MAX = datetime.date(2262, 4, 10)


class Settings(BaseSettings):
    """duecast configuration; every field can be set as `DUECAST_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="DUECAST_", extra="ignore")

    home: Path = Field(
        default=Path(".duecast"),
        description="Data folder: default database, MLflow store, generated data.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the AR store; default a SQLite file under home.",
    )
    mlflow_tracking_uri: str = Field(
        default="",
        description="MLflow tracking URI; default a SQLite file under home.",
    )
    models_dir: Path = Field(
        default=Path("models"),
        description="Folder holding the exported champion bundle that serving loads.",
    )
    serve_model_alias: str | None = Field(
        default=None,
        description="Serve the registered model version holding this MLflow alias (e.g. "
        "champion), downloaded from the tracking store at start and reload, instead of "
        "the exported bundle in models_dir.",
    )
    serve_as_of: datetime.date | None = Field(
        default=None,
        description="Date the API scores and decides as of (default: today, UTC); pin it "
        "to serve a historical ledger, e.g. in demos and tests.",
    )

    # Input limits: every door (API, import, mapping, events) rejects values outside them,
    # so the store never holds a value the feature code cannot read.
    date_min: datetime.date = Field(
        default=datetime.date(1900, 1, 1),
        description="Earliest date accepted anywhere (issue, due, payment, action, order dates).",
    )
    date_max: datetime.date = Field(
        default=datetime.date(2199, 12, 31),
        description="Latest date accepted anywhere (pandas reads 1677-09-22 .. 2262-04-11).",
    )

    # API limits (serving/)
    api_max_body_bytes: int = Field(
        default=1_048_576,
        ge=1_024,
        description="Largest request body the API reads; larger ones get 413 before the body "
        "is read, with or without a key.",
    )
    api_rate_limit_per_second: float = Field(
        default=2_000.0,
        ge=0.0,
        description="Sustained requests per second one API key may send to the decision and "
        "write endpoints, per worker (0 = no limit); above it the API answers 429 with "
        "Retry-After.",
    )
    api_rate_limit_burst: int = Field(
        default=2_000,
        ge=1,
        description="Requests one key may send at once above the sustained rate (per worker).",
    )
    api_key_cache_size: int = Field(
        default=1_024, ge=1, description="API keys whose lookup each worker keeps in memory."
    )
    api_key_cache_seconds: float = Field(
        default=30.0,
        ge=0.0,
        description="Seconds a cached key lookup is trusted before the store is asked again.",
    )

    # Labels
    horizon_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="Days after due date after which unsettled = default.",
    )

    # Import
    import_error_cap: int = Field(
        default=200, ge=1, description="Bad rows reported per import before the list is cut."
    )
    import_chunk_rows: int = Field(
        default=50_000, ge=1_000, description="Rows written per database round trip on import."
    )

    # Training (training/)
    mlflow_experiment: str = Field(
        default="duecast", description="MLflow experiment every `duecast train` run goes to."
    )
    mlflow_model_name: str = Field(
        default="duecast", description="Registered model name (aliases challenger / champion)."
    )
    training_snapshot_every_days: int = Field(
        default=30,
        ge=0,
        description="Extra training snapshots of still-open invoices every N days (0 = only "
        "at issue), so open invoices on the worklist are scored by a model that saw them.",
    )
    backtest_valid_days: int = Field(
        default=90,
        ge=7,
        description="Length of the validation period (early stopping, calibration).",
    )
    backtest_test_days: int = Field(
        default=90, ge=7, description="Length of the test period the backtest reports on."
    )
    min_settled_invoices: int = Field(
        default=300,
        ge=10,
        description="Invoices with a known outcome needed in the training period to train at all.",
    )
    min_defaults: int = Field(
        default=30, ge=1, description="Defaults needed in the training period for a default model."
    )
    min_validation_defaults: int = Field(
        default=10, ge=1, description="Defaults needed in the validation period to calibrate."
    )
    min_customers: int = Field(
        default=30, ge=1, description="Below this many customers, training warns metrics are noisy."
    )
    min_history_days: int = Field(
        default=365, ge=1, description="Below this much history, training warns it is thin."
    )
    calibration_isotonic_min_defaults: int = Field(
        default=400,
        ge=1,
        description="Validation defaults from which calibration is isotonic (else Platt sigmoid).",
    )
    train_seed: int = Field(default=0, description="Seed of every model (same seed, same metrics).")
    train_max_rounds: int = Field(
        default=2000, ge=1, description="Upper bound on boosting rounds (early stopping decides)."
    )
    train_early_stopping_rounds: int = Field(
        default=50, ge=1, description="Rounds without improvement on validation before stopping."
    )
    train_max_rows: int = Field(
        default=400_000,
        ge=1_000,
        description="Training rows the models learn from at most; a larger training period "
        "is sampled (seeded, within the period): more rows barely change the models but cost "
        "time linearly.",
    )
    train_exclude_features: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Features the models must not use, comma-separated. Customer attributes "
        "are stored as they are now, not as they were: if your ERP overwrites credit limits "
        "(e.g. cuts them after a default), leave out customer_credit_limit and "
        "exposure_credit_utilisation, or past rows learn from later events.",
    )
    train_threads: int = Field(
        default=0, ge=0, description="LightGBM threads (0 = LightGBM's default, all cores)."
    )
    promote_auc_tolerance: float = Field(
        default=0.005, ge=0, description="ROC AUC a challenger may lose against the champion."
    )
    promote_mae_tolerance: float = Field(
        default=0.1, ge=0, description="Days of MAE a challenger may lose against the champion."
    )
    promote_ece_tolerance: float = Field(
        default=0.01, ge=0, description="Calibration error a challenger may add over the champion."
    )
    grade_cutoffs: dict[str, float] = Field(
        default={"A": 0.02, "B": 0.05, "C": 0.10, "D": 0.20},
        description="Risk grades: upper probability-of-default bound of A..D (above D is E); "
        "stored in the exported bundle.",
    )

    # Decision policy (serving/decisions/policy.py reads every `policy_*` field)
    policy_grade_days_late_cutoffs: tuple[float, float, float, float] = Field(
        default=(0.0, 5.0, 15.0, 30.0),
        description="Risk grades when no default model exists (thin history): upper bound of "
        "the predicted median days late for A..D (above D is E).",
    )
    policy_reminder_at_days: int = Field(
        default=0,
        ge=-30,
        le=365,
        description="Dunning step 1: automatic reminder from this many days overdue "
        "(0 = on the due date, negative = before it).",
    )
    policy_call_from_days: int = Field(
        default=7, ge=-30, le=365, description="Dunning step 2: phone call from N days overdue."
    )
    policy_escalate_after_days: int = Field(
        default=30,
        ge=0,
        le=3650,
        description="Dunning step 3: escalate (legal / agency) once more than N days overdue.",
    )
    policy_dunning_risk_factors: tuple[float, float, float, float, float] = Field(
        default=(1.0, 1.0, 1.0, 0.7, 0.5),
        description="Per grade A..E, multiplier on the call and escalation days: below 1 moves "
        "riskier customers up the dunning ladder sooner (non-increasing, in (0, 1]).",
    )
    policy_promise_grace_days: int = Field(
        default=2,
        ge=0,
        le=30,
        description="Days after a promised payment date before the promise counts as broken "
        "(payments take a day or two to post).",
    )
    policy_follow_up_reminder_days: int = Field(
        default=7,
        ge=0,
        le=365,
        description="Days after a logged reminder before the worklist proposes another "
        "reminder (0 = no wait); a call or escalation is still proposed once due.",
    )
    policy_follow_up_call_days: int = Field(
        default=5,
        ge=0,
        le=365,
        description="Days after a logged call before the worklist proposes another call or a "
        "reminder (0 = no wait); escalation is still proposed once due.",
    )
    policy_follow_up_escalate_days: int = Field(
        default=30,
        ge=0,
        le=3650,
        description="Days after a logged escalation (action kind 'legal') before the worklist "
        "proposes any dunning step again (0 = no wait).",
    )
    policy_cost_of_capital: float = Field(
        default=0.08,
        ge=0.0,
        le=1.0,
        description="Annual cost of capital (0.08 = 8 %/year): prices the cost of waiting "
        "for cash and the value of an early-payment discount.",
    )
    policy_collector_capacity: int = Field(
        default=40, ge=1, description="Worklist items one collector can work per day."
    )
    policy_credit_limit_floor: float = Field(
        default=1_000.0, ge=0.0, description="Smallest credit limit duecast suggests."
    )
    policy_credit_limit_ceiling: float = Field(
        default=250_000.0, gt=0.0, description="Largest credit limit duecast suggests."
    )
    policy_credit_limit_default: float = Field(
        default=10_000.0,
        ge=0.0,
        description="Credit limit of a cold-start customer (too little history to size one).",
    )
    policy_credit_limit_max_change: float = Field(
        default=0.25,
        gt=0.0,
        le=10.0,
        description="Largest change per review as a share of the current limit (0.25 = ±25 %).",
    )
    policy_credit_limit_slack_days: int = Field(
        default=15,
        ge=0,
        le=365,
        description="Days of sales on top of the payment terms that a limit should cover "
        "(orders placed while earlier invoices are still open).",
    )
    policy_credit_limit_risk_slope: float = Field(
        default=4.0,
        gt=0.0,
        description="Risk factor of the limit = 1 - slope × P(default), at least 0 "
        "(4 = a 5 % default risk takes 20 % off the limit).",
    )
    policy_credit_limit_days_late_zero: float = Field(
        default=60.0,
        gt=0.0,
        description="Without a default model: predicted median days late at which the "
        "limit's risk factor reaches 0 (falls linearly from 1 at 0 days).",
    )
    policy_credit_limit_min_history: int = Field(
        default=3,
        ge=0,
        description="Paid invoices needed before a limit is sized from history "
        "(fewer = cold start, the policy default).",
    )
    policy_credit_limit_rounding: float = Field(
        default=100.0, ge=0.0, description="Suggested limits are rounded to this unit (0 = off)."
    )
    policy_order_review_above: float = Field(
        default=1.0,
        gt=0.0,
        description="Order decision: exposure after the order above this share of the "
        "suggested limit needs a human review.",
    )
    policy_order_decline_above: float = Field(
        default=1.25,
        gt=0.0,
        description="Order decision: exposure after the order above this share of the "
        "suggested limit is declined.",
    )
    policy_order_review_grades: tuple[str, ...] = Field(
        default=("D", "E"),
        description="Grades never approved automatically (always at least a review).",
    )
    policy_order_decline_grades: tuple[str, ...] = Field(
        default=("E",),
        description="Grades declined as soon as the order takes them over the review share.",
    )
    policy_order_overdue_review_share: float = Field(
        default=0.25,
        ge=0.0,
        description="Order decision: overdue amount above this share of the suggested limit "
        "needs a human review.",
    )
    policy_cash_weeks: int = Field(
        default=13, ge=1, le=104, description="Weeks the cash forecast covers (13 = a quarter)."
    )
    policy_cash_interval: float = Field(
        default=0.8,
        gt=0.0,
        lt=1.0,
        description="Coverage of the cash forecast's weekly interval (0.8 = 10 %-90 %).",
    )
    policy_discount_rate: float = Field(
        default=0.01,
        gt=0.0,
        lt=0.2,
        description="Early-payment discount duecast proposes (0.01 = 1 %), within the band.",
    )
    policy_discount_rate_min: float = Field(
        default=0.008, gt=0.0, lt=0.2, description="Lower end of the usual discount band."
    )
    policy_discount_rate_max: float = Field(
        default=0.015, gt=0.0, lt=0.2, description="Upper end of the usual discount band."
    )
    policy_discount_days: int = Field(
        default=10,
        ge=0,
        le=365,
        description="Days from issue within which payment earns the discount (2/10 net 30: 10).",
    )

    @field_validator("train_exclude_features", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("home", "models_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # Resolved once, so a later chdir cannot move the store under our feet.
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _check_date_range(self) -> Settings:
        # pandas holds dates as nanoseconds: outside these bounds the feature code fails.
        # The margin leaves room for due date + horizon and the snapshots after it.
        margin = datetime.timedelta(days=self.horizon_days + 400)
        low, high = PANDAS_DATE_MIN + margin, PANDAS_DATE_MAX - margin
        if not low <= self.date_min < self.date_max <= high:
            raise ValueError(
                f"date_min ({self.date_min}) must come before date_max ({self.date_max}), "
                f"both within {low} .. {high} (pandas' date range less the horizon)"
            )
        return self

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'duecast.db'}"
        if not self.mlflow_tracking_uri:
            self.mlflow_tracking_uri = f"sqlite:///{self.home / 'mlflow.db'}"
        return self

    @model_validator(mode="after")
    def _check_policy(self) -> Settings:
        values = {
            name.removeprefix("policy_"): getattr(self, name)
            for name in type(self).model_fields
            if name.startswith("policy_")
        }
        values["grade_cutoffs"] = self.grade_cutoffs
        problems = policy_problems(values)
        if problems:
            raise ValueError("; ".join(problems))
        return self


@lru_cache
def get_settings() -> Settings:
    """Settings from the environment, built once per process (tests call `cache_clear`)."""
    return Settings()


_GRADE_LETTERS = ("A", "B", "C", "D", "E")


def _increasing(values: object) -> bool:
    seq = list(values)  # type: ignore[call-overload]
    return all(a < b for a, b in pairwise(seq))


def policy_problems(values: Mapping[str, Any]) -> list[str]:
    """Contradictions between decision-policy numbers (empty list = a usable policy).

    Shared by `Settings` (keys without the `policy_` prefix) and
    `serving.decisions.Policy`, so both refuse the same nonsense.
    """
    problems: list[str] = []
    cutoffs = values["grade_cutoffs"]
    if isinstance(cutoffs, Mapping):
        if sorted(cutoffs) != list(_GRADE_LETTERS[:4]):
            problems.append(
                f"grade cut-offs need exactly the keys A, B, C, D, got {sorted(cutoffs)}"
            )
            cutoffs = ()
        else:
            cutoffs = [cutoffs[g] for g in _GRADE_LETTERS[:4]]
    cutoffs = list(cutoffs)
    if cutoffs and not (_increasing(cutoffs) and cutoffs[0] > 0 and cutoffs[-1] < 1):
        problems.append(f"grade cut-offs must rise strictly within (0, 1), got {cutoffs}")
    if not _increasing(values["grade_days_late_cutoffs"]):
        problems.append("days-late grade cut-offs must rise strictly from A to D")
    if not values["reminder_at_days"] <= values["call_from_days"] <= values["escalate_after_days"]:
        problems.append("dunning days must satisfy reminder <= call <= escalate")
    follow_ups = [values[f"follow_up_{s}_days"] for s in ("reminder", "call", "escalate")]
    if any(days < 0 for days in follow_ups):
        problems.append(f"follow-up days must not be negative, got {follow_ups}")
    factors = list(values["dunning_risk_factors"])
    if any(not 0 < f <= 1 for f in factors) or any(a < b for a, b in pairwise(factors)):
        problems.append(f"dunning risk factors must lie in (0, 1] and not rise A..E, got {factors}")
    floor, ceiling = values["credit_limit_floor"], values["credit_limit_ceiling"]
    if floor > ceiling:
        problems.append(f"credit limit floor {floor} is above the ceiling {ceiling}")
    if not floor <= values["credit_limit_default"] <= ceiling:
        problems.append("the default credit limit must lie between the floor and the ceiling")
    if values["order_review_above"] > values["order_decline_above"]:
        problems.append("order review share must not exceed the decline share")
    for key in ("order_review_grades", "order_decline_grades"):
        grades = set(values[key])
        if not grades <= set(_GRADE_LETTERS):
            problems.append(f"{key} holds unknown grades {sorted(grades - set(_GRADE_LETTERS))}")
        elif grades and grades != set(_GRADE_LETTERS[_GRADE_LETTERS.index(min(grades)) :]):
            # A worse grade must never be treated more leniently than a better one.
            problems.append(f"{key} must be the worst grades (e.g. D, E), got {sorted(grades)}")
    if not set(values["order_decline_grades"]) <= set(values["order_review_grades"]):
        problems.append("every order decline grade must also be a review grade")
    low, rate, high = (
        values[k] for k in ("discount_rate_min", "discount_rate", "discount_rate_max")
    )
    if not low <= rate <= high:
        problems.append(f"discount rate {rate} must lie in its band [{low}, {high}]")
    return problems
