"""The plans list: search, filters, sorting and pages over the plans a person sees.

Built for tens of thousands of plans: the filters, the sort, the count and the page's ids
are one query (the search compares the folded text stored with each plan,
napflow.storage.text); the page's 50 plans are then read and completed (the deadline driving
each, when each entered its state, the person's roles) with one query each, never one per
plan. Everything is named as people read it: state titles, country names in the reader's
language, role titles; ids only in the links.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    case,
    func,
    literal,
    not_,
    or_,
    select,
)

from napflow import inputs
from napflow.errors import InputError, NapflowError
from napflow.i18n import _
from napflow.ledger.record import STATE_KINDS
from napflow.runtime import Runtime
from napflow.services._visibility import Viewer, load_viewer, visible_clause
from napflow.services.deadlines import DeadlineView, list_deadline_rows
from napflow.storage.schema import Status, deadlines, history, people, plans, roles
from napflow.storage.text import fold

#: rows on a page of the list
PER_PAGE = 50
#: how the list can be sorted: next deadline (overdue first), last change, country, key
SORTS = ("deadline", "changed", "country", "key")


@dataclass(frozen=True)
class PlanQuery:
    """What the person asked the list for; every field may be left empty."""

    text: str = ""
    #: a state id (the form offers titles)
    state: str = ""
    #: an ISO 3166-1 alpha-3 code (the form offers names)
    country: str = ""
    overdue: bool = False
    #: a role the person holds on the plan
    role: str = ""
    sort: str = "deadline"
    page: int = 1


@dataclass(frozen=True)
class ListedPlan:
    """One row of the list."""

    key: str
    title: str
    country: str
    country_name: str
    workflow: str
    state: str
    state_title: str
    timezone: str
    #: the deadline driving the plan: a missed one, else the soonest ahead (None: none)
    deadline: DeadlineView | None
    overdue: bool
    #: when the plan entered its current state, and when anything last changed on it
    entered_at: datetime
    changed_at: datetime
    #: the titles of the roles the person holds on it
    roles: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PlanListPage:
    """A page of the list, how many plans match in all, and what the filters can offer."""

    plans: list[ListedPlan]
    total: int
    page: int
    pages: int
    query: PlanQuery
    #: (id, title) of every state, (code, name) of every country the person sees plans in,
    #: (id, title) of every role: the choices of the filters
    states: list[tuple[str, str]]
    countries: list[tuple[str, str]]
    roles: list[tuple[str, str]]


def find_plans(rt: Runtime, viewer: str, query: PlanQuery) -> PlanListPage:
    """Return the page of plans ``viewer`` sees that ``query`` asks for.

    A filter naming an unknown state, role or sort is refused with the values accepted;
    a page past the last is answered with the last.
    """
    states, role_titles = _states(rt), _roles(rt)
    _check(query, states, role_titles)
    with rt.db.read() as conn:
        who = load_viewer(conn, viewer)
        matching = _matching(rt, conn, who, query)
        page = max(1, query.page)
        rows, total = _page(rt, conn, matching, query.sort, page)
        if not rows:  # no plan matches, or the page is past the last: answer with the last
            total = conn.execute(select(func.count()).select_from(matching.subquery())).scalar_one()
            page = max(1, -(-total // PER_PAGE))
            rows, total = _page(rt, conn, matching, query.sort, page) if total else ([], 0)
        pages = max(1, -(-total // PER_PAGE))
        ids = [r.id for r in rows]
        held = _held(conn, ids, who)
        due = list_deadline_rows(rt, conn, ids, where=deadlines.c.id.in_(_driving(rt, ids)))
        countries = sorted(
            (inputs.country_name(c), c)
            for c in conn.execute(
                select(plans.c.country).where(visible_clause(who)).distinct()
            ).scalars()
        )
    listed = [_listed(rt, r, due.get(r.id, []), held) for r in rows]
    return PlanListPage(
        plans=listed,
        total=total,
        page=page,
        pages=pages,
        query=query,
        states=states,
        countries=[(code, name) for name, code in countries],
        roles=role_titles,
    )


def _check(
    query: PlanQuery, states: list[tuple[str, str]], role_choices: list[tuple[str, str]]
) -> None:
    if query.sort not in SORTS:
        raise InputError(
            _("There is no sort %(sort)r; sorts: %(sorts)s.")
            % {"sort": query.sort, "sorts": ", ".join(SORTS)}
        )
    if query.state and query.state not in {s for s, _t in states}:
        raise InputError(
            _("There is no state %(state)r; states: %(states)s.")
            % {"state": query.state, "states": ", ".join(s for s, _t in states)}
        )
    if query.role and query.role not in {r for r, _t in role_choices}:
        raise InputError(
            _("There is no role %(role)r; roles: %(roles)s.")
            % {"role": query.role, "roles": ", ".join(r for r, _t in role_choices)}
        )
    if query.country:
        inputs.country_code(query.country)


def _states(rt: Runtime) -> list[tuple[str, str]]:
    """Return (id, title) of every state of every workflow, in workflow order."""
    found: dict[str, str] = {}
    for name in rt.catalog.names():
        definition = rt.catalog.get(name)
        for state in definition.states:
            found.setdefault(state.name, definition.state_title(state.name))
    return list(found.items())


def _roles(rt: Runtime) -> list[tuple[str, str]]:
    found: dict[str, str] = {}
    for name in rt.catalog.names():
        definition = rt.catalog.get(name)
        for role in definition.role_names:
            found.setdefault(role, definition.role_title(role))
    return list(found.items())


def _matching(rt: Runtime, conn: Connection, who: Viewer, query: PlanQuery) -> Select[Any]:
    """Return the plans (their rows) the filters and the search keep."""
    # what the sorts need; the page's plans are read whole once picked
    found = select(
        plans.c.id, plans.c.key, plans.c.country, plans.c.workflow, plans.c.updated_at
    ).where(visible_clause(who))
    if query.state:
        found = found.where(plans.c.state == query.state)
    if query.country:
        found = found.where(plans.c.country == inputs.country_code(query.country))
    if query.overdue:
        found = found.where(plans.c.id.in_(_missed(rt)))
    if query.role:
        found = found.where(
            plans.c.id.in_(
                select(roles.c.plan_id).where(
                    roles.c.person_id == who.person_id, roles.c.role == query.role
                )
            )
        )
    text = " ".join(query.text.split())
    if text:
        said: list[ColumnElement[bool]] = [plans.c.search.contains(fold(text), autoescape=True)]
        named = inputs.countries_named(text)
        if named:
            said.append(plans.c.country.in_(sorted(named)))
        found = found.where(or_(*said))
    return found


def _missed(rt: Runtime) -> Select[Any]:
    """Return the ids of plans with a deadline missed: one that drives its plan, overdue."""
    return (
        select(deadlines.c.plan_id)
        .join(plans, plans.c.id == deadlines.c.plan_id)
        .where(_drives(rt, plans.c.workflow), deadlines.c.due_at < rt.clock.now())
    )


def _is_event(rt: Runtime, workflow: ColumnElement[str]) -> ColumnElement[bool]:
    """Return the condition that a deadline of a plan of ``workflow`` is a session."""
    events = [
        and_(workflow == name, deadlines.c.kind.in_(sorted(kinds)))
        for name in rt.catalog.names()
        if (kinds := {k.name for k in rt.catalog.get(name).deadlines if k.type == "event"})
    ]
    return or_(*events) if events else literal(False)


def _page(
    rt: Runtime, conn: Connection, matching: Select[Any], sort: str, page: int
) -> tuple[list[Any], int]:
    """Return page ``page`` of the plans ``matching`` keeps (their rows) and how many it keeps.

    One query sorts and counts what matches and picks the page's ids; another reads those
    plans whole (sorting ten thousand whole rows would carry every column through the sort),
    each with ``entered_at``: when it entered its current state.
    """
    picked = conn.execute(
        _sorted(rt, matching, sort).limit(PER_PAGE).offset((page - 1) * PER_PAGE)
    ).all()
    if not picked:
        return [], 0
    whole = select(plans, _entered_at().label("entered_at"))
    rows = {r.id: r for r in conn.execute(whole.where(plans.c.id.in_([p.id for p in picked])))}
    return [rows[p.id] for p in picked], picked[0].total


def _sorted(rt: Runtime, matching: Select[Any], sort: str) -> Select[Any]:
    found = matching.subquery()
    query = select(found.c.id, func.count().over().label("total"))
    if sort == "changed":
        return query.order_by(found.c.updated_at.desc(), found.c.key)
    if sort == "key":
        return query.order_by(found.c.key)
    if sort == "country":
        names = {c: inputs.country_name(c) for c in inputs.country_codes()}
        rank = {code: n for n, code in enumerate(sorted(names, key=lambda c: names[c].casefold()))}
        return query.order_by(case(rank, value=found.c.country, else_=len(rank)), found.c.key)
    # the next deadline: a missed one first (it is the earliest), none last
    nearest = (
        select(func.min(deadlines.c.due_at))
        .where(deadlines.c.plan_id == found.c.id, _drives(rt, found.c.workflow))
        .scalar_subquery()
    )
    # the next deadline worked out once per plan, then sorted on
    timed = select(found.c.id, found.c.key, nearest.label("due")).subquery()
    return select(timed.c.id, func.count().over().label("total")).order_by(
        timed.c.due.is_(None), timed.c.due, timed.c.key
    )


def _drives(rt: Runtime, workflow: ColumnElement[str]) -> ColumnElement[bool]:
    """Return the condition that a deadline (of a plan of ``workflow``) can drive its plan.

    Pending, and ahead or missed; not a session whose days are past (it took place). The
    earliest such is the plan's next deadline: a missed one if any (it is the earliest).
    """
    ahead = or_(deadlines.c.due_at >= rt.clock.now(), not_(_is_event(rt, workflow)))
    return and_(deadlines.c.status == Status.PENDING, ahead)


def _driving(rt: Runtime, ids: list[int]) -> Select[Any]:
    """Return the id of the deadline driving each of the plans ``ids`` (those that have one)."""
    first = (
        select(deadlines.c.id)
        .where(deadlines.c.plan_id == plans.c.id, _drives(rt, plans.c.workflow))
        .order_by(deadlines.c.due_at, deadlines.c.id)
        .limit(1)
        .scalar_subquery()
    )
    return select(first).where(plans.c.id.in_(ids))


def _entered_at() -> Any:
    """Return when a plan entered its current state: its last state-changing record's time.

    Read backwards from the plan's last record: a few records, not its whole history.
    """
    return (
        select(history.c.at)
        .where(history.c.plan_id == plans.c.id, history.c.kind.in_(sorted(STATE_KINDS)))
        .order_by(history.c.seq.desc())
        .limit(1)
        .scalar_subquery()
    )


def _held(conn: Connection, ids: list[int], who: Viewer) -> dict[int, set[str]]:
    found: dict[int, set[str]] = defaultdict(set)
    if ids and who.person_id is not None:
        for row in conn.execute(
            select(roles.c.plan_id, roles.c.role)
            .join(people, people.c.id == roles.c.person_id)
            .where(roles.c.plan_id.in_(ids), roles.c.person_id == who.person_id)
        ):
            found[row.plan_id].add(row.role)
    return found


def _listed(
    rt: Runtime,
    row: Any,
    due: list[DeadlineView],
    held: dict[int, set[str]],
) -> ListedPlan:
    try:
        definition = rt.catalog.get(row.workflow, row.workflow_version)
        state_title = definition.state_title(row.state)
        titles = [definition.role_title(r) for r in sorted(held.get(row.id, ()))]
    except NapflowError:  # a workflow napflow no longer has: its ids are all there is
        state_title, titles = row.state, sorted(held.get(row.id, ()))
    deadline = due[0] if due else None  # the one driving the plan (_driving), if any
    return ListedPlan(
        key=row.key,
        title=row.title,
        country=row.country,
        country_name=inputs.country_name(row.country),
        workflow=row.workflow,
        state=row.state,
        state_title=state_title,
        timezone=row.timezone,
        deadline=deadline,
        overdue=deadline is not None and deadline.status == "missed",
        entered_at=row.entered_at or row.created_at,
        changed_at=row.updated_at,
        roles=titles,
    )
