"""The reminder e-mail: subject and plain-text body from a Jinja2 template.

Templates are named `<step>.<language>.txt` (e.g. `reminder.de.txt`); the first line is
`Subject: ...`, a blank line follows, then the body. A language without a template
reads English. `DUECAST_REMINDERS_TEMPLATES_DIR` is searched before the built-in
`serving/reminders/templates`, so a team can word its own reminders. Each template sees
`customer_name`, `customer_id`, `lines` (invoice_id, due_date, days_overdue,
open_amount, currency), `totals` (currency -> amount), `as_of`, and the function
`money` (an amount written the language's way).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2

from kernel.errors import ConfigurationError
from serving.reminders.selection import ReminderBatch

__all__ = ["FALLBACK_LANGUAGE", "RenderedMail", "render_mail"]

FALLBACK_LANGUAGE = "en"
_BUILT_IN = Path(__file__).parent / "templates"
# (thousands, decimal) separators by language; others write 1,234.56.
_SEPARATORS = {"de": (".", ","), "fr": ("\u202f", ","), "nl": (".", ","), "it": (".", ",")}


@dataclass(frozen=True)
class RenderedMail:
    """A rendered reminder: its subject line and plain-text body."""

    subject: str
    body: str


def _money_filter(language: str) -> Callable[[float], str]:
    thousands, decimal = _SEPARATORS.get(language, (",", "."))

    def money(value: float) -> str:
        text = f"{value:,.2f}"  # 1,234.56
        return text.replace(",", "\0").replace(".", decimal).replace("\0", thousands)

    return money


@lru_cache(maxsize=8)
def _environment(own_dir: Path | None) -> jinja2.Environment:
    folders = [str(own_dir)] if own_dir is not None else []
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([*folders, str(_BUILT_IN)]),
        # Plain-text mail: nothing to escape; a missing variable is an error, not a gap.
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_mail(
    batch: ReminderBatch,
    *,
    step: str,
    as_of: dt.date,
    templates_dir: Path | None = None,
) -> RenderedMail:
    """The e-mail of `batch` for ladder `step` in the customer's language (else English).

    Raises:
        ConfigurationError: no template for the step, or one without a Subject line.
    """
    env = _environment(templates_dir)
    names = [f"{step}.{batch.language}.txt", f"{step}.{FALLBACK_LANGUAGE}.txt"]
    try:
        template = env.select_template(names)
    except jinja2.TemplatesNotFound as exc:
        raise ConfigurationError(
            f"no reminder template {names[-1]} in {templates_dir or _BUILT_IN}: add one"
        ) from exc
    language = template.name.split(".")[-2] if template.name else FALLBACK_LANGUAGE
    try:
        text = template.render(
            customer_name=batch.name,
            customer_id=batch.customer_id,
            lines=batch.lines,
            totals=batch.totals,
            as_of=as_of,
            money=_money_filter(language),
        )
    except jinja2.TemplateError as exc:
        raise ConfigurationError(f"reminder template {template.name} failed: {exc}") from exc
    head, _, body = text.partition("\n")
    if not head.lower().startswith("subject:"):
        raise ConfigurationError(
            f"reminder template {template.name} must start with a line 'Subject: ...'"
        )
    return RenderedMail(subject=head.partition(":")[2].strip(), body=body.lstrip("\n"))
