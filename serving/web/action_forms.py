"""The customer page's action forms: their fields, and the posted form checked into actions.

One form per kind: call (what it brought), promise (date, amount, invoices), dispute
(invoices, reason), resolve (which open dispute, valid or invalid) and note. Every
message names the field it belongs to, so the page shows it next to that field.

An action names one invoice or none (`ActionRequest.invoice_id`). A promise or dispute
covering several invoices is stored as one action per invoice; each carries the form's
idempotency key with its invoice id (`key:invoice_id`), so a double submit stores each
once. A promise's amount is spread over the chosen invoices oldest due date first (the
rule a customer-wide promise follows, `serving.decisions.pauses`); with no invoice
chosen it is one customer-wide action.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from kernel import limits
from serving.decisions.pauses import dispute_states
from serving.decisions.records import OpenInvoice
from serving.entries import CustomerEntry
from serving.schemas import ActionRequest

__all__ = [
    "ALL_DISPUTES",
    "FORM_ERROR",
    "FORM_KINDS",
    "LOGGED",
    "ActionForm",
    "blank_forms",
    "dispute_choices",
    "parse_action_form",
    "target_key",
]

FORM_KINDS: tuple[str, ...] = ("call", "promise", "dispute", "resolve", "note")
# The flash after a form was stored.
LOGGED = {
    "call": "Call logged",
    "promise": "Promise logged",
    "dispute": "Dispute logged",
    "resolve": "Dispute resolved",
    "note": "Note logged",
}
# The resolve form's choice "every open dispute": a resolve naming no invoice.
ALL_DISPUTES = "*"
# Form-level messages (not of one field) are kept under this name.
FORM_ERROR = "_form"
_TEXT_MAX = 4000
# The forms' one-value fields (invoice_ids, a list, aside).
_FIELDS = ("text", "promised_date", "promised_amount", "dispute", "outcome")
_KEY = re.compile(r"^[A-Za-z0-9-]{8,64}$")
# Pydantic's prefix of a validator's own message.
_VALUE_ERROR = "Value error, "


@dataclass
class ActionForm:
    """One form as shown: its kind, idempotency key, the user's values and the errors."""

    kind: str
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    values: dict[str, str] = field(default_factory=dict)
    invoices: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def value(self, name: str) -> str:
        """The value the user gave for `name` ('' when none)."""
        return self.values.get(name, "")

    def error(self, name: str) -> str | None:
        """The message of field `name`, if it has one."""
        return self.errors.get(name)


def blank_forms() -> dict[str, ActionForm]:
    """One empty form per kind, each with a new idempotency key."""
    return {kind: ActionForm(kind) for kind in FORM_KINDS}


def target_key(key: str, invoice_id: str | None) -> str:
    """The idempotency key of the action of one invoice (or of none) of a form."""
    return f"{key}:{invoice_id or '-'}"


def dispute_choices(entry: CustomerEntry) -> list[tuple[str, str]]:
    """(value, label) of the open disputes a resolve may close; [] when none is open."""
    states = dispute_states(entry.invoices, entry.actions)
    open_ids = sorted(k for k, d in states.items() if d.state == "open")
    choices = [(iid, f"invoice {iid}") for iid in open_ids]
    if len(open_ids) > 1:
        choices.insert(0, (ALL_DISPUTES, f"all {len(open_ids)} open disputes"))
    return choices


def _text(form: ActionForm, name: str, *, missing: str | None) -> str | None:
    text = form.value(name).strip()
    if not text:
        if missing is not None:
            form.errors[name] = missing
        return None
    if len(text) > _TEXT_MAX:
        form.errors[name] = f"Shorten this to {_TEXT_MAX:,} characters (it has {len(text):,})."
    return text


def _date(form: ActionForm, name: str, today: dt.date) -> dt.date | None:
    text = form.value(name).strip()
    if not text:
        form.errors[name] = "Give the date the customer promised to pay by."
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        form.errors[name] = "Give the date as YYYY-MM-DD."
        return None
    if day < today:
        form.errors[name] = f"A promise cannot be dated before today ({today.isoformat()})."
        return None
    return day


def _amount(form: ActionForm, name: str) -> float | None:
    text = form.value(name).strip().replace(",", "")
    if not text:
        return None
    try:
        amount = float(text)
    except ValueError:
        form.errors[name] = "Give the amount as a number, e.g. 1200.50."
        return None
    if not limits.AMOUNT_MIN <= amount <= limits.AMOUNT_MAX:
        form.errors[name] = "The amount must be more than 0 (leave it empty for everything open)."
        return None
    return round(amount, 2)


def _invoices(form: ActionForm, entry: CustomerEntry) -> list[OpenInvoice]:
    """The chosen open invoices, oldest due date first; an error for any other id."""
    by_id = {inv.invoice_id: inv for inv in entry.invoices}
    unknown = [iid for iid in form.invoices if iid not in by_id]
    if unknown:
        form.errors["invoice_ids"] = (
            f"{', '.join(unknown[:3])} is not an open invoice of this customer: choose "
            "among the invoices listed."
        )
        return []
    chosen = [by_id[iid] for iid in dict.fromkeys(form.invoices)]
    return sorted(chosen, key=lambda i: (i.due_date, i.invoice_id))


def _spread(
    form: ActionForm, amount: float | None, chosen: Sequence[OpenInvoice]
) -> list[float | None]:
    """Each chosen invoice's part of the promised amount, oldest first (None: all of it)."""
    if amount is None or len(chosen) < 2:
        return [amount] * len(chosen)
    parts: list[float | None] = []
    left = amount
    for inv in chosen:
        part = round(min(left, inv.open_amount), 2)
        if part < limits.AMOUNT_MIN:
            form.errors["invoice_ids"] = (
                f"The amount is spent before invoice {inv.invoice_id} (oldest first): choose "
                "fewer invoices or raise the amount."
            )
            return []
        parts.append(part)
        left -= part
    return parts


def _targets(form: ActionForm, entry: CustomerEntry, today: dt.date) -> list[dict[str, Any]]:
    """The action bodies of a form (before the model's checks); errors go on `form`."""
    kind = form.kind
    if kind in ("call", "note"):
        what = "what the call brought" if kind == "call" else "the note"
        text = _text(form, "text", missing=f"Write {what}.")
        return [{"kind": kind, "text": text}]
    if kind == "promise":
        day = _date(form, "promised_date", today)
        amount = _amount(form, "promised_amount")
        text = _text(form, "text", missing=None)
        chosen = _invoices(form, entry)
        if form.errors:
            return []
        parts = _spread(form, amount, chosen) if chosen else [amount]
        ids: list[str | None] = [inv.invoice_id for inv in chosen] or [None]
        return [
            {
                "kind": "promise",
                "invoice_id": iid,
                "promised_date": day,
                "promised_amount": part,
                "text": text,
            }
            for iid, part in zip(ids, parts, strict=False)
        ]
    if kind == "dispute":
        text = _text(form, "text", missing="Write the reason the customer disputes.")
        chosen = _invoices(form, entry)
        ids = [inv.invoice_id for inv in chosen] or [None]
        return [{"kind": "dispute", "invoice_id": iid, "text": text} for iid in ids]
    return _resolve_targets(form, entry)


def _resolve_targets(form: ActionForm, entry: CustomerEntry) -> list[dict[str, Any]]:
    choices = dict(dispute_choices(entry))
    which = form.value("dispute")
    if not choices:
        form.errors["dispute"] = "This customer has no open dispute to resolve."
    elif which not in choices:
        form.errors["dispute"] = "Choose the dispute to resolve."
    outcome = form.value("outcome")
    if outcome not in ("valid", "invalid"):
        form.errors["outcome"] = "Choose valid (a credit note is expected) or invalid."
    text = _text(form, "text", missing=None)
    invoice_id = None if which == ALL_DISPUTES else which
    return [{"kind": "resolve", "invoice_id": invoice_id, "outcome": outcome, "text": text}]


def _model_errors(form: ActionForm, exc: ValidationError) -> None:
    """The model's own checks (text limits, kind rules), each next to its field."""
    for problem in exc.errors():
        loc = str(problem["loc"][0]) if problem["loc"] else ""
        name = "invoice_ids" if loc == "invoice_id" else loc
        if name not in (*_FIELDS, "invoice_ids"):
            name = FORM_ERROR
        form.errors.setdefault(name, str(problem["msg"]).removeprefix(_VALUE_ERROR))


def parse_action_form(
    posted: FormData, *, kind: str, entry: CustomerEntry, today: dt.date, author: str
) -> tuple[ActionForm, list[ActionRequest]]:
    """The form as posted (to show again) and its actions; none when it has errors."""
    values = {n: v for n in _FIELDS if isinstance(v := posted.get(n), str)}
    key = posted.get("idempotency_key")
    form = ActionForm(
        kind,
        key=key if isinstance(key, str) and _KEY.match(key) else uuid.uuid4().hex,
        values=values,
        invoices=[v for v in posted.getlist("invoice_ids") if isinstance(v, str) and v],
    )
    bodies = _targets(form, entry, today)
    if form.errors:
        return form, []
    requests = []
    for body in bodies:
        try:
            requests.append(
                ActionRequest.model_validate(
                    {"customer_id": entry.customer_id, "author": author, **body}
                )
            )
        except ValidationError as exc:
            _model_errors(form, exc)
            return form, []
    return form, requests
