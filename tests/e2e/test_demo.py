"""The demo end to end: generate, import, train, promote and an admin key, on embedded defaults."""

from __future__ import annotations

from typer.testing import CliRunner

from duecast.cli import app
from kernel.config import Settings

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
    _no_customer_past_the_horizon_is_graded_above_d(settings)


def _no_customer_past_the_horizon_is_graded_above_d(settings: Settings) -> None:
    """Issue 10: in the demo store every customer with an invoice past due + H is graded
    D or E, and the first fact behind its grade names that invoice."""
    from serving.decisions.scores import past_horizon
    from serving.loader import load_state

    state = load_state(settings)
    checked = 0
    for entry in state.entries.values():
        late = [
            inv.invoice_id
            for inv in entry.invoices
            if past_horizon(inv.due_date, as_of=state.as_of, horizon_days=state.bundle.horizon_days)
        ]
        if late:
            checked += 1
            assert entry.grade.grade in ("D", "E"), entry.grade.reason
            assert any(f"invoice {i} " in entry.grade.facts[0] for i in late), entry.grade.facts
    assert checked, "the demo store should hold invoices past the default horizon"
