"""The console script installs and answers; errors come out as messages, not tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from duecast.cli import app

DUECAST = Path(sys.executable).parent / "duecast"
runner = CliRunner()


def test_console_script_help_lists_contract_commands() -> None:
    result = subprocess.run([str(DUECAST), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    for command in ("generate", "import", "demo"):
        assert command in result.stdout


def test_import_of_missing_folder_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "nope" in result.output


def test_bad_row_exits_1_and_prints_brackets_verbatim(tmp_path: Path) -> None:
    """A rejected row is reported with file and line; text like `[x]` is not eaten as markup."""
    (tmp_path / "customers.csv").write_text(
        "customer_id,name,country,industry,created_at,credit_limit,payment_terms_days,currency\n"
        "C1,[bold]Acme,DE,retail,2024-01-01,1000,30,EUR\n"
        "C2,Beta,DE,retail,not-a-date,1000,30,EUR\n"
    )
    (tmp_path / "invoices.csv").write_text(
        "invoice_id,customer_id,issue_date,due_date,amount,currency,disputed,dispute_date\n"
        "I1,C1,2024-02-01,2024-03-02,100.0,EUR,false,\n"
    )
    (tmp_path / "payments.csv").write_text(
        "payment_id,invoice_id,customer_id,payment_date,amount\nP1,I1,C1,2024-03-01,100.0\n"
    )
    result = runner.invoke(app, ["import", str(tmp_path)])
    assert result.exit_code == 1
    # file:line [column]: the bracketed column name must survive rich's markup parser.
    assert "customers.csv:3 [created_at]" in result.output
    assert "Traceback" not in result.output
