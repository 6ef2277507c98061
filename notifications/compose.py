"""Building the e-mail: headers people can trust, a text and an HTML part, an .ics file.

Messages are built with the classic ``email.mime`` classes and RFC 2047 ``Header``s. The
modern API was both slow here (a third of a dispatch) and, on Python 3.11, dropped the space
between two encoded words when folding ("плана — Душанбе" arrived as "плана— Душанбе"). The
classic API leaves header safety to us: every header value below is folded to one line
first, so nothing typed by a user (or written straight into the database) can end a header
and start another.
"""

from __future__ import annotations

import secrets
from base64 import b64encode, encodebytes
from datetime import datetime
from email.charset import BASE64, Charset
from email.encoders import encode_base64
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.utils import format_datetime, formataddr
from urllib.parse import quote

from napflow.notifications.mailer import Attachment, Rendered

CRLF = "\r\n"
_UTF8 = Charset("utf-8")
_UTF8.header_encoding = BASE64
_UTF8.body_encoding = BASE64  # safe on 7-bit hops; quoted-printable cost 5x more to encode


def one_line(value: str) -> str:
    """Fold any whitespace, CR and LF included, to single spaces: safe in a header."""
    return " ".join(value.split())


def _address(name: str, email: str) -> str:
    # A non-ASCII name becomes one base64 RFC 2047 word: readers split a display name
    # across several words with stray spaces; base64 keeps even a 200-letter Cyrillic
    # name well under SMTP's 998-character line.
    return formataddr((one_line(name), one_line(email)), charset=_UTF8)


#: UTF-8 bytes per encoded word: 56 base64 characters, a 68-character word, so that even
#: "Subject: " and the first word stay within the 78 characters RFC 5322 asks of a line
_WORD_BYTES = 42


def _header(name: str, value: str) -> str:
    """Return a header's value as it goes on the wire: as it is if ASCII, else RFC 2047.

    Non-ASCII text becomes base64 encoded words of whole characters, one per folded line.
    The same as ``email.header.Header(...).encode()`` gives, written here because that
    fits each word by trial, character by character, and cost a Russian subject 90 us
    (a fifth of composing the mail); this cuts the UTF-8 bytes at character boundaries.
    """
    text = one_line(value)
    if text.isascii():
        return text
    data = text.encode("utf-8")
    words = []
    start = 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # inside a character
            end -= 1
        words.append(f"=?utf-8?b?{b64encode(data[start:end]).decode('ascii')}?=")
        start = end
    return (CRLF + " ").join(words)


def _boundary() -> str:
    # "=_" cannot occur in base64 parts, so no scan of the parts is
    # needed to make sure the boundary is not in them (the generator's scan is costly)
    return f"=_napflow_{secrets.token_hex(12)}"


def _text(body: str, subtype: str) -> MIMEBase:
    """Return a UTF-8 text part, base64 (safe on 7-bit hops; quoted-printable cost 5x more).

    The headers are written here and the body encoded with ``base64.encodebytes``: the
    body, charset and encoding ``set_payload(body, charset)`` gives (its headers in
    another order), for half its cost (the charset machinery was a tenth of composing a
    mail).
    """
    part = MIMEBase("text", subtype, charset="utf-8")
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(encodebytes(body.encode("utf-8")).decode("ascii"))
    return part


def _disposition(name: str) -> str:
    """Return an attachment's Content-Disposition, its file name safe on the wire.

    A short plain-ASCII name is quoted as is. Any other (non-ASCII, quotes, "=?" that a
    reader would decode as an encoded word, or long) is written per RFC 2231: percent-
    encoded UTF-8 in continuations of at most 60 characters, one per line, so that even
    a 255-letter Cyrillic name keeps every line far below SMTP's 998 characters.
    """
    name = one_line(name)
    plain = name.isascii() and len(name) <= 60 and "=?" not in name
    if plain and not any(c in name for c in '"\\;'):
        return f'attachment; filename="{name}"'
    encoded = quote(name, safe="")
    pieces = []
    while encoded:
        cut = min(60, len(encoded))
        if cut < len(encoded) and "%" in encoded[cut - 2 : cut]:  # never split a %XX
            cut = encoded.rindex("%", cut - 2, cut)
        pieces.append(encoded[:cut])
        encoded = encoded[cut:]
    pieces[0] = "utf-8''" + pieces[0]  # the charset (and no language) go first
    lines = [f"filename*{n}*={piece}" for n, piece in enumerate(pieces)]
    return "attachment;\n " + ";\n ".join(lines)


def _attachment(file: Attachment) -> MIMEBase:
    main, _, sub = file.media_type.partition("/")
    part = MIMEBase(main or "application", sub or "octet-stream")
    part.set_payload(file.data)
    encode_base64(part)
    # the name was checked for path parts and control characters when it was uploaded
    part["Content-Disposition"] = _disposition(file.name)
    return part


def build_message(
    rendered: Rendered,
    *,
    sender: tuple[str, str],
    recipient: tuple[str, str],
    message_id: str,
    date: datetime,
    ics: bytes | None = None,
    headers: dict[str, str] | None = None,
    files: tuple[Attachment, ...] = (),
    reply_to: tuple[tuple[str, str], ...] = (),
) -> Message:
    """Return the finished message; ``sender``, ``recipient`` and ``reply_to`` (name, address).

    ``files`` are attached after the calendar file, if any (a draft the mail is about).
    """
    body = MIMEMultipart("alternative", boundary=_boundary())
    body.attach(_text(rendered.text, "plain"))
    body.attach(_text(rendered.html, "html"))
    if ics is None and not files:
        message: Message = body
    else:
        message = MIMEMultipart("mixed", boundary=_boundary())
        message.attach(body)
    if ics is not None:
        method = "CANCEL" if b"METHOD:CANCEL" in ics else "PUBLISH"
        calendar = MIMEBase("text", "calendar", method=method, charset="utf-8")
        calendar.set_payload(ics.decode("utf-8"), _UTF8)
        calendar.add_header("Content-Disposition", "attachment", filename="deadline.ics")
        message.attach(calendar)
    for file in files:
        message.attach(_attachment(file))
    message["From"] = _address(*sender)
    message["To"] = _address(*recipient)
    if reply_to:
        message["Reply-To"] = ", ".join(_address(*who) for who in reply_to)
    message["Subject"] = _header("Subject", rendered.subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = one_line(message_id)
    message["Auto-Submitted"] = "auto-generated"
    for name, value in (headers or {}).items():
        message[name] = _header(name, value)
    return message
