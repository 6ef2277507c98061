"""Serving a draft's bytes as a download, safely, for the pages and the API alike."""

from __future__ import annotations

import tempfile
from urllib.parse import quote

from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from napflow import services
from napflow.runtime import Runtime

#: the types a draft is served as; anything else goes out as bytes to save, never to show
_SERVED_AS = frozenset(
    {
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.oasis.opendocument.text",
        "text/plain",
        "text/markdown",
    }
)


def attachment(file_name: str) -> str:
    """Return a Content-Disposition that saves a file as ``file_name``, never shows it.

    The plain ``filename`` keeps only letters, digits and ``.-_`` (a quote, a semicolon or
    a line break cannot end the header early); ``filename*`` carries the name itself,
    percent-encoded as RFC 6266 says.
    """
    plain = "".join(c if c.isascii() and (c.isalnum() or c in ".-_") else "_" for c in file_name)
    return (
        f"attachment; filename=\"{plain or 'draft'}\"; filename*=UTF-8''{quote(file_name, safe='')}"
    )


def draft_download(rt: Runtime, key: str, version: int, viewer: str | None) -> Response:
    """Return a draft as a download: spooled to an unnamed file, then streamed from it.

    The bytes are checked against their sealed digest as they are read from the database;
    they are served as an attachment, as text for text, and never as something to render.
    """
    found, chunks = services.drafts.read_draft(rt, key, version, viewer=viewer)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response, once sent
    try:
        for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    media = found.media_type if found.media_type in _SERVED_AS else "application/octet-stream"
    if media.startswith("text/"):
        media = "text/plain; charset=utf-8"  # shown as text at most, never as markup
    return StreamingResponse(
        iter(lambda: spool.read(1 << 20), b""),
        media_type=media,
        headers={
            "Content-Disposition": attachment(found.file_name),
            "Content-Length": str(found.size),
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, no-store",
        },
        background=BackgroundTask(spool.close),
    )
