"""Building the e-mail: headers people can trust, a text and an HTML part, an .ics file.

Addresses are built with :class:`email.headerregistry.Address`, so a display name with
non-ASCII letters (Душанбе) is encoded per RFC 2047 and nothing typed by a user can add a
header: the default policy refuses CR and LF in any header value.
"""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from napflow.delivery import Rendered

#: CRLF line ends; headers folded only past 998 characters. Python 3.11's folder drops the
#: space between two RFC 2047 encoded words it splits ("плана — Душанбе" arrives as
#: "плана— Душанбе"); not folding keeps every character, at the cost of encoded words
#: longer than RFC 2047's 75, which mail programs read without complaint.
POLICY = SMTP.clone(max_line_length=998)


def _address(name: str, email: str) -> Address:
    username, _, domain = email.rpartition("@")
    return Address(display_name=" ".join(name.split()), username=username, domain=domain)


def build_message(
    rendered: Rendered,
    *,
    sender: tuple[str, str],
    recipient: tuple[str, str],
    message_id: str,
    date: datetime,
    ics: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """Return the finished message; ``sender`` and ``recipient`` are (name, address)."""
    message = EmailMessage(policy=POLICY)
    message["From"] = _address(*sender)
    message["To"] = _address(*recipient)
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    if ics is not None:
        message.add_attachment(
            ics,
            maintype="text",
            subtype="calendar",
            filename="deadline.ics",
            params={"method": "CANCEL" if b"METHOD:CANCEL" in ics else "PUBLISH"},
        )
    return message
