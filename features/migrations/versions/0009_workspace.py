"""The collections workspace: web sessions, key expiry, reminder e-mail, customer contacts.

- `api_keys.expires_at`: a key stops working at this instant (NULL: never).
- `web_sessions`: a signed-in browser. The cookie holds a random session id; the store
  keeps only its SHA-256 (like API keys), the key it was opened with, the CSRF token of
  its forms and when it ends. Revoking or expiring the key ends its sessions.
- `reminder_sends`: one row per (invoice, ladder step) the reminder job e-mailed or
  tried to: sent at most once, failures retried with backoff until given up.
- `customers.email`, `customers.language`: where reminders go, and in which language.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.add_column("customers", sa.Column("email", sa.String(255)))
    op.add_column("customers", sa.Column("language", sa.String(8)))
    op.create_table(
        "web_sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(32), sa.ForeignKey("api_keys.key_id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Index("ix_web_sessions_key_id", "key_id"),
    )
    op.create_table(
        "reminder_sends",
        sa.Column(
            "invoice_id", sa.String(64), sa.ForeignKey("invoices.invoice_id"), primary_key=True
        ),
        sa.Column("step", sa.String(16), primary_key=True),
        sa.Column(
            "customer_id", sa.String(64), sa.ForeignKey("customers.customer_id"), nullable=False
        ),
        sa.Column("recipient", sa.String(255)),
        # "sent", "retrying" (next_attempt_at says when) or "failed" (given up).
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("action_id", sa.String(64)),
        sa.Index("ix_reminder_sends_status", "status", "next_attempt_at"),
    )


def downgrade() -> None:
    op.drop_table("reminder_sends")
    op.drop_table("web_sessions")
    # Batch mode: SQLite drops a column by copying the table.
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("language")
        batch.drop_column("email")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("expires_at")
