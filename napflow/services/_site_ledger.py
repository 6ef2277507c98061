"""Appending to the site ledger: changes to people and site grants, sealed like a plan's.

The site ledger is one chain (table ``site_history``): record N carries the digest of record
N-1, the first chains to :data:`napflow.ledger.chain.SITE_GENESIS`. Each record is sealed as a
:class:`napflow.ledger.record.Record` with no trigger, states or role, and workflow
``site`` version 0, so the plan ledger's encoding and verification serve it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from napflow.errors import ConflictError
from napflow.ledger import chain
from napflow.ledger.record import SITE_WORKFLOW
from napflow.services._ledger_key import require_key
from napflow.storage.schema import site_history


def site_record(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return the sealed fields of a stored site record (``values``: its columns)."""
    workflow, version = SITE_WORKFLOW
    return {
        "seq": values["seq"],
        "kind": values["kind"],
        "trigger": None,
        "from_state": None,
        "to_state": None,
        "actor": values["actor"],
        "role": None,
        "comment": values["comment"],
        "at": values["at"],
        "workflow": workflow,
        "workflow_version": version,
        "payload": values["payload"],
        "prev_hash": values["prev_hash"],
    }


#: the PostgreSQL advisory lock that changes to people and site access take (any number)
_SITE_LOCK = 1540


def lock_site(conn: Connection) -> None:
    """Make changes to people and site access wait for each other, until this one commits.

    On PostgreSQL a transaction-scoped advisory lock; SQLite writes one transaction at a
    time already.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_SITE_LOCK)))


def append_site(
    conn: Connection,
    *,
    audit_key: bytes | None,
    kind: str,
    at: datetime,
    actor: str | None,
    payload: Mapping[str, Any],
    comment: str | None = None,
) -> int:
    """Seal a record onto the site ledger in the caller's transaction; return its seq.

    Two changes sealed at the same moment cannot both take the next seq (a unique
    column): the later one is refused as a conflict and its transaction rolls back. A
    writer whose audit key is not the ledger's is refused before anything is written
    (napflow.services._ledger_key).
    """
    lock_site(conn)
    last = conn.execute(
        select(site_history.c.seq, site_history.c.hash).order_by(site_history.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (last.seq + 1, last.hash) if last is not None else (1, chain.SITE_GENESIS)
    require_key(conn, audit_key, at, prev)
    record = {
        "seq": seq,
        "kind": kind,
        "actor": actor,
        "comment": comment,
        "at": at,
        "payload": chain.payload_text(payload),
        "prev_hash": prev,
    }
    record["hash"] = chain.seal(site_record(record), audit_key)
    try:
        with conn.begin_nested():
            conn.execute(insert(site_history).values(**record))
    except IntegrityError:
        raise ConflictError(
            "Another change to people or access was recorded at the same moment; try again."
        ) from None
    return seq
