"""What a person may do on a plan now, why the rest is closed, and where the round stands.

The plan page shows every action the person holds a role for in the plan's state: those
open now as buttons, the others disabled with the reason in people's words ("needs
"Endorse" from everyone in the role Working-group member: 2 missing (Davron Saidov,
Nurullo Kurbonov)"), never the command line's. An action that undoes work (a return for
changes, a withdrawal) is marked destructive, with a sentence saying what it will do, so
the page can ask for a confirmation first. The round shows, for each quorum the state
waits on, who has acted and who has not, by name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from napflow import inputs
from napflow.i18n import _
from napflow.ledger.record import Kind
from napflow.runtime import Runtime
from napflow.services._plan_facts import plan_facts
from napflow.services._visibility import plan_for
from napflow.storage.schema import history, people
from napflow.workflow.conditions import CommentRequired, Quorum
from napflow.workflow.definition import TransitionDef, WorkflowDefinition
from napflow.workflow.facts import PlanFacts


@dataclass(frozen=True)
class ActionChoice:
    """An action a person holds a role for in the plan's state, as the page offers it."""

    trigger: str
    title: str
    needs_comment: bool
    #: open now; else ``reasons`` say what stops it
    allowed: bool = True
    reasons: tuple[str, ...] = ()
    #: undoes work (a return, a withdrawal): confirmed on a second page first
    destructive: bool = False
    #: what firing it does to the plan, in a sentence
    outcome: str = ""


@dataclass(frozen=True)
class Participant:
    """A person as the round shows them: their name, and when they acted (if they did)."""

    name: str
    email: str
    at: datetime | None = None
    comment: str | None = None


@dataclass(frozen=True)
class RoundProgress:
    """One quorum the plan's state waits on: who in the role has acted, who has not."""

    action: str
    role: str
    #: how many must act (None: everyone in the role)
    needed: int | None
    done: list[Participant]
    missing: list[Participant]


@dataclass(frozen=True)
class PlanChoices:
    """The actions a person is offered on a plan, and the round's progress."""

    actions: list[ActionChoice]
    round: list[RoundProgress]


class _Words:
    """Names things on one plan for a person: role and action titles, people's names."""

    def __init__(self, definition: WorkflowDefinition, state: str, names: dict[str, str]):
        self.definition = definition
        self.state = state
        self.known = names

    def role_title(self, role: str) -> str:
        return self.definition.role_title(role)

    def action_title(self, trigger: str) -> str:
        return self.definition.action_title(trigger, self.state)

    def names(self, emails: Iterable[str]) -> list[str]:
        return sorted(self.known.get(e, e) for e in emails)

    def deadline_title(self, kind: str) -> str:
        found = self.definition.deadline_kind(kind)
        return found.title_in() if found is not None else kind


def plan_choices(rt: Runtime, key: str, viewer: str, comment: str | None = None) -> PlanChoices:
    """Return what ``viewer`` is offered on plan ``key`` now, and where its round stands.

    ``comment`` is what they typed (after a refusal): a rule that needs one is judged on it.
    """
    key = inputs.plan_key(key)
    viewer = inputs.email_address(viewer)
    with rt.db.read() as conn:
        row = plan_for(conn, viewer, key)
        engine = rt.catalog.engine(row.workflow, row.workflow_version)
        definition = engine.definition
        if row.state not in definition.state_names:
            return PlanChoices([], [])
        facts = plan_facts(conn, engine, row)
        holders = {e for who in facts.holders.values() for e in who}
        names = _names(conn, holders | {viewer})
        when = _round_times(conn, row.id, row.entered_seq)
    words = _Words(definition, row.state, names)
    held = frozenset(role for role, who in facts.holders.items() if viewer in who)
    mine = dataclasses.replace(
        facts, actor=viewer, actor_roles=held, comment=comment, listing=comment is None
    )
    actions = [
        _choice(definition, engine.explain(mine, t.trigger, words), row.state, t)
        for t in definition.transitions_from(row.state)
        if held & set(t.roles)
    ]
    return PlanChoices(actions, _progress(definition, row.state, facts, words, when))


def _names(conn: Connection, emails: set[str]) -> dict[str, str]:
    rows = conn.execute(
        select(people.c.email, people.c.name).where(people.c.email.in_(sorted(emails)))
    )
    return {r.email: r.name for r in rows}


def _round_times(
    conn: Connection, plan_id: int, since: int
) -> dict[tuple[str, str], tuple[datetime, str | None]]:
    """Return (actor, trigger) -> when they acted in this round and what they said."""
    rows = conn.execute(
        select(history.c.actor, history.c.trigger, history.c.at, history.c.comment)
        .where(
            history.c.plan_id == plan_id,
            history.c.seq > since,
            history.c.kind == Kind.ACTION,
        )
        .order_by(history.c.seq)
    )
    return {(r.actor, r.trigger): (r.at, r.comment) for r in rows}


def _choice(
    definition: WorkflowDefinition, reasons: tuple[str, ...], state: str, t: TransitionDef
) -> ActionChoice:
    return ActionChoice(
        trigger=t.trigger,
        title=t.title_in(),
        needs_comment=any(isinstance(c, CommentRequired) for c in t.conditions),
        allowed=not reasons,
        reasons=reasons,
        destructive=definition.is_destructive(state, t.trigger),
        outcome=_outcome(definition, state, t),
    )


def _outcome(definition: WorkflowDefinition, state: str, t: TransitionDef) -> str:
    """Say what firing ``t`` from ``state`` does to the plan."""
    if t.dest is None:
        return _("The plan stays at its stage; your action is recorded in its history.")
    values = {"state": definition.state_title(t.dest)}
    if definition.is_final(t.dest):
        if definition.is_way_out(state, t.trigger):
            return (
                _(
                    "The plan goes to the stage %(state)s and its procedure ends there: "
                    "nobody can act on it afterwards."
                )
                % values
            )
        return _("The plan goes to the stage %(state)s, the end of its procedure.") % values
    if definition.is_return(state, t.trigger):
        return (
            _(
                "The plan goes back to the stage %(state)s; what was done in this round "
                "no longer counts, and the procedure resumes from there."
            )
            % values
        )
    return _("The plan moves on to the stage %(state)s.") % values


def _when(person: Participant) -> str:
    return person.at.isoformat() if person.at is not None else ""


def _progress(
    definition: WorkflowDefinition,
    state: str,
    facts: PlanFacts,
    words: _Words,
    when: dict[tuple[str, str], tuple[datetime, str | None]],
) -> list[RoundProgress]:
    """Return, for each quorum a transition from ``state`` needs, who has acted and who not."""
    found: list[RoundProgress] = []
    seen: set[tuple[str, str]] = set()
    for t in definition.transitions_from(state):
        for condition in t.conditions:
            if not isinstance(condition, Quorum) or (condition.role, condition.trigger) in seen:
                continue
            seen.add((condition.role, condition.trigger))
            holders = facts.holders_of(condition.role)
            acted = holders & facts.actors_of(condition.trigger)
            # "all", a number, or a fraction of the holders there are now
            needed = condition.needed(len(holders))

            def person(email: str, trigger: str = condition.trigger) -> Participant:
                at, said = when.get((email, trigger), (None, None))
                return Participant(words.names([email])[0], email, at, said)

            found.append(
                RoundProgress(
                    action=words.action_title(condition.trigger),
                    role=words.role_title(condition.role),
                    needed=None if needed == "all" else int(needed),
                    done=sorted((person(e) for e in acted), key=_when),
                    missing=sorted((person(e) for e in holders - acted), key=lambda p: p.name),
                )
            )
    return found
