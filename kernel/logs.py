"""Logging set-up, called only by the CLI and `serving.app.create_app`.

Library modules use `logging.getLogger(__name__)` and never configure handlers.
"""

from __future__ import annotations

import logging

from rich.logging import RichHandler

__all__ = ["configure_logging"]


class _DuecastHandler(RichHandler):
    """The handler `configure_logging` installs, marked so a second call finds it."""

    _duecast = True  # read by name (also by `serving.app`), hence an attribute, not a type


def configure_logging(level: str | int = "INFO") -> None:
    """Send duecast's log records to stderr through rich, once per process."""
    root = logging.getLogger()
    if any(getattr(h, "_duecast", False) for h in root.handlers):
        root.setLevel(level)
        return
    handler = _DuecastHandler(show_path=False, rich_tracebacks=False, markup=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    # LightGBM / MLflow chatter only when asked for.
    for noisy in ("mlflow", "alembic", "urllib3", "lightgbm"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
