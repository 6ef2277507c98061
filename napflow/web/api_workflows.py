"""The API's workflows: the files napflow has, their versions, and moving plans between them.

Any caller may read the workflows and their versions (the plans counted on each are those
the caller sees); moving plans to another version is an administrator's change, as
``napflow workflow migrate --as`` the caller.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from napflow import services
from napflow.services.workflow_versions import Migration, VersionInfo, WorkflowDiff
from napflow.services.workflows import WorkflowEntry
from napflow.web.api_common import Caller, Cursor, Limit, Page, page_of, rt_of

WORKFLOWS: list[str | Enum] = ["workflows"]
router = APIRouter()

Name = Annotated[str, Path(max_length=64, description="The workflow's name, e.g. nap.")]
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]


class WorkflowPage(Page[WorkflowEntry]):
    """The workflow files napflow found, by name (one page: there are few)."""


class VersionPage(Page[VersionInfo]):
    """A workflow's versions, oldest first (one page)."""


class MigrateRequest(BaseModel):
    """Which plans to move to which version, and how to map the states it lacks."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "to": 2,
                    "all": True,
                    "map_state": {"working_group_review": "wg_review"},
                    "dry_run": True,
                }
            ]
        }
    )

    to: int = Field(ge=1, le=2**31 - 1, description="The version to move to.")
    map_state: dict[str, str] = Field(
        default_factory=dict,
        description="State of the old version -> state of the new one, for states it lacks.",
    )
    plan: str | None = Field(default=None, max_length=64, description="Move this plan.")
    all: bool = Field(default=False, description="Move every plan of the workflow not on it.")
    dry_run: bool = Field(default=False, description="Write nothing; say what would happen.")


@router.get("/workflows", response_model=WorkflowPage, summary="Workflows", tags=WORKFLOWS)
def workflows(
    request: Request, who: Caller, limit: Limit = 100, cursor: Cursor = None
) -> Page[WorkflowEntry]:
    """Every workflow file napflow found, valid or not (with its problems), by name."""
    return page_of(
        services.workflows.list_workflows(rt_of(request)),
        listing="workflows",
        position=lambda w: (w.name,),
        shape=(str,),
        limit=limit,
        cursor=cursor,
    )


@router.get(
    "/workflows/{name}/versions",
    response_model=VersionPage,
    summary="A workflow's versions",
    tags=WORKFLOWS,
)
def versions(
    request: Request, who: Caller, name: Name, limit: Limit = 100, cursor: Cursor = None
) -> Page[VersionInfo]:
    """Return the versions stored and the file's, with the plans the caller sees on each."""
    return page_of(
        services.workflow_versions.list_versions(rt_of(request), name, viewer=who),
        listing="versions",
        position=lambda v: (v.version,),
        shape=(int,),
        limit=limit,
        cursor=cursor,
    )


@router.get(
    "/workflows/{name}/diff/{old}/{new}",
    response_model=WorkflowDiff,
    summary="What changed between two versions",
    tags=WORKFLOWS,
)
def diff(request: Request, who: Caller, name: Name, old: Version, new: Version) -> WorkflowDiff:
    """Return the states, transitions, roles, conditions, deadlines, notices that changed."""
    return services.workflow_versions.diff_versions(rt_of(request), name, old, new)


@router.post(
    "/workflows/{name}/migrate",
    response_model=Migration,
    summary="Move plans to another version",
    tags=WORKFLOWS,
)
def migrate(request: Request, who: Caller, name: Name, body: MigrateRequest) -> Migration:
    """Move ``plan`` (or ``all`` plans) to version ``to``, each with a sealed record.

    Administrators only. A plan whose state the version lacks and ``map_state`` does not
    map is listed in ``refused`` with the reason; the others move.
    """
    return services.workflow_versions.migrate_plans(
        rt_of(request),
        name,
        body.to,
        mapping=body.map_state,
        key=body.plan,
        every=body.all,
        dry_run=body.dry_run,
        actor=who,
    )
