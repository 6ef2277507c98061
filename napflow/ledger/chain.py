"""The hash chain of a plan's history: the canonical bytes of a record and their digest.

Each record's digest covers its own fields and the digest of the record before it (for a
plan's first record, ``plan:<KEY>``, which binds the chain to its plan). Editing, removing,
inserting or reordering records therefore breaks the chain at that point. With
``NAPFLOW_AUDIT_KEY`` set the digest is an HMAC: someone who can write to the database but
lacks the key cannot seal a record that verifies.

The canonical bytes are the record's fields in :data:`FIELDS` order, as UTF-8 text joined
by the unit separator U+001F, with U+0000 for NULL. napflow never stores either character
in a record (inputs refuse control characters; payloads are JSON, which escapes them), so
the encoding is unambiguous. Times are UTC ``YYYY-MM-DD HH:MM:SS.ffffff``; payloads are
stored as canonical JSON text (sorted keys, no spaces) and hashed exactly as stored. These
choices let the verifier take the bytes from the database nearly as they are (see
napflow.ledger.verification), which is what makes checking a million records quick.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from napflow.ledger.record import FIELDS, Record

SHA256 = "sha256"
HMAC = "hmac-sha256"
SEPARATOR = "\x1f"
NULL = "\x00"
_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def genesis(plan_key: str) -> str:
    """Return what a plan's first record chains to: its key, so chains cannot swap plans."""
    return f"plan:{plan_key}"


#: what the site ledger's first record chains to (a plan's chain to :func:`genesis`)
SITE_GENESIS = "site"


def payload_text(payload: Mapping[str, Any] | None) -> str | None:
    """Return a payload as the canonical JSON text napflow stores and hashes."""
    return None if payload is None else _JSON(payload)


def at_text(value: datetime) -> str:
    """Return a time as the chain encodes it: UTC, microseconds, a space before the hour."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def canonical(values: Sequence[str | int | None]) -> bytes:
    """Return the bytes a record's digest covers, from its FIELDS values in order.

    ``at`` must already be :func:`at_text` and ``payload`` :func:`payload_text`.
    """
    return SEPARATOR.join([NULL if v is None else str(v) for v in values]).encode("utf-8")


def record_bytes(record: Record) -> bytes:
    """Return the bytes a stored record's digest covers (its fields but ``hash``)."""
    return canonical(record[:-1])


def digest(data: bytes, key: bytes | None) -> str:
    """Return ``"<algorithm>:<hex>"``: an HMAC-SHA256 with ``key``, else a plain SHA-256."""
    if key:
        return f"{HMAC}:{hmac.digest(key, data, 'sha256').hex()}"
    return f"{SHA256}:{hashlib.sha256(data).hexdigest()}"


def algorithm(stored: str) -> str:
    """Return the algorithm a stored digest names (``sha256`` or ``hmac-sha256``)."""
    return stored.partition(":")[0]


def seal(record: Mapping[str, Any], key: bytes | None) -> str:
    """Return the digest of a record given as a mapping of FIELDS (``at`` a datetime).

    ``payload`` is the stored text (:func:`payload_text`), ``prev_hash`` the digest of the
    record before, or :func:`genesis` for a plan's first record.
    """
    values = [record.get(name) for name in FIELDS]
    values[_AT] = at_text(record["at"])
    return digest(canonical(values), key)


def head_digest(heads: Mapping[str, str]) -> str:
    """Return one digest over every plan's latest record digest (plans in key order)."""
    text = "".join(f"{key}{SEPARATOR}{heads[key]}\n" for key in sorted(heads))
    return f"{SHA256}:{hashlib.sha256(text.encode('utf-8')).hexdigest()}"


_AT = FIELDS.index("at")
