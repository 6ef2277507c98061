"""The FastAPI application: pages, the JSON API, and how napflow's errors become responses.

Endpoints are plain (not async) functions: the services block on the database, so they run
in the server's thread pool, each thread on its own held connections (napflow.storage.database).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from napflow import services
from napflow.errors import NapflowError
from napflow.i18n import N_
from napflow.runtime import Runtime
from napflow.web import admin, api, pages, portfolio
from napflow.web.api_docs import add_api_docs
from napflow.web.http import API_PREFIX, document_problems, problem, status_for
from napflow.web.language import RequestLanguage
from napflow.web.limits import BodyLimits, LimitBodies
from napflow.web.proxies import ForwardedHeaders
from napflow.web.reads import OneViewerPerRead

HERE = Path(__file__).parent
#: on every response: no framing, no type sniffing, no scripts at all, no referrer off-site
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}


log = logging.getLogger("napflow.web")
#: what a visitor is told when the server's own setup fails (the details go to the log)
UNAVAILABLE = N_(
    "napflow cannot serve this now: a problem in its own setup, logged for its operators. "
    "Try again later."
)


def create_app(rt: Runtime) -> FastAPI:
    """Return the web app serving ``rt``'s database."""
    app = FastAPI(
        title="napflow",
        summary="Carry UNSCR 1540 National Implementation Action Plans through approval.",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served by add_api_docs, without a CDN
        redoc_url=None,
        lifespan=_lifespan(rt),
    )
    app.state.rt = rt
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(admin.router)
    app.include_router(portfolio.router)
    add_api_docs(app, f"{API_PREFIX}/docs")
    document_problems(app)

    @app.exception_handler(NapflowError)
    def napflow_error(request: Request, exc: NapflowError) -> Response:
        status, message, data = status_for(exc), exc.message, exc.data()
        if status == 503:
            # the server's own setup failed: the details (database address, the driver's
            # words) are for its operators' log, not for whoever asked
            log.error("%s %s: %s", request.method, request.url.path, message)
            message, data = UNAVAILABLE, {}  # English for the API; pages translate it
        if request.url.path.startswith(API_PREFIX):
            return problem(status, message, data)
        return pages.error_page(request, status, message)

    @app.exception_handler(RequestValidationError)
    def bad_request(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid')}" if where else N_("invalid request")
        if request.url.path.startswith(API_PREFIX):
            return problem(422, message)
        return pages.error_page(request, 400, message)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(API_PREFIX):
            return problem(exc.status_code, str(exc.detail))
        message = N_("There is no such page.") if exc.status_code == 404 else str(exc.detail)
        return pages.error_page(request, exc.status_code, message)

    # a body over its route's limit is refused before anything reads it; added before the
    # security headers, so that they wrap its 413 too
    limits = BodyLimits(rt.settings.body_max_kb, rt.settings.draft_max_mb)
    app.add_middleware(LimitBodies, limits=limits)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)  # the API docs page has its own policy
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    # a request that only reads checks who is asking once, not once per service it calls
    app.add_middleware(OneViewerPerRead)
    # every message of a request, a refusal's or a 404's too, in the language it asks for
    app.add_middleware(RequestLanguage)
    # outermost: the client of a request through a trusted proxy is known before all else
    app.add_middleware(ForwardedHeaders, trusted_proxies=rt.settings.trusted_proxies)
    return app


def _lifespan(rt: Runtime) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # before the first request: a login for an unknown address must take as long as
        # any other, from the very first one
        services.accounts.prepare_logins()
        yield
        rt.db.dispose()

    return lifespan
