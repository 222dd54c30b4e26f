"""`duecast import`: --list-presets, --preset, --dry-run and --reject-file, as a user runs them."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from duecast.cli import app
from features.presets import PRESETS
from features.store import get_engine
from kernel.config import Settings

runner = CliRunner()

# Invoice Ninja's invoice and payment exports (see features/presets/invoice_ninja.toml).
INVOICES = """\
Client Name,Invoice Number,Invoice Amount,Invoice Balance,Invoice Paid to Date,Invoice Date,\
Invoice Due Date,Invoice Status
Northwind Studio,0001,"$1,020.00",$0.00,"$1,020.00",2024-02-01,2024-03-02,Paid
Oak & Iron,0002,$560.00,$560.00,$0.00,2024-02-07,2024-02-21,Sent
"""
PAYMENTS = """\
Payment Number,Client Name,Invoice Number,Payment Date,Payment Amount
0001,Northwind Studio,0001,2024-02-28,"$1,020.00"
"""


def ninja_export(directory: Path, *, extra_invoice: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "invoices.csv").write_text(INVOICES + extra_invoice, encoding="utf-8")
    (directory / "payments.csv").write_text(PAYMENTS, encoding="utf-8")
    return directory


def count(settings: Settings, table: str) -> int:
    url = settings.database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return 0
    with get_engine(url).connect() as conn:
        if not sa.inspect(conn).has_table(table):
            return 0
        return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def test_list_presets_needs_no_folder() -> None:
    result = runner.invoke(app, ["import", "--list-presets"])
    assert result.exit_code == 0, result.output
    for name in PRESETS:
        assert name in result.output
    assert "account.move.xlsx" in result.output
    assert "customer_items.csv" in result.output


def test_import_without_a_folder_is_a_usage_error() -> None:
    result = runner.invoke(app, ["import"])
    assert result.exit_code == 2
    assert "--list-presets" in result.output


def test_preset_imports_the_vendor_files(tmp_path: Path, settings: Settings) -> None:
    result = runner.invoke(
        app, ["import", str(ninja_export(tmp_path / "ninja")), "--preset", "invoice_ninja"]
    )
    assert result.exit_code == 0, result.output
    assert count(settings, "invoices") == 2
    assert count(settings, "payments") == 1
    assert count(settings, "customers") == 2


def test_unknown_preset_lists_the_presets(tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", str(ninja_export(tmp_path / "x")), "--preset", "sage"])
    assert result.exit_code == 1
    assert "unknown preset 'sage'" in result.output
    assert "invoice_ninja" in result.output
    assert "Traceback" not in result.output


def test_preset_and_mapping_together_is_refused(tmp_path: Path, settings: Settings) -> None:
    mapping = tmp_path / "mine.toml"
    mapping.write_text("[invoices]\nfile = 'invoices.csv'\n")
    result = runner.invoke(
        app,
        [
            "import",
            str(ninja_export(tmp_path / "n")),
            "--preset",
            "odoo",
            "--mapping",
            str(mapping),
        ],
    )
    assert result.exit_code == 2
    assert "either --mapping FILE or --preset NAME" in result.output
    assert count(settings, "invoices") == 0


def test_dry_run_counts_and_writes_nothing(tmp_path: Path, settings: Settings) -> None:
    folder = ninja_export(tmp_path / "n")
    result = runner.invoke(app, ["import", str(folder), "--preset", "invoice_ninja", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "nothing was written" in result.output
    assert not (settings.home / "duecast.db").exists()  # a new store: not even its file
    # The counts are those of the real import that follows.
    assert "invoices" in result.output

    real = runner.invoke(app, ["import", str(folder), "--preset", "invoice_ninja"])
    assert real.exit_code == 0, real.output
    assert "nothing was written" not in real.output
    assert count(settings, "invoices") == 2


@pytest.mark.parametrize("dry_run", [False, True])
def test_reject_file_keeps_the_good_rows(tmp_path: Path, settings: Settings, dry_run: bool) -> None:
    bad = "Oak & Iron,0003,$75.00,$75.00,$0.00,2024-02-31,2024-03-09,Sent\n"
    folder = ninja_export(tmp_path / "n", extra_invoice=bad)
    rejects = tmp_path / "rejected.csv"
    args = ["import", str(folder), "--preset", "invoice_ninja", "--reject-file", str(rejects)]
    result = runner.invoke(app, args + (["--dry-run"] if dry_run else []))
    assert result.exit_code == 0, result.output
    assert "1 row(s) rejected" in result.output
    with rejects.open(newline="", encoding="utf-8") as handle:
        problems = list(csv.DictReader(handle))
    assert [(p["file"], p["line"]) for p in problems] == [("invoices.csv", "4")]
    assert count(settings, "invoices") == (0 if dry_run else 2)
    # read, inserted, updated, unchanged, rejected, deleted: the same with --dry-run.
    assert summary_row(result.output, "invoices") == ["3", "2", "0", "0", "1", "0"]


def summary_row(output: str, table: str) -> list[str]:
    """The counts of one table in the printed summary."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│") if c.strip()]
        if cells and cells[0] == table:
            return cells[1:]
    raise AssertionError(f"no {table} row in:\n{output}")


def test_the_summary_names_stored_rows_converted_again(tmp_path: Path, settings: Settings) -> None:
    """A re-export giving a stored invoice another rate says which stored rows it restated."""
    from tests.features.test_currency import _thirds, _write

    tables = _thirds()
    first = runner.invoke(app, ["import", str(_write(tmp_path / "first", tables))])
    assert first.exit_code == 0, first.output
    assert "converted again" not in first.output
    tables["invoices"][1]["fx_rate"] = "1.25"
    tables["payments"] = tables["payments"][-1:]
    again = runner.invoke(app, ["import", str(_write(tmp_path / "again", tables))])
    assert again.exit_code == 0, again.output
    assert "payments: 2 stored row(s) the files did not carry were converted again" in " ".join(
        again.output.split()
    )
