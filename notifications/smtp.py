"""The SMTP transport: one server, one connection kept open across messages.

Every way a send can fail maps to a temporary failure (connection refused or dropped,
time-out, a 4xx answer: try again later) or a permanent one (a 5xx answer: give up and
show the server's words). A module of its own so that a process that writes .eml files
never loads smtplib and ssl.
"""

from __future__ import annotations

import smtplib
import ssl

from napflow.notifications.mailer import Outgoing, PermanentFailure, TemporaryFailure


class SmtpTransport:
    """Sends through one SMTP server, reusing the connection between messages."""

    def __init__(
        self,
        host: str,
        port: int,
        security: str = "none",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30,
        ca_file: str | None = None,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout
        self.ca_file = ca_file  # a private CA for an internal relay; else the system's
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host,
                self.port,
                timeout=self.timeout,
                context=ssl.create_default_context(cafile=self.ca_file),
            )
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.security == "starttls":
                conn.starttls(context=ssl.create_default_context(cafile=self.ca_file))
        if self.username:
            conn.login(self.username, self.password or "")
        return conn

    def send(self, message: Outgoing) -> None:
        """Send one message; raise TemporaryFailure or PermanentFailure with the answer."""
        try:
            if self._conn is None:
                self._conn = self._connect()
            refused = self._conn.sendmail(message.sender, list(message.recipients), message.data)
        except smtplib.SMTPRecipientsRefused as exc:
            self._reset()
            code, answer = next(iter(exc.recipients.values()))
            raise _failure(code, answer) from exc
        except smtplib.SMTPResponseException as exc:
            self._reset()
            raise _failure(exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._reset()
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from exc
        except ValueError as exc:  # smtplib will not put this address on the wire, ever
            self._reset()
            raise PermanentFailure(f"refused by the mail client: {exc}") from exc
        if refused:
            code, answer = next(iter(refused.values()))
            raise _failure(code, answer)

    def _reset(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()

    def close(self) -> None:
        """Say goodbye to the server."""
        self._reset()


#: 5xx answers about our own setup, not the message: TLS or authentication required (530,
#: 538) or refused (535). Every message would fail alike; retrying gives time to fix it.
SETUP_CODES = frozenset({530, 535, 538})


def _failure(code: int, answer: bytes | str) -> TemporaryFailure | PermanentFailure:
    text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)
    words = f"{code} {' '.join(text.split())}"
    if 500 <= code < 600 and code not in SETUP_CODES:
        return PermanentFailure(words)
    return TemporaryFailure(words)
