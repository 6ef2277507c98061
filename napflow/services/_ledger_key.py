"""The audit key a ledger is sealed with: a keyed ledger refuses writers without that key.

A process that seals records without the ledger's key (``NAPFLOW_AUDIT_KEY`` unset, or set
to another key) writes records that fail verification for good, and an append-only history
cannot be cleaned of them. So at ``napflow init`` with a key, or else the first time a
process with a key seals a record, the key's fingerprint is recorded with the database (in
``app_secrets``: an HMAC of a fixed label under the key, never the key itself), and from
then on every write that seals a record (a plan's history, the site ledger, the
scheduler's mail records) checks the process's key against it, in the same transaction and
before anything is appended. A process without the key or with another one is refused
with a :class:`~napflow.errors.ConfigError` (exit 2, HTTP 503): nothing is written. Reads
need no key. A keyless record after a keyed one in the same chain is refused even without
a fingerprint (a database keyed before fingerprints were kept).

A database whose records so far are plain SHA-256 may get a key later: the first keyed
record records the fingerprint, and the ledger is keyed from then on (older records verify
with ``audit verify --allow-unkeyed``).

What a process knows of the fingerprint is cached per engine, and only what cannot change:
a fingerprint once committed stays (``app_secrets`` is insert-only; the row a connection
recorded itself is cached only once a later transaction sees it). A process that found
none asks again in its next write, so a keyless process started before a keyed one recorded
the fingerprint cannot go on writing plain records after it: a keyless writer pays one read
of one row by its primary key per sealed record; a keyed one, none once the fingerprint is
known.
"""

from __future__ import annotations

import hashlib
import hmac
import weakref
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from napflow.errors import ConfigError
from napflow.ledger import chain
from napflow.runtime import Runtime
from napflow.runtime.secrets import AUDIT_KEY_ENV
from napflow.storage.fastpath import FastStatement
from napflow.storage.schema import app_secrets

#: the name of the fingerprint's row in ``app_secrets``
FINGERPRINT_NAME = "ledger-key-fingerprint"
#: what the fingerprint is an HMAC of, under the key
_LABEL = b"napflow ledger key fingerprint v1"

_READ = FastStatement(select(app_secrets.c.value).where(app_secrets.c.name == bindparam("name")))

#: the fingerprint each engine's database is known to hold, committed (it never changes)
_KNOWN: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
#: Connection.info key: the transaction in which this connection recorded the fingerprint
#: (until it commits, what this connection reads of it is not yet known to be committed)
_RECORDED_IN = "napflow_ledger_key_recorded_in"


@lru_cache(maxsize=8)
def fingerprint(key: bytes) -> str:
    """Return the fingerprint of an audit key as the database keeps it (not the key)."""
    return f"{chain.HMAC}:{hmac.digest(key, _LABEL, hashlib.sha256).hex()}"


def refusal(audit_key: bytes | None) -> ConfigError:
    """Return the error for a writer whose key is not the ledger's (``audit_key``: its own)."""
    why = "is not set" if not audit_key else "is another key"
    return ConfigError(
        f"This napflow database's ledger is sealed with an audit key, and {AUDIT_KEY_ENV} "
        f"{why} in this process: nothing was written; set it to the ledger's key."
    )


def _recorded(conn: Connection) -> str | None:
    """Return the fingerprint the database holds (None: none yet), as ``conn`` sees it."""
    engine = conn.engine
    known = _KNOWN.get(engine)
    if known is not None:
        return known
    row = _READ.execute(conn, {"name": FINGERPRINT_NAME}).fetchone()
    if row is None:
        return None
    value = str(row[0])
    mark = conn.info.get(_RECORDED_IN)
    if mark is None or mark is not conn.get_transaction():
        # not this connection's own uncommitted row: committed, so it stays
        _KNOWN[engine] = value
        conn.info.pop(_RECORDED_IN, None)
    return value


def _record(conn: Connection, mine: str, at: datetime) -> str:
    """Record ``mine`` as the ledger's fingerprint in ``conn``'s transaction; return the one kept.

    Two processes recording at the same moment (PostgreSQL) make the same name: the later
    insert is refused, and the one that was kept is read and returned.
    """
    try:
        with conn.begin_nested():
            conn.execute(
                insert(app_secrets).values(name=FINGERPRINT_NAME, value=mine, created_at=at)
            )
    except IntegrityError:
        row = _READ.execute(conn, {"name": FINGERPRINT_NAME}).fetchone()
        if row is None:  # pragma: no cover - the row that was in the way is gone
            raise
        return str(row[0])
    conn.info[_RECORDED_IN] = conn.get_transaction()
    return mine


def require_key(
    conn: Connection, audit_key: bytes | None, at: datetime, head: str | None = None
) -> None:
    """Refuse, before anything is appended, a writer whose key is not the ledger's.

    Call it in the write transaction that seals a record, before the record is written.
    ``head`` is the digest the new record chains to: a keyless writer is refused after a
    keyed record even on a database that has no fingerprint yet (keyed before fingerprints
    were recorded). A writer with a key records its fingerprint if there is none yet
    (``at``: when), in this transaction: a ledger holding plain records gets its key then.
    """
    recorded = _recorded(conn)
    if not audit_key:
        if recorded is not None or (head is not None and chain.algorithm(head) == chain.HMAC):
            raise refusal(audit_key)
        return
    mine = fingerprint(audit_key)
    if recorded is None:
        recorded = _record(conn, mine, at)
    if recorded != mine:
        raise refusal(audit_key)


def require_writer(rt: Runtime) -> None:
    """Refuse now a process that could not seal records onto this database's ledger.

    For work that must not start unless its outcome can be recorded (sending mail: the
    record of a sent message is sealed afterwards). A read: it records nothing.
    """
    key = rt.secrets.audit_key
    with rt.db.read() as conn:
        recorded = _recorded(conn)
    if recorded is not None and (not key or recorded != fingerprint(key)):
        raise refusal(key)


def record_key(rt: Runtime) -> None:
    """Record the fingerprint of the process's audit key, if the database holds none yet.

    For ``napflow init``: a ledger set up with a key refuses keyless writers from the
    start. Nothing without a key; a key that is not the one recorded is refused.
    """
    key = rt.secrets.audit_key
    if key:
        with rt.db.write() as conn:
            require_key(conn, key, rt.clock.now())
