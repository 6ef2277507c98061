"""My work: what a person can do now, what is coming for them, and what their plans wait on.

Read from the plans the person holds a role on (only those: a site grant lets one read more
plans, not act on them). For each plan in a state that is not final:

- **act now**: the actions their roles let them take now, with the deadline driving the plan
  (the soonest pending one, a missed one first). An action every state offers (the NAP's
  withdrawal, ``source = "*"``) is a way out, not work: it is left out.
- **coming**: nothing to do yet, but a deadline whose reminders name one of their roles
  falls due within ``COMING_DAYS`` (a review window closing, a session coming).
- **watching**: for plans they coordinate or chair, what the plan waits for before it can
  move on (its transitions to a state further from the first; a return is a choice, not a
  wait), and on whom ("2 of 4 endorsed; waiting for Davron Saidov, Nurullo Kurbonov",
  "no approver is assigned"), overdue plans first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from napflow import inputs
from napflow.errors import NapflowError
from napflow.i18n import _, format_list, ngettext
from napflow.runtime import Runtime
from napflow.services._plan_facts import actions_for, plan_facts
from napflow.services._visibility import load_viewer
from napflow.services.deadlines import DeadlineView, list_deadlines
from napflow.services.people import names_of
from napflow.storage.schema import people, plans, roles
from napflow.workflow.conditions import Quorum, RoleAssigned
from napflow.workflow.definition import TransitionDef, WorkflowDefinition
from napflow.workflow.facts import PlanFacts

#: how far ahead a deadline makes a plan "coming" for the people its reminders name
COMING_DAYS = 21


@dataclass(frozen=True)
class ActionLink:
    """An action the person can take now: its trigger (for the form) and its title."""

    trigger: str
    title: str


@dataclass(frozen=True)
class WorkItem:
    """One plan as the person's work lists it."""

    plan: str
    title: str
    country_name: str
    state: str
    state_title: str
    #: the person's roles on the plan
    roles: list[str]
    #: what they can do now (empty in "coming" and often in "watching")
    actions: list[ActionLink] = field(default_factory=list)
    #: the deadline driving the plan: a missed one, else the soonest pending one
    deadline: DeadlineView | None = None
    overdue: bool = False
    #: what the plan waits for before it moves on, and on whom (plans they watch)
    waiting: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MyWork:
    """A person's work: what they can do now, what is coming, what their plans wait on."""

    act_now: list[WorkItem]
    coming: list[WorkItem]
    watching: list[WorkItem]


def my_work(rt: Runtime, email: str) -> MyWork:
    """Return ``email``'s work on the plans they hold a role on (refused if unknown or gone)."""
    email = inputs.email_address(email)
    now = rt.clock.now()
    with rt.db.read() as conn:
        load_viewer(conn, email)  # a stranger or someone deactivated is refused here
        mine = _my_plans(conn, email)
        found = []
        for plan, held in mine:
            try:
                engine = rt.catalog.engine(plan.workflow, plan.workflow_version)
            except NapflowError:  # a workflow napflow no longer has: nothing to judge by
                continue
            definition = engine.definition
            if plan.state not in definition.state_names or definition.is_final(plan.state):
                continue
            facts = plan_facts(conn, engine, plan)
            found.append((plan, held, definition, actions_for(engine, facts, email), facts))
    holders = {e for *_rest, facts in found for who in facts.holders.values() for e in who}
    names = names_of(rt, holders)
    act_now, coming, watching = [], [], []
    for plan, held, definition, allowed, facts in found:
        pending = list_deadlines(rt, plan.key, pending_only=True, viewer=email)
        deadline = _driving(pending)
        item = {
            "plan": plan.key,
            "title": plan.title,
            "country_name": inputs.country_name(plan.country),
            "state": plan.state,
            "state_title": definition.state_title(plan.state),
            "roles": [definition.role_title(r) for r in sorted(held)],
            "deadline": deadline,
            "overdue": deadline is not None and deadline.status == "missed",
        }
        actions = [
            ActionLink(t, definition.action_title(t, plan.state))
            for t in allowed
            if not definition.is_way_out(plan.state, t)
        ]
        if actions:
            act_now.append(WorkItem(**item, actions=actions))
        elif _coming_for(definition, pending, held, now):
            coming.append(WorkItem(**item))
        # the plan's contacts (its workflow's `contacts`: the NAP's coordinator and
        # working-group chair) watch what it waits for
        if held & set(definition.contact_roles):
            waiting = _waiting(definition, plan.state, facts, names)
            watching.append(WorkItem(**item, actions=actions, waiting=waiting))
    return MyWork(
        act_now=sorted(act_now, key=_urgency),
        coming=sorted(coming, key=_urgency),
        watching=sorted(watching, key=_urgency),
    )


def _my_plans(conn: Connection, email: str) -> list[tuple[Any, set[str]]]:
    """Return each plan ``email`` holds a role on, with those roles."""
    rows = conn.execute(
        select(plans, roles.c.role.label("held_role"))
        .join(roles, roles.c.plan_id == plans.c.id)
        .join(people, people.c.id == roles.c.person_id)
        .where(people.c.email == email)
        .order_by(plans.c.key)
    ).all()
    held: dict[int, set[str]] = defaultdict(set)
    found: dict[int, Any] = {}
    for row in rows:
        found.setdefault(row.id, row)
        held[row.id].add(row.held_role)
    return [(row, held[plan_id]) for plan_id, row in found.items()]


def _driving(pending: list[DeadlineView]) -> DeadlineView | None:
    """Return the deadline that drives a plan: a missed one first, else the soonest."""
    missed = [d for d in pending if d.status == "missed"]
    ahead = [d for d in pending if d.status == "pending"]  # not a session that took place
    found = missed or ahead
    return found[0] if found else None


def _urgency(item: WorkItem) -> tuple[bool, datetime, str]:
    """Sort key: overdue first, then the soonest deadline, then by key."""
    due = item.deadline.due_at if item.deadline is not None else datetime.max.replace(tzinfo=None)
    return (not item.overdue, due.replace(tzinfo=None), item.plan)


def _coming_for(
    definition: WorkflowDefinition, pending: list[DeadlineView], held: set[str], now: datetime
) -> bool:
    """Tell whether a deadline whose reminders name one of ``held`` falls due soon."""
    soon = now + timedelta(days=COMING_DAYS)
    for deadline in pending:
        kind = definition.deadline_kind(deadline.kind)
        if kind is None or not now <= deadline.due_at <= soon:
            continue
        if any(held & set(rung.to) for rung in kind.rungs):
            return True
    return False


def _waiting(
    definition: WorkflowDefinition, state: str, facts: PlanFacts, names: dict[str, str]
) -> list[str]:
    """Say what the plan waits for before it can leave ``state``, and on whom."""
    said: list[str] = []
    depth = definition.depths
    for transition in definition.transitions_from(state):
        if transition.stays or definition.is_way_out(state, transition.trigger):
            continue
        if depth.get(transition.dest or "", 0) <= depth.get(state, 0):
            continue  # a return for changes is a choice, not what the plan waits for
        for line in _waits_on(definition, transition, facts, names):
            if line not in said:
                said.append(line)
    return said


def _waits_on(
    definition: WorkflowDefinition,
    transition: TransitionDef,
    facts: PlanFacts,
    names: dict[str, str],
) -> list[str]:
    """Say what ``transition`` waits for: a quorum, a role nobody holds, or its actors."""
    lines = []
    for condition in transition.conditions:
        if isinstance(condition, RoleAssigned) and not facts.holders_of(condition.role):
            role = definition.role_title(condition.role)
            lines.append(_("nobody holds the role %(role)s yet") % {"role": role})
        if isinstance(condition, Quorum):
            holders = facts.holders_of(condition.role)
            done = holders & facts.actors_of(condition.trigger)
            missing = sorted(names.get(e, e) for e in holders - done)
            action = definition.action_title(condition.trigger, facts.state)
            if not holders:
                role = definition.role_title(condition.role)
                lines.append(_("nobody holds the role %(role)s yet") % {"role": role})
            elif missing and (
                (needed := condition.needed(len(holders))) == "all" or len(done) < int(needed)
            ):
                lines.append(
                    ngettext(
                        '%(done)d of %(count)d did "%(action)s"; waiting for %(names)s',
                        '%(done)d of %(count)d did "%(action)s"; waiting for %(names)s',
                        len(holders),
                    )
                    % {
                        "done": len(done),
                        "count": len(holders),
                        "action": action,
                        "names": format_list(missing),
                    }
                )
    if lines:
        return lines
    # nothing to wait for but a decision: name who can take it
    actors = sorted({names.get(e, e) for role in transition.roles for e in facts.holders_of(role)})
    if not actors:  # nobody could take it: a role to grant first
        titles = format_list([definition.role_title(r) for r in transition.roles], style="or")
        return [_("nobody holds the role %(role)s yet") % {"role": titles}]
    return [
        _('"%(action)s" is up to %(names)s')
        % {"action": transition.title_in(), "names": format_list(actors)}
    ]
