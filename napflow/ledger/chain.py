"""The hash chain of a plan's history: the canonical bytes of a record and their digest.

Each record's digest covers its own fields and the digest of the record before it (for a
plan's first record, ``plan:<KEY>``, which binds the chain to its plan). Editing, removing,
inserting or reordering records therefore breaks the chain at that point. With
``NAPFLOW_AUDIT_KEY`` set the digest is an HMAC: someone who can write to the database but
lacks the key cannot seal a record that verifies.

A stored digest is ``<label>:<hex>``; the label names the algorithm and the encoding the
record was sealed with (:data:`LABELS`): ``sha256`` and ``hmac-sha256`` for encoding 1,
``sha256/2`` and ``hmac-sha256/2`` for encoding 2. New records are sealed with encoding 2
(:data:`ENCODING`); records sealed with 1 keep verifying under 1. In both, the fields are
taken in :data:`FIELDS` order, times as UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` and payloads as
the canonical JSON text they are stored as (sorted keys, no spaces). Both can be built
from the stored columns by SQLite itself, which is what lets the verifier hash a million
records quickly (napflow.ledger.verification).

Encoding 2 (:func:`canonical_v2`) is the UTF-8 of the fields as one JSON array, with no
spaces: ``null`` for NULL, whole numbers as JSON numbers, texts as JSON strings (a quote
and a backslash escaped by a backslash, the controls backspace, form feed, newline,
carriage return and tab by their one-letter escapes, the other characters below U+0020 as
``u00xx`` escapes in lower case, everything else as it is): what Python's ``json`` writes
with ``ensure_ascii=False``, and SQLite's ``json_array()``. It is injective: parsing the JSON
gives the values back (null, a number and a string are told apart by their first
character, and a string ends at the first unescaped ``"``), and an encoding that can be
undone maps no two records to the same bytes. So no NULL encodes as any text, and no text
as another, whatever characters they hold.

Encoding 1 (:func:`canonical`) is the fields as UTF-8 text joined by U+001F, with U+0000
for NULL. It cannot tell a NULL from the text U+0000, nor (were U+001F in a field) where
one field ends. napflow never wrote either character into a field (inputs refuse control
characters; payloads are JSON, which escapes them), so a record it sealed under 1 encodes
to exactly 12 separators and splits back into its 13 field texts; what is left open is a
NULL against the text U+0000, and the verifier refuses, in a record sealed with 1, an
optional field that is the text U+0000 and a required field that is NULL
(:func:`ambiguous_v1`; napflow sealed neither). So a record that verifies under 1 is the
record that was sealed.

No byte string is both encodings' output: encoding 2 has no byte U+001F (JSON escapes it,
and UTF-8 puts none inside a longer character), encoding 1 of 13 fields has at least 12.
Which encoding a record was sealed with is named outside the hashed bytes, but it decides
which bytes are hashed: relabelling a record ``hmac-sha256/2:<hex>`` as
``hmac-sha256:<hex>`` (or back), with its fields changed or not, asks the verifier for an
HMAC over bytes that were never sealed, which only the key's holder can make. Without a
key (plain SHA-256) anyone can recompute a record's digest, relabelled or not, and the
chain after it; as ever, only a head digest kept elsewhere shows that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from napflow.ledger.record import FIELDS, NUMBERS, OPTIONAL, Record

SHA256 = "sha256"
HMAC = "hmac-sha256"
SEPARATOR = "\x1f"
NULL = "\x00"
#: the encodings a record can be sealed with, and the one new records are sealed with
V1, V2 = 1, 2
ENCODING = V2
#: the label a digest starts with, by (algorithm, encoding); encoding 1's has no version
LABELS: dict[tuple[str, int], str] = {
    (SHA256, V1): SHA256,
    (HMAC, V1): HMAC,
    (SHA256, V2): f"{SHA256}/{V2}",
    (HMAC, V2): f"{HMAC}/{V2}",
}
_BY_LABEL = {label: found for found, label in LABELS.items()}
_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_JSON_ARRAY = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


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
    """Return encoding 1 of a record's FIELDS values in order: joined by U+001F, NULL U+0000.

    ``at`` must already be :func:`at_text` and ``payload`` :func:`payload_text`. Records
    are no longer sealed with it; it is kept to verify those that were.
    """
    return SEPARATOR.join([NULL if v is None else str(v) for v in values]).encode("utf-8")


def canonical_v2(values: Sequence[str | int | None]) -> bytes:
    """Return encoding 2 of a record's FIELDS values in order: one JSON array, in UTF-8.

    ``at`` must already be :func:`at_text` and ``payload`` :func:`payload_text`.
    """
    return _JSON_ARRAY(list(values)).encode("utf-8")


#: the positions of the fields that may be NULL
_OPTIONAL = frozenset(n for n, name in enumerate(FIELDS) if name in OPTIONAL)


def ambiguous_v1(values: Sequence[str | int | None]) -> list[str]:
    """Return the fields encoding 1 cannot pin down, in FIELDS order (see the docstring).

    An optional field that is the text U+0000 (which encodes as NULL does) and a required
    field that is NULL (which encodes as that text does): napflow never sealed either.
    """
    return [
        FIELDS[n]
        for n, value in enumerate(values)
        if (value == NULL and n in _OPTIONAL) or (value is None and n not in _OPTIONAL)
    ]


def encode(values: Sequence[str | int | None], encoding: int) -> bytes | None:
    """Return the bytes a record's FIELDS values are sealed as under ``encoding``.

    None if napflow has no such encoding, or under encoding 1 if a field is ambiguous
    (:func:`ambiguous_v1`): such a record does not verify.
    """
    if encoding == V2:
        return canonical_v2(values)
    if encoding == V1 and not ambiguous_v1(values):
        return canonical(values)
    return None


def record_bytes(record: Record) -> bytes | None:
    """Return the bytes a stored record's digest covers (its fields but ``hash``).

    In the encoding its digest names; None where :func:`encode` gives none.
    """
    found = encoding_of(record.hash)
    return None if found is None else encode(record[:-1], found)


def digest(data: bytes, key: bytes | None, encoding: int = V1) -> str:
    """Return ``"<label>:<hex>"``: an HMAC-SHA256 with ``key``, else a plain SHA-256.

    ``encoding`` is the one ``data`` is in, which the label names (:data:`LABELS`).
    """
    if key:
        return f"{LABELS[HMAC, encoding]}:{hmac.digest(key, data, 'sha256').hex()}"
    return f"{LABELS[SHA256, encoding]}:{hashlib.sha256(data).hexdigest()}"


def algorithm(stored: str) -> str:
    """Return the algorithm a stored digest names (``sha256`` or ``hmac-sha256``).

    Whatever the encoding; a label napflow does not know is returned as it is.
    """
    label = stored.partition(":")[0]
    known = _BY_LABEL.get(label)
    return known[0] if known else label


def encoding_of(stored: str) -> int | None:
    """Return the encoding a stored digest names (1 or 2); None for a label unknown here."""
    known = _BY_LABEL.get(stored.partition(":")[0])
    return known[1] if known else None


def reseal(record: Record, key: bytes | None) -> str | None:
    """Return the digest a stored record must have, in the encoding its digest names.

    None where :func:`record_bytes` gives no bytes: the record cannot verify.
    """
    data = record_bytes(record)
    return None if data is None else digest(data, key, encoding_of(record.hash) or V1)


def seal(record: Mapping[str, Any], key: bytes | None, encoding: int = ENCODING) -> str:
    """Return the digest of a record given as a mapping of FIELDS (``at`` a datetime).

    ``payload`` is the stored text (:func:`payload_text`), ``prev_hash`` the digest of the
    record before, or :func:`genesis` for a plan's first record. New records are sealed with
    :data:`ENCODING`; ``encoding`` 1 is what older napflow sealed with (and the migration
    that sealed the records from before the chain), kept to build such ledgers.
    """
    values = [record.get(name) for name in FIELDS]
    values[_AT] = at_text(record["at"])
    for n in _NUMBERS:  # as the database gives them back, whatever they were given as
        number = values[n]
        values[n] = None if number is None else int(number)
    return digest((canonical_v2 if encoding == V2 else canonical)(values), key, encoding)


def head_digest(heads: Mapping[str, str]) -> str:
    """Return one digest over every plan's latest record digest (plans in key order)."""
    text = "".join(f"{key}{SEPARATOR}{heads[key]}\n" for key in sorted(heads))
    return f"{SHA256}:{hashlib.sha256(text.encode('utf-8')).hexdigest()}"


_AT = FIELDS.index("at")
_NUMBERS = tuple(n for n, name in enumerate(FIELDS) if name in NUMBERS)
