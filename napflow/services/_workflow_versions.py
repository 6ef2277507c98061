"""Storing workflow versions: the text of each version the first time a plan uses it.

A version is stored (table ``workflow_versions``) and sealed on the site ledger (a
``workflow_stored`` record naming it and the SHA-256 of its text) in the transaction of
the first change made under it: a plan created, an action, a migration. From then on the
plans of that version are judged, shown and mailed by that text, whatever the file says;
a file that says otherwise under the same version number is refused.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Connection, insert, select

from napflow.errors import RefusedError
from napflow.ledger.record import SiteKind
from napflow.services._site_ledger import append_site
from napflow.storage.schema import workflow_versions
from napflow.workflow.catalog import WorkflowCatalog
from napflow.workflow.definition import WorkflowDefinition


def ensure_stored(
    conn: Connection,
    catalog: WorkflowCatalog,
    definition: WorkflowDefinition,
    *,
    audit_key: bytes | None,
    at: datetime,
    actor: str | None,
) -> None:
    """Store and seal ``definition`` in the caller's transaction unless it is stored already.

    Refuse (RefusedError) a definition whose version the database holds with other text.
    """
    key = (definition.name, definition.version)
    if catalog.is_remembered(definition):
        return
    row = conn.execute(
        select(workflow_versions.c.digest).where(
            workflow_versions.c.name == key[0], workflow_versions.c.version == key[1]
        )
    ).first()
    if row is not None:
        if row.digest != definition.digest:
            raise RefusedError(
                f"Workflow {key[0]} v{key[1]} was changed after the database stored it "
                f"(stored {row.digest[:12]}, now {definition.digest[:12]}); nothing was "
                f"written. Give the changed file a new version (version = {key[1] + 1})."
            )
        catalog.remember(definition)
        return
    source = definition.source
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
    seq = append_site(
        conn,
        audit_key=audit_key,
        kind=SiteKind.WORKFLOW_STORED,
        at=at,
        actor=actor,
        payload={"workflow": key[0], "version": key[1], "digest": digest},
    )
    conn.execute(
        insert(workflow_versions).values(
            name=key[0],
            version=key[1],
            digest=digest,
            source=source,
            path=str(definition.path),
            stored_at=at,
            seq=seq,
        )
    )
    # not remembered yet: this transaction may still roll back; the next use finds the row
