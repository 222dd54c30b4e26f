"""One settings object, read from `DUECAST_*` environment variables.

Nothing here touches the disk at import: paths are resolved when settings are built
and folders are created by the code that writes into them.
"""

from __future__ import annotations

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
