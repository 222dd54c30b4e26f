"""Shared fixtures: isolated settings, and SQLite / PostgreSQL stores made per test.

PostgreSQL tests talk to a real server (DUECAST_TEST_POSTGRES_URL, default the local
one). Outside CI they skip with the reason when no server answers; under CI=true they
fail instead, so a missing server can never pass silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import sqlalchemy as sa

from features.store import dispose_engines
from kernel.config import Settings, get_settings

# The suite runs in two pytest-xdist workers on the 2-core machines it targets: one
# OpenMP thread per worker (LightGBM), so the workers share the cores instead of fighting
# over them. Set before any test module loads LightGBM (nothing imported above does).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

# Under CI every property test draws the same examples (a red CI run is reproducible and
# never flaky); on a developer's machine they explore new ones on every run.
hypothesis.settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI") == "true":
    hypothesis.settings.load_profile("ci")

POSTGRES_ADMIN_URL = os.environ.get(
    "DUECAST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(autouse=True)
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Every test gets its own DUECAST_HOME and models folder, never the user's."""
    for key in list(os.environ):
        if key.startswith("DUECAST_") and key != "DUECAST_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("DUECAST_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DUECAST_MODELS_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
    dispose_engines()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite file (created on first use)."""
    return f"sqlite:///{tmp_path / 'store.db'}"


def _postgres_admin_engine() -> sa.Engine:
    engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        reason = f"no PostgreSQL server answers at {POSTGRES_ADMIN_URL}: {exc.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)")
        pytest.skip(reason)
    return engine


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a PostgreSQL database created for this test and dropped after it."""
    admin = _postgres_admin_engine()
    name = f"duecast_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on a SQLite file and on a real PostgreSQL database."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(name)


@pytest.fixture(scope="session")
def api_template(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A store, a trained champion bundle and one API key per role, made once per session."""
    from tests.utils.api_support import make_api_template

    return make_api_template(tmp_path_factory.mktemp("api-template"))
