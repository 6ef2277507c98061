"""A real SMTP server on loopback (aiosmtpd) that records what it accepts.

It can misbehave on purpose: answer DATA with a scripted list of replies first (451, 452,
421, ..., or DROP: hang up mid-DATA, or STALL + seconds: answer only after that long),
refuse chosen recipients with 5xx, or take its time per message.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from helpers import free_port

__all__ = ["Sink", "SmtpServer", "free_port"]


#: scripted DATA behaviours besides plain replies: hang up; take this many seconds to answer
DROP = "!drop"
STALL = "!stall "


@dataclass
class Sink:
    """The handler: collects messages; scripted failures come first."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    keep: bool = True  # False: count only (a benchmark's sink must not slow down as it fills)
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: when each kept message had been received (time.time()), before it was answered
    received: list[float] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        received = time.time()  # the whole message is here; the client waits for the answer
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            scripted = self.data_replies.pop(0) if self.data_replies else None
        if scripted == DROP:  # hang up with the message received and no answer given
            server.transport.close()
            return "421 4.4.2 Connection dropped"  # never reaches the client
        if scripted is not None and scripted.startswith(STALL):  # answer only much later
            await asyncio.sleep(float(scripted.removeprefix(STALL)))
            return "451 4.4.2 Too late"
        if scripted is not None:
            return scripted
        with self.lock:
            self.count += 1
            if not self.keep:
                return "250 2.0.0 accepted"
            message = message_from_bytes(envelope.content, policy=policy.default)
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.received.append(received)
        return "250 2.0.0 accepted"

    def ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]

    def arrivals(self) -> list[tuple[float, str]]:
        """(when it was received, Message-ID) of each kept message, in order."""
        with self.lock:
            pairs = zip(self.received, self.messages, strict=True)
            return [(at, str(message["Message-ID"])) for at, message in pairs]


class SmtpServer:
    """An aiosmtpd Controller with its Sink, on one port; it may be stopped and started again
    (a server that goes down and comes back)."""

    def __init__(self, port: int | None = None) -> None:
        self.sink = Sink()
        self.port = port or free_port()
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def serve_until_stdin_closes(port: int) -> None:
    """Run a sink in this process (for benchmarks: its own process, its own GIL)."""
    import sys

    server = SmtpServer(port)
    server.sink.keep = False
    server.start()
    print("ready", flush=True)
    sys.stdin.read()
    server.stop()
    print(server.sink.count, flush=True)


if __name__ == "__main__":
    import sys

    serve_until_stdin_closes(int(sys.argv[1]))
