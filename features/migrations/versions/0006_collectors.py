"""Collectors and dispute outcomes: customers.collector, actions.outcome.

`customers.collector` names the collector an account is assigned to (the worklist fills
each collector's day from their own accounts; empty = the team's shared queue).
`actions.outcome` holds a `resolve` action's verdict on a dispute: "valid" (a credit
note is expected) or "invalid" (dunning resumes). `actions.kind` is a plain string
column, so the new kind `resolve` needs no schema change.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("collector", sa.String(255)))
    op.add_column("actions", sa.Column("outcome", sa.String(16)))


def downgrade() -> None:
    # Batch mode: SQLite drops a column by copying the table.
    with op.batch_alter_table("actions") as batch:
        batch.drop_column("outcome")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("collector")
