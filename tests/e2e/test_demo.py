"""The demo end to end: generate, import, train, promote and an admin key, on embedded defaults."""

from __future__ import annotations

from typer.testing import CliRunner

from duecast.cli import app

runner = CliRunner()


def test_demo_generates_imports_trains_promotes_and_prints_a_working_admin_key() -> None:
    """`duecast demo --no-serve` on a small ledger: every step runs, the key authenticates."""
    from features.store import get_engine
    from kernel.config import get_settings
    from serving.auth import find_api_key
    from training.bundle import load_bundle

    result = runner.invoke(app, ["demo", "--customers", "120", "--years", "1.5", "--no-serve"])
    assert result.exit_code == 0, result.output
    for step in ("generate", "import", "train", "promote", "API key"):
        assert step in result.output
    settings = get_settings()
    assert load_bundle(settings.models_dir / "champion").served["days_late"]
    key = next(line.split(": ", 1)[1] for line in result.output.splitlines() if "X-API-Key" in line)
    with get_engine(settings.database_url).connect() as conn:
        found = find_api_key(conn, key.strip())
    assert found is not None and found.role == "admin"
