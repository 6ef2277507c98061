"""The .eml file transport: each message a file in a folder (the embedded default).

Nothing to install and nothing to run: the mails napflow would send are there to read.
The SMTP transport is :mod:`napflow.notifications.smtp`.
"""

from __future__ import annotations

import hashlib
from datetime import UTC
from pathlib import Path

from napflow.notifications.mailer import Outgoing, TemporaryFailure


class FileTransport:
    """Writes each message to ``directory`` as ``<Date header>-<hash of Message-ID>.eml``.

    Files sort by the time they were sent. A message sent again (the one in flight when a
    dispatcher was killed) gets a second file with the later date, as a mailbox would show
    it twice; within the same second it overwrites the first.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: Outgoing) -> None:
        """Write the message atomically (a temporary file renamed into place)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256(message.message_id.encode()).hexdigest()[:16]
            stamp = message.date.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
            target = self.directory / f"{stamp}-{digest}.eml"
            partial = target.with_suffix(".part")
            partial.write_bytes(message.data)
            partial.replace(target)
        except OSError as exc:
            raise TemporaryFailure(f"cannot write to {self.directory}: {exc.strerror}") from exc

    def close(self) -> None:
        """Nothing to release."""
