"""What the dispatcher needs from the edges: render a message, hand it to a transport.

The implementations live beside it (Jinja2 templates, .ics files, the SMTP and .eml file
transports); :mod:`napflow.runtime.bootstrap` wires them in. Keeping the contract here lets
the services stay free of e-mail details and lets tests use the real implementations.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.generator import BytesGenerator
from email.message import Message
from email.policy import Compat32
from io import BytesIO
from pathlib import Path
from typing import Any, Protocol


class DeliveryError(Exception):
    """A transport could not deliver a message; ``answer`` is the server's own words."""

    permanent = False

    def __init__(self, answer: str) -> None:
        super().__init__(answer)
        self.answer = answer


class TemporaryFailure(DeliveryError):
    """Try again later: connection refused or dropped, a 4xx answer, a time-out."""


class PermanentFailure(DeliveryError):
    """Do not try again: a 5xx answer, an address the server refuses."""

    permanent = True


@dataclass(frozen=True)
class Rendered:
    """A message's subject (one line), plain-text body and HTML body."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message: its name as the reader sees it, its type, its bytes."""

    name: str
    media_type: str
    data: bytes


class Renderer(Protocol):
    """Turns a message kind and its context into subject and bodies."""

    def render(self, kind: str, context: dict[str, Any], folder: Path | None = None) -> Rendered:
        """Render the templates of ``kind`` with ``context`` (from ``folder`` first)."""
        ...

    def subject(self, kind: str, context: dict[str, Any], folder: Path | None = None) -> str:
        """Render only the subject line of ``kind``."""
        ...


class _Wire(Compat32):
    """The classic policy with CRLF line ends, writing headers as they were set.

    The composer folds and encodes headers itself; refolding every header of every message
    cost a third of composing one.
    """

    def fold(self, name: str, value: str) -> str:
        """Write the header as set, its line breaks made CRLF; fold lines that are too long.

        SMTP servers refuse lines over 998 characters; a long plain-ASCII subject (a long
        deadline title and location) is folded at its spaces like the classic policy does.
        """
        lines = str(value).splitlines()
        if any(len(line) > 76 for line in lines):
            return super().fold(name, value)
        return f"{name}: " + self.linesep.join(lines) + self.linesep

    def fold_binary(self, name: str, value: str) -> bytes:
        """As fold, in ASCII bytes (headers are encoded per RFC 2047 before this)."""
        return self.fold(name, value).encode("ascii", "surrogateescape")


WIRE = _Wire(linesep="\r\n")


@dataclass(frozen=True)
class Outgoing:
    """A message ready for the wire: its envelope and its bytes (CRLF line ends)."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    date: datetime
    message_id: str

    @classmethod
    def from_message(
        cls, message: Message, sender: str, recipient: str, date: datetime
    ) -> Outgoing:
        """Flatten ``message`` once, so sending is only I/O."""
        return cls(sender, (recipient,), flatten(message), date, str(message["Message-ID"]))


def flatten(message: Message) -> bytes:
    """Return ``message`` as it goes on the wire (CRLF), as ``BytesGenerator`` writes it.

    The messages napflow builds (multipart/alternative or mixed, every leaf base64, headers
    already folded) are written directly: the generator's general machinery was the
    largest part of composing a mail, which competes with sending for the dispatcher's
    cores. Any other structure goes through the generator. tests/test_mail_actionable.py
    holds both ways to the same bytes for every kind of mail.
    """
    out: list[bytes] = []
    if not _write(message, out):
        buffer = BytesIO()
        BytesGenerator(buffer, policy=WIRE).flatten(message)
        return buffer.getvalue()
    return b"".join(out)


#: the line ends the generator splits a payload at (not str.splitlines's form feeds)
_LINES = re.compile(r"\r\n|\r|\n")


def _write(part: Message, out: list[bytes]) -> bool:
    """Append ``part`` to ``out``; False if it is not a structure napflow's writer knows."""
    if part.preamble is not None or part.epilogue is not None:
        return False
    payload = part.get_payload()
    if part.is_multipart():
        boundary = part.get_boundary()
        kinds = ("multipart/alternative", "multipart/mixed")
        if part.get_content_type() not in kinds or not boundary or not payload:
            return False
    elif part.get("Content-Transfer-Encoding", "").lower() != "base64":
        return False  # base64 lines never start "From " (which the generator would mangle)
    elif not isinstance(payload, str) or not payload.isascii():
        return False
    for name, value in part.raw_items():
        out.append(WIRE.fold_binary(name, value))
    out.append(b"\r\n")
    if part.is_multipart():
        for n, sub in enumerate(payload):
            out.append(f"{'' if n == 0 else CRLF}--{boundary}{CRLF}".encode("ascii"))
            if not _write(sub, out):
                return False
        out.append(f"{CRLF}--{boundary}--{CRLF}".encode("ascii"))
        return True
    out.append(CRLF.join(_LINES.split(str(payload))).encode("ascii"))
    return True


CRLF = "\r\n"


class Transport(Protocol):
    """Delivers finished messages."""

    def send(self, message: Outgoing) -> None:
        """Deliver ``message``; raise TemporaryFailure or PermanentFailure if it cannot."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@dataclass
class Mailer:
    """Everything needed to turn outbox rows into delivered mail.

    ``build`` assembles a Message (napflow.notifications.compose.build_message) and
    ``calendar`` makes a deadline's .ics (napflow.notifications.ics.deadline_calendar).
    """

    renderer: Renderer
    transport: Transport
    sender: str
    sender_name: str
    build: Callable[..., Message]
    calendar: Callable[..., bytes]
    #: a subscribable calendar of many deadlines (napflow.notifications.ics.deadline_feed)
    feed: Callable[[str, list[dict[str, Any]]], bytes] | None = None
