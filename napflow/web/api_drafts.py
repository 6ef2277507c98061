"""The API's drafts: upload a version of a plan's document, list them, download, compare.

An upload is a multipart form (``file``, and an optional ``note``) as a browser or
``curl -F file=@nap-v2.docx`` sends it. A body whose declared length is over the limit is
refused before it is read; the form's file is spooled to disk by the server, never held in
memory, and the service stops reading it at the limit in any case.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from napflow import services
from napflow.errors import InputError
from napflow.services.drafts import DraftView
from napflow.web.api_common import Caller, Cursor, Limit, Page, page_of, rt_of
from napflow.web.downloads import draft_download

log = logging.getLogger("napflow.web")

DRAFTS: list[str | Enum] = ["drafts"]
router = APIRouter()
Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="A draft's version: 1, 2, ...")]
#: room for the form's own lines besides the file
_FORM_OVERHEAD = 64 * 1024


class DraftPage(Page[DraftView]):
    """One page of a plan's drafts, oldest first."""


class Run(BaseModel):
    """One run of a word comparison: text kept (equal), inserted or deleted."""

    op: str = Field(examples=["insert"])
    text: str


class DraftComparison(BaseModel):
    """What changed from one draft to another, word by word (``reason`` when it cannot)."""

    old: DraftView
    new: DraftView
    inserted: int | None = Field(description="Words inserted; null when not comparable.")
    deleted: int | None = Field(description="Words deleted; null when not comparable.")
    changes: list[Run] = Field(description="The runs of the new text with the old marked.")
    reason: str | None = Field(description="Why the drafts cannot be compared, if so.")


_UPLOAD = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "note": {"type": "string", "maxLength": 100_000},
                    },
                }
            }
        },
    }
}


@router.get("/plans/{key}/drafts", response_model=DraftPage, summary="Drafts", tags=DRAFTS)
def list_drafts(
    request: Request, who: Caller, key: str, limit: Limit = 100, cursor: Cursor = None
) -> Page[DraftView]:
    """Return the plan's drafts, oldest first: version, file, size, type, digest, who, when."""
    found = services.drafts.list_drafts(rt_of(request), key, viewer=who)
    return page_of(
        found,
        listing="drafts",
        position=lambda d: (d.version,),
        shape=(int,),
        limit=limit,
        cursor=cursor,
    )


@router.post(
    "/plans/{key}/drafts",
    response_model=DraftView,
    status_code=201,
    summary="Add a draft",
    tags=DRAFTS,
    openapi_extra=_UPLOAD,
)
async def add_draft(request: Request, who: Caller, key: str) -> DraftView | Response:
    """Add the uploaded file as the plan's next draft, as the caller.

    The workflow says who may and in which states; a file whose name claims another type
    than its bytes, an empty one or one over the limit is refused and nothing is stored.
    """
    rt = rt_of(request)
    limit = rt.settings.draft_max_mb << 20
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        # without a declared length the server would take the whole body before napflow
        # could stop it at the limit
        raise InputError("Send the upload with its Content-Length (not chunked).")
    if int(declared) > limit + _FORM_OVERHEAD:
        raise InputError(
            f"The upload is larger than the {rt.settings.draft_max_mb} MB a draft may have "
            "([drafts] max_mb); nothing was stored."
        )
    try:
        async with request.form(max_files=1, max_fields=2) as form:
            upload, note = form.get("file"), form.get("note")
            if not isinstance(upload, UploadFile):
                raise InputError(
                    "Send the draft as a multipart form with the file in a field 'file'."
                )
            if note is not None and not isinstance(note, str):
                raise InputError("The 'note' field is text, not a file.")
            return await run_in_threadpool(
                services.drafts.add_draft, rt, key, upload.file, upload.filename or "", who, note
            )
    except ClientDisconnect:
        # the client went away before the whole file arrived: nothing was stored (the
        # part received is in a temporary file the form closes), and nobody is left to
        # answer; a line in the log, not an error with a traceback
        log.info("upload of a draft of %s by %s ended: the client disconnected", key, who)
        return Response(status_code=400)


@router.get(
    "/plans/{key}/drafts/{version}",
    summary="Download a draft",
    tags=DRAFTS,
    response_class=Response,
    responses={
        200: {
            "description": "The draft's bytes, as an attachment.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
def download_draft(request: Request, who: Caller, key: str, version: Version) -> Response:
    """Return draft ``version``'s bytes, checked against its sealed digest, as an attachment."""
    return draft_download(rt_of(request), key, version, who)


@router.get(
    "/plans/{key}/drafts/{old}/diff/{new}",
    response_model=DraftComparison,
    summary="Compare two drafts",
    tags=DRAFTS,
)
def compare_drafts(
    request: Request, who: Caller, key: str, old: Version, new: Version
) -> DraftComparison:
    """Return what changed from draft ``old`` to ``new``, word by word, or why it cannot."""
    found = services.drafts.diff_drafts(rt_of(request), key, old, new, viewer=who)
    comparison = found.comparison
    return DraftComparison(
        old=found.old,
        new=found.new,
        inserted=comparison.inserted if comparison else None,
        deleted=comparison.deleted if comparison else None,
        changes=[Run(op=c.op, text=c.text) for c in comparison.changes] if comparison else [],
        reason=found.reason,
    )
