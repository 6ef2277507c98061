"""The JSON API under /api/v1: the same services and messages as the CLI.

Every request carries an API token (``Authorization: Bearer TOKEN``, from
``napflow token create EMAIL``); actions are taken as the token's owner, whose roles the
service checks. Refusals are problem+json with the CLI's one-line message: 401 without a
token, 403 not allowed, 404 unknown, 409 conflict, 400/422 bad input; what the error
carries besides (the reasons and the triggers allowed now, the version found, what was not
found) comes as extension members, documented by the Problem schema (napflow.web.http).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from napflow import services
from napflow.inputs import parse_day
from napflow.runtime import Runtime
from napflow.services import accounts
from napflow.web.http import API_PREFIX, problem_responses

_bearer = HTTPBearer(auto_error=False, description="A token from `napflow token create EMAIL`.")
_ERRORS = problem_responses(
    {
        400: "Bad input",
        401: "No valid API token",
        403: "Not allowed: the reasons, and what is allowed now",
        404: "No such plan",
        409: "The plan changed: the version found",
        422: "Refused",
    }
)
router = APIRouter(prefix=API_PREFIX, responses=_ERRORS)


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """Return the e-mail address of the token's owner, or refuse with 401."""
    return accounts.token_owner(_rt(request), credentials.credentials if credentials else None)


Caller = Annotated[str, Depends(caller)]


class AdvanceRequest(BaseModel):
    """Fire a trigger as the token's owner."""

    trigger: str = Field(max_length=200, examples=["endorse"])
    comment: str | None = Field(default=None, max_length=100_000)
    expect_version: int | None = Field(default=None, ge=1, le=2**31)


@router.get("/plans", response_model=list[services.PlanView], summary="Every plan")
def list_plans(request: Request, who: Caller, state: str | None = None) -> list[services.PlanView]:
    """Every plan (or those in ``state``), by key."""
    return services.list_plans(_rt(request), state)


@router.get("/plans/{key}", response_model=services.PlanView, summary="One plan")
def show_plan(request: Request, who: Caller, key: str) -> services.PlanView:
    """One plan, with its roles and the triggers the caller may fire now."""
    return services.show_plan(_rt(request), key, who)


@router.post(
    "/plans/{key}/advance", response_model=services.AdvanceResult, summary="Fire a trigger"
)
def advance(
    request: Request, who: Caller, key: str, body: AdvanceRequest
) -> services.AdvanceResult:
    """Fire ``trigger`` on the plan as the caller; 409 if ``expect_version`` is stale."""
    return services.advance_plan(
        _rt(request), key, body.trigger, who, body.comment, body.expect_version
    )


@router.get("/plans/{key}/history", response_model=list[services.HistoryRecord], summary="History")
def history(
    request: Request,
    who: Caller,
    key: str,
    since: Annotated[str | None, Query(description="YYYY-MM-DD, the plan's zone")] = None,
    until: Annotated[str | None, Query(description="YYYY-MM-DD, included")] = None,
) -> list[services.HistoryRecord]:
    """Return the plan's history records, oldest first (UTC times)."""
    found = services.plan_history(
        _rt(request),
        key,
        parse_day(since, "since") if since is not None else None,
        parse_day(until, "until") if until is not None else None,
    )
    return found.records


@router.get(
    "/plans/{key}/deadlines", response_model=list[services.DeadlineView], summary="Deadlines"
)
def deadlines(request: Request, who: Caller, key: str) -> list[services.DeadlineView]:
    """Return the plan's deadlines, soonest first."""
    return services.list_deadlines(_rt(request), key)


@router.get(
    "/plans/{key}/reminders", response_model=list[services.MessageView], summary="Reminders"
)
def reminders(
    request: Request, who: Caller, key: str, status: str | None = None
) -> list[services.MessageView]:
    """Return the plan's reminders, escalations and notices (of one status)."""
    return services.list_messages(_rt(request), status, key)
