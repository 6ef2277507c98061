"""Who may add a new draft of a plan's document, in which states, and what it does there.

A workflow file declares, as data::

    [drafts]
    add = ["coordinator"]              # the roles that may add a draft (an admin always may)
    [drafts.states]                    # the states a new draft may be added in, and what it
    drafting = "keep"                  # does to the round in progress: "keep" it, or
    working_group_review = "restart"   # "restart" it (endorsements of earlier drafts stop
    expert_review = "restart"          # counting; those who endorsed are told and may again),
    submitted = "refuse"               # or "refuse" new drafts there

A state not named refuses new drafts too; a final state may not be named. A workflow without
``[drafts]`` takes no drafts at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from napflow.workflow.toml_checks import Problems, str_list, unknown_keys

#: what a new draft does to the round in progress in a state
KEEP, RESTART, REFUSE = "keep", "restart", "refuse"
POLICIES = (RESTART, KEEP, REFUSE)


@dataclass(frozen=True)
class DraftRules:
    """The ``[drafts]`` table: who may add drafts, and where, with what effect."""

    #: roles whose holders may add a draft
    add: tuple[str, ...] = ()
    #: state -> KEEP, RESTART or REFUSE; states not here refuse new drafts
    states: dict[str, str] = field(default_factory=dict)

    def policy(self, state: str) -> str | None:
        """Return what a new draft does in ``state`` (None: refused there)."""
        found = self.states.get(state)
        return None if found == REFUSE else found

    @property
    def taking(self) -> tuple[str, ...]:
        """The states that take new drafts."""
        return tuple(s for s, p in self.states.items() if p != REFUSE)


def load_drafts(
    data: dict[str, Any], problems: Problems, states: set[str], finals: set[str], roles: set[str]
) -> DraftRules:
    """Read ``[drafts]`` from a parsed workflow file, reporting every problem."""
    table = data.get("drafts")
    if table is None:
        return DraftRules()
    if not isinstance(table, dict):
        problems.add("drafts", "must be a table with add and states")
        return DraftRules()
    unknown_keys(problems, "drafts", table, {"add", "states"})
    listed = str_list(table.get("add"))
    if listed is None:
        problems.add(
            "drafts.add", f'must list roles, e.g. ["coordinator"], not {table.get("add")!r}'
        )
        listed = []
    for role in listed:
        if role not in roles:
            problems.add(
                "drafts.add", f"unknown role {role!r} (roles: {', '.join(sorted(roles)) or 'none'})"
            )
    where = table.get("states", {})
    if not isinstance(where, dict):
        problems.add("drafts.states", 'must be a table of state = "restart", "keep" or "refuse"')
        where = {}
    policies: dict[str, str] = {}
    for state, policy in where.items():
        key = f"drafts.states.{state}"
        if state not in states:
            problems.unknown(key, "state", state, states)
        elif state in finals:
            problems.add(key, "a final state takes no new drafts")
        elif policy not in POLICIES:
            problems.add(key, f'must be "restart", "keep" or "refuse", not {policy!r}')
        else:
            policies[state] = str(policy)
    return DraftRules(tuple(dict.fromkeys(listed)), policies)
