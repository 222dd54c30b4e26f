"""Issue-time invoice attributes: their values per invoice, and each one's declared kind.

A mapping's `[invoices.attributes]` (see `features.mapping`) declares extra invoice
columns known at issue (billing channel, region, ...). Values are kept in a long table,
one row per invoice and attribute with a value (text for a category, a float for a
number), so declaring a new attribute needs no schema change; `attribute_kinds` says
which attributes exist and their kind, which training turns into features.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invoice_attributes",
        sa.Column(
            "invoice_id",
            sa.String(64),
            sa.ForeignKey("invoices.invoice_id"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value_text", sa.String(255)),
        sa.Column("value_number", sa.Float),
    )
    op.create_table(
        "attribute_kinds",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("attribute_kinds")
    op.drop_table("invoice_attributes")
