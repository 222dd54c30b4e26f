"""Shared by the training tests: a generated ledger imported into a fresh store, and settings.

Training tests use module-scoped stores (one generated ledger and a few training runs
shared by the tests of a module), so they build `Settings` explicitly instead of using
the per-test `settings` fixture.
"""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from features.importing import import_directory
from features.store import get_engine
from features.synthetic import generate_ledger, write_ledger
from kernel.config import Settings

END = dt.date(2025, 12, 31)


@lru_cache(maxsize=1)
def _empty_mlflow_db() -> Path:
    """An MLflow SQLite store with its tables created, made once per test process.

    Creating the tables runs MLflow's Alembic migrations (about ten seconds); copying the
    finished file is instant, so each module's store starts from this template.
    """
    from mlflow import MlflowClient

    folder = Path(tempfile.mkdtemp(prefix="duecast-mlflow-template-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


def store_settings(home: Path, **overrides: object) -> Settings:
    """Settings of an isolated home: SQLite store, MLflow store and models folder in it.

    One LightGBM thread: the test machine is shared, and results must not depend on it.
    """
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_empty_mlflow_db(), home / "mlflow.db")
    values: dict = {
        "home": home,
        "models_dir": home / "models",
        "database_url": "",
        "mlflow_tracking_uri": "",
        "train_threads": 1,
        **overrides,
    }
    return Settings(**values)


def generated_store(
    settings: Settings,
    *,
    customers: int,
    years: float,
    seed: int,
    default_rate: float | None = None,
) -> dict:
    """Generate a ledger ending on `END` and import it into the settings' store."""
    frames = generate_ledger(
        customers=customers, seed=seed, years=years, end_date=END, default_rate=default_rate
    )
    data = settings.home / "ledger"
    write_ledger(frames, data)
    import_directory(get_engine(settings.database_url), data)
    return frames
