"""Names shared by every layer: tables, canonical columns and their kinds.

The canonical import format (what `duecast generate` writes and `duecast import`
reads without a mapping) is one file per table named `<table>.csv` or
`<table>.parquet`, with the columns below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "ACTION_KINDS",
    "ADJUSTMENT_KINDS",
    "DISPUTE_OUTCOMES",
    "IMPORT_ORDER",
    "TABLES",
    "Column",
    "ColumnKind",
    "DisputeOutcome",
    "LoggedActionKind",
    "TableSpec",
]

ColumnKind = Literal["str", "date", "datetime", "money", "int", "bool"]

ADJUSTMENT_KINDS: tuple[str, ...] = ("credit_note", "write_off")
# What collectors (and the system) log; the Literal lets API models and checkers read it.
LoggedActionKind = Literal["reminder", "call", "promise", "dispute", "legal", "note", "resolve"]
ACTION_KINDS: tuple[LoggedActionKind, ...] = get_args(LoggedActionKind)
# A `resolve` action's outcome: valid = a credit note is expected, invalid = dunning resumes.
DisputeOutcome = Literal["valid", "invalid"]
DISPUTE_OUTCOMES: tuple[DisputeOutcome, ...] = get_args(DisputeOutcome)


@dataclass(frozen=True)
class Column:
    """One canonical column: its name, kind and whether a file must carry it."""

    name: str
    kind: ColumnKind
    required: bool = True


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: its key column and its columns in file order."""

    name: str
    key: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


TABLES: dict[str, TableSpec] = {
    "customers": TableSpec(
        "customers",
        "customer_id",
        (
            Column("customer_id", "str"),
            Column("name", "str"),
            Column("country", "str", required=False),
            Column("industry", "str", required=False),
            Column("created_at", "date"),
            Column("credit_limit", "money", required=False),
            Column("payment_terms_days", "int", required=False),
            Column("currency", "str", required=False),
            # The collector the account is assigned to (worklist queues); empty = the team.
            Column("collector", "str", required=False),
            # Where automated reminders are e-mailed, and their language (ISO 639-1, e.g.
            # "de"; empty = English): `serving.reminders`.
            Column("email", "str", required=False),
            Column("language", "str", required=False),
        ),
    ),
    "invoices": TableSpec(
        "invoices",
        "invoice_id",
        (
            Column("invoice_id", "str"),
            Column("customer_id", "str"),
            Column("issue_date", "date"),
            Column("due_date", "date"),
            Column("amount", "money"),
            Column("currency", "str", required=False),
            Column("disputed", "bool", required=False),
            Column("dispute_date", "date", required=False),
            # Currencies (`features.currency`): `amount` is stored in the base currency;
            # the import fills original_amount (the amount in `currency`) and fx_rate
            # (the rate used). A file may carry fx_rate: that rate then wins. Rates are
            # text here, read by `features.currency`, so no rate is rounded to cents.
            Column("original_amount", "money", required=False),
            Column("fx_rate", "str", required=False),
            # Voided / cancelled in the source system: kept with its history, left out of
            # features, labels, exposure, the worklist and training (`features.ledger_store`).
            Column("voided", "bool", required=False),
        ),
    ),
    "payments": TableSpec(
        "payments",
        "payment_id",
        (
            Column("payment_id", "str"),
            Column("invoice_id", "str"),
            Column("customer_id", "str", required=False),
            Column("payment_date", "date"),
            Column("amount", "money"),
            Column("original_amount", "money", required=False),  # in the invoice's currency
        ),
    ),
    "adjustments": TableSpec(
        "adjustments",
        "adjustment_id",
        (
            Column("adjustment_id", "str"),
            Column("invoice_id", "str"),
            Column("date", "date"),
            Column("amount", "money"),
            Column("kind", "str"),
            Column("original_amount", "money", required=False),  # in the invoice's currency
        ),
    ),
    # 1 unit of `currency` = `rate` units of the base currency, from `rate_date` on. The
    # key is made by the import from the other two ("USD:2024-01-31"), so a file needs
    # no id column and a re-imported rate updates its row.
    "exchange_rates": TableSpec(
        "exchange_rates",
        "rate_id",
        (
            Column("rate_id", "str", required=False),
            Column("rate_date", "date"),
            Column("currency", "str"),
            Column("rate", "str"),
        ),
    ),
    "actions": TableSpec(
        "actions",
        "action_id",
        (
            Column("action_id", "str"),
            Column("customer_id", "str"),
            Column("invoice_id", "str", required=False),
            Column("at", "datetime"),
            Column("kind", "str"),
            Column("promised_date", "date", required=False),
            Column("promised_amount", "money", required=False),
            Column("author", "str", required=False),
            Column("text", "str", required=False),
            Column("outcome", "str", required=False),  # of a `resolve`: DISPUTE_OUTCOMES
        ),
    ),
}

# Parents before children, so foreign keys resolve inside one import; the rates the
# invoices are converted at come first.
IMPORT_ORDER: tuple[str, ...] = (
    "exchange_rates",
    "customers",
    "invoices",
    "payments",
    "adjustments",
    "actions",
)
