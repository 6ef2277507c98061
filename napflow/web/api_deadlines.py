"""The API's deadlines and reminders: list, add, move and cancel, as the caller.

Changes are made as the caller, who must hold a role the workflow lets manage deadlines
(``[workflow] manage_deadlines``; the NAP workflow's coordinator) or be an administrator;
the services check it. A deadline is cancelled with ``POST /deadlines/{id}/cancel`` (a body
may carry the comment, which a DELETE could not carry well). A deadline of a plan the
caller does not see is answered exactly as one that does not exist (404).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from napflow import services
from napflow.services.timers import TimerView
from napflow.web.api_common import (
    Caller,
    CommentRequest,
    Cursor,
    Limit,
    Page,
    instant,
    page_of,
    rt_of,
)

DEADLINES: list[str | Enum] = ["deadlines"]
router = APIRouter(tags=DEADLINES)

#: a deadline's id: the databases keep them as 32-bit integers
DeadlineId = Annotated[int, Path(ge=1, le=2**31 - 1)]
MessageId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class AddDeadlineRequest(BaseModel):
    """A deadline of a kind the plan's workflow declares, with its reminders."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "follow_up_session",
                    "date": "2026-10-08",
                    "end": "2026-10-09",
                    "time": "10:00",
                    "timezone": "Europe/Vienna",
                    "title": "OSCE follow-up session",
                    "location": "Vienna",
                    "comment": "Agreed at the working-group meeting.",
                }
            ]
        }
    )

    kind: str = Field(max_length=200, examples=["follow_up_session"])
    date: str = Field(max_length=100, description="YYYY-MM-DD, in the deadline's zone.")
    end: str | None = Field(default=None, max_length=100, description="Last day of an event.")
    time: str | None = Field(
        default=None, max_length=100, description="HH:MM; else the end of the day."
    )
    timezone: str | None = Field(
        default=None, max_length=200, description="The deadline's zone; else the plan's."
    )
    title: str | None = Field(
        default=None, max_length=1000, description="Else the kind's title from the workflow."
    )
    location: str | None = Field(default=None, max_length=1000)
    comment: str | None = Field(
        default=None, max_length=100_000, description="Why, recorded with the change."
    )


class MoveDeadlineRequest(BaseModel):
    """A pending deadline's new date (and time, end, title, location); its reminders move."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "date": "2026-10-15",
                    "end": "2026-10-16",
                    "time": "09:30",
                    "title": "OSCE follow-up session (moved)",
                    "location": "Geneva",
                    "comment": "The venue changed.",
                }
            ]
        }
    )

    date: str = Field(max_length=100, description="The new date, YYYY-MM-DD.")
    end: str | None = Field(
        default=None, max_length=100, description="A new last day; else it keeps its length."
    )
    time: str | None = Field(default=None, max_length=100, description="A new time, HH:MM.")
    title: str | None = Field(default=None, max_length=1000)
    location: str | None = Field(default=None, max_length=1000)
    comment: str | None = Field(default=None, max_length=100_000)


class DeadlinePage(Page[services.DeadlineView]):
    """One page of deadlines, soonest first."""


class MessagePage(Page[services.MessageView]):
    """One page of reminders, escalations and notices, in send order."""


def _deadline_page(
    found: list[services.DeadlineView], limit: int, cursor: str | None
) -> Page[services.DeadlineView]:
    return page_of(
        found,
        listing="deadlines",
        position=lambda d: (instant(d.due_at), d.id),
        shape=(int, int),
        limit=limit,
        cursor=cursor,
    )


def _message_page(
    found: list[services.MessageView], limit: int, cursor: str | None
) -> Page[services.MessageView]:
    return page_of(
        found,
        listing="reminders",
        position=lambda m: (instant(m.send_at), m.id),
        shape=(int, int),
        limit=limit,
        cursor=cursor,
    )


@router.get("/deadlines", response_model=DeadlinePage, summary="Every deadline")
def every_deadline(
    request: Request,
    who: Caller,
    pending: Annotated[
        bool, Query(description="Only those neither met nor cancelled (due, or missed).")
    ] = False,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[services.DeadlineView]:
    """Return the deadlines of every plan the caller sees, soonest first."""
    found = services.list_deadlines(rt_of(request), None, pending, viewer=who)
    return _deadline_page(found, limit, cursor)


@router.get("/plans/{key}/deadlines", response_model=DeadlinePage, summary="Deadlines")
def deadlines(
    request: Request,
    who: Caller,
    key: str,
    pending: Annotated[
        bool, Query(description="Only those neither met nor cancelled (due, or missed).")
    ] = False,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[services.DeadlineView]:
    """Return the plan's deadlines, soonest first."""
    found = services.list_deadlines(rt_of(request), key, pending, viewer=who)
    return _deadline_page(found, limit, cursor)


@router.post(
    "/plans/{key}/deadlines",
    response_model=services.DeadlineView,
    status_code=201,
    summary="Add a deadline",
)
def add_deadline(
    request: Request, who: Caller, key: str, body: AddDeadlineRequest
) -> services.DeadlineView:
    """Give the plan a deadline, as the caller; its reminders are queued."""
    return services.add_deadline(
        rt_of(request),
        key,
        body.kind,
        body.date,
        end=body.end,
        at=body.time,
        timezone=body.timezone,
        title=body.title,
        location=body.location,
        actor=who,
        comment=body.comment,
    )


@router.patch(
    "/deadlines/{deadline_id}", response_model=services.DeadlineView, summary="Move a deadline"
)
def move_deadline(
    request: Request, who: Caller, deadline_id: DeadlineId, body: MoveDeadlineRequest
) -> services.DeadlineView:
    """Move a pending deadline, as the caller; its reminders move with it.

    To a new date, and a new time, end, title or location if given.
    """
    return services.move_deadline(
        rt_of(request),
        deadline_id,
        body.date,
        body.time,
        end=body.end,
        title=body.title,
        location=body.location,
        actor=who,
        comment=body.comment,
    )


@router.post(
    "/deadlines/{deadline_id}/cancel",
    response_model=services.DeadlineView,
    summary="Cancel a deadline",
)
def cancel_deadline(
    request: Request,
    who: Caller,
    deadline_id: DeadlineId,
    body: Annotated[CommentRequest | None, Body()] = None,
) -> services.DeadlineView:
    """Cancel a pending deadline and every message still queued for it, as the caller."""
    comment = body.comment if body is not None else None
    return services.cancel_deadline(rt_of(request), deadline_id, actor=who, comment=comment)


class TimerPage(Page[TimerView]):
    """One page of timer transitions, soonest first."""


@router.get("/timers", response_model=TimerPage, summary="Timer transitions")
def every_timer(
    request: Request,
    who: Caller,
    status: Annotated[
        str | None,
        Query(max_length=100, description="pending (the default), fired, refused or cancelled."),
    ] = "pending",
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[TimerView]:
    """Return what napflow will do (or did) by itself on the plans the caller sees."""
    found = services.timers.list_timers(rt_of(request), status, viewer=who)
    return page_of(
        found,
        listing="timers",
        position=lambda t: (instant(t.due_at), t.id),
        shape=(int, int),
        limit=limit,
        cursor=cursor,
    )


@router.get("/reminders", response_model=MessagePage, summary="Every reminder")
def every_reminder(
    request: Request,
    who: Caller,
    status: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[services.MessageView]:
    """Return the reminders, escalations and notices of every plan the caller sees."""
    found = services.list_messages(rt_of(request), status, None, viewer=who)
    return _message_page(found, limit, cursor)


@router.get("/plans/{key}/reminders", response_model=MessagePage, summary="Reminders")
def reminders(
    request: Request,
    who: Caller,
    key: str,
    status: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[services.MessageView]:
    """Return the plan's reminders, escalations and notices (of one status)."""
    found = services.list_messages(rt_of(request), status, key, viewer=who)
    return _message_page(found, limit, cursor)


@router.post(
    "/reminders/{message_id}/retry",
    response_model=services.MessageView,
    summary="Send a failed message again",
)
def retry_reminder(
    request: Request,
    who: Caller,
    message_id: MessageId,
    body: Annotated[CommentRequest | None, Body()] = None,
) -> services.MessageView:
    """Queue a message that failed for good again (administrators), recorded in the history."""
    comment = body.comment if body is not None else None
    return services.reminders.retry_message(rt_of(request), message_id, who, comment)
