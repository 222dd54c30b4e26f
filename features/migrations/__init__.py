"""Alembic migrations of the AR store; run by `features.store.ensure_schema`."""
