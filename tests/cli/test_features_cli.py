"""`duecast features`: the store's training table as Parquet, for people to look at."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from duecast.cli import app
from features.build import BASE_COLUMNS, KEY_COLUMNS, LABEL_COLUMNS, build_training_table
from features.export import write_table
from features.ledger import last_event_day, load_ledger
from features.spec import FEATURE_COLUMNS, check_feature_frame
from features.store import get_engine
from features.synthetic import generate_ledger, write_ledger
from kernel.config import Settings, get_settings

runner = CliRunner()
END = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ledger")
    write_ledger(generate_ledger(customers=15, seed=4, years=1.0, end_date=END), out)
    return out


@pytest.fixture
def imported(ledger_dir: Path, settings: Settings) -> Settings:
    result = runner.invoke(app, ["import", str(ledger_dir)])
    assert result.exit_code == 0, result.output
    return settings


@pytest.fixture
def imported_anywhere(ledger_dir: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The ledger imported into SQLite, and into PostgreSQL (dates come back differently)."""
    monkeypatch.setenv("DUECAST_DATABASE_URL", db_url)
    get_settings.cache_clear()
    result = runner.invoke(app, ["import", str(ledger_dir)])
    assert result.exit_code == 0, result.output
    return get_settings()


def test_features_writes_the_training_table_of_the_store(
    imported_anywhere: Settings, tmp_path: Path
) -> None:
    imported = imported_anywhere
    out = tmp_path / "tables" / "train.parquet"
    result = runner.invoke(app, ["features", "--out", str(out)])
    assert result.exit_code == 0, result.output

    table = pd.read_parquet(out)
    assert list(table.columns) == [*KEY_COLUMNS, *BASE_COLUMNS, *FEATURE_COLUMNS, *LABEL_COLUMNS]
    check_feature_frame(table)  # dtypes, categories and flags survive the file
    ledger = load_ledger(get_engine(imported.database_url))
    as_of = last_event_day(ledger) + dt.timedelta(days=1)
    assert f"as of {as_of}" in result.output
    expected = build_training_table(
        ledger,
        as_of=as_of,
        horizon_days=imported.horizon_days,
        snapshot_every_days=imported.training_snapshot_every_days,
    )
    pd.testing.assert_frame_equal(table, expected)
    # The same table training sees: several snapshots of invoices that stayed open.
    assert (table["snapshot_date"] > table["issue_date"]).any()
    assert not list(out.parent.glob(".*"))  # no temporary file left behind


def test_as_of_and_snapshot_options_cut_the_table(imported: Settings, tmp_path: Path) -> None:
    out = tmp_path / "t.parquet"
    result = runner.invoke(
        app, ["features", "--as-of", "2026-03-01", "--snapshot-every", "0", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert len(table) > 50
    assert (table["snapshot_date"] == table["issue_date"]).all()
    assert (table["snapshot_date"] < pd.Timestamp("2026-03-01")).all()
    assert table["days_late"].notna().all()  # only invoices with a known outcome train
    assert table["invoice_id"].is_unique


def test_empty_store_is_a_message_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "t.parquet"
    result = runner.invoke(app, ["features", "--out", str(out)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "duecast import" in result.output
    assert not out.exists()


def test_bad_as_of_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["features", "--as-of", "2026-02-30", "--out", str(tmp_path / "t")])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_write_table_never_leaves_half_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.parquet"
    old = pd.DataFrame({"a": [1, 2]})
    write_table(old, path)

    def crash(self: pd.DataFrame, target: str | Path, **_: object) -> None:
        Path(target).write_bytes(b"PAR1 half written")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash)
    with pytest.raises(OSError, match="disk full"):
        write_table(pd.DataFrame({"a": [3]}), path)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(pd.read_parquet(path), old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]
