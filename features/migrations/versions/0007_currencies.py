"""Currencies: exchange rates, and each row's amount in its own currency.

Every stored `amount` is in the base currency (`DUECAST_BASE_CURRENCY`); see
`features.currency` for the rule. `exchange_rates` holds the imported rates (1 unit of
`currency` = `rate` units of the base currency, from `rate_date` on), keyed by
"CUR:YYYY-MM-DD" so a re-import updates a rate in place. Invoices keep the amount in
their own currency (`original_amount`) and the rate it was converted at (`fx_rate`);
payments and adjustments keep their `original_amount` (converted at their invoice's rate).
Rows stored before this revision hold no originals: their amounts stay as they were.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_MONEY = sa.Numeric(18, 2, asdecimal=False)


def upgrade() -> None:
    op.create_table(
        "exchange_rates",
        sa.Column("rate_id", sa.String(16), primary_key=True),
        sa.Column("rate_date", sa.Date, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("rate", sa.Float, nullable=False),
    )
    op.create_index("ix_exchange_rates_currency_date", "exchange_rates", ["currency", "rate_date"])
    op.add_column("invoices", sa.Column("original_amount", _MONEY))
    op.add_column("invoices", sa.Column("fx_rate", sa.Float))
    op.add_column("payments", sa.Column("original_amount", _MONEY))
    op.add_column("adjustments", sa.Column("original_amount", _MONEY))


def downgrade() -> None:
    # Batch mode: SQLite drops a column by copying the table.
    for table in ("adjustments", "payments"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("original_amount")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("fx_rate")
        batch.drop_column("original_amount")
    op.drop_index("ix_exchange_rates_currency_date", table_name="exchange_rates")
    op.drop_table("exchange_rates")
