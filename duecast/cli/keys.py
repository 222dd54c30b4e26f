"""`duecast apikey ...`: API keys of the REST API."""

from __future__ import annotations

from typing import Annotated

import typer

from duecast.cli._common import console, err_console, load_settings, user_errors

__all__ = ["apikey_app"]

apikey_app = typer.Typer(help="Manage API keys of the REST API.", no_args_is_help=True)


@apikey_app.command("create")
def apikey_create(
    role: Annotated[str, typer.Option(help="scorer, collector or admin.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from features.store import get_engine
    from serving.auth import create_api_key

    settings = load_settings()
    with user_errors():
        key, plaintext = create_api_key(get_engine(settings.database_url), role=role, name=name)
    err_console.print(f"API key {key.key_id} ({key.role}, {key.name}); it is shown only once:")
    console.print(plaintext)
