"""One settings object, read from `DUECAST_*` environment variables.

Nothing here touches the disk at import: paths are resolved when settings are built
and folders are created by the code that writes into them.
"""

from __future__ import annotations

import datetime
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


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
    serve_as_of: datetime.date | None = Field(
        default=None,
        description="Date the API scores and decides as of (default: today, UTC); pin it "
        "to serve a historical ledger, e.g. in demos and tests.",
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

    @field_validator("home", "models_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # Resolved once, so a later chdir cannot move the store under our feet.
        return value.expanduser().resolve()

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
