"""Requests that only read: who is asking is read once per request, not once per service.

A page calls several services (the plan page about ten), and each checks who is asking
(the person and their site grants) before it reads anything. Within a GET or HEAD the
answer cannot change, so this ASGI middleware lets the services remember it for the rest
of the request (napflow.services.access.remembered_viewers); each service still checks
every plan it reads against it. A request that may change something (any other method)
reads it afresh in every service, as before.
"""

from __future__ import annotations

from typing import Any

from napflow.services.access import remembered_viewers

#: the methods that change nothing
READS = frozenset({"GET", "HEAD"})


class OneViewerPerRead:
    """ASGI middleware: within a GET or HEAD request, who is asking is read once."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Pass the request on, remembering its viewer if it only reads."""
        if scope["type"] != "http" or scope["method"] not in READS:
            await self.app(scope, receive, send)
            return
        with remembered_viewers():
            await self.app(scope, receive, send)
