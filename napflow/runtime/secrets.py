"""Secrets: read from the environment once, when the Runtime is wired, and passed on from there.

Secrets never live in config.toml. Each is named by its ``NAPFLOW_*`` variable; an unset or
empty variable means "none". Nothing else in napflow reads these variables: the services get
the values from :attr:`napflow.runtime.Runtime.secrets`, the ledger gets the audit key as an
argument, the SMTP transport its password from the wiring.

Without ``NAPFLOW_SECRET_KEY``, the server key that the stored digests of sessions and API
tokens are made with comes from a key file (:func:`server_key_file`, :func:`read_key_file`),
made once and never kept in the database: whoever can write to the database cannot make
the digest of a token of their own.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from napflow.errors import ConfigError

#: The SMTP password.
SMTP_PASSWORD_ENV = "NAPFLOW_SMTP_PASSWORD"  # noqa: S105 - a variable name, not a secret
#: The audit key: an HMAC key sealing the history.
AUDIT_KEY_ENV = "NAPFLOW_AUDIT_KEY"
#: The server key: of calendar feed links (else generated once and kept in the database) and
#: of the stored digests of sessions and API tokens (else a key file, see server_key_file).
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


#: the random bytes of a new key file (written as hex text)
KEY_FILE_BYTES = 32


def server_key_file(database_url: str, env: Mapping[str, str] | None = None) -> Path | None:
    """Return the key file of the database at ``database_url`` (None: a database in memory).

    For SQLite the file next to the database's, ``<database file>.key``. For a database
    server, ``<state directory>/napflow/<name>.key`` in the user's state directory
    (``$XDG_STATE_HOME``, else ``~/.local/state``), ``<name>`` the first 16 hex digits of the
    SHA-256 of the URL without its password: every process using the database by that URL
    (and as that user) finds the same file.
    """
    import hashlib

    from sqlalchemy.engine import make_url

    env = os.environ if env is None else env
    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            return None
        database = Path(parsed.database)
        return database.with_name(f"{database.name}.key")
    bare = parsed.set(password=None).render_as_string(hide_password=False)
    name = hashlib.sha256(bare.encode("utf-8")).hexdigest()[:16]
    state = env.get("XDG_STATE_HOME", "")
    if not os.path.isabs(state):  # unset, or not absolute: ignored, as the XDG spec says
        home = env.get("HOME") or os.path.expanduser("~")
        if not os.path.isabs(home):
            raise ConfigError(
                f"Cannot tell where to keep the server key of {parsed!r}: no home directory; "
                f"set {SECRET_KEY_ENV} (e.g. `openssl rand -hex 32`)."
            )
        state = os.path.join(home, ".local", "state")
    return Path(state) / "napflow" / f"{name}.key"


def read_key_file(path: Path) -> bytes:
    """Return the key kept in ``path``, making the file first (mode 0600) if there is none.

    Two processes starting at once agree on one key: each writes a whole file under a name
    of its own and links it into place, which succeeds for one of them only (like
    ``O_EXCL``); the other reads the winner's file. A file found short or damaged is
    refused rather than replaced (that would log everyone out).
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    directory = path.parent
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # a new one: private
        made = directory / f".{path.name}.{secrets.token_hex(8)}.new"
        handle = os.open(made, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(handle, "w", encoding="ascii") as file:
                file.write(secrets.token_hex(KEY_FILE_BYTES) + "\n")
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(made, path)  # fails if another process's key got there first
            except FileExistsError:
                pass
            else:
                _sync_directory(directory)
        finally:
            os.unlink(made)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create the server key file {path}: {exc.strerror or exc}; make its "
            f"directory writable for napflow, or set {SECRET_KEY_ENV} "
            "(e.g. `openssl rand -hex 32`)."
        ) from exc
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    """Return the key in the file at ``path`` (FileNotFoundError if there is none)."""
    try:
        mode = path.stat().st_mode
        if mode & 0o077:  # others could read (or change) what opens every session
            raise ConfigError(
                f"The server key file {path} may be read by others (mode {mode & 0o777:o}): "
                f"`chmod 600 {path}`, or set {SECRET_KEY_ENV}."
            )
        text = path.read_bytes().strip()
    except FileNotFoundError:
        if path.is_symlink():  # a link to nothing: never made through it
            raise ConfigError(
                f"The server key file {path} is a link to nothing; remove it, or set "
                f"{SECRET_KEY_ENV}."
            ) from None
        raise
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the server key file {path}: {exc.strerror or exc}; give napflow "
            f"the right to read it, or set {SECRET_KEY_ENV}."
        ) from exc
    if len(text) < KEY_FILE_BYTES:
        raise ConfigError(
            f"The server key file {path} is damaged (it holds {len(text)} bytes, not a key). "
            f"Restore it from a backup, or remove it to make a new key (everyone then logs "
            f"in again and every API token must be created anew)."
        )
    return text


def _sync_directory(directory: Path) -> None:
    """Make a new file's name in ``directory`` survive a power cut (where the OS can)."""
    with contextlib.suppress(OSError):
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
