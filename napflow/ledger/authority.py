"""Replaying a plan's ledger through its workflow: was every sealed record allowed.

The chain proves that no record changed since it was sealed; it does not prove that the
record should have been written. Whoever could write to the database could once give
themselves a role, act, and take the role away again, and the app sealed the action. The
replay judges every record by the ledger alone:

- an action or transition: the actor held the acting role at that moment according to the
  plan's own role records, was not deactivated (the site ledger), the trigger was allowed
  from the state the ledger had the plan in, and every condition of the workflow held
  (comment, once per round, quorum counted from the round's own records, an approver
  assigned, a draft present), judged by the same engine that allowed it;
- a role, deadline or draft change: made by the operator (no actor), by a holder of a role
  the workflow lets make it (``manage_roles``, ``manage_deadlines``, ``[drafts] add``), or
  by an administrator, that is a holder of an admin site grant at that moment according
  to the site ledger; a draft only in a state that takes drafts;
- a plan edit, and every change to people and site grants (the site ledger): by the
  operator or an administrator.

A record made under a workflow version napflow does not have is not judged (it is
counted, and said). People are followed through changes of their e-mail address (site
ledger), so a role granted to an address keeps counting after the address changes.

Pure functions of records: :mod:`napflow.services.audit` reads them and reports.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from napflow.ledger.record import Kind, SiteKind
from napflow.timezones import to_local
from napflow.workflow.calendar import due_instant
from napflow.workflow.definition import WorkflowDefinition
from napflow.workflow.engine import Engine
from napflow.workflow.facts import PlanFacts, RoundAction

#: the problem kind of a record the ledger did not allow
UNAUTHORIZED = "unauthorized"
#: the role an administrator's change is recorded with
ADMIN = "admin"
#: the grant that makes an administrator
_ADMIN_GRANT = "admin"

_ACTIONS = frozenset({Kind.ACTION, Kind.TRANSITION})
_ROLES = frozenset({Kind.ROLE_GRANTED, Kind.ROLE_REVOKED})
_DEADLINE_CHANGES = frozenset({Kind.DEADLINE_ADDED, Kind.DEADLINE_MOVED, Kind.DEADLINE_CANCELLED})
#: records that are bookkeeping, with nothing to judge or to replay (a deadline met is a
#: consequence, not judged, but replayed: conditions read which deadlines are open)
UNJUDGED = frozenset({Kind.MAIL_SENT, Kind.MAIL_FAILED})


class Step(NamedTuple):
    """What the replay reads of one record (the payload parsed only where it matters)."""

    seq: int
    kind: str
    trigger: str | None
    from_state: str | None
    to_state: str | None
    actor: str | None
    role: str | None
    has_comment: bool
    at: str
    workflow: str
    workflow_version: int
    payload: Mapping[str, Any] | None


@dataclass(frozen=True)
class Finding:
    """A record the ledger did not allow, and why."""

    seq: int
    detail: str


@dataclass
class _Timeline:
    """One fact about a person over time: the value from each instant on."""

    times: list[str] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)

    def set(self, at: str, value: Any) -> None:
        self.times.append(at)
        self.values.append(value)

    def at(self, when: str, default: Any) -> Any:
        i = bisect.bisect_right(self.times, when)
        return self.values[i - 1] if i else default

    def before(self, when: str, default: Any) -> Any:
        """Return the value just before ``when`` (a change stamped then not yet seen)."""
        i = bisect.bisect_left(self.times, when)
        return self.values[i - 1] if i else default


class People:
    """Who is who, who is an administrator and who is deactivated, at any moment.

    Built from the site ledger's records in order, judging each as it goes: a change to
    people or site grants made by someone (not the operator) who was not an administrator
    by the site ledger at that moment is a finding. A person is known by the address they
    were added with; an address changed later still names them. Addresses the site ledger
    never names (people added before it existed) are their own person.
    """

    def __init__(self, site: Iterable[SiteEvent]) -> None:
        self._who: dict[str, _Timeline] = {}  # address -> person over time
        self._email: dict[str, _Timeline] = {}  # person -> their address over time
        self._admin: dict[str, _Timeline] = {}  # person -> holds an admin grant
        self._active: dict[str, _Timeline] = {}  # person -> True/False
        self.findings: list[Finding] = []
        #: True when some address changed (else a person's address is their name)
        self.renamed = False
        self._grants: dict[str, frozenset[str]] = {}
        for event in site:
            try:
                self._take(event)
            except (TypeError, ValueError, AttributeError, KeyError) as exc:
                self.findings.append(
                    Finding(event.seq, f"holds values napflow never writes ({exc!r})")
                )

    def _take(self, event: SiteEvent) -> None:
        at, kind, payload = event.at, event.kind, event.payload
        if event.actor is not None:
            actor = self.person(event.actor, at)
            if not self.is_admin(actor, at):
                self.findings.append(
                    Finding(
                        event.seq,
                        f"{kind} by {event.actor}, but the site ledger never made "
                        f"{event.actor} an administrator",
                    )
                )
            elif not self.is_active(actor, at):
                self.findings.append(
                    Finding(
                        event.seq,
                        f"{kind} by {event.actor}, but the site ledger had deactivated them",
                    )
                )
        email = str(payload.get("person", ""))
        if kind == SiteKind.PERSON_ADDED:
            person = email if email not in self._who else f"{email}#{at}"
            self._line(self._who, email).set(at, person)
            self._line(self._email, person).set(at, email)
            return
        person = self.person(email, at)
        if kind == SiteKind.PERSON_EDITED and "email" in payload:
            old, new = payload["email"]
            self._line(self._who, str(old)).set(at, None)
            self._line(self._who, str(new)).set(at, person)
            self._line(self._email, person).set(at, str(new))
            self.renamed = True
        elif kind in (SiteKind.PERSON_DEACTIVATED, SiteKind.PERSON_ACTIVATED):
            self._line(self._active, person).set(at, kind == SiteKind.PERSON_ACTIVATED)
        elif kind in (SiteKind.ACCESS_GRANTED, SiteKind.ACCESS_REVOKED):
            if payload.get("grant") != _ADMIN_GRANT:
                return
            countries = payload.get("countries") or []
            if not isinstance(countries, list):
                raise TypeError(f"countries {countries!r} is not a list")
            changed = frozenset(str(c) for c in countries)
            held = self._grants.get(person, frozenset())
            held = held | changed if kind == SiteKind.ACCESS_GRANTED else held - changed
            self._grants[person] = held
            self._line(self._admin, person).set(at, bool(held))

    @staticmethod
    def _line(table: dict[str, _Timeline], name: str) -> _Timeline:
        return table.setdefault(name, _Timeline())

    def person(self, email: str, at: str) -> str:
        """Return the person ``email`` named at ``at`` (the address itself if unknown)."""
        line = self._who.get(email)
        if line is None:
            return email
        if len(line.times) == 1 and at >= line.times[0]:  # most people: added, never renamed
            return str(line.values[0])
        found = line.at(at, None)
        return str(found) if found is not None else email

    def email(self, person: str, at: str) -> str:
        """Return the address ``person`` had at ``at``."""
        line = self._email.get(person)
        found = line.at(at, None) if line is not None else None
        return str(found) if found is not None else person.partition("#")[0]

    def is_admin(self, person: str, at: str) -> bool:
        """Tell whether ``person`` held an admin grant (for any country) at ``at``.

        An administrator administers every plan, as napflow's services decide.
        """
        line = self._admin.get(person)
        if line is None:
            return False
        # granted at or before the instant counts; revoked at the very instant does not yet
        return bool(line.at(at, False)) or bool(line.before(at, False))

    def is_active(self, person: str, at: str) -> bool:
        """Tell whether ``person`` was not deactivated at ``at``."""
        line = self._active.get(person)
        if line is None:
            return True
        # activated at or before the instant counts; deactivated at that very instant does
        # not yet (the clock is read before the change waits for its lock)
        return bool(line.at(at, True)) or bool(line.before(at, True))


class SiteEvent(NamedTuple):
    """A site ledger record as the replay reads it."""

    seq: int
    at: str
    kind: str
    actor: str | None
    payload: Mapping[str, Any]


def site_events(
    rows: Iterable[tuple[int, str, str, str | None, str | None]],
) -> list[SiteEvent]:
    """Return the site ledger's records (seq, at, kind, actor, payload text) in order."""
    events = []
    for seq, at, kind, actor, payload in rows:
        try:
            parsed = json.loads(payload) if payload else {}
        except json.JSONDecodeError:
            parsed = {}
        events.append(SiteEvent(seq, at, kind, actor, parsed if isinstance(parsed, dict) else {}))
    return events


@dataclass
class Verdict:
    """The replay of one plan: what it did not allow, and what it could not judge."""

    findings: list[Finding] = field(default_factory=list)
    not_judged: int = 0


class _Plan:
    """A plan as its ledger has it so far (what the facts of the next decision are made of)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.state: str | None = None
        self.holders: dict[str, set[str]] = {}
        self.round: tuple[RoundAction, ...] = ()
        self.draft = 0
        # when the plan entered its state, and its zone (a timer's time is counted in it)
        self.entered_at: str | None = None
        self.timezone: str | None = None
        # the transition that sent the plan to its state, and its open deadlines (id -> kind)
        self.entered: RoundAction | None = None
        self.deadlines: dict[Any, str] = {}
        # made again only when a role changes: most records are actions
        self._frozen: dict[str, frozenset[str]] | None = None
        self._held: dict[str, frozenset[str]] = {}

    def change_role(self, person: str, role: str, granted: bool) -> None:
        who = self.holders.setdefault(role, set())
        if granted:
            who.add(person)
        else:
            who.discard(person)
        self._frozen, self._held = None, {}

    def roles_of(self, person: str) -> frozenset[str]:
        found = self._held.get(person)
        if found is None:
            found = self._held[person] = frozenset(
                role for role, who in self.holders.items() if person in who
            )
        return found

    def facts(self, step: Step, person: str, people: People) -> PlanFacts:
        """Return the facts napflow decided ``step`` on, as the ledger has them.

        As napflow does: holders by their address at that moment, the round's actions by
        the address each was recorded under.
        """
        assert self.state is not None
        if people.renamed:
            holders = {
                role: frozenset(people.email(p, step.at) for p in who)
                for role, who in self.holders.items()
            }
        else:
            if self._frozen is None:
                self._frozen = {
                    role: frozenset(p.partition("#")[0] for p in who)
                    for role, who in self.holders.items()
                }
            holders = self._frozen
        return PlanFacts(
            key=self.key,
            state=self.state,
            actor=step.actor,
            actor_roles=self.roles_of(person),
            comment="(given)" if step.has_comment else None,
            holders=holders,
            round_actions=self.round,
            draft_version=self.draft,
            entered_by=self.entered,
            pending_deadlines=frozenset(self.deadlines.values()),
        )


def judge_plan(
    key: str,
    steps: Iterable[Step],
    workflow: Callable[[str, int], Engine | None],
    people: People,
) -> Verdict:
    """Replay one plan's records in order; return what the ledger did not allow.

    ``workflow(name, version)`` returns the engine of that workflow version, or None when
    napflow does not have it (the record is then not judged).
    """
    verdict = Verdict()
    plan = _Plan(key)
    under: tuple[str, int] | None = None  # the workflow version the plan was created under
    for step in steps:
        if step.kind in UNJUDGED:  # mail bookkeeping: nothing to judge or to replay
            continue
        made = (step.workflow, step.workflow_version)
        if step.kind == Kind.MIGRATED and under is not None:
            reason = _judge_migration(plan, step, under, workflow(*made), people)
            if reason is not None:
                verdict.findings.append(Finding(step.seq, reason))
            under = made  # the plan's later records are judged under the version it moved to
            _apply(plan, step, people)
            continue
        if under is None:
            under = made
        elif made != under:  # only a migration record moves a plan to another version
            verdict.findings.append(
                Finding(
                    step.seq,
                    f"{_who(step)} under workflow {made[0]} v{made[1]}, but the plan was "
                    f"created under {under[0]} v{under[1]} and no record moved it",
                )
            )
            made = under  # judged as if under the plan's own version
        engine = workflow(*made)
        if engine is None:
            verdict.not_judged += 1
            _apply(plan, step, people)
            continue
        reason = _judge(plan, step, engine, people)
        if reason is not None:
            verdict.findings.append(Finding(step.seq, reason))
        _apply(plan, step, people)
    return verdict


def _who(step: Step) -> str:
    what = step.trigger or step.kind
    return f"{what} by {step.actor}" + (f" as {step.role}" if step.role else "")


def _judge(plan: _Plan, step: Step, engine: Engine, people: People) -> str | None:
    """Return why ``step`` was not allowed by the ledger so far, or None."""
    definition = engine.definition
    if step.kind in _ACTIONS:
        return _judge_action(plan, step, engine, people)
    if step.kind in _ROLES:
        return _judge_change(plan, step, people, definition.manage_roles)
    if step.kind in _DEADLINE_CHANGES:
        return _judge_change(plan, step, people, definition.manage_deadlines)
    if step.kind == Kind.DRAFT_ADDED:
        found = _judge_change(plan, step, people, definition.drafts.add)
        if found is None and plan.state is not None and not definition.drafts.policy(plan.state):
            return f"{_who(step)}, but {plan.state} takes no new drafts"
        return found
    if step.kind in (Kind.PLAN_EDITED, Kind.CREATED, Kind.MAIL_REQUEUED):
        return _judge_change(plan, step, people, ())
    return None


def _judge_change(plan: _Plan, step: Step, people: People, may: tuple[str, ...]) -> str | None:
    """Judge a change made by the operator, a holder of one of ``may``, or an admin.

    With ``may`` empty (a plan created or edited) only the operator and administrators
    may, whatever role the record names.
    """
    if step.actor is None:
        return None  # the operator, on the database host
    person = people.person(step.actor, step.at)
    if not people.is_active(person, step.at):
        return f"{_who(step)}, but the site ledger had deactivated {step.actor}"
    if step.role == ADMIN or not may:
        if people.is_admin(person, step.at):
            return None
        return f"{_who(step)}, but the site ledger never made {step.actor} an administrator"
    if step.role not in may:
        return f"{_who(step)}, but its workflow lets {', '.join(may)} make that change"
    if step.role not in plan.roles_of(person):
        return f"{_who(step)}, but the ledger never granted that role"
    return None


def _judge_migration(
    plan: _Plan, step: Step, under: tuple[str, int], engine: Engine | None, people: People
) -> str | None:
    """Judge a move of the plan to another version of its workflow (an administrator's).

    It must move from the version the plan was under, from the state it was in, to a state
    of the new version that the record's own mapping names (or the same state).
    """
    payload = step.payload or {}
    old = payload.get("from_version")
    mapping = payload.get("map")
    if (step.workflow, old) != under:
        return (
            f"{_who(step)} from {step.workflow} v{old}, but the plan was under "
            f"{under[0]} v{under[1]}"
        )
    if step.from_state != plan.state:
        return f"{_who(step)} from {step.from_state}, but the plan was in {plan.state}"
    wanted = (mapping or {}).get(step.from_state, step.from_state)
    if not isinstance(mapping, dict) or step.to_state != wanted:
        return f"{_who(step)} to {step.to_state}, which its own mapping does not name"
    if engine is not None and step.to_state not in engine.definition.state_names:
        return (
            f"{_who(step)} to {step.to_state}, which {step.workflow} "
            f"v{step.workflow_version} does not have"
        )
    return _judge_change(plan, step, people, ())


def _judge_timer(plan: _Plan, step: Step, engine: Engine, people: People) -> str | None:
    """Judge a transition napflow fired by itself: a timer's, in its time, its rules met."""
    assert step.trigger is not None and plan.state is not None
    transition = engine.definition.transition_for(plan.state, step.trigger)
    if transition is None or not transition.timer:
        return f"{_who(step)}: an action without an actor"
    if step.from_state != plan.state:
        return f"{_who(step)} from {step.from_state}, but the ledger had the plan in {plan.state}"
    if transition.after_days is not None and plan.entered_at and plan.timezone:
        entered = datetime.fromisoformat(plan.entered_at).replace(tzinfo=UTC)
        day = to_local(entered, plan.timezone).date() + timedelta(days=transition.after_days)
        due = due_instant(day, None, plan.timezone)
        if datetime.fromisoformat(step.at).replace(tzinfo=UTC) < due:
            return f"{_who(step)} by itself before its time ({due:%Y-%m-%d %H:%M} UTC)"
    decision = engine.decide(plan.facts(step, "", people), step.trigger)
    if not decision.allowed:
        return f"{_who(step)} by itself, but {'; '.join(decision.reasons)}"
    dest = step.from_state if transition.stays else transition.dest
    if step.to_state != dest:
        return f"{_who(step)} to {step.to_state}, but {step.trigger} leads to {dest}"
    return None


def _judge_action(plan: _Plan, step: Step, engine: Engine, people: People) -> str | None:
    if step.actor is None and step.trigger is not None and plan.state is not None:
        return _judge_timer(plan, step, engine, people)
    if step.actor is None or step.trigger is None:
        return f"{_who(step)}: an action without an actor or trigger"
    if plan.state is None:
        return f"{_who(step)} before the plan was created"
    person = people.person(step.actor, step.at)
    if not people.is_active(person, step.at):
        return f"{_who(step)}, but the site ledger had deactivated {step.actor}"
    if step.from_state != plan.state:
        return f"{_who(step)} from {step.from_state}, but the ledger had the plan in {plan.state}"
    if step.role not in plan.roles_of(person):
        return f"{_who(step)}, but the ledger never granted that role"
    facts = plan.facts(step, person, people)
    decision = engine.decide(facts, step.trigger)
    if not decision.allowed:
        return f"{_who(step)}, but {'; '.join(decision.reasons)}"
    transition = decision.transition
    assert transition is not None
    if step.role not in transition.roles:
        return f"{_who(step)}, but {step.trigger} is for {' or '.join(transition.roles)}"
    dest = step.from_state if transition.stays else transition.dest
    if step.to_state != dest:
        return f"{_who(step)} to {step.to_state}, but {step.trigger} leads to {dest}"
    return None


def _apply(plan: _Plan, step: Step, people: People) -> None:
    """Move the replayed plan on by ``step``, whatever the verdict (to judge the next)."""
    kind = step.kind
    if kind == Kind.ACTION:
        if step.actor and step.trigger:  # by the address it was recorded under, as napflow
            plan.round = (*plan.round, RoundAction(step.actor, step.trigger, step.role))
        return
    if kind == Kind.TRANSITION:
        plan.state = step.to_state
        plan.round = ()
        plan.entered_at = step.at
        began = step.actor and step.trigger
        plan.entered = RoundAction(step.actor, step.trigger, step.role) if began else None  # type: ignore[arg-type]
        return
    payload = step.payload or {}
    if kind in (Kind.CREATED, Kind.MIGRATED):  # a migration keeps the round in progress
        plan.state = step.to_state
        if kind == Kind.CREATED:
            plan.entered_at = step.at
            zone = payload.get("timezone")
            plan.timezone = zone if isinstance(zone, str) else None
    elif kind == Kind.PLAN_EDITED:
        zone = payload.get("timezone")
        if isinstance(zone, list) and len(zone) == 2 and isinstance(zone[1], str):
            plan.timezone = zone[1]
    elif kind in _ROLES:
        person = people.person(str(payload.get("person")), step.at)
        plan.change_role(person, str(payload.get("role")), kind == Kind.ROLE_GRANTED)
    elif kind == Kind.DRAFT_ADDED:
        if isinstance(payload.get("draft"), int):
            plan.draft = payload["draft"]
        if payload.get("round") == "restarted":
            plan.round = ()
    elif kind == Kind.DEADLINE_ADDED:
        if isinstance(payload.get("kind"), str):
            plan.deadlines[payload.get("deadline")] = payload["kind"]
    elif kind in (Kind.DEADLINE_MET, Kind.DEADLINE_CANCELLED):
        plan.deadlines.pop(payload.get("deadline"), None)


def engines(
    definitions: Callable[[tuple[str, int]], WorkflowDefinition | None],
) -> Callable[[str, int], Engine | None]:
    """Return a lookup of (workflow, version) -> engine over ``definitions((name, version))``.

    The versions napflow has (its files' and those the database stores) are judged by;
    the engines are made once.
    """
    made: dict[tuple[str, int], Engine | None] = {}

    def lookup(name: str, version: int) -> Engine | None:
        if (name, version) not in made:
            found = definitions((name, version))
            made[name, version] = Engine(found) if found is not None else None
        return made[name, version]

    return lookup
