"""Reading stored workflow versions for the catalog (napflow.workflow.catalog).

The services store a version the first time a plan uses it (napflow.services.
_workflow_versions); the catalog reads them back through :func:`stored_lookup`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from napflow.storage.database import Database
from napflow.storage.schema import workflow_versions
from napflow.workflow.catalog import StoredLookup, StoredVersion

_COLUMNS = (
    workflow_versions.c.name,
    workflow_versions.c.version,
    workflow_versions.c.digest,
    workflow_versions.c.source,
    workflow_versions.c.path,
)


def stored_lookup(db: Database) -> StoredLookup:
    """Return the function the catalog reads stored versions through (on its own connection).

    A database not made yet (or from before stored versions) holds none. The function
    opens a connection of its own, so a service may call it in the middle of a transaction.
    """

    def lookup(name: str, version: int) -> StoredVersion | None:
        if db.sqlite_path is not None and not db.sqlite_path.exists():
            return None
        query = select(*_COLUMNS).where(
            workflow_versions.c.name == name, workflow_versions.c.version == version
        )
        try:
            with db.engine.connect() as conn:
                row = conn.execute(query).first()
        except DBAPIError:  # no such table yet: `napflow init` upgrades the database
            return None
        return StoredVersion(*row) if row is not None else None

    return lookup
