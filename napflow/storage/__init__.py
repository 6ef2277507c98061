"""The storage layer: engines and transactions, the statement fast path, schema, migrations.

:mod:`~napflow.storage.database` opens SQLite or PostgreSQL with napflow's transaction
rules; :mod:`~napflow.storage.fastpath` runs the hottest statements on the driver cursor;
:mod:`~napflow.storage.schema` is the SQLAlchemy Core schema, evolved by the Alembic
migrations in ``migrations/``.

May import napflow's foundation modules and :mod:`napflow.ledger` (the history table stores
records in the ledger's canonical form). Nothing here commits on its own: services own
their transactions.
"""
