"""A plan's journey: the periods it spent in each state, its returns, its deadlines in time.

Read from what a plan's page has already loaded (its history records and its deadlines),
so drawing the journey costs no query of its own; :func:`plan_journey` loads them for a
caller that has not. A period runs from the record that put the plan in a state to the
next one (or to now); a final state is where the plan ended, not time it spent. A return
is a transition to a state earlier in the workflow's order (the NAP's "Return the draft for
changes"). Cancelled deadlines are left out; a session with an end date spans its days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time

from napflow.ledger.record import PLACING_KINDS, Kind
from napflow.runtime import Runtime
from napflow.services.deadlines import DeadlineView, list_deadlines
from napflow.services.history import HistoryRecord, plan_history
from napflow.services.workflows import record_definition
from napflow.workflow.calendar import day_end, local_to_utc
from napflow.workflow.definition import WorkflowDefinition

_DAY = 86_400.0


@dataclass(frozen=True)
class Period:
    """A stretch of time a plan spent in one state."""

    state: str
    #: the state's title in the reader's language
    title: str
    start: datetime
    end: datetime
    #: the plan is still in this state (``end`` is now)
    ongoing: bool
    #: the action that put the plan in this state (its title; None: the plan's creation)
    entered_by: str | None
    #: it was entered by a return to an earlier state
    returned: bool

    @property
    def days(self) -> float:
        """Return how long the period lasted, in days."""
        return (self.end - self.start).total_seconds() / _DAY


@dataclass(frozen=True)
class Move:
    """A transition: the plan went from one state to another."""

    at: datetime
    from_state: str
    to_state: str
    #: the action's title in the reader's language
    title: str
    #: back to a state earlier in the workflow (a return for revision)
    is_return: bool


@dataclass(frozen=True)
class JourneyDeadline:
    """A deadline placed in time: a moment (its due instant) or, for a session, a span."""

    id: int
    title: str
    location: str | None
    #: the due instant; for a span, when its first day begins (or its time on that day)
    start: datetime
    #: for a session with an end date: when its last day ends; else None
    end: datetime | None
    due_on: date
    ends_on: date | None
    #: the status scripts read (pending, met, missed, passed) and as people read it
    status: str
    status_text: str

    @property
    def missed(self) -> bool:
        """True when it fell due and is still open (not a session that took place)."""
        return self.status == "missed"


@dataclass(frozen=True)
class Journey:
    """A plan's journey through its workflow, up to ``now``."""

    key: str
    timezone: str
    created: datetime
    now: datetime
    #: when the plan entered a final state, and which (None: still under way)
    ended_at: datetime | None
    final_state: str | None
    final_title: str | None
    #: the states, in the workflow's order, the plan has been in (lanes of a picture)
    states: list[tuple[str, str]]
    periods: list[Period]
    moves: list[Move]
    deadlines: list[JourneyDeadline]

    @property
    def returns(self) -> list[Move]:
        """Return the moves back to an earlier state."""
        return [m for m in self.moves if m.is_return]

    @property
    def first(self) -> datetime:
        """Return the earliest moment the journey shows (its creation, or a deadline's)."""
        return min([self.created, *(d.start for d in self.deadlines)])

    @property
    def last(self) -> datetime:
        """Return the latest moment the journey shows (now or its end, or a deadline's)."""
        ends = [d.end or d.start for d in self.deadlines]
        return max([self.ended_at or self.now, *ends])


def journey_of(
    rt: Runtime,
    key: str,
    workflow: str,
    version: int,
    timezone: str,
    records: Iterable[HistoryRecord],
    deadlines: Iterable[DeadlineView],
) -> Journey:
    """Return the journey of plan ``key`` from its history ``records`` and ``deadlines``.

    ``workflow`` and ``version``: the plan's now. ``records`` as
    :func:`napflow.services.history.plan_history` returns them (any order, any selection
    that keeps creation, transitions and migrations); ``deadlines`` as
    :func:`napflow.services.deadlines.list_deadlines` does. No query is made. A state the
    plan was in under an earlier version of its workflow has that version's title.
    """
    definition = rt.catalog.get(workflow, version)
    order = {name: i for i, name in enumerate(definition.state_names)}
    now = rt.clock.now()
    changes = sorted((r for r in records if r.kind in PLACING_KINDS), key=lambda r: r.seq)
    # the version each change was made under (the plan's own, if napflow lacks it)
    under = [record_definition(rt, c.workflow, c.workflow_version) or definition for c in changes]
    earlier: dict[str, str] = {}  # states of earlier versions: their titles there
    for change, made in zip(changes, under, strict=True):
        state = change.to_state or ""
        if state not in order and state in made.state_names:
            earlier[state] = made.state_title(state)
    periods: list[Period] = []
    moves: list[Move] = []
    ended_at = final_state = None
    for change, following, made in zip(changes, [*changes[1:], None], under, strict=True):
        state = change.to_state or ""
        is_return = (
            change.kind == Kind.TRANSITION
            and change.from_state in order
            and state in order
            and order[state] < order[change.from_state or ""]
        )
        title = (
            made.action_title(change.trigger, change.from_state or "")
            if change.kind == Kind.TRANSITION
            else None
        )
        if change.kind == Kind.TRANSITION and change.from_state:
            moves.append(Move(change.at, change.from_state, state, title or "", is_return))
        if following is None and state in order and definition.is_final(state):
            ended_at, final_state = change.at, state
            break
        periods.append(
            Period(
                state=state,
                title=earlier.get(state) or _state_title(definition, state),
                start=change.at,
                end=following.at if following is not None else max(now, change.at),
                ongoing=following is None,
                entered_by=title,
                returned=is_return,
            )
        )
    seen = {p.state for p in periods} | ({final_state} if final_state else set())
    states = sorted(seen, key=lambda s: (order.get(s, len(order)), s))
    return Journey(
        key=key,
        timezone=timezone,
        created=changes[0].at if changes else now,
        now=now,
        ended_at=ended_at,
        final_state=final_state,
        final_title=_state_title(definition, final_state) if final_state else None,
        states=[(s, earlier.get(s) or _state_title(definition, s)) for s in states],
        periods=periods,
        moves=moves,
        deadlines=[_placed(d) for d in deadlines if d.status != "cancelled"],
    )


def plan_journey(rt: Runtime, key: str, *, viewer: str | None = None) -> Journey:
    """Return the journey of plan ``key`` as ``viewer`` (None: the operator) may see it."""
    history = plan_history(rt, key, viewer=viewer)
    deadlines = list_deadlines(rt, history.key, viewer=viewer)
    last = history.records[-1]
    return journey_of(
        rt,
        history.key,
        last.workflow,
        last.workflow_version,
        history.timezone,
        history.records,
        deadlines,
    )


def _state_title(definition: WorkflowDefinition, state: str) -> str:
    """Return a state's title; a state the workflow no longer has keeps its name."""
    return definition.state_title(state) if state in definition.state_names else state


def _placed(deadline: DeadlineView) -> JourneyDeadline:
    """Place a deadline in time: its due instant, or its days from start to end."""
    start, end = deadline.due_at, None
    if deadline.ends_on is not None:
        at = time.fromisoformat(deadline.at_time) if deadline.at_time else time(0, 0)
        start = local_to_utc(deadline.due_on, at, deadline.timezone)
        end = day_end(deadline.ends_on, deadline.timezone)
    return JourneyDeadline(
        id=deadline.id,
        title=deadline.title,
        location=deadline.location,
        start=start,
        end=end,
        due_on=deadline.due_on,
        ends_on=deadline.ends_on,
        status=deadline.status,
        status_text=deadline.status_text,
    )
