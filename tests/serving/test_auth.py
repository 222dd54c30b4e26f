"""API keys: stored hashed, found by their plaintext, roles ordered."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from duecast.cli import app
from features.store import api_keys, get_engine
from kernel.config import Settings
from kernel.errors import ConfigurationError
from serving.auth import create_api_key, find_api_key, role_allows


def test_key_is_stored_hashed_and_found(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    key, plaintext = create_api_key(engine, role="collector", name="desk")
    with engine.connect() as conn:
        stored = conn.execute(sa.select(api_keys)).one()
        assert plaintext not in str(tuple(stored))
        assert find_api_key(conn, plaintext) == key
        assert find_api_key(conn, plaintext + "x") is None


def test_unknown_role_is_refused(sqlite_url: str) -> None:
    with pytest.raises(ConfigurationError, match="scorer, collector, admin"):
        create_api_key(get_engine(sqlite_url), role="root", name="x")


def test_roles_are_a_ladder() -> None:
    assert role_allows("admin", "scorer") and role_allows("collector", "collector")
    assert not role_allows("scorer", "collector") and not role_allows("collector", "admin")


def test_cli_prints_a_working_key_once(settings: Settings) -> None:
    result = CliRunner().invoke(app, ["apikey", "create", "--role", "admin", "--name", "ops"])
    assert result.exit_code == 0, result.output
    plaintext = result.stdout.strip().splitlines()[-1]
    with get_engine(settings.database_url).connect() as conn:
        found = find_api_key(conn, plaintext)
    assert found is not None and found.role == "admin"
