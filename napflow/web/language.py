"""The language of a request: chosen on a page (a cookie), else the browser's.

:class:`RequestLanguage` sets it for the whole request, before anything else runs, so that
every message (an endpoint's, a refusal's, a 404's) is written in it; a logged-in
person's own language then replaces it once their session is read (napflow.web.pages).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import cookie_parser

from napflow import i18n
from napflow.i18n.translate import set_locale
from napflow.web.http import API_PREFIX

#: the language chosen by someone not logged in (logged in, it is their account's)
LOCALE_COOKIE = "napflow_locale"


def requested_locale(cookie: str | None, accept_language: str | None) -> str:
    """Return the language a request asks for: the chosen one, else the browser's."""
    if cookie in i18n.AVAILABLE:
        return cookie
    return i18n.negotiate(accept_language)


class RequestLanguage:
    """ASGI middleware: write each page request's text in the language it asks for.

    Not the JSON API's: scripts read its English.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Set the request's language in its context, then pass the request on."""
        if scope["type"] == "http" and not scope["path"].startswith(API_PREFIX):
            headers = {k.lower(): v for k, v in scope["headers"]}
            # the parser Starlette reads request.cookies with: any header, never an error
            cookies = cookie_parser(headers.get(b"cookie", b"").decode("latin-1"))
            chosen = cookies.get(LOCALE_COOKIE)
            header = headers.get(b"accept-language", b"").decode("latin-1")
            set_locale(requested_locale(chosen, header))
        await self.app(scope, receive, send)
