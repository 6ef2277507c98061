"""HTTP helpers shared by pages and the API: statuses for napflow's errors, problem+json."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from napflow.errors import (
    ConfigError,
    ConflictError,
    InputError,
    NapflowError,
    NotAllowedError,
    NotAuthenticatedError,
    NotFoundError,
    RateLimitedError,
)

API_PREFIX = "/api/v1"
_TITLES = {
    400: "Bad request",
    401: "Not logged in",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    422: "Refused",
    429: "Too many attempts",
    503: "Service unavailable",
}


def status_for(exc: NapflowError) -> int:
    """Return the HTTP status for an error: 4xx for the caller's (the CLI's exit 1 and 2).

    A ConfigError is the server's own setup failing (a database it cannot use, rights it
    lacks): 503, not the caller's fault.
    """
    for kind, status in (
        (ConfigError, 503),
        (NotAuthenticatedError, 401),
        (RateLimitedError, 429),
        (NotFoundError, 404),
        (NotAllowedError, 403),
        (ConflictError, 409),
        (InputError, 400),
    ):
        if isinstance(exc, kind):
            return status
    return 422


def problem(status: int, detail: str) -> JSONResponse:
    """Return an RFC 9457 problem+json response with the CLI's message as its detail."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {
            "type": "about:blank",
            "title": _TITLES.get(status, "Error"),
            "status": status,
            "detail": detail,
        },
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )
