"""Alembic migrations of the napflow schema; ``napflow init`` runs them to head."""
