"""Ed25519 signatures of what napflow hands outside: audit bundles and ledger checkpoints.

The private key lives in a PEM file on the napflow server (``NAPFLOW_AUDIT_SIGNING_KEY``
names it); auditors get the public key (``napflow audit keygen`` writes both). A signed
document is a JSON object with a ``"signature"`` member; what is signed is the document
without that member as canonical JSON (keys sorted, no spaces, UTF-8), so the signature
holds however the file is laid out and covers every other member, nested ones included.

``cryptography`` is imported when a key is used, not with this module.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napflow.errors import InputError
from napflow.services._files import write_whole

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

#: the member of a signed document that holds its signature
SIGNATURE = "signature"
#: the algorithm a napflow signature names
ED25519 = "ed25519"
#: the names ``napflow audit keygen`` gives the two files
PRIVATE_NAME = "napflow-audit-signing.pem"
PUBLIC_NAME = "napflow-audit-signing.pub.pem"

_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, value in pairs:
        if name in found:
            raise ValueError(f"the member {name!r} appears twice")
        found[name] = value
    return found


def load_json(text: str | bytes) -> Any:
    """Parse a signed document's JSON, refusing a member named twice in one object.

    A signature covers the document as parsed; with a member twice, what one reader takes
    (the last) could differ from what a person reading the file sees first (ValueError).
    """
    return json.loads(text, object_pairs_hook=_unique)


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """Return what a signature covers: ``document`` without its signature, canonical JSON."""
    body = {name: value for name, value in document.items() if name != SIGNATURE}
    return _CANONICAL(body).encode("utf-8")


def fingerprint(public: Ed25519PublicKey) -> str:
    """Return ``sha256:<hex>`` of a public key's 32 raw bytes: how napflow names a key."""
    from cryptography.hazmat.primitives import serialization

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"Cannot read {what} {path!r}: {reason}.") from None


def load_private_key(path: str) -> Ed25519PrivateKey:
    """Return the Ed25519 private key in the PEM file ``path`` (NAPFLOW_AUDIT_SIGNING_KEY).

    A missing, unreadable, encrypted or garbled file, or a key of another kind, is an
    InputError (exit 2) naming the file.
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data = _read(path, "the signing key (NAPFLOW_AUDIT_SIGNING_KEY)")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise InputError(
            f"The signing key {path!r} is encrypted; napflow needs it unencrypted, readable "
            "by napflow alone (mode 0600)."
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise InputError(
            f"The signing key {path!r} (NAPFLOW_AUDIT_SIGNING_KEY) is not a PEM private key: "
            "make one with `napflow audit keygen`."
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(
            f"The signing key {path!r} is not an Ed25519 key: make one with `napflow audit keygen`."
        )
    return key


def load_public_key(path: str) -> Ed25519PublicKey:
    """Return the Ed25519 public key in the PEM file ``path`` (an auditor's --public-key).

    A private key given by mistake is refused (an auditor never needs it).
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data = _read(path, "the public key")
    if b"PRIVATE KEY" in data:
        raise InputError(
            f"{path!r} holds a private key: give the public one (the .pub.pem file "
            "`napflow audit keygen` wrote); the private key stays on the napflow server."
        )
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise InputError(
            f"The public key {path!r} is not a PEM public key (it begins with "
            "-----BEGIN PUBLIC KEY-----)."
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"The public key {path!r} is not an Ed25519 key.")
    return key


def sign(document: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """Return ``document`` with its Ed25519 signature (any signature it had is replaced)."""
    value = key.sign(canonical_bytes(document))
    body = {name: item for name, item in document.items() if name != SIGNATURE}
    body[SIGNATURE] = {
        "algorithm": ED25519,
        "key": fingerprint(key.public_key()),
        "value": base64.b64encode(value).decode("ascii"),
    }
    return body


#: why a signature does not prove a document: none at all, another key's, or a broken one
UNSIGNED, OTHER_KEY, BROKEN = "unsigned", "other key", "broken"


def signature_problem(
    document: Mapping[str, Any], public: Ed25519PublicKey
) -> tuple[str, str] | None:
    """Return why ``document``'s signature does not prove ``public``'s holder signed it.

    None when it does; else :data:`UNSIGNED`, :data:`OTHER_KEY` or :data:`BROKEN` and a
    clause saying so ("it is not signed with an Ed25519 key").
    """
    from cryptography.exceptions import InvalidSignature

    found = document.get(SIGNATURE)
    if not isinstance(found, dict) or found.get("algorithm") != ED25519:
        return UNSIGNED, "it is not signed with an Ed25519 key"
    expected = fingerprint(public)
    if found.get("key") != expected:
        return OTHER_KEY, (
            f"it is signed with another key ({found.get('key')}), not with the given key {expected}"
        )
    try:
        value = base64.b64decode(str(found.get("value")), validate=True)
        public.verify(value, canonical_bytes(document))
    except (binascii.Error, ValueError, InvalidSignature):
        return BROKEN, (
            "its signature does not verify with the given key: it was changed after it was signed"
        )
    return None


def signed_by(document: Mapping[str, Any]) -> str | None:
    """Return the key an Ed25519 signature of ``document`` claims (unchecked), or None."""
    found = document.get(SIGNATURE)
    if isinstance(found, dict) and found.get("algorithm") == ED25519:
        return str(found.get("key"))
    return None


@dataclass(frozen=True)
class KeyPair:
    """What ``napflow audit keygen`` wrote."""

    private: str
    public: str
    fingerprint: str


def generate_keys(out: str) -> KeyPair:
    """Write a new Ed25519 key pair to the directory ``out`` (made if missing, mode 0700).

    The private key (PKCS#8 PEM, mode 0600) goes to :data:`PRIVATE_NAME`, the public key
    (PEM, mode 0644) to :data:`PUBLIC_NAME`; each appears whole or not at all, and neither
    replaces a file already there.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    folder = Path(out)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"Cannot make the directory {out!r}: {exc.strerror}.") from None
    private_path, public_path = folder / PRIVATE_NAME, folder / PUBLIC_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise InputError(f"{str(path)!r} exists already: napflow never overwrites a key.")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    write_new(private_path, private, 0o600)
    try:
        write_new(public_path, public, 0o644)
    except BaseException:
        private_path.unlink(missing_ok=True)
        raise
    return KeyPair(str(private_path), str(public_path), fingerprint(key.public_key()))


def write_new(target: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``target`` with ``mode``, whole or not at all, never replacing a file.

    An InputError says why it failed.
    """
    write_whole(target, lambda handle: handle.write(data), replace=False, mode=mode)
