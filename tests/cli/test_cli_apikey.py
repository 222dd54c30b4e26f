"""`duecast apikey create --expires | list | revoke`."""

from __future__ import annotations

import datetime as dt
import json

from typer.testing import CliRunner

from duecast.cli import app
from features.store import get_engine
from kernel.config import Settings
from serving.auth import find_api_key

runner = CliRunner()


def _create(*args: str) -> tuple[str, str]:
    """(key id, plaintext) of a key made through the CLI."""
    result = runner.invoke(app, ["apikey", "create", *args])
    assert result.exit_code == 0, result.output
    plaintext = result.stdout.strip().splitlines()[-1]
    return plaintext.split("_")[1], plaintext


def _listed() -> dict[str, dict]:
    result = runner.invoke(app, ["apikey", "list", "--json"])
    assert result.exit_code == 0, result.output
    return {row["id"]: row for row in json.loads(result.stdout)}


def test_create_with_expires_sets_the_expiry(settings: Settings) -> None:
    key_id, plaintext = _create("--role", "collector", "--name", "temp", "--expires", "30")
    row = _listed()[key_id]
    expires = dt.datetime.fromisoformat(row["expires_at"])
    expected = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    assert abs(expires - expected) < dt.timedelta(minutes=5)
    assert row["status"] == "active" and row["role"] == "collector" and row["name"] == "temp"
    with get_engine(settings.database_url).connect() as conn:
        found = find_api_key(conn, plaintext)
    assert found is not None and found.expires_at == expires


def test_create_refuses_a_non_positive_expiry(settings: Settings) -> None:
    for days in ("0", "-3"):
        result = runner.invoke(
            app, ["apikey", "create", "--role", "admin", "--name", "x", "--expires", days]
        )
        assert result.exit_code == 2 and "--expires" in result.output


def test_list_shows_every_key_with_its_status(settings: Settings) -> None:
    empty = runner.invoke(app, ["apikey", "list"])
    assert empty.exit_code == 0 and "No API keys" in empty.output
    kept, _ = _create("--role", "scorer", "--name", "shop")
    gone, _ = _create("--role", "admin", "--name", "ops")
    assert runner.invoke(app, ["apikey", "revoke", gone]).exit_code == 0
    rows = _listed()
    assert {k: r["status"] for k, r in rows.items()} == {kept: "active", gone: "revoked"}
    assert rows[kept]["expires_at"] is None and rows[gone]["revoked_at"]
    table = runner.invoke(app, ["apikey", "list"], env={"COLUMNS": "200"})
    assert table.exit_code == 0
    for text in (kept, gone, "shop", "ops", "scorer", "admin", "active", "revoked"):
        assert text in table.stdout
    assert "dck_" not in table.stdout  # never the key itself


def test_revoke_stops_the_key_and_says_so_twice(settings: Settings) -> None:
    key_id, plaintext = _create("--role", "admin", "--name", "ops")
    first = runner.invoke(app, ["apikey", "revoke", key_id])
    assert first.exit_code == 0 and "Revoked" in first.output
    with get_engine(settings.database_url).connect() as conn:
        assert find_api_key(conn, plaintext) is None
    second = runner.invoke(app, ["apikey", "revoke", key_id])
    assert second.exit_code == 0 and "already revoked" in second.output


def test_revoke_of_an_unknown_id_is_a_clear_error(settings: Settings) -> None:
    result = runner.invoke(app, ["apikey", "revoke", "0123456789abcdef"])
    assert result.exit_code == 1
    assert "no API key has the id" in result.output and "apikey list" in result.output
    assert "Traceback" not in result.output
