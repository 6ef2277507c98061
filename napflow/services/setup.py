"""The init service: create the database, or upgrade it to the newest schema."""

from __future__ import annotations

from dataclasses import dataclass

from napflow.runtime import Runtime
from napflow.services._ledger_key import record_key


@dataclass(frozen=True)
class InitResult:
    """The database and its schema revision before and after."""

    database: str
    revision_before: str | None
    revision_after: str


def init_database(rt: Runtime) -> InitResult:
    """Bring the database to the newest schema (sealing older records with the audit key).

    With an audit key, the ledger is keyed from here on: its fingerprint is recorded, if
    none is yet (see napflow.services._ledger_key).
    """
    before, after = rt.db.upgrade(audit_key=rt.secrets.audit_key)
    record_key(rt)
    return InitResult(rt.db.describe(), before, after)
