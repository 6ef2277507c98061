"""HTTP helpers shared by pages and the API: statuses for napflow's errors, problem+json."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

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
    413: "Content too large",
    422: "Refused",
    429: "Too many attempts",
    503: "Service unavailable",
}
PROBLEM_JSON = "application/problem+json"


def _no_null_defaults(schema: dict[str, Any]) -> None:
    # an extension member is left out when unknown, never null: no "default": null either
    for member in schema.get("properties", {}).values():
        if "default" in member and member["default"] is None:
            del member["default"]


class Problem(BaseModel):
    """An RFC 9457 problem: the CLI's message as its detail, and what the error carries.

    The extension members beside the standard ones are there when the error knows them: a
    refusal its reasons and what is allowed now, a conflict the version it found, a 404
    what was missing.
    """

    model_config = ConfigDict(json_schema_extra=_no_null_defaults)

    type: str = Field(examples=["about:blank"])
    title: str = Field(examples=["Not allowed"])
    status: int = Field(examples=[403])
    detail: str = Field(description="The same sentence the CLI prints.")
    key: str | int | SkipJsonSchema[None] = Field(
        default=None,
        description="The plan the request was about; on a 404, what was not found by.",
        examples=["TJK-2015"],
    )
    missing: str | SkipJsonSchema[None] = Field(
        default=None,
        description="On a 404: what was not found (plan, person, deadline, api_token, grant).",
        examples=["plan"],
    )
    trigger: str | SkipJsonSchema[None] = Field(
        default=None, description="The trigger that was refused."
    )
    actor: str | SkipJsonSchema[None] = Field(default=None, description="Who was refused.")
    state: str | SkipJsonSchema[None] = Field(
        default=None, description="The state the plan is in now."
    )
    reasons: list[str] | SkipJsonSchema[None] = Field(
        default=None,
        description="Every unmet condition or role rule that refused the action.",
        examples=[["every wg_member must endorse first; waiting for m2@example.org"]],
    )
    allowed: list[str] | SkipJsonSchema[None] = Field(
        default=None,
        description="The triggers the caller may fire now (empty: none).",
        examples=[["endorse", "request_changes"]],
    )
    expected_version: int | SkipJsonSchema[None] = Field(
        default=None, description="On a 409: the version the request expected."
    )
    found_version: int | SkipJsonSchema[None] = Field(
        default=None, description="On a 409: the version the plan is at now."
    )
    expected_draft: int | SkipJsonSchema[None] = Field(
        default=None, description="On a 409 for a newer draft: the draft the request read."
    )
    found_draft: int | SkipJsonSchema[None] = Field(
        default=None, description="On a 409 for a newer draft: the plan's current draft."
    )
    problems: list[str] | SkipJsonSchema[None] = Field(
        default=None, description="Every problem found in a workflow file."
    )


def problem_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """Return the OpenAPI ``responses`` of the statuses in ``descriptions``: Problem bodies.

    The Problem schema is added to the components by :func:`document_problems`.
    """
    body = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {status: {"description": text, "content": body} for status, text in descriptions.items()}


def document_problems(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI schema carry the Problem schema its error responses refer to."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        schema = app.openapi_schema
        if schema is None:
            schema = default()  # FastAPI's, which it keeps as app.openapi_schema
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
                Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


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


def problem(status: int, detail: str, extensions: dict[str, Any] | None = None) -> JSONResponse:
    """Return an RFC 9457 problem+json response with the CLI's message as its detail.

    ``extensions`` (an error's :meth:`~napflow.errors.NapflowError.data`) become members
    beside the standard ones.
    """
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {
            "type": "about:blank",
            "title": _TITLES.get(status, "Error"),
            "status": status,
            "detail": detail,
            **(extensions or {}),
        },
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )
