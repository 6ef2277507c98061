"""The facts about one plan that the engine decides on.

The service layer loads them from the database inside the action's transaction; the
engine and the conditions only read them, so every rule is a pure function of these facts.
The ``state`` attribute is the one the transitions Machine reads and sets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Facts that are costly to load; a condition declares which of them it needs.
HOLDERS = "holders"
ROUND_ACTIONS = "round_actions"
#: the transition that sent the plan to its state (who, with what)
ENTERED = "entered_by"
#: the kinds of the plan's deadlines still open (not met, not cancelled)
PENDING_DEADLINES = "pending_deadlines"


@dataclass(frozen=True)
class RoundAction:
    """An action recorded in the current round (since the plan entered its state)."""

    actor: str
    trigger: str
    role: str | None


@dataclass
class PlanFacts:
    """What is known about a plan and the person acting on it, for one decision.

    ``actor`` is None when listing what the plan allows regardless of who asks; then role
    checks and per-person rules pass. ``listing`` is True when the comment is not known yet,
    so comment rules pass: the trigger is allowed, given a comment.
    """

    key: str
    state: str
    actor: str | None = None
    actor_roles: frozenset[str] = frozenset()
    comment: str | None = None
    listing: bool = False
    trigger: str | None = None
    holders: Mapping[str, frozenset[str]] = field(default_factory=dict)
    round_actions: tuple[RoundAction, ...] = ()
    #: the plan's current draft (0: none yet)
    draft_version: int = 0
    #: the transition that sent the plan to its state (None: it was created there); a new
    #: draft that begins a new round there does not change it
    entered_by: RoundAction | None = None
    #: the kinds of the plan's open deadlines
    pending_deadlines: frozenset[str] = frozenset()

    def holders_of(self, role: str) -> frozenset[str]:
        """Return the e-mail addresses of the people holding ``role`` on this plan."""
        return self.holders.get(role, frozenset())

    def actors_of(self, trigger: str) -> frozenset[str]:
        """Return who fired ``trigger`` in the current round."""
        return frozenset(a.actor for a in self.round_actions if a.trigger == trigger)

    def fired(self, trigger: str) -> frozenset[str]:
        """Return who fired ``trigger`` in this round or sent the plan to its state with it."""
        began = self.entered_by
        if began is not None and began.trigger == trigger:
            return self.actors_of(trigger) | {began.actor}
        return self.actors_of(trigger)
