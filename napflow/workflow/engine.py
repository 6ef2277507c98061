"""The engine: one transitions Machine per workflow definition, and the decisions on it.

The Machine is built once per definition with ``auto_transitions=False`` and no models;
a plan's :class:`~napflow.workflow.facts.PlanFacts` is passed to ``machine.events[t].trigger`` for
the length of one action and never registered (see docs/pitfalls.md: a Machine per plan, or
models left registered, cost time and memory). Every guard is pure: it reads the facts only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from transitions import Machine

from napflow.errors import either
from napflow.i18n import _
from napflow.workflow.conditions import Condition, Words
from napflow.workflow.definition import TransitionDef, WorkflowDefinition
from napflow.workflow.facts import PlanFacts


@dataclass(frozen=True)
class Decision:
    """Whether a trigger may fire now, and if not, every reason why not."""

    trigger: str
    transition: TransitionDef | None
    reasons: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        """True if the trigger may fire."""
        return self.transition is not None and not self.reasons


class _RoleGuard:
    """Transitions condition: the actor holds one of the roles (skipped when listing).

    A timer transition (``timer``) is napflow's alone: no person may fire it.
    """

    def __init__(self, roles: tuple[str, ...], timer: bool = False) -> None:
        self.roles, self.timer = roles, timer

    def failure(self, facts: PlanFacts) -> str | None:
        if self.timer:
            return None if facts.actor is None else _("napflow does this by itself, in time")
        if facts.actor is None or facts.actor_roles.intersection(self.roles):
            return None
        values = {
            "roles": either(self.roles),
            "actor": facts.actor,
            "held": ", ".join(sorted(facts.actor_roles)),
            "key": facts.key,
        }
        if facts.actor_roles:
            return (
                _("it needs the role %(roles)s, and %(actor)s holds %(held)s on %(key)s") % values
            )
        return _("it needs the role %(roles)s, and %(actor)s holds no role on %(key)s") % values

    def explain(self, facts: PlanFacts, words: Words) -> str | None:
        if self.failure(facts) is None:
            return None
        if self.timer:
            return _("napflow does this by itself, in time")
        titles = either([words.role_title(r) for r in self.roles])
        return _("it needs the role %(roles)s, which you do not hold on this plan") % {
            "roles": titles
        }

    def __call__(self, event: object) -> bool:
        return self.failure(event.model) is None  # type: ignore[attr-defined]


class _ConditionGuard:
    """Transitions condition wrapping a registry condition."""

    def __init__(self, condition: Condition) -> None:
        self.condition = condition

    def failure(self, facts: PlanFacts) -> str | None:
        return self.condition.failure(facts)

    def explain(self, facts: PlanFacts, words: Words) -> str | None:
        return self.condition.explain(facts, words)

    def __call__(self, event: object) -> bool:
        return self.condition.failure(event.model) is None  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Route:
    transition: TransitionDef
    guards: tuple[_RoleGuard | _ConditionGuard, ...]
    needs: frozenset[str]


class Engine:
    """The state machine of one workflow definition, shared by every plan on it."""

    def __init__(self, definition: WorkflowDefinition) -> None:
        self.definition = definition
        self.machine = Machine(
            model=None,
            states=[{"name": s.name, "final": s.final} for s in definition.states],
            initial=None,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )
        # (state, trigger) -> the transition, its guards and the facts they read
        self._from: dict[tuple[str, str], _Route] = {}
        self._needs: dict[str, frozenset[str]] = {s.name: frozenset() for s in definition.states}
        for t in definition.transitions:
            guards: list[_RoleGuard | _ConditionGuard] = [_RoleGuard(t.roles, t.timer)]
            guards.extend(_ConditionGuard(c) for c in t.conditions)
            needs = frozenset().union(*(c.needs for c in t.conditions))
            for src in t.sources:
                self._from[(src, t.trigger)] = _Route(t, tuple(guards), needs)
                self._needs[src] |= needs
            conditions: list[str | Callable[..., bool | None]] = [*guards]
            self.machine.add_transition(t.trigger, list(t.sources), t.dest, conditions=conditions)

    def needs(self, state: str, trigger: str | None = None) -> frozenset[str]:
        """Return the facts the guards of ``trigger`` (or of every trigger) from ``state`` read."""
        if trigger is None:
            return self._needs.get(state, frozenset())
        route = self._from.get((state, trigger))
        return route.needs if route is not None else frozenset()

    def decide(self, facts: PlanFacts, trigger: str) -> Decision:
        """Evaluate every guard of ``trigger`` from the plan's state, collecting all reasons."""
        route = self._from.get((facts.state, trigger))
        if route is None:
            return Decision(trigger, None, (_("it is in %(state)s") % {"state": facts.state},))
        transition = route.transition
        facts.trigger = trigger
        reasons = []
        for guard in route.guards:
            reason = guard.failure(facts)
            if reason is not None:
                reasons.append(reason)
        return Decision(trigger, transition, tuple(reasons))

    def explain(self, facts: PlanFacts, trigger: str, words: Words) -> tuple[str, ...]:
        """Say to a person, in ``words``, every reason ``trigger`` may not fire now."""
        route = self._from.get((facts.state, trigger))
        if route is None:
            return (_("this action is not open at the plan's current stage"),)
        wanted = facts.trigger
        facts.trigger = trigger
        try:
            found = (guard.explain(facts, words) for guard in route.guards)
            return tuple(reason for reason in found if reason is not None)
        finally:
            facts.trigger = wanted

    def allowed(self, facts: PlanFacts) -> list[str]:
        """Return the triggers that may fire now, for the actor in ``facts`` (or anyone)."""
        wanted = facts.trigger
        try:
            return [
                t.trigger
                for t in self.definition.transitions_from(facts.state)
                if self.decide(facts, t.trigger).allowed
            ]
        finally:
            facts.trigger = wanted

    def acting_role(self, facts: PlanFacts, transition: TransitionDef) -> str | None:
        """Return the role the actor fires ``transition`` in: the first listed one they hold."""
        for role in transition.roles:
            if role in facts.actor_roles:
                return role
        return None

    def fire(self, facts: PlanFacts, trigger: str) -> Decision:
        """Fire ``trigger`` through the Machine, which checks every guard and moves the state.

        On success ``facts.state`` is the new state; on refusal it is unchanged and the
        decision lists every reason. The caller runs this inside the database transaction
        that records it, so an error after the state change is undone by the rollback.
        """
        route = self._from.get((facts.state, trigger))
        if route is None:
            return Decision(trigger, None, (_("it is in %(state)s") % {"state": facts.state},))
        facts.trigger = trigger
        if self.machine.events[trigger].trigger(facts):
            return Decision(trigger, route.transition, ())
        refused = self.decide(facts, trigger)
        if refused.allowed:
            raise RuntimeError(f"the machine refused {trigger} but no guard says why")
        return refused
