"""One settings object, read from `DUECAST_*` environment variables.

Nothing here touches the disk at import: paths are resolved when settings are built
and folders are created by the code that writes into them.
"""

from __future__ import annotations

import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kernel.policy import PolicySettings
from kernel.smtp import ReminderSettings

__all__ = ["PANDAS_DATE_MAX", "PANDAS_DATE_MIN", "Settings", "get_settings"]

# The whole days pandas' nanosecond timestamps can hold (1677-09-21 .. 2262-04-11).
PANDAS_DATE_MIN = datetime.date(1677, 9, 22)
PANDAS_DATE_MAX = datetime.date(2262, 4, 10)


class Settings(BaseSettings):
    """duecast configuration; every field can be set as `DUECAST_<FIELD>`.

    The decision policy is a group of its own, `policy` (`DUECAST_POLICY_<FIELD>`).
    """

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

    base_currency: str = Field(
        default="EUR",
        description="Currency every stored amount is in (ISO 4217 code, e.g. EUR): "
        "invoices in other currencies are converted on import at the rate of their issue "
        "date (exchange_rates.csv), their payments at the invoice's rate.",
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

    # Web pages (serving/web/)
    web_session_hours: float = Field(
        default=12.0,
        gt=0.0,
        le=24 * 90,
        description="Hours a sign-in to the web pages lasts; then the browser signs in again.",
    )
    web_page_size: int = Field(
        default=50, ge=5, le=1_000, description="Customers per page of the worklist page."
    )

    # Labels
    horizon_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="Days after due date after which unsettled = default.",
    )
    very_late_days: int = Field(
        default=30,
        ge=1,
        description="Days after due date after which a payment is very late: the risk target "
        "when a ledger has too few defaults for a default model (below horizon_days).",
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
        default=90, ge=7, description="Length of each test window the backtest reports on."
    )
    backtest_windows: int = Field(
        default=3,
        ge=1,
        le=12,
        description="Consecutive rolling-origin test windows (fewer, with a reason, when the "
        "history is short).",
    )
    backtest_max_rows: int = Field(
        default=100_000,
        ge=1_000,
        description="Training rows each backtest window learns from at most (sampled, seeded); "
        "the refit on all history uses DUECAST_TRAIN_MAX_ROWS.",
    )
    train_hazard: bool = Field(
        default=True,
        description="Fit the discrete-time hazard model (learns from still-open invoices as "
        "censored rows) as a candidate beside the direct models.",
    )
    hazard_max_rows: int = Field(
        default=300_000,
        ge=1_000,
        description="Invoice-week rows the hazard model learns from at most per fit (whole "
        "invoices sampled, seeded): it has about 8 rows per invoice and costs the most.",
    )
    backtest_resamples: int = Field(
        default=1000,
        ge=100,
        description="Bootstrap resamples of the model-minus-baseline intervals.",
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
    # Decision policy (serving/decisions/): its own group, `DUECAST_POLICY_*` and
    # DUECAST_GRADE_CUTOFFS (shared with training, which stores it in the bundle).
    policy: PolicySettings = Field(
        default_factory=PolicySettings,
        description="Every number of the decisions; see kernel.policy.PolicySettings.",
    )
    # Reminder e-mails (serving/reminders/): `DUECAST_REMINDERS_*`, with the SMTP server
    # as `reminders.smtp` (`DUECAST_SMTP_*`).
    reminders: ReminderSettings = Field(
        default_factory=ReminderSettings,
        description="The automated reminder job and its SMTP server; see kernel.smtp.",
    )

    @field_validator("train_exclude_features", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("base_currency", mode="after")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        code = value.strip().upper()
        if not (len(code) == 3 and code.isascii() and code.isalpha()):
            raise ValueError(
                f"base_currency {value!r} must be a 3-letter ISO 4217 code such as EUR, "
                "GBP or USD (set DUECAST_BASE_CURRENCY)"
            )
        return code

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
    def _check_very_late_days(self) -> Settings:
        # At V >= H "very late" is the default itself: no second target to learn.
        if not 1 <= self.very_late_days < self.horizon_days:
            raise ValueError(
                f"DUECAST_VERY_LATE_DAYS ({self.very_late_days}) must be at least 1 and below "
                f"DUECAST_HORIZON_DAYS ({self.horizon_days})"
            )
        return self

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'duecast.db'}"
        if not self.mlflow_tracking_uri:
            self.mlflow_tracking_uri = f"sqlite:///{self.home / 'mlflow.db'}"
        return self


@lru_cache
def get_settings() -> Settings:
    """Settings from the environment, built once per process (tests call `cache_clear`)."""
    return Settings()
