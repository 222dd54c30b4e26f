"""A small store with a real trained bundle, made once per session, for the API tests.

`make_api_template` generates a synthetic ledger, imports it into a SQLite store and
trains tiny but real LightGBM models on its training table (default classifier with a
Platt calibrator, days-late mean and quantiles), saved as the champion bundle. Tests
copy the store file so that each can write events without disturbing the others.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
from prometheus_client.parser import text_string_to_metric_families
from sklearn.linear_model import LogisticRegression

from features.build import build_training_table
from features.importing import import_directory
from features.ledger import Ledger, load_ledger
from features.spec import CATEGORICAL_COLUMNS, FEATURE_COLUMNS, FEATURE_SET_VERSION
from features.store import dispose_engines, get_engine
from features.synthetic import generate_ledger, write_ledger
from kernel.config import Settings
from serving.auth import create_api_key
from training.bundle import Bundle, ScoreCalibrator, feature_matrix, save_bundle
from training.models import monotone_params

# The API serves as of the day after the ledger's last day.
LAST_DAY = dt.date(2026, 3, 1)
AS_OF = LAST_DAY + dt.timedelta(days=1)
CUSTOMERS = 40


@dataclass(frozen=True)
class ApiTemplate:
    """A store file, a models folder with the champion, the ledger, and one key per role."""

    db_file: Path
    models_dir: Path
    ledger: Ledger
    keys: dict[str, str]  # role -> plaintext key


def _booster(X: np.ndarray, y: np.ndarray, params: dict, categorical: list[int]) -> lgb.Booster:
    data = lgb.Dataset(X, y, categorical_feature=categorical, free_raw_data=False)
    base = {"verbose": -1, "seed": 0, "num_threads": 1, "min_data_in_leaf": 10, "num_leaves": 15}
    return lgb.train({**base, **params}, data, num_boost_round=25)


def train_tiny_bundle(
    ledger: Ledger, *, as_of: dt.date, version: str = "1", monotone: bool = False
) -> Bundle:
    """Real LightGBM models on the ledger's training table (tiny: for tests only).

    `monotone` adds the spec's monotone constraints to the default and mean models, as
    training does (`training.models.monotone_params`).
    """
    table = build_training_table(ledger, as_of=as_of, horizon_days=90)
    categories = {
        c: sorted(str(v) for v in table[c].dropna().unique()) for c in CATEGORICAL_COLUMNS
    }
    X = feature_matrix(table, FEATURE_COLUMNS, categories)
    categorical = [FEATURE_COLUMNS.index(c) for c in CATEGORICAL_COLUMNS]
    days = table["days_late"].to_numpy(dtype="float64")
    directed = monotone_params(FEATURE_COLUMNS) if monotone else {}
    models = {"mean": _booster(X, days, {"objective": "regression", **directed}, categorical)}
    for key, alpha in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9)):
        models[key] = _booster(X, days, {"objective": "quantile", "alpha": alpha}, categorical)
    y = table["default"].to_numpy(dtype="int64")
    default_model = _booster(X, y, {"objective": "binary", **directed}, categorical)
    raw = np.asarray(default_model.predict(X, raw_score=True))
    calibrator = ScoreCalibrator("sigmoid", LogisticRegression().fit(raw.reshape(-1, 1), y))
    return Bundle(
        model_version=version,
        trained_at="2026-03-02T00:00:00+00:00",
        as_of=as_of.isoformat(),
        feature_set_version=FEATURE_SET_VERSION,
        feature_columns=list(FEATURE_COLUMNS),
        categories=categories,
        horizon_days=90,
        default_model=default_model,
        calibrator=calibrator,
        default_unavailable_reason=None,
        days_late_models=models,
        metrics={"default": {"model": {"roc_auc": 0.8}}, "rows": len(table)},
        thresholds={"A": 0.02, "B": 0.05, "C": 0.10, "D": 0.20},
    )


def make_api_template(root: Path) -> ApiTemplate:
    """Generate, import and train into `root` (once per session)."""
    frames = generate_ledger(customers=CUSTOMERS, seed=5, years=2.0, end_date=LAST_DAY)
    write_ledger(frames, root / "data")
    db_file = root / "store.db"
    engine = get_engine(f"sqlite:///{db_file}")
    import_directory(engine, root / "data")
    keys = {}
    for role in ("scorer", "collector", "admin"):
        keys[role] = create_api_key(engine, role=role, name=f"test {role}")[1]
    # The ledger as stored: GBP and USD amounts converted to the base currency on import.
    ledger = load_ledger(engine)
    bundle = train_tiny_bundle(ledger, as_of=AS_OF)
    save_bundle(bundle, root / "models" / "champion")
    dispose_engines()
    return ApiTemplate(db_file=db_file, models_dir=root / "models", ledger=ledger, keys=keys)


def settings_for(template: ApiTemplate, tmp_path: Path, *, copy_models: bool = False) -> Settings:
    """Settings of a test: its own copy of the store (and of the models, if asked)."""
    db_file = tmp_path / "api-store.db"
    shutil.copyfile(template.db_file, db_file)
    models_dir = template.models_dir
    if copy_models:
        models_dir = tmp_path / "api-models"
        shutil.copytree(template.models_dir, models_dir)
    return Settings(
        home=tmp_path / "home",
        database_url=f"sqlite:///{db_file}",
        models_dir=models_dir,
        serve_as_of=AS_OF,
    )


def request_count(exposition: str, method: str, route: str, status: str = "200") -> float:
    """Total of `duecast_http_requests_total` for one method, route and status in a scrape."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        if family.name == "duecast_http_requests"
        for sample in family.samples
        if sample.name == "duecast_http_requests_total"
        and sample.labels == {"method": method, "route": route, "status": status}
    )


def healthz_count(exposition: str) -> float:
    """Total of `duecast_http_requests_total` for GET /healthz 200 in a scrape."""
    return request_count(exposition, "GET", "/healthz")
