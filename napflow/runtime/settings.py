"""Settings: config.toml read once into a frozen, validated object; NAPFLOW_* overrides.

Precedence, lowest first: built-in defaults, ``config.toml`` (``--config PATH``, else
``NAPFLOW_CONFIG``, else ``./config.toml`` when it exists), ``NAPFLOW_*`` environment
variables, then command-line flags (applied by the caller with :func:`dataclasses.replace`).
Secrets never live in config.toml; :mod:`napflow.runtime.secrets` reads them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from napflow.errors import ConfigError, InputError
from napflow.inputs import email_address
from napflow.timezones import validate_timezone

DEFAULT_DATABASE_URL = "sqlite:///var/napflow.db"
#: the largest draft attached to a mail, in MiB (base64 makes it a third larger on the wire)
MAX_ATTACH_MB = 20


@dataclass(frozen=True)
class Settings:
    """Everything napflow reads from configuration, validated."""

    database_url: str = DEFAULT_DATABASE_URL
    busy_timeout_ms: int = 10_000
    #: run the hottest statements on the driver cursor (napflow.storage.fastpath); false
    #: sends them through plain SQLAlchemy Connection.execute
    fast_path: bool = True
    workflow_dirs: tuple[Path, ...] = ()
    default_timezone: str = "UTC"
    # [mail]: how messages leave. "file" writes .eml files (the embedded default).
    mail_transport: str = "file"
    mail_dir: str = "var/mail"
    mail_from: str = "napflow@localhost.localdomain"
    mail_from_name: str = "napflow"
    #: where replies go (None: to the plan's coordinators)
    mail_reply_to: str | None = None
    #: the words that close every mail (None: the workflow's, else "napflow, <workflow>")
    mail_signature: str | None = None
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_security: str = "none"
    smtp_username: str | None = None
    smtp_ca_file: str | None = None
    smtp_timeout_s: int = 30
    #: a draft up to this size (MiB) is attached to the mails about it; 0: links only
    mail_attach_max_mb: int = 5
    # [web]: the address people reach the web app at, for the links in mails
    base_url: str = "http://127.0.0.1:8000"
    # [scheduler]
    poll_seconds: int = 30
    batch_size: int = 100
    max_attempts: int = 10
    lease_seconds: int = 300
    # [drafts]: the largest draft file accepted, in megabytes (MiB)
    draft_max_mb: int = 50
    #: the addresses (or networks) of reverse proxies whose X-Forwarded-For/-Proto headers
    #: are believed: only the hop such a proxy appended is taken as the client
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    #: the largest request body the JSON API and the web forms accept, in KiB (draft
    #: uploads have their own limit, draft_max_mb)
    body_max_kb: int = 1024
    # [audit]: where checkpoints of the ledger's head are sent, outside the database
    #: e-mail addresses of auditors who receive each checkpoint
    witnesses: tuple[str, ...] = ()
    #: a directory the database's users cannot write, where each checkpoint is also filed
    witness_dir: str | None = None


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{where} must be a positive whole number, not {value!r}.")
    return value


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where} must be a whole number, 0 or more, not {value!r}.")
    return value


def _flag(value: Any, where: str) -> bool:
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE  # from the environment
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, not {value!r}.")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty string, not {value!r}.")
    return value


def _timezone(value: Any, where: str) -> str:
    text = _string(value, where)
    try:
        return validate_timezone(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _choice(*allowed: str) -> Callable[[Any, str], str]:
    def check(value: Any, where: str) -> str:
        if value not in allowed:
            raise ConfigError(f"{where} must be one of {', '.join(allowed)}, not {value!r}.")
        return str(value)

    return check


def _base_url(value: Any, where: str) -> str:
    """Check a web address: http(s), a host, nothing after it; drop a trailing "/"."""
    from urllib.parse import urlsplit

    text = _string(value, where).strip()
    parts = urlsplit(text)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc  # a user name and password would be mailed to everyone
        or parts.path not in ("", "/")  # the web app's links start at the address's root
        or parts.query
        or parts.fragment
        or any(ch.isspace() or ord(ch) < 32 for ch in text)
    ):
        raise ConfigError(
            f"{where} must be the address the web app is served at, e.g. "
            f"https://napflow.example.org (http or https, a host and port only), not {value!r}."
        )
    return text.rstrip("/")


def _attach_mb(value: Any, where: str) -> int:
    number = _count(value, where)
    if number > MAX_ATTACH_MB:
        raise ConfigError(
            f"{where} must be at most {MAX_ATTACH_MB} (mail servers refuse larger messages), "
            f"not {value!r}."
        )
    return number


def _strings(value: Any, where: str) -> tuple[str, ...]:
    """Check a list of non-empty strings (in the environment: separated by commas)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where} must be a list of strings, not {value!r}.")
    return tuple(v.strip() for v in value)


def _networks(value: Any, where: str) -> tuple[str, ...]:
    import ipaddress

    found = _strings(value, where)
    for text in found:
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            raise ConfigError(
                f"{where}: {text!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/24)."
            ) from exc
    return found


def _addresses(value: Any, where: str) -> tuple[str, ...]:
    return tuple(_address(v, where) for v in _strings(value, where))


def _address(value: Any, where: str) -> str:
    try:
        return email_address(_string(value, where))
    except InputError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


# (section, key) -> (settings field, validator, environment variable)
_Validator = Callable[[Any, str], Any]
CONFIG_KEYS: dict[tuple[str, str], tuple[str, _Validator, str]] = {
    ("database", "url"): ("database_url", _string, "NAPFLOW_DATABASE_URL"),
    ("database", "busy_timeout_ms"): (
        "busy_timeout_ms",
        _positive_int,
        "NAPFLOW_BUSY_TIMEOUT_MS",
    ),
    ("database", "fast_path"): ("fast_path", _flag, "NAPFLOW_FAST_PATH"),
    ("plans", "default_timezone"): ("default_timezone", _timezone, "NAPFLOW_DEFAULT_TIMEZONE"),
    ("mail", "transport"): ("mail_transport", _choice("file", "smtp"), "NAPFLOW_MAIL_TRANSPORT"),
    ("mail", "dir"): ("mail_dir", _string, "NAPFLOW_MAIL_DIR"),
    ("mail", "from"): ("mail_from", _address, "NAPFLOW_MAIL_FROM"),
    ("mail", "from_name"): ("mail_from_name", _string, "NAPFLOW_MAIL_FROM_NAME"),
    ("mail", "reply_to"): ("mail_reply_to", _address, "NAPFLOW_MAIL_REPLY_TO"),
    ("mail", "signature"): ("mail_signature", _string, "NAPFLOW_MAIL_SIGNATURE"),
    ("mail", "smtp_host"): ("smtp_host", _string, "NAPFLOW_SMTP_HOST"),
    ("mail", "smtp_port"): ("smtp_port", _positive_int, "NAPFLOW_SMTP_PORT"),
    ("mail", "smtp_security"): (
        "smtp_security",
        _choice("none", "starttls", "ssl"),
        "NAPFLOW_SMTP_SECURITY",
    ),
    ("mail", "smtp_username"): ("smtp_username", _string, "NAPFLOW_SMTP_USERNAME"),
    ("mail", "smtp_ca_file"): ("smtp_ca_file", _string, "NAPFLOW_SMTP_CA_FILE"),
    ("mail", "smtp_timeout_s"): ("smtp_timeout_s", _positive_int, "NAPFLOW_SMTP_TIMEOUT_S"),
    ("mail", "attach_max_mb"): (
        "mail_attach_max_mb",
        _attach_mb,
        "NAPFLOW_MAIL_ATTACH_MAX_MB",
    ),
    ("web", "base_url"): ("base_url", _base_url, "NAPFLOW_BASE_URL"),
    ("scheduler", "poll_seconds"): ("poll_seconds", _positive_int, "NAPFLOW_POLL_SECONDS"),
    ("scheduler", "batch_size"): ("batch_size", _positive_int, "NAPFLOW_BATCH_SIZE"),
    ("scheduler", "max_attempts"): ("max_attempts", _positive_int, "NAPFLOW_MAX_ATTEMPTS"),
    ("scheduler", "lease_seconds"): ("lease_seconds", _positive_int, "NAPFLOW_LEASE_SECONDS"),
    ("drafts", "max_mb"): ("draft_max_mb", _positive_int, "NAPFLOW_DRAFT_MAX_MB"),
    ("web", "trusted_proxies"): ("trusted_proxies", _networks, "NAPFLOW_TRUSTED_PROXIES"),
    ("web", "body_max_kb"): ("body_max_kb", _positive_int, "NAPFLOW_BODY_MAX_KB"),
    ("audit", "witnesses"): ("witnesses", _addresses, "NAPFLOW_AUDIT_WITNESSES"),
    ("audit", "witness_dir"): ("witness_dir", _string, "NAPFLOW_AUDIT_WITNESS_DIR"),
}
WORKFLOW_DIRS_ENV = "NAPFLOW_WORKFLOW_DIRS"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"Config file {path} does not exist.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}.") from exc


def _workflow_dirs(value: Any, where: str, base: Path) -> tuple[Path, ...]:
    ok = isinstance(value, list) and all(isinstance(v, str) and v and "\0" not in v for v in value)
    if not ok:
        raise ConfigError(f"{where} must be a list of directory paths, not {value!r}.")
    dirs = tuple((base / v).resolve() for v in value)
    for directory in dirs:
        if not directory.is_dir():
            raise ConfigError(f"{where}: {directory} is not a directory.")
    return dirs


def _from_file(path: Path) -> dict[str, Any]:
    data = _read_toml(path)
    values: dict[str, Any] = {}
    known_sections = {s for s, _ in CONFIG_KEYS} | {"workflows"}
    for section, table in data.items():
        if section not in known_sections or not isinstance(table, dict):
            raise ConfigError(
                f"{path}: unknown section [{section}]; "
                f"known sections: {', '.join(sorted(known_sections))}."
            )
        for key, value in table.items():
            where = f"{path}: {section}.{key}"
            if (section, key) == ("workflows", "dirs"):
                values["workflow_dirs"] = _workflow_dirs(value, where, path.parent)
                continue
            entry = CONFIG_KEYS.get((section, key))
            if entry is None:
                known = sorted(k for s, k in CONFIG_KEYS if s == section)
                if section == "workflows":
                    known = ["dirs"]
                raise ConfigError(
                    f"{path}: unknown key {section}.{key}; known keys in [{section}]: "
                    f"{', '.join(known)}."
                )
            field, validate, _env = entry
            values[field] = validate(value, where)
    return values


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field, validate, var in CONFIG_KEYS.values():
        if var in env:
            raw: Any = env[var]
            if validate in (_positive_int, _count, _attach_mb):
                try:
                    raw = int(raw)
                except ValueError as exc:
                    what = "a positive" if validate is _positive_int else "a"
                    raise ConfigError(f"{var} must be {what} whole number, not {raw!r}.") from exc
            values[field] = validate(raw, var)
    if env.get(WORKFLOW_DIRS_ENV):
        parts = [p for p in env[WORKFLOW_DIRS_ENV].split(os.pathsep) if p]
        values["workflow_dirs"] = _workflow_dirs(parts, WORKFLOW_DIRS_ENV, Path.cwd())
    return values


def load_settings(
    config_path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Build the settings from defaults, the config file and the environment.

    ``config_path`` is the ``--config`` flag; without it ``NAPFLOW_CONFIG`` is used, then
    ``./config.toml`` if present. An explicitly named file must exist.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path: Path | None = None
    if config_path is not None:
        path = Path(config_path)
    elif env.get("NAPFLOW_CONFIG"):
        path = Path(env["NAPFLOW_CONFIG"])
    elif Path("config.toml").is_file():
        path = Path("config.toml")
    if path is not None:
        values.update(_from_file(path))
    values.update(_from_env(env))
    return Settings(**values)
