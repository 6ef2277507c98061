"""Workflow services: list, show and check workflow files; what a plan's workflow offers now.

The interfaces learn about workflows only through these: titles and diagrams for people,
the summary of a checked file, the actions a person can take on a plan with their titles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from napflow.errors import NapflowError
from napflow.i18n import N_, _
from napflow.ledger.record import Kind
from napflow.runtime import Runtime
from napflow.services.history import HistoryRecord
from napflow.workflow.definition import WorkflowDefinition, load_definition
from napflow.workflow.diagram_svg import workflow_svg
from napflow.workflow.diagram_text import mermaid, text_outline


@dataclass(frozen=True)
class WorkflowEntry:
    """One workflow file napflow found: its name and title, or the problems it has."""

    name: str
    version: int | None
    title: str | None
    file: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class CheckedWorkflow:
    """A workflow file that passed every check, summed up."""

    file_name: str
    name: str
    version: int
    states: int
    transitions: int
    roles: int
    #: locale -> the titles the file does not translate to it (for each locale it uses)
    untranslated: dict[str, list[str]]
    definition: WorkflowDefinition

    @property
    def partial(self) -> dict[str, list[str]]:
        """Return the locales only partly translated, with the titles each misses."""
        return {locale: missing for locale, missing in self.untranslated.items() if missing}


def list_workflows(rt: Runtime) -> list[WorkflowEntry]:
    """Return every workflow file found, valid or not, by name."""
    return [
        WorkflowEntry(
            e.name,
            e.definition.version if e.definition else None,
            e.definition.title_in() if e.definition else None,
            str(e.path),
            e.problems,
        )
        for e in rt.catalog.entries()
    ]


def describe_workflow(rt: Runtime, name: str, fmt: str = "text", version: int | None = None) -> str:
    """Return workflow ``name``'s states and transitions as text or a Mermaid diagram.

    ``version``: a version the database stores (None: the file's).
    """
    definition = rt.catalog.get(name, version)
    return mermaid(definition) if fmt == "mermaid" else text_outline(definition)


def workflow_diagram(
    rt: Runtime, name: str, current: str | None = None, version: int | None = None
) -> str:
    """Return workflow ``name`` (at ``version``; None: the file's) as an SVG diagram.

    State ``current`` is highlighted.
    """
    return workflow_svg(rt.catalog.get(name, version), current)


def check_workflow_file(path: Path) -> CheckedWorkflow:
    """Validate a workflow file; raise InvalidDefinition listing every problem found."""
    definition = load_definition(path)
    return CheckedWorkflow(
        path.name,
        definition.name,
        definition.version,
        len(definition.states),
        len(definition.transitions),
        len(definition.roles),
        definition.untranslated_titles(),
        definition,
    )


def state_title(rt: Runtime, workflow: str, state: str, version: int | None = None) -> str:
    """Return the title of ``state`` in ``workflow`` at ``version`` (None: the file's).

    Or say the workflow has no such state.
    """
    return rt.catalog.get(workflow, version).state_title(state)


def state_titles(rt: Runtime) -> dict[str, str]:
    """Return each state name's title in the reader's language (the first workflow's)."""
    titles: dict[str, str] = {}
    for name in rt.catalog.names():
        for state in rt.catalog.get(name).states:
            titles.setdefault(state.name, state.title_in())
    return titles


def deadline_titles(rt: Runtime, workflow: str, version: int | None = None) -> dict[str, str]:
    """Return each deadline kind's title -> the title in the reader's language."""
    return {k.title: k.title_in() for k in rt.catalog.get(workflow, version).deadlines}


def state_order(rt: Runtime) -> list[str]:
    """Return the state names of every workflow, each workflow's in file order."""
    return [s for n in rt.catalog.names() for s in rt.catalog.get(n).state_names]


#: what a record that is no action is, as the history names it
_KIND_WORDS = {
    Kind.CREATED: N_("Plan created"),
    Kind.ROLE_GRANTED: N_("Role granted"),
    Kind.ROLE_REVOKED: N_("Role revoked"),
    Kind.PLAN_EDITED: N_("Plan edited"),
    Kind.DRAFT_ADDED: N_("Draft added"),
    Kind.DEADLINE_ADDED: N_("Deadline added"),
    Kind.DEADLINE_MOVED: N_("Deadline moved"),
    Kind.DEADLINE_CANCELLED: N_("Deadline cancelled"),
    Kind.DEADLINE_MET: N_("Deadline met"),
    Kind.MAIL_SENT: N_("Mail sent"),
    Kind.MAIL_FAILED: N_("Mail failed"),
    Kind.MAIL_REQUEUED: N_("Mail sent again"),
}
#: the records a history's "actions only" keeps: what people did to move the plan
ACTION_KINDS = frozenset({Kind.CREATED, Kind.ACTION, Kind.TRANSITION})


@dataclass(frozen=True)
class HistoryLine:
    """A history record as people read it: titles and names, not workflow ids or addresses."""

    seq: int
    at: datetime
    #: the action's title, or what the record is ("Deadline moved")
    what: str
    #: the states' titles, for a record that moved the plan
    moved: tuple[str, str] | None
    #: who (their name; None: the operator or napflow itself) and in which role (its title)
    who: str | None
    role: str | None
    is_action: bool


def record_definition(rt: Runtime, workflow: str, version: int) -> WorkflowDefinition | None:
    """Return the workflow version a record was made under; None if napflow lacks it."""
    try:
        return rt.catalog.get(workflow, version)
    except NapflowError:
        return None


def history_lines(
    rt: Runtime, records: list[HistoryRecord], names: Mapping[str, str]
) -> list[HistoryLine]:
    """Return ``records`` in words: action and state titles, people's names.

    Each record is put in the words of the workflow version it was made under (a plan
    moved to a newer version keeps its earlier records' titles); a record made under a
    version napflow does not have keeps its ids.
    """
    lines = []
    for record in records:
        definition = record_definition(rt, record.workflow, record.workflow_version)
        if definition is None:
            lines.append(_bare_line(record, names))
            continue
        state = record.from_state or ""
        moved = None
        if record.kind == Kind.TRANSITION and record.from_state and record.to_state:
            moved = (definition.state_title(record.from_state), _state(definition, record))
        elif record.kind == Kind.MIGRATED and record.from_state and record.to_state:
            before = record_definition(rt, record.workflow, migrated_from(record))
            came = before.state_title(record.from_state) if before else record.from_state
            moved = (came, _state(definition, record))
        if record.kind == Kind.MIGRATED:
            what = _("Moved from version %(old)d to version %(new)d of the workflow") % {
                "old": migrated_from(record),
                "new": record.workflow_version,
            }
        elif record.trigger:
            found = definition.transition_for(state, record.trigger)
            what = found.title_in() if found is not None else record.trigger
        else:
            what = _(_KIND_WORDS[record.kind]) if record.kind in _KIND_WORDS else record.kind
        lines.append(
            HistoryLine(
                seq=record.seq,
                at=record.at,
                what=what,
                moved=moved,
                who=names.get(record.actor, record.actor) if record.actor else None,
                role=definition.role_title(record.role) if record.role else None,
                is_action=record.kind in ACTION_KINDS,
            )
        )
    return lines


def migrated_from(record: HistoryRecord) -> int:
    """Return the workflow version a migration record moved its plan from."""
    payload = record.payload or {}
    version = payload.get("from_version")
    return version if isinstance(version, int) else record.workflow_version


def _bare_line(record: HistoryRecord, names: Mapping[str, str]) -> HistoryLine:
    """Return ``record`` with its ids for words (its workflow version is not there)."""
    moved = None
    if record.kind in (Kind.TRANSITION, Kind.MIGRATED) and record.from_state and record.to_state:
        moved = (record.from_state, record.to_state)
    return HistoryLine(
        seq=record.seq,
        at=record.at,
        what=record.trigger or record.kind,
        moved=moved,
        who=names.get(record.actor, record.actor) if record.actor else None,
        role=record.role,
        is_action=record.kind in ACTION_KINDS,
    )


def _state(definition: WorkflowDefinition, record: HistoryRecord) -> str:
    return definition.state_title(record.to_state or "")
