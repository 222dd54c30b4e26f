"""`duecast train` on each ledger profile, through the CLI: exit 0 or a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from duecast.cli import app
from kernel.config import get_settings
from tests.utils.training_support import store_settings

runner = CliRunner()
# Small ledgers: enough mature invoices to train on, a few seconds each.
SIZES = {"thin": 60, "many-counterparties": 500, "instalments": 80}


@pytest.mark.parametrize("profile", list(SIZES))
def test_train_runs_cleanly_on_each_profile(
    profile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    store_settings(home)  # copies a migrated MLflow store into the home: saves ~10 s
    monkeypatch.setenv("DUECAST_HOME", str(home))
    monkeypatch.setenv("DUECAST_TRAIN_THREADS", "1")
    get_settings.cache_clear()
    ledger = tmp_path / "ledger"
    generated = runner.invoke(
        app,
        [
            "generate",
            "--profile",
            profile,
            "--customers",
            str(SIZES[profile]),
            "--seed",
            "4",
            "--end-date",
            "2026-03-31",
            "--out",
            str(ledger),
        ],
    )
    assert generated.exit_code == 0, generated.output
    imported = runner.invoke(app, ["import", str(ledger)])
    assert imported.exit_code == 0, imported.output

    trained = runner.invoke(app, ["train"])
    # A DuecastError is a clean exit 1 with a message; anything else is a traceback.
    assert trained.exception is None or isinstance(trained.exception, SystemExit), (
        f"{profile}: {trained.exception!r}\n{trained.output}"
    )
    assert trained.exit_code in (0, 1), trained.output
    if trained.exit_code == 1:
        assert "error:" in trained.output
