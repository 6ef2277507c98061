"""The JSON API under /api/v1: the same services and messages as the CLI.

Every request carries an API token (``Authorization: Bearer TOKEN``, from
``napflow token create EMAIL`` or ``POST /me/tokens``); actions are taken as the token's
owner, and reads show what the owner sees, checked by the services as for the CLI's
``--as``. Refusals are problem+json with the CLI's one-line message: 401 without a token,
403 not allowed, 404 unknown (or a plan the caller does not see), 409 conflict, 400/422
bad input; what the error carries besides (the reasons and the triggers allowed now, the
version found, what was not found) comes as extension members, documented by the Problem
schema (napflow.web.http). Lists come in pages (napflow.web.api_common).

This module has the plans and their roles; the other routes are in napflow.web.api_deadlines
(deadlines and reminders), napflow.web.api_admin (people and site access) and
napflow.web.api_me (the caller and their tokens) and napflow.web.api_workflows (workflows
and their versions), included below.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from napflow import services
from napflow.inputs import parse_day
from napflow.web import api_admin, api_deadlines, api_drafts, api_me, api_workflows
from napflow.web.api_common import (
    ERRORS,
    Caller,
    Cursor,
    Limit,
    Page,
    decode_cursor,
    encode_cursor,
    page_of,
    rt_of,
)
from napflow.web.http import API_PREFIX

router = APIRouter(prefix=API_PREFIX, responses=ERRORS)
PLANS: list[str | Enum] = ["plans"]


class AdvanceRequest(BaseModel):
    """Fire a trigger as the token's owner."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"trigger": "endorse", "comment": "Agreed.", "expect_version": 23}]
        }
    )

    trigger: str = Field(max_length=200, examples=["endorse"])
    comment: str | None = Field(default=None, max_length=100_000)
    expect_version: int | None = Field(default=None, ge=1, le=2**31)
    draft: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="The draft version the caller read: 409 if a newer one was added since.",
    )


class CreatePlanRequest(BaseModel):
    """A new plan, in its workflow's first state (administrators only)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "country": "TJK",
                    "title": "National Action Plan on the implementation of UNSCR 1540",
                    "timezone": "Asia/Dushanbe",
                    "key": "TJK-2026",
                }
            ]
        }
    )

    country: str = Field(max_length=100, description="ISO 3166-1 alpha-3, e.g. TJK.")
    title: str = Field(max_length=1000)
    workflow: str = Field(default="nap", max_length=200)
    timezone: str | None = Field(
        default=None, max_length=200, description="The plan's zone (IANA); else the site's."
    )
    key: str | None = Field(
        default=None, max_length=100, description="e.g. TJK-2026; else COUNTRY-N."
    )
    locale: str | None = Field(
        default=None,
        max_length=35,
        description="Language of mails to people on the plan who chose none (e.g. ru).",
    )


class EditPlanRequest(BaseModel):
    """A plan's new title, time zone or mail language (administrators only); the rest stays."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"title": "NAP 2026-2030", "timezone": "Asia/Dushanbe"}]}
    )

    title: str | None = Field(default=None, max_length=1000)
    timezone: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(
        default=None, max_length=35, description='Language of mails ("" for English).'
    )


class RoleRequest(BaseModel):
    """Give a person a role on the plan."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "m.karimova@mfa.tj.example",
                    "role": "wg_member",
                    "comment": "Nominated by the Ministry of Foreign Affairs.",
                }
            ]
        }
    )

    email: str = Field(max_length=320)
    role: str = Field(max_length=200)
    comment: str | None = Field(default=None, max_length=100_000)


class PlanPage(Page[services.PlanView]):
    """One page of plans, by key."""


class HistoryPage(Page[services.HistoryRecord]):
    """One page of a plan's history, oldest first."""


class RolePage(Page[services.RoleView]):
    """One page of who holds which role, in the workflow's role order."""


@router.get("/plans", response_model=PlanPage, summary="Plans", tags=PLANS)
def list_plans(
    request: Request,
    who: Caller,
    state: Annotated[str | None, Query(max_length=200)] = None,
    country: Annotated[
        str | None, Query(max_length=100, description="ISO 3166-1 alpha-3, e.g. TJK.")
    ] = None,
    role: Annotated[
        str | None, Query(max_length=200, description="Only plans the caller holds this role on.")
    ] = None,
    overdue: Annotated[
        bool | None,
        Query(description="true: a deadline missed and still open; false: none."),
    ] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> PlanPage:
    """Every plan the caller sees (or those the filters keep), by key."""
    after = decode_cursor("plans", cursor, (str,))
    found = services.list_plans(
        rt_of(request),
        state,
        viewer=who,
        country=country,
        role=role,
        overdue=overdue,
        after=str(after[0]) if after else None,
        limit=limit + 1,
    )
    items = found[:limit]
    more = len(found) > limit
    return PlanPage(
        items=items, next_cursor=encode_cursor("plans", [items[-1].key]) if more else None
    )


@router.post(
    "/plans",
    response_model=services.PlanView,
    status_code=201,
    summary="Create a plan",
    tags=PLANS,
)
def create_plan(request: Request, who: Caller, body: CreatePlanRequest) -> services.PlanView:
    """Create a plan in its workflow's first state (administrators only)."""
    return services.create_plan(
        rt_of(request),
        body.country,
        body.title,
        body.workflow,
        body.timezone,
        body.key,
        actor=who,
        locale=body.locale,
    )


@router.get("/plans/{key}", response_model=services.PlanView, summary="One plan", tags=PLANS)
def show_plan(request: Request, who: Caller, key: str) -> services.PlanView:
    """One plan, with its roles and the triggers the caller may fire now."""
    return services.show_plan(rt_of(request), key, who)


@router.patch("/plans/{key}", response_model=services.PlanView, summary="Edit a plan", tags=PLANS)
def edit_plan(request: Request, who: Caller, key: str, body: EditPlanRequest) -> services.PlanView:
    """Change the plan's title, time zone or mail language (administrators only), recorded."""
    return services.edit_plan(
        rt_of(request),
        key,
        title=body.title,
        timezone=body.timezone,
        locale=body.locale,
        actor=who,
    )


@router.post(
    "/plans/{key}/advance",
    response_model=services.AdvanceResult,
    summary="Fire a trigger",
    tags=PLANS,
)
def advance(
    request: Request, who: Caller, key: str, body: AdvanceRequest
) -> services.AdvanceResult:
    """Fire ``trigger`` on the plan as the caller; 409 if a newer version or draft exists.

    ``expect_version`` and ``draft`` are what the caller read; the record names the draft
    the action was taken on.
    """
    return services.advance_plan(
        rt_of(request), key, body.trigger, who, body.comment, body.expect_version, body.draft
    )


@router.get("/plans/{key}/history", response_model=HistoryPage, summary="History", tags=PLANS)
def history(
    request: Request,
    who: Caller,
    key: str,
    since: Annotated[str | None, Query(description="YYYY-MM-DD, the plan's zone")] = None,
    until: Annotated[str | None, Query(description="YYYY-MM-DD, included")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[services.HistoryRecord]:
    """Return the plan's history records, oldest first (UTC times)."""
    found = services.plan_history(
        rt_of(request),
        key,
        parse_day(since, "since") if since is not None else None,
        parse_day(until, "until") if until is not None else None,
        viewer=who,
    )
    return page_of(
        found.records,
        listing="history",
        position=lambda r: (r.seq,),
        shape=(int,),
        limit=limit,
        cursor=cursor,
    )


@router.get("/plans/{key}/roles", response_model=RolePage, summary="Roles", tags=PLANS)
def roles(
    request: Request, who: Caller, key: str, limit: Limit = 100, cursor: Cursor = None
) -> Page[services.RoleView]:
    """Who holds which role on the plan, in the workflow's role order."""
    rt = rt_of(request)
    plan = services.show_plan(rt, key, who)
    order = {
        role: n
        for n, role in enumerate(rt.catalog.get(plan.workflow, plan.workflow_version).role_names)
    }
    return page_of(
        services.list_roles(rt, key, viewer=who),
        listing="roles",
        position=lambda r: (order.get(r.role, len(order)), r.email),
        shape=(int, str),
        limit=limit,
        cursor=cursor,
    )


@router.post(
    "/plans/{key}/roles", response_model=services.RoleChange, summary="Grant a role", tags=PLANS
)
def grant_role(request: Request, who: Caller, key: str, body: RoleRequest) -> services.RoleChange:
    """Give a person a role on the plan, as the caller.

    The caller must hold a role the workflow lets manage roles, or be an administrator;
    ``changed`` is false if the person held the role already.
    """
    return services.grant_role(
        rt_of(request), key, body.email, body.role, actor=who, comment=body.comment
    )


@router.delete(
    "/plans/{key}/roles/{email}/{role}",
    response_model=services.RoleChange,
    summary="Revoke a role",
    tags=PLANS,
)
def revoke_role(
    request: Request,
    who: Caller,
    key: str,
    email: str,
    role: str,
    comment: Annotated[str | None, Query(max_length=100_000)] = None,
) -> services.RoleChange:
    """Take a role on the plan from a person, as the caller (``comment``: why).

    Who may is as for granting; ``changed`` is false if the person did not hold the role.
    """
    return services.revoke_role(rt_of(request), key, email, role, actor=who, comment=comment)


router.include_router(api_deadlines.router)
router.include_router(api_drafts.router)
router.include_router(api_admin.router)
router.include_router(api_me.router)
router.include_router(api_workflows.router)
