"""`duecast apikey ...`: API keys of the REST API (create, list, revoke)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from duecast.cli._common import console, err_console, load_settings, user_errors

__all__ = ["apikey_app"]

apikey_app = typer.Typer(help="Manage API keys of the REST API.", no_args_is_help=True)


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


@apikey_app.command("create")
def apikey_create(
    role: Annotated[str, typer.Option(help="scorer, collector or admin.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    expires: Annotated[
        int | None,
        typer.Option(min=1, metavar="DAYS", help="Stop working this many days from now."),
    ] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from features.store import get_engine
    from serving.auth import create_api_key

    settings = load_settings()
    with user_errors():
        key, plaintext = create_api_key(
            get_engine(settings.database_url), role=role, name=name, expires_days=expires
        )
    until = "" if key.expires_at is None else f", expires {_when(key.expires_at)}"
    err_console.print(
        f"API key {key.key_id} ({key.role}, {escape(key.name)}{until}); it is shown only once:"
    )
    console.print(plaintext, highlight=False, markup=False)


@apikey_app.command("list")
def apikey_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array, for scripts.")] = False,
) -> None:
    """Every API key: id, name, role, created, expires and status (never the key itself)."""
    from features.store import get_engine
    from serving.auth import list_api_keys

    settings = load_settings()
    with user_errors():
        keys = list_api_keys(get_engine(settings.database_url))
    now = datetime.now(UTC)
    if as_json:
        rows = [
            {
                "id": k.key_id,
                "name": k.name,
                "role": k.role,
                "created_at": k.created_at.isoformat(),
                "expires_at": None if k.expires_at is None else k.expires_at.isoformat(),
                "revoked_at": None if k.revoked_at is None else k.revoked_at.isoformat(),
                "status": k.status(now),
            }
            for k in keys
        ]
        typer.echo(json.dumps(rows, indent=2))  # plain: rich would wrap long lines
        return
    if not keys:
        err_console.print("No API keys yet: `duecast apikey create --role ... --name ...`.")
        return
    table = Table("id", "name", "role", "created", "expires", "status")
    style = {"active": "green", "expired": "yellow", "revoked": "red"}
    for k in keys:
        status = k.status(now)
        table.add_row(
            k.key_id,
            escape(k.name),
            k.role,
            _when(k.created_at),
            _when(k.expires_at),
            f"[{style[status]}]{status}[/]",
        )
    console.print(table)


@apikey_app.command("revoke")
def apikey_revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (`apikey list`).")],
) -> None:
    """Revoke a key: every serving worker refuses it (401) from its next request on."""
    from features.store import get_engine
    from serving.auth import revoke_api_key

    settings = load_settings()
    with user_errors():
        key, changed = revoke_api_key(get_engine(settings.database_url), key_id)
    if changed:
        err_console.print(f"Revoked API key {key.key_id} ({key.role}, {escape(key.name)}).")
    else:
        err_console.print(
            f"API key {key.key_id} ({key.role}, {escape(key.name)}) was already revoked "
            f"on {_when(key.revoked_at)}: nothing changed."
        )
