"""What every module of the JSON API shares: the caller, the error responses, list pages.

Every list the API answers is one page: ``{"items": [...], "next_cursor": ...}``, at most
``limit`` items (1 to 500, 100 unless asked), and ``next_cursor`` to send as ``cursor`` for
the next page (null on the last). A cursor is opaque to clients: base64url of a small JSON
naming the list it came from and the position of the last item given, so a page starts
right after it even if items were added or removed meanwhile. A cursor that is not one the
list gave is refused (400).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from napflow.errors import InputError
from napflow.runtime import Runtime
from napflow.services import accounts
from napflow.web.http import problem_responses

_bearer = HTTPBearer(auto_error=False, description="A token from `napflow token create EMAIL`.")
#: the error responses every API route may give (problem+json)
ERRORS = problem_responses(
    {
        400: "Bad input",
        401: "No valid API token",
        403: "Not allowed: the reasons, and what is allowed now",
        404: "No such plan, person, deadline or token (or one the caller does not see)",
        409: "The plan changed: the version found",
        413: "The request body is larger than the server accepts ([web] body_max_kb)",
        422: "Refused",
    }
)


def rt_of(request: Request) -> Runtime:
    """Return the runtime the app serves."""
    rt: Runtime = request.app.state.rt
    return rt


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """Return the e-mail address of the token's owner, or refuse with 401."""
    return accounts.token_owner(rt_of(request), credentials.credentials if credentials else None)


#: the caller: the e-mail address of the API token's owner (401 without a valid token)
Caller = Annotated[str, Depends(caller)]

MAX_LIMIT = 500
#: how many items a page holds at most
Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"At most this many items (1 to {MAX_LIMIT}).")
]
#: where a page starts: the ``next_cursor`` of the page before
Cursor = Annotated[
    str | None,
    Query(
        max_length=1000,
        description="The `next_cursor` of the previous page, as it came; none for the first.",
    ),
]


class CommentRequest(BaseModel):
    """Why, recorded with the change (optional)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"comment": "Agreed at the working-group meeting."}]}
    )

    comment: str | None = Field(default=None, max_length=100_000)


T = TypeVar("T")
#: one part of an item's position in its list
Part = str | int
_BAD_CURSOR = (
    "This cursor is not one this list gave; send a next_cursor back as it came, "
    "or none for the first page."
)


class Page(BaseModel, Generic[T]):
    """One page of a list, in the list's order."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Send as `cursor` for the next page; null on the last page."
    )


def encode_cursor(listing: str, after: Sequence[Part]) -> str:
    """Return the cursor of the page after the item at ``after`` in list ``listing``."""
    raw = json.dumps({"l": listing, "a": list(after)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).rstrip(b"=").decode("ascii")


def decode_cursor(
    listing: str, cursor: str | None, shape: tuple[type, ...]
) -> tuple[Part, ...] | None:
    """Return the position a cursor of ``listing`` names (None: the first page), or refuse.

    ``shape`` is the type of each part of a position (str or int).
    """
    if cursor is None:
        return None
    try:
        text = cursor.strip()
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        found = json.loads(raw.decode("utf-8"))
    except (ValueError, binascii.Error, UnicodeError):
        raise InputError(_BAD_CURSOR) from None
    if not isinstance(found, dict) or set(found) != {"l", "a"} or found["l"] != listing:
        raise InputError(_BAD_CURSOR)
    after = found["a"]
    if not isinstance(after, list) or len(after) != len(shape):
        raise InputError(_BAD_CURSOR)
    for part, kind in zip(after, shape, strict=True):
        # bool is an int to Python, never a position
        if type(part) is not kind or (isinstance(part, str) and len(part) > 400):
            raise InputError(_BAD_CURSOR)
    return tuple(after)


def page_of(
    items: Sequence[T],
    *,
    listing: str,
    position: Callable[[T], tuple[Part, ...]],
    shape: tuple[type, ...],
    limit: int,
    cursor: str | None,
) -> Page[T]:
    """Return one page of a whole list a service gave, after the cursor's position.

    ``position`` gives each item's place in the list (its sort key, unique); the items are
    put in that order (the service's own) and the page starts after the cursor's.
    """
    after = decode_cursor(listing, cursor, shape)
    ordered = sorted(items, key=position)
    if after is not None:
        ordered = [item for item in ordered if position(item) > after]
    page = ordered[:limit]
    more = len(ordered) > limit
    return Page[T](
        items=page, next_cursor=encode_cursor(listing, position(page[-1])) if more else None
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def instant(moment: datetime) -> int:
    """Return ``moment`` as whole microseconds since the epoch (UTC): a position in a list."""
    epoch = _EPOCH if moment.tzinfo is not None else _EPOCH.replace(tzinfo=None)
    return (moment - epoch) // timedelta(microseconds=1)
