"""The API's caller: who they are, their site grants, and their own API tokens.

A token is shown once, when it is made (only its hash is kept); the list shows each one's
id, label and last use. Anyone may list, make and revoke their own tokens, and only
those: someone else's token id is answered as one that does not exist (404).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from napflow import inputs, services
from napflow.services import accounts
from napflow.services.access import GRANTS
from napflow.services.work import MyWork
from napflow.web.api_common import Caller, Cursor, Limit, Page, page_of, rt_of

ME: list[str | Enum] = ["me"]
TOKENS: list[str | Enum] = ["tokens"]
router = APIRouter()


class SiteGrant(BaseModel):
    """One site grant: admin, auditor or reader, of one country or of all ("*")."""

    grant: str = Field(examples=["reader"])
    country: str = Field(description='ISO 3166-1 alpha-3, or "*" for every country.')


class Me(BaseModel):
    """The caller, as registered, and the site grants they hold."""

    email: str
    name: str
    timezone: str | None = Field(description="Their own zone; null: each plan's.")
    admin: bool = Field(description="Whether they hold the admin site grant.")
    grants: list[SiteGrant]


class TokenRequest(BaseModel):
    """A new API token of the caller's, with a label to tell it by."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"label": "nightly report"}]})

    label: str = Field(default="api", max_length=1000)


class NewToken(BaseModel):
    """A new API token: shown this once, never again (only its hash is kept)."""

    token: str = Field(description="Send as `Authorization: Bearer TOKEN`.")
    email: str
    label: str


class TokenPage(Page[accounts.TokenView]):
    """One page of the caller's API tokens, oldest first."""


@router.get("/me", response_model=Me, summary="Who I am", tags=ME)
def me(request: Request, who: Caller) -> Me:
    """Return the caller, as registered, and their site grants."""
    rt = rt_of(request)
    person = services.people.show_person(rt, who, actor=who)
    viewer = services.access.viewer(rt, who)
    rank = {grant: n for n, grant in enumerate(GRANTS)}
    held = sorted(viewer.grants, key=lambda g: (rank.get(g[0], len(rank)), g[1]))
    return Me(
        email=person.email,
        name=person.name,
        timezone=person.timezone,
        admin=viewer.is_admin,
        grants=[SiteGrant(grant=grant, country=country) for grant, country in held],
    )


@router.get("/me/work", response_model=MyWork, summary="My work", tags=ME)
def my_work(request: Request, who: Caller) -> MyWork:
    """Return what the caller can do now, what is coming, and what their plans wait on.

    From the plans the caller holds a role on: each with the actions their roles allow now
    (not the ways out every state offers, such as withdrawing), the deadline driving it and,
    for the plans they coordinate or chair, what the plan waits for and on whom; overdue
    plans first. Titles are in English (the API's language).
    """
    return services.work.my_work(rt_of(request), who)


@router.get("/me/tokens", response_model=TokenPage, summary="My API tokens", tags=TOKENS)
def my_tokens(
    request: Request, who: Caller, limit: Limit = 100, cursor: Cursor = None
) -> Page[accounts.TokenView]:
    """Return the caller's API tokens, oldest first (never the tokens themselves)."""
    return page_of(
        accounts.list_api_tokens(rt_of(request), who),
        listing="tokens",
        position=lambda t: (t.id,),
        shape=(int,),
        limit=limit,
        cursor=cursor,
    )


@router.post(
    "/me/tokens",
    response_model=NewToken,
    status_code=201,
    summary="Make an API token",
    tags=TOKENS,
)
def make_token(request: Request, who: Caller, body: TokenRequest) -> NewToken:
    """Make an API token of the caller's; the answer shows it, this once."""
    token = accounts.create_api_token(rt_of(request), who, body.label)
    return NewToken(token=token, email=who, label=inputs.token_label(body.label))


@router.delete(
    "/me/tokens/{token_id}",
    response_model=accounts.TokenView,
    summary="Revoke an API token",
    tags=TOKENS,
)
def revoke_token(
    request: Request, who: Caller, token_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> accounts.TokenView:
    """Revoke one of the caller's API tokens: requests carrying it are refused from now on."""
    return accounts.revoke_api_token(rt_of(request), token_id, owner=who)
