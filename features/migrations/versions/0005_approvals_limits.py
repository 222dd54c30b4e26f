"""Order reservations and the credit-limit log.

`order_reservations`: an approved order reserves its amount in the customer's exposure
from the day it was decided until `expires_on` (exclusive; `reservation_days` later) or
until an invoice of at least that amount arrives (`serving.approvals`). `order_id`, the
order system's reference when it sends one, is unique per customer: deciding the same
order again replaces its reservation. `known_invoices` lists the customer's invoices
issued on the approval day that the decision already counted (they never end it).

`credit_limit_changes`: every approved limit set through
`PUT /v1/customers/{id}/credit-limit`, with the previous limit, author and reason.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.String(64)
_MONEY = sa.Numeric(18, 2, asdecimal=False)


def upgrade() -> None:
    op.create_table(
        "order_reservations",
        sa.Column("reservation_id", sa.String(32), primary_key=True),
        sa.Column("customer_id", _ID, sa.ForeignKey("customers.customer_id"), nullable=False),
        sa.Column("order_id", _ID),
        sa.Column("amount", _MONEY, nullable=False),
        sa.Column("decided_on", sa.Date, nullable=False),
        sa.Column("expires_on", sa.Date, nullable=False),
        sa.Column("known_invoices", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("customer_id", "order_id", name="uq_order_reservations_order"),
    )
    op.create_index(
        "ix_order_reservations_customer_expires",
        "order_reservations",
        ["customer_id", "expires_on"],
    )
    op.create_table(
        "credit_limit_changes",
        sa.Column("change_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", _ID, sa.ForeignKey("customers.customer_id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("previous_limit", _MONEY),
        sa.Column("new_limit", _MONEY, nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_credit_limit_changes_customer_id", "credit_limit_changes", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_credit_limit_changes_customer_id", "credit_limit_changes")
    op.drop_table("credit_limit_changes")
    op.drop_index("ix_order_reservations_customer_expires", "order_reservations")
    op.drop_table("order_reservations")
