"""Settings defaults, the installed packages, and schema versioning of the store."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

import features
import kernel
from features.store import ensure_schema, get_engine, schema_revision
from kernel.config import Settings

# The newest migration (features/migrations/versions): a new one must be listed here.
HEAD = "0009"


def test_defaults_live_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUECAST_HOME", str(tmp_path / "h"))
    s = Settings()
    assert s.home == (tmp_path / "h").resolve()
    assert s.database_url == f"sqlite:///{s.home / 'duecast.db'}"
    assert s.mlflow_tracking_uri == f"sqlite:///{s.home / 'mlflow.db'}"
    assert not s.home.exists(), "settings must not create folders"


def test_env_overrides_and_bad_values_fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUECAST_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert Settings().database_url == "postgresql+psycopg://u@h/db"
    monkeypatch.setenv("DUECAST_HORIZON_DAYS", "0")
    with pytest.raises(ValidationError, match="horizon_days"):
        Settings()


def test_base_currency_is_three_capital_letters(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().base_currency == "EUR"
    monkeypatch.setenv("DUECAST_BASE_CURRENCY", "usd")
    assert Settings().base_currency == "USD"  # case is not a mistake worth stopping for
    monkeypatch.setenv("DUECAST_BASE_CURRENCY", "EURO")
    with pytest.raises(ValidationError, match="base_currency"):
        Settings()


@pytest.mark.parametrize(
    ("date_min", "date_max"),
    [
        ("2000-01-01", "1999-12-31"),  # reversed
        ("1677-09-22", "2100-01-01"),  # pandas' first day leaves no room for history
        ("1900-01-01", "2262-04-10"),  # pandas' last day leaves no room for due + horizon
    ],
)
def test_date_range_must_fit_inside_what_pandas_reads(date_min: str, date_max: str) -> None:
    with pytest.raises(ValidationError, match="date_min"):
        Settings(date_min=date_min, date_max=date_max)


def test_features_and_kernel_packages_are_ours() -> None:
    # PyPI has unrelated `features` and `kernel` distributions; they must never shadow ours.
    repo = Path(__file__).resolve().parents[2]
    assert Path(features.__file__).resolve().is_relative_to(repo)
    assert Path(kernel.__file__).resolve().is_relative_to(repo)


def test_schema_created_then_left_alone(db_url: str) -> None:
    engine = get_engine(db_url)
    assert schema_revision(engine) is None
    ensure_schema(engine)
    assert schema_revision(engine) == HEAD
    tables = set(sa.inspect(engine).get_table_names())
    assert {
        "customers",
        "invoices",
        "payments",
        "adjustments",
        "actions",
        "api_keys",
        "change_log",
        "invoice_attributes",
        "attribute_kinds",
        "order_reservations",
        "credit_limit_changes",
        "exchange_rates",
    } <= tables
    ensure_schema(engine)  # at head: nothing to do, no error
    assert schema_revision(engine) == HEAD


def test_older_database_is_upgraded_in_place(sqlite_url: str) -> None:
    """A store made by an earlier release keeps its rows through the upgrade."""
    from alembic import command

    from features.store import _alembic_config

    engine = get_engine(sqlite_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0001")
        conn.execute(
            sa.text(
                "INSERT INTO customers (customer_id, name, created_at) "
                "VALUES ('C1', 'Acme', '2024-01-01')"
            )
        )
    assert schema_revision(engine) == "0001"
    ensure_schema(engine)
    assert schema_revision(engine) == HEAD
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM customers")).scalar_one() == "Acme"
