"""End to end through the CLI: generate -> import -> the store holds exactly the files.

Runs on SQLite and on a real PostgreSQL database (the `db_url` fixture).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from duecast.cli import app
from features.store import get_engine
from kernel.config import get_settings
from kernel.schema import IMPORT_ORDER, TABLES

runner = CliRunner()


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ledger")
    result = runner.invoke(
        app,
        [
            "generate",
            "--customers",
            "40",
            "--years",
            "1",
            "--seed",
            "3",
            "--end-date",
            "2026-06-30",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def _dump(url: str) -> dict[str, pd.DataFrame]:
    engine = get_engine(url)
    with engine.connect() as conn:
        return {
            name: pd.read_sql(sa.text(f"SELECT * FROM {name} ORDER BY {TABLES[name].key}"), conn)
            for name in IMPORT_ORDER
        }


def test_generate_import_twice(
    ledger_dir: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUECAST_DATABASE_URL", db_url)
    get_settings.cache_clear()

    first = runner.invoke(app, ["import", str(ledger_dir)])
    assert first.exit_code == 0, first.output
    stored = _dump(db_url)
    for name in IMPORT_ORDER:
        rows_in_file = len(pd.read_csv(ledger_dir / f"{name}.csv"))
        assert len(stored[name]) == rows_in_file, name
    assert len(stored["invoices"]) > 200 and len(stored["payments"]) > 200

    second = runner.invoke(app, ["import", str(ledger_dir)])
    assert second.exit_code == 0, second.output
    again = _dump(db_url)
    for name in IMPORT_ORDER:
        pd.testing.assert_frame_equal(stored[name], again[name], check_like=False)
