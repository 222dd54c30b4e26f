"""What every command shares: consoles, progress bars, settings, errors as messages."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from kernel.config import Settings, get_settings
from kernel.errors import DuecastError

__all__ = [
    "ProgressCallback",
    "console",
    "err_console",
    "load_settings",
    "parse_date",
    "progress_bars",
    "user_errors",
]

console = Console()
err_console = Console(stderr=True)
logger = logging.getLogger("duecast")

ProgressCallback = Callable[[str, int, int], None]


@contextmanager
def progress_bars() -> Iterator[ProgressCallback]:
    """A rich progress bar driven by `(stage, done, total)` callbacks, one bar per stage."""
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
        disable=not err_console.is_terminal,
    ) as bar:

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=max(total, 1))
            bar.update(tasks[stage], completed=done, total=max(total, 1))

        yield update


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a DuecastError into one readable message and exit code 1, not a traceback."""
    try:
        yield
    except DuecastError as exc:
        # Messages quote file contents and paths: never let rich read them as markup.
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(code=1) from exc


def load_settings() -> Settings:
    """The settings, or exit 2 with a message naming the bad DUECAST_* setting."""
    try:
        return get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        err_console.print(f"[bold red]error:[/] invalid DUECAST_* setting:\n{exc}")
        raise typer.Exit(code=2) from exc


def parse_date(value: str, option: str) -> date:
    """A YYYY-MM-DD option value, or a usage error naming the option."""
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"expected YYYY-MM-DD, got {value!r}", param_hint=option) from exc
