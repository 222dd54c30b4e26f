"""The AR store: SQLAlchemy tables, engines, and schema versioning through Alembic.

Works on SQLite (the zero set-up default) and PostgreSQL alike. Every write path
calls `ensure_schema` first, which creates a new database or upgrades an older one
to this release's schema; a database already at head is not written to.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

from kernel.errors import StoreError

if TYPE_CHECKING:  # alembic is imported lazily, when a migration runs
    from alembic.config import Config
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

__all__ = [
    "MONEY",
    "TABLE_OBJECTS",
    "dispose_engines",
    "ensure_schema",
    "get_engine",
    "metadata",
    "new_engine",
    "schema_at_head",
    "schema_revision",
]

logger = logging.getLogger(__name__)

# asdecimal=False: money comes back as float, which pandas and LightGBM use anyway.
MONEY = sa.Numeric(18, 2, asdecimal=False)
_ID = sa.String(64)

metadata = sa.MetaData()

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("customer_id", _ID, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("country", sa.String(64)),
    sa.Column("industry", sa.String(64)),
    sa.Column("created_at", sa.Date, nullable=False),
    sa.Column("credit_limit", MONEY),
    sa.Column("payment_terms_days", sa.Integer),
    sa.Column("currency", sa.String(3)),
    sa.Column("collector", sa.String(255)),  # migration 0006: the assigned collector
    # migration 0009: where automated reminders are e-mailed, and in which language
    sa.Column("email", sa.String(255)),
    sa.Column("language", sa.String(8)),
)

invoices = sa.Table(
    "invoices",
    metadata,
    sa.Column("invoice_id", _ID, primary_key=True),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.customer_id"), nullable=False),
    sa.Column("issue_date", sa.Date, nullable=False),
    sa.Column("due_date", sa.Date, nullable=False),
    sa.Column("amount", MONEY, nullable=False),
    sa.Column("currency", sa.String(3)),
    sa.Column("disputed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("dispute_date", sa.Date),
    # Migration 0007: `amount` is in the base currency; these keep the invoice's own.
    sa.Column("original_amount", MONEY),
    sa.Column("fx_rate", sa.Float),
    # Migration 0008: voided in the source system (kept, left out of features).
    sa.Column("voided", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_invoices_customer_id", "customer_id"),
)

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("payment_id", _ID, primary_key=True),
    sa.Column("invoice_id", _ID, sa.ForeignKey("invoices.invoice_id"), nullable=False),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.customer_id"), nullable=False),
    sa.Column("payment_date", sa.Date, nullable=False),
    sa.Column("amount", MONEY, nullable=False),
    sa.Column("original_amount", MONEY),  # migration 0007: in the invoice's currency
    sa.Index("ix_payments_invoice_id", "invoice_id"),
    sa.Index("ix_payments_customer_id", "customer_id"),
)

adjustments = sa.Table(
    "adjustments",
    metadata,
    sa.Column("adjustment_id", _ID, primary_key=True),
    sa.Column("invoice_id", _ID, sa.ForeignKey("invoices.invoice_id"), nullable=False),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("amount", MONEY, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("original_amount", MONEY),  # migration 0007: in the invoice's currency
    sa.Index("ix_adjustments_invoice_id", "invoice_id"),
)

# Imported exchange rates (migration 0007; `features.currency`): 1 unit of `currency` =
# `rate` units of the base currency from `rate_date` on; key "CUR:YYYY-MM-DD".
exchange_rates = sa.Table(
    "exchange_rates",
    metadata,
    sa.Column("rate_id", sa.String(16), primary_key=True),
    sa.Column("rate_date", sa.Date, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("rate", sa.Float, nullable=False),
    sa.Index("ix_exchange_rates_currency_date", "currency", "rate_date"),
)

actions = sa.Table(
    "actions",
    metadata,
    sa.Column("action_id", _ID, primary_key=True),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.customer_id"), nullable=False),
    sa.Column("invoice_id", _ID, sa.ForeignKey("invoices.invoice_id")),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("promised_date", sa.Date),
    sa.Column("promised_amount", MONEY),
    sa.Column("author", sa.String(255)),
    sa.Column("text", sa.Text),
    sa.Column("outcome", sa.String(16)),  # migration 0006: a `resolve` action's verdict
    sa.Index("ix_actions_customer_id", "customer_id"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("expires_at", sa.DateTime(timezone=True)),  # migration 0009; NULL: never
)

# Signed-in browsers of the web pages (migration 0009; `serving.web.sessions`): the
# cookie holds a random id, the store its SHA-256; the session ends with its key.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("session_hash", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.String(32), sa.ForeignKey("api_keys.key_id"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.Index("ix_web_sessions_key_id", "key_id"),
)

# Reminder e-mails (migration 0009; `serving.reminders`): one row per (invoice, ladder
# step), so each is sent at most once; status "sent", "retrying" (next_attempt_at) or
# "failed" (given up after the last retry).
reminder_sends = sa.Table(
    "reminder_sends",
    metadata,
    sa.Column("invoice_id", _ID, sa.ForeignKey("invoices.invoice_id"), primary_key=True),
    sa.Column("step", sa.String(16), primary_key=True),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.customer_id"), nullable=False),
    sa.Column("recipient", sa.String(255)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("last_error", sa.Text),
    sa.Column("action_id", _ID),
    sa.Index("ix_reminder_sends_status", "status", "next_attempt_at"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("scope", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Writes made through the REST API or an import, so every serving worker refreshes the
# customers they touch (migration 0003; rows written by `features.changes`).
# customer_id NULL = every customer (a new model, a large import).
change_log = sa.Table(
    "change_log",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("customer_id", _ID),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

# Issue-time invoice attributes (migration 0004; `features.attributes`): one row per
# invoice and attribute with a value, and one per declared attribute with its kind.
invoice_attributes = sa.Table(
    "invoice_attributes",
    metadata,
    sa.Column("invoice_id", _ID, sa.ForeignKey("invoices.invoice_id"), primary_key=True),
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("value_text", sa.String(255)),
    sa.Column("value_number", sa.Float),
)

attribute_kinds = sa.Table(
    "attribute_kinds",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
)

# Approved orders not yet invoiced (migration 0005; `serving.approvals`): each reserves
# its amount in the customer's exposure from `decided_on` until `expires_on` (exclusive)
# or until an invoice of at least that amount, not in `known_invoices`, is issued.
order_reservations = sa.Table(
    "order_reservations",
    metadata,
    sa.Column("reservation_id", sa.String(32), primary_key=True),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.customer_id"), nullable=False),
    sa.Column("order_id", _ID),
    sa.Column("amount", MONEY, nullable=False),
    sa.Column("decided_on", sa.Date, nullable=False),
    sa.Column("expires_on", sa.Date, nullable=False),
    sa.Column("known_invoices", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("customer_id", "order_id", name="uq_order_reservations_order"),
    sa.Index("ix_order_reservations_customer_expires", "customer_id", "expires_on"),
)

# Every change of an approved credit limit made through the API (migration 0005).
credit_limit_changes = sa.Table(
    "credit_limit_changes",
    metadata,
    sa.Column("change_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.customer_id"), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("previous_limit", MONEY),
    sa.Column("new_limit", MONEY, nullable=False),
    sa.Column("author", sa.String(255), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Index("ix_credit_limit_changes_customer_id", "customer_id"),
)

# The tables an import writes (the AR ledger, and the rates it is converted at).
TABLE_OBJECTS: dict[str, sa.Table] = {
    t.name: t for t in (customers, invoices, payments, adjustments, actions, exchange_rates)
}

_MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_wal(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # Write-ahead log: readers (every serving worker, on every request) never wait for
    # the writer, and a commit costs one sync instead of several (an order approval is
    # a write: 20 ms a commit in the default journal mode, 6 ms in WAL; see
    # `serving.approvals`). Persistent in the file; a database another process holds
    # open cannot switch, and then keeps its mode.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        logger.debug("SQLite journal mode left as it is: %s", exc)
    finally:
        cursor.close()


_ENGINES: dict[str, Engine] = {}


def get_engine(url: str) -> Engine:
    """An engine for `url`, one per URL and process; creates a SQLite file's folder."""
    if url not in _ENGINES:
        _ENGINES[url] = _create_engine(url)
    return _ENGINES[url]


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        if parsed.database and parsed.database != ":memory:":
            sa.event.listen(engine, "connect", _sqlite_wal)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def new_engine(url: str) -> Engine:
    """An engine for `url` that no one else shares (a throwaway store's; dispose it)."""
    return _create_engine(url)


def dispose_engines() -> None:
    """Close every pooled connection and forget the engines (tests, forked workers)."""
    for engine in list(_ENGINES.values()):
        engine.dispose()
    _ENGINES.clear()


def _alembic_config(connection: sa.Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise StoreError(f"cannot reach the database at {engine.url!r}: {exc.orig}") from exc


def schema_at_head(engine: Engine) -> bool:
    """Whether the database's schema is this release's (`ensure_schema` would do nothing)."""
    return schema_revision(engine) == _head_revision()


def ensure_schema(engine: Engine) -> None:
    """Create or upgrade the database schema to this release's head revision."""
    current = schema_revision(engine)
    head = _head_revision()
    if current == head:
        return
    from alembic import command

    logger.info("Upgrading database schema %s -> %s", current or "(empty)", head)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")
