"""Initial AR store: customers, invoices, payments, adjustments, actions.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.String(64)
_MONEY = sa.Numeric(18, 2, asdecimal=False)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("customer_id", _ID, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("country", sa.String(64)),
        sa.Column("industry", sa.String(64)),
        sa.Column("created_at", sa.Date, nullable=False),
        sa.Column("credit_limit", _MONEY),
        sa.Column("payment_terms_days", sa.Integer),
        sa.Column("currency", sa.String(3)),
    )
    op.create_table(
        "invoices",
        sa.Column("invoice_id", _ID, primary_key=True),
        sa.Column("customer_id", _ID, sa.ForeignKey("customers.customer_id"), nullable=False),
        sa.Column("issue_date", sa.Date, nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("amount", _MONEY, nullable=False),
        sa.Column("currency", sa.String(3)),
        sa.Column("disputed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("dispute_date", sa.Date),
    )
    op.create_index("ix_invoices_customer_id", "invoices", ["customer_id"])
    op.create_table(
        "payments",
        sa.Column("payment_id", _ID, primary_key=True),
        sa.Column("invoice_id", _ID, sa.ForeignKey("invoices.invoice_id"), nullable=False),
        sa.Column("customer_id", _ID, sa.ForeignKey("customers.customer_id"), nullable=False),
        sa.Column("payment_date", sa.Date, nullable=False),
        sa.Column("amount", _MONEY, nullable=False),
    )
    op.create_index("ix_payments_invoice_id", "payments", ["invoice_id"])
    op.create_index("ix_payments_customer_id", "payments", ["customer_id"])
    op.create_table(
        "adjustments",
        sa.Column("adjustment_id", _ID, primary_key=True),
        sa.Column("invoice_id", _ID, sa.ForeignKey("invoices.invoice_id"), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("amount", _MONEY, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
    )
    op.create_index("ix_adjustments_invoice_id", "adjustments", ["invoice_id"])
    op.create_table(
        "actions",
        sa.Column("action_id", _ID, primary_key=True),
        sa.Column("customer_id", _ID, sa.ForeignKey("customers.customer_id"), nullable=False),
        sa.Column("invoice_id", _ID, sa.ForeignKey("invoices.invoice_id")),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("promised_date", sa.Date),
        sa.Column("promised_amount", _MONEY),
        sa.Column("author", sa.String(255)),
        sa.Column("text", sa.Text),
    )
    op.create_index("ix_actions_customer_id", "actions", ["customer_id"])


def downgrade() -> None:
    for table in ("actions", "adjustments", "payments", "invoices", "customers"):
        op.drop_table(table)
