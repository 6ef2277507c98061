"""Request bodies over their route's limit are refused before the app reads them (413).

FastAPI reads a body whole before it checks anything else (a JSON body before the token),
so a body of hundreds of megabytes would sit in the server's memory before its 401. This
pure ASGI middleware stands in front of the app:

* a declared Content-Length over the limit is answered at once, nothing read (a client
  that sent ``Expect: 100-continue`` is not even asked for the body);
* a body without one (chunked) is counted as it streams in, and answered the moment it
  passes the limit: the app has been given at most the limit, and gets no more.

The answer closes the connection, so the rest is never read; so does any answer the app
gives before a chunked body has ended (else the server would read on, and drop, a body
that need never end).

The limit is ``[web] body_max_kb`` for everything but draft uploads (POST
/api/v1/plans/{key}/drafts), which may carry ``[drafts] max_mb`` and the form's own lines;
the upload route keeps its own checks as well. The API answers problem+json, the pages a
line of text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from napflow.web.api_drafts import _FORM_OVERHEAD
from napflow.web.http import API_PREFIX, problem

_CLOSE = (b"connection", b"close")
#: the routes that take a draft upload: the API's (the web pages have none)
_DRAFT_UPLOAD = re.compile(rf"^{re.escape(API_PREFIX)}/plans/[^/]+/drafts/?$")


class BodyTooLarge(Exception):
    """A streamed body passed its limit: the 413 has been sent; the app's reading ends."""


@dataclass(frozen=True)
class BodyLimits:
    """The limits of request bodies, from the settings: KiB for all, MiB for drafts."""

    body_max_kb: int
    draft_max_mb: int

    def of(self, method: str, path: str) -> tuple[int, str]:
        """Return the most bytes a request's body may have, and the sentence refusing more."""
        if method == "POST" and _DRAFT_UPLOAD.match(path):
            return (self.draft_max_mb << 20) + _FORM_OVERHEAD, (
                f"The upload is larger than the {self.draft_max_mb} MB a draft may have "
                "([drafts] max_mb); nothing was stored."
            )
        return self.body_max_kb << 10, (
            f"The request body is larger than the {self.body_max_kb} KB this server "
            "accepts ([web] body_max_kb); nothing was done."
        )


def _declared_length(scope: Scope) -> int | None:
    """Return the request's Content-Length (the largest, were there several), or None."""
    found = [
        int(value)
        for name, value in scope["headers"]
        if name == b"content-length" and value.strip().isdigit()
    ]
    return max(found) if found else None


def refusal(path: str, message: str) -> Response:
    """Return the 413 for a request to ``path``: problem+json for the API, else text.

    It closes the connection: the rest of the body is never read.
    """
    if path.startswith(API_PREFIX):
        response: Response = problem(413, message)
    else:
        response = PlainTextResponse(f"413 Content too large: {message}\n", status_code=413)
    response.headers["Connection"] = "close"
    return response


class LimitBodies:
    """ASGI middleware refusing a request body over its route's limit (see the module)."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 413 for a body over the limit, else pass the request on, its body counted."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, message = self.limits.of(scope["method"], scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await refusal(scope["path"], message)(scope, receive, send)
            return
        guard = _Guard(scope, receive, send, limit, message)
        try:
            await self.app(scope, guard.receive, guard.send)
        except BodyTooLarge:
            if not guard.answered:
                raise  # the app had begun its own answer: it cannot be a 413 now


class _Guard:
    """One request's receive and send, counting the body as it comes."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, limit: int, message: str):
        self.scope, self._receive, self._send = scope, receive, send
        self.limit, self.message = limit, message
        self.read = 0
        # a chunked body (no declared length) not read to its end by the app
        self.unended = any(name == b"transfer-encoding" for name, _ in scope["headers"])
        self.started = False  # the app has begun its answer
        self.answered = False  # the 413 went out: whatever the app sends now is dropped
        self.over = False

    async def receive(self) -> Message:
        if self.over:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.read += len(message.get("body", b""))
            if self.read > self.limit:
                self.over = True
                if not self.started:
                    await refusal(self.scope["path"], self.message)(
                        self.scope, self._receive, self._send
                    )
                    self.answered = True
                raise BodyTooLarge(self.message)
            if not message.get("more_body", False):
                self.unended = False
        return message

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        if message["type"] == "http.response.start":
            self.started = True
            headers = list(message.get("headers", []))
            if self.unended and _CLOSE not in headers:
                # answered before the body ended: the rest is not read
                message = {**message, "headers": [*headers, _CLOSE]}
        await self._send(message)
