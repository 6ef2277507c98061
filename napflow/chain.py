"""The hash chain of a plan's history: a canonical encoding of each record and its digest.

Each record's digest covers its own fields and the digest of the record before it, so
editing, removing, inserting or reordering records breaks the chain from that point on.
With ``NAPFLOW_AUDIT_KEY`` set the digest is an HMAC: someone who can write to the database
but lacks the key cannot forge a chain that verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

SHA256 = "sha256"
HMAC = "hmac-sha256"
#: the fields of a record that its digest covers, in the canonical encoding
FIELDS = (
    "plan",
    "seq",
    "kind",
    "trigger",
    "from_state",
    "to_state",
    "actor",
    "role",
    "comment",
    "at",
    "workflow",
    "workflow_version",
    "payload",
)


def _at(value: datetime) -> str:
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_AT = FIELDS.index("at")


def canonical(record: Mapping[str, Any], prev: str) -> bytes:
    """Return the bytes a record's digest is taken over.

    A compact JSON array of the FIELDS in order (the time as UTC ISO 8601 with
    microseconds, a payload's keys sorted), then the previous record's digest.
    """
    values = [record.get(name) for name in FIELDS]
    values[_AT] = _at(record["at"])
    values.append(prev)
    return _ENCODE(values).encode("utf-8")


def digest(data: bytes, key: bytes | None) -> str:
    """Return ``"<algorithm>:<hex>"``: an HMAC with ``key``, else a plain SHA-256."""
    if key:
        return f"{HMAC}:{hmac.new(key, data, hashlib.sha256).hexdigest()}"
    return f"{SHA256}:{hashlib.sha256(data).hexdigest()}"


def seal(record: Mapping[str, Any], prev: str, key: bytes | None) -> str:
    """Return the digest of ``record`` chained to ``prev`` (empty for a plan's first)."""
    return digest(canonical(record, prev), key)


def check(record: Mapping[str, Any], prev: str, stored: str, key: bytes | None) -> str | None:
    """Return None if ``stored`` is the right digest, else what is wrong with it."""
    algorithm = stored.partition(":")[0]
    if algorithm == HMAC and not key:
        return "it is sealed with the audit key, and NAPFLOW_AUDIT_KEY is not set"
    expected = digest(canonical(record, prev), key if algorithm == HMAC else None)
    if not hmac.compare_digest(expected, stored):
        return "its content does not match its digest"
    return None


def head_digest(heads: Mapping[str, str]) -> str:
    """Return one digest over every plan's latest record digest (plans by key)."""
    text = "\n".join(f"{key} {heads[key]}" for key in sorted(heads))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
