"""Secrets: read from the environment once, when the Runtime is wired, and passed on from there.

Secrets never live in config.toml. Each is named by its ``NAPFLOW_*`` variable; an unset or
empty variable means "none". Nothing else in napflow reads these variables: the services get
the values from :attr:`napflow.runtime.Runtime.secrets`, the ledger gets the audit key as an
argument, the SMTP transport its password from the wiring.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

#: The SMTP password.
SMTP_PASSWORD_ENV = "NAPFLOW_SMTP_PASSWORD"  # noqa: S105 - a variable name, not a secret
#: The audit key: an HMAC key sealing the history.
AUDIT_KEY_ENV = "NAPFLOW_AUDIT_KEY"
#: The key of calendar feed links (else generated once and kept with the database).
SECRET_KEY_ENV = "NAPFLOW_SECRET_KEY"  # noqa: S105 - a variable name, not a secret
#: The file holding the Ed25519 private key that signs audit bundles (PEM).
SIGNING_KEY_ENV = "NAPFLOW_AUDIT_SIGNING_KEY"


@dataclass(frozen=True)
class Secrets:
    """The secrets of one process; shown as ``<hidden>`` so they never reach a log."""

    audit_key: bytes | None = field(default=None, repr=False)
    secret_key: bytes | None = field(default=None, repr=False)
    smtp_password: str | None = field(default=None, repr=False)
    #: the path of the PEM file of the key that signs audit bundles (None: unsigned)
    signing_key_file: str | None = field(default=None, repr=False)


def read_secrets(env: Mapping[str, str] | None = None) -> Secrets:
    """Read every secret from ``env`` (the process environment unless given)."""
    env = os.environ if env is None else env
    return Secrets(
        audit_key=env.get(AUDIT_KEY_ENV, "").encode("utf-8") or None,
        secret_key=env.get(SECRET_KEY_ENV, "").encode("utf-8") or None,
        smtp_password=env.get(SMTP_PASSWORD_ENV) or None,
        signing_key_file=env.get(SIGNING_KEY_ENV) or None,
    )
