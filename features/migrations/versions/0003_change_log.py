"""Change log: one row per write made through the REST API, so every serving worker
sees it.

Several `duecast serve` workers each keep per-customer state in memory. A worker that
stores an invoice, payment or action (or reloads the model) appends a row here in the
same transaction; every worker compares the highest `seq` with the last one it applied
(one indexed read per request) and refreshes only the customers named in newer rows.
`customer_id` is NULL for changes that concern every customer (a new champion model).
Rows are small and append-only; old ones may be deleted at any time once every worker
is past them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "change_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(64)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("change_log")
