"""Finding ledger checkpoints where witnesses keep them: mail, mailboxes and files.

A witness keeps what napflow sent: the mail (a checkpoint attached as a JSON file), saved
as an ``.eml`` file, in an mbox or a Maildir, or the checkpoint file itself (the
``[audit] witness_dir`` copy). Each PATH is read by what it holds, not by its name: a
folder is searched file by file (a Maildir mail by mail); a file is a checkpoint (JSON), an
mbox (its first line ``From ...``) or one mail.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

from napflow.errors import InputError
from napflow.services.signing import load_json

#: the format a checkpoint names itself with
FORMAT = "napflow-checkpoint/1"


@dataclass(frozen=True)
class Found:
    """A checkpoint as found: where it was (a file, a mail in a mailbox) and its JSON."""

    where: str
    document: dict[str, Any]


def _checkpoint(data: bytes) -> dict[str, Any] | None:
    """Return ``data`` as a checkpoint's JSON object, or None if it is no checkpoint."""
    try:
        found = load_json(data)  # a member named twice is refused
    except (ValueError, RecursionError):  # not JSON, not UTF-8
        return None
    if isinstance(found, dict) and found.get("format") == FORMAT:
        return found
    return None


def _attached(message: Message) -> Iterator[dict[str, Any]]:
    """Yield every checkpoint attached to a mail (a JSON part, or a .json file)."""
    for part in message.walk():
        if part.is_multipart():
            continue
        name = part.get_filename() or ""
        if part.get_content_type() != "application/json" and not name.endswith(".json"):
            continue
        data = part.get_payload(decode=True)
        found = _checkpoint(data) if isinstance(data, bytes) else None
        if found is not None:
            yield found


def _mail(data: bytes) -> Message:
    return message_from_bytes(data, policy=policy.compat32)


def _from_mailbox(box: mailbox.Mailbox[Any], where: str) -> Iterator[Found]:
    for n, key in enumerate(sorted(box.keys()), start=1):
        for found in _attached(_mail(box.get_bytes(key))):
            yield Found(f"{where}, mail {n}", found)


def _from_file(path: Path) -> Iterator[Found]:
    try:
        with path.open("rb") as handle:
            start = handle.read(5)
            mbox = start == b"From "  # the mailbox module reads an mbox mail by mail
            data = b"" if mbox else start + handle.read()
    except OSError as exc:
        raise InputError(f"Cannot read the witness file {str(path)!r}: {exc.strerror}.") from None
    if mbox:
        box = mailbox.mbox(path, create=False)
        try:
            yield from _from_mailbox(box, str(path))
        finally:
            box.close()
    elif data.lstrip()[:1] in (b"{", b"["):
        found = _checkpoint(data)
        if found is not None:
            yield Found(str(path), found)
    else:
        for found in _attached(_mail(data)):
            yield Found(str(path), found)


def _from_folder(path: Path) -> Iterator[Found]:
    if (path / "cur").is_dir() and (path / "new").is_dir():
        yield from _from_mailbox(mailbox.Maildir(path, create=False), str(path))
        return
    try:
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError as exc:
        raise InputError(f"Cannot read the witness folder {str(path)!r}: {exc.strerror}.") from None
    for file in files:
        yield from _from_file(file)


def read_witnesses(paths: Sequence[str]) -> list[Found]:
    """Return every checkpoint found in ``paths``, in the order found.

    A path that is missing or unreadable, or holds no checkpoint at all, is an InputError
    (exit 2): a witness that proves nothing must not pass for one that proves the ledger.
    """
    found: list[Found] = []
    for text in paths:
        path = Path(text)
        try:
            is_dir = path.is_dir()
            exists = is_dir or path.is_file()
        except OSError as exc:
            raise InputError(f"Cannot read the witness path {text!r}: {exc.strerror}.") from None
        if not exists:
            raise InputError(f"There is no file or folder {text!r} (--witness).")
        try:
            here = list(_from_folder(path) if is_dir else _from_file(path))
        except (OSError, mailbox.Error) as exc:
            raise InputError(f"Cannot read the witness path {text!r}: {exc}.") from None
        if not here:
            raise InputError(
                f"No napflow checkpoint found in {text!r}: give the witness's mailbox (mbox "
                "or Maildir), a folder of .eml files, or checkpoint files."
            )
        found += here
    return found
