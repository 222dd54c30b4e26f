"""Void invoices: invoices.voided.

An invoice an export marks void or cancelled is kept with its payments, adjustments and
actions, and left out of features, labels, exposure, the worklist and training (the
ledger read in `features.ledger_store` skips it). A later export that no longer marks it
void sets the flag back to false and the invoice counts again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "invoices",
        sa.Column("voided", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # Batch mode: SQLite drops a column by copying the table.
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("voided")
