"""What the dispatcher needs from the edges: render a message, hand it to a transport.

The implementations live beside it (Jinja2 templates, .ics files, the SMTP and .eml file
transports); :mod:`napflow.runtime.bootstrap` wires them in. Keeping the contract here lets
the services stay free of e-mail details and lets tests use the real implementations.
"""

from __future__ import annotations

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
        buffer = BytesIO()
        BytesGenerator(buffer, policy=WIRE).flatten(message)
        return cls(sender, (recipient,), buffer.getvalue(), date, str(message["Message-ID"]))


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
