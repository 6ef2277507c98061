"""The engine's decisions on the real NAP workflow (workflows/nap.toml): who may fire what in
each state, every reason a trigger is refused, the role an action is taken in, and that
firing through the transitions Machine agrees with the decision.

Pure: the engine reads the PlanFacts it is given; no database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napflow.workflow.definition import load_definition
from napflow.workflow.engine import Engine
from napflow.workflow.facts import PlanFacts, RoundAction

pytestmark = pytest.mark.unit

NAP = Path(__file__).resolve().parents[2] / "workflows" / "nap.toml"
ENGINE = Engine(load_definition(NAP))
KEY = "TJK-1"
ROLES = ("coordinator", "wg_chair", "wg_member", "expert", "approver", "observer")
STATES = (
    "drafting",
    "working_group_review",
    "expert_review",
    "submitted",
    "approved",
    "withdrawn",
)
#: one person per role, each holding just that role
HOLDERS = {role: frozenset({f"{role}@example.org"}) for role in ROLES}


def plan(state: str, role: str | None = None, **values: Any) -> PlanFacts:
    """The plan in ``state``, every role held, as the holder of ``role`` (None: anyone)."""
    actor = None if role is None else f"{role}@example.org"
    roles = frozenset() if role is None else frozenset({role})
    values.setdefault("holders", HOLDERS)
    return PlanFacts(key=KEY, state=state, actor=actor, actor_roles=roles, **values)


def endorsed(*roles: str) -> tuple[RoundAction, ...]:
    return tuple(RoundAction(f"{role}@example.org", "endorse", role) for role in roles)


# What nap.toml says each role may do in a fresh round (nobody has acted yet), when listing
# (a comment would be given): read off the file by hand.
MAY = {
    "drafting": {"coordinator": ["submit_for_review", "withdraw"]},
    "working_group_review": {
        "coordinator": ["request_changes", "withdraw"],
        "wg_chair": ["endorse", "request_changes"],
        "wg_member": ["endorse"],
    },
    "expert_review": {
        "coordinator": ["withdraw"],
        "expert": ["endorse", "return_with_comments"],
    },
    "submitted": {"coordinator": ["withdraw"], "approver": ["approve", "send_back"]},
    "approved": {},
    "withdrawn": {},
}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_fire_what_the_workflow_gives_it_in_each_state(state: str, role: str) -> None:
    assert ENGINE.allowed(plan(state, role, listing=True)) == MAY[state].get(role, [])


def test_listing_for_anyone_offers_every_trigger_some_role_may_fire() -> None:
    for state in STATES:
        offered = {t for triggers in MAY[state].values() for t in triggers}
        assert set(ENGINE.allowed(plan(state, listing=True))) == offered, state


def test_the_experts_are_sent_to_once_every_member_endorsed() -> None:
    before = plan("working_group_review", "wg_chair", listing=True)
    assert "send_to_experts" not in ENGINE.allowed(before)
    after = plan(
        "working_group_review", "wg_chair", listing=True, round_actions=endorsed("wg_member")
    )
    assert ENGINE.allowed(after) == ["endorse", "request_changes", "send_to_experts"]


def test_approval_is_asked_for_after_an_experts_endorsement_with_an_approver_assigned() -> None:
    ready = plan("expert_review", "coordinator", listing=True, round_actions=endorsed("expert"))
    assert ENGINE.allowed(ready) == ["submit_for_approval", "withdraw"]
    no_approver = {**HOLDERS, "approver": frozenset()}
    unready = plan(
        "expert_review",
        "coordinator",
        listing=True,
        holders=no_approver,
        round_actions=endorsed("expert"),
    )
    assert ENGINE.allowed(unready) == ["withdraw"]


def test_a_person_endorses_once_per_round() -> None:
    member = plan("working_group_review", "wg_member", round_actions=endorsed("wg_member"))
    assert ENGINE.allowed(member) == []
    decision = ENGINE.decide(member, "endorse")
    assert not decision.allowed
    assert decision.reasons == ("wg_member@example.org has already done endorse in this round",)


def test_a_refusal_gives_every_reason_at_once() -> None:
    # a working-group member asks to send to the experts before the other member endorsed
    facts = plan(
        "working_group_review",
        "wg_member",
        holders={**HOLDERS, "wg_member": frozenset({"wg_member@example.org", "m2@example.org"})},
        round_actions=endorsed("wg_member"),
    )
    decision = ENGINE.decide(facts, "send_to_experts")
    assert not decision.allowed and decision.transition is not None
    role, quorum = decision.reasons
    assert "wg_chair or coordinator" in role and "holds wg_member on TJK-1" in role
    assert "waiting for m2@example.org" in quorum and "wg_member@example.org" not in quorum


def test_approval_refused_names_the_missing_endorsement_and_the_missing_approver() -> None:
    facts = plan("expert_review", "coordinator", holders={"coordinator": HOLDERS["coordinator"]})
    reasons = ENGINE.decide(facts, "submit_for_approval").reasons
    assert len(reasons) == 2
    assert "at least 1 expert endorse" in reasons[0] and "0 so far" in reasons[0]
    assert "no approver is assigned to TJK-1" in reasons[1]


def test_a_return_without_a_comment_is_refused_and_with_one_allowed() -> None:
    bare = plan("submitted", "approver")
    assert ENGINE.decide(bare, "send_back").reasons == (
        "a comment is required (give one with --comment)",
    )
    with_comment = plan("submitted", "approver", comment="Annex B is missing.")
    assert ENGINE.decide(with_comment, "send_back").allowed


def test_someone_without_a_role_on_the_plan_is_told_so() -> None:
    facts = PlanFacts(key=KEY, state="drafting", actor="stranger@example.org", holders=HOLDERS)
    (reason,) = ENGINE.decide(facts, "submit_for_review").reasons
    assert reason == (
        "it needs the role coordinator, and stranger@example.org holds no role on TJK-1"
    )


@pytest.mark.parametrize(
    ("state", "trigger"),
    [
        ("drafting", "approve"),  # a trigger of another state
        ("approved", "withdraw"),  # "*" leaves the final states out
        ("drafting", "no_such_trigger"),
    ],
)
def test_a_trigger_the_state_does_not_have_is_refused_naming_the_state(
    state: str, trigger: str
) -> None:
    decision = ENGINE.decide(plan(state, "coordinator", comment="why"), trigger)
    assert decision.transition is None and not decision.allowed
    assert decision.reasons == (f"it is in {state}",)
    refused = ENGINE.fire(plan(state, "coordinator", comment="why"), trigger)
    assert refused.reasons == (f"it is in {state}",)


@pytest.mark.parametrize(
    ("state", "trigger", "roles", "acting"),
    [
        ("working_group_review", "request_changes", {"wg_chair", "coordinator"}, "wg_chair"),
        ("working_group_review", "request_changes", {"coordinator"}, "coordinator"),
        ("working_group_review", "endorse", {"wg_chair", "wg_member"}, "wg_member"),
        ("expert_review", "endorse", {"expert", "wg_member"}, "expert"),
        ("working_group_review", "endorse", {"observer", "expert"}, None),
    ],
)
def test_an_action_is_taken_in_the_first_listed_role_the_actor_holds(
    state: str, trigger: str, roles: set[str], acting: str | None
) -> None:
    facts = PlanFacts(key=KEY, state=state, actor="a@example.org", actor_roles=frozenset(roles))
    transition = ENGINE.definition.transition_for(state, trigger)
    assert transition is not None
    assert ENGINE.acting_role(facts, transition) == acting


def test_firing_moves_the_plan_and_a_refusal_leaves_it_where_it_was() -> None:
    facts = plan("working_group_review", "wg_chair", comment="Revise annex B.")
    assert ENGINE.fire(facts, "request_changes").allowed
    assert facts.state == "drafting"
    refused = ENGINE.fire(facts, "withdraw")  # the chair may not withdraw
    assert not refused.allowed and facts.state == "drafting"
    assert "it needs the role coordinator" in refused.reasons[0]
    stays = plan("working_group_review", "wg_member")
    assert ENGINE.fire(stays, "endorse").allowed and stays.state == "working_group_review"
    assert ENGINE.machine.models == []  # no plan is left registered on the shared Machine


def test_listing_leaves_the_trigger_the_facts_were_given() -> None:
    facts = plan("working_group_review", "wg_chair", trigger="endorse")
    ENGINE.allowed(facts)
    assert facts.trigger == "endorse"


@settings(max_examples=200, deadline=None)
@given(
    state=st.sampled_from(STATES),
    who=st.sampled_from(ROLES),
    roles=st.frozensets(st.sampled_from(ROLES)),
    trigger=st.sampled_from(sorted(ENGINE.definition.triggers)),
    endorsers=st.frozensets(st.sampled_from(ROLES)),
    comment=st.sampled_from([None, "", "A reason."]),
)
def test_firing_through_the_machine_agrees_with_the_decision(
    state: str,
    who: str,
    roles: frozenset[str],
    trigger: str,
    endorsers: frozenset[str],
    comment: str | None,
) -> None:
    def facts() -> PlanFacts:
        return PlanFacts(
            key=KEY,
            state=state,
            actor=f"{who}@example.org",
            actor_roles=roles,
            comment=comment,
            holders=HOLDERS,
            round_actions=endorsed(*sorted(endorsers)),
        )

    decided = ENGINE.decide(facts(), trigger)
    fired_on = facts()
    fired = ENGINE.fire(fired_on, trigger)
    assert fired.allowed == decided.allowed
    assert sorted(fired.reasons) == sorted(decided.reasons)
    transition = ENGINE.definition.transition_for(state, trigger)
    if fired.allowed:
        assert transition is not None
        assert fired_on.state == (transition.dest or state)
        assert roles & set(transition.roles)  # never allowed without one of its roles
    else:
        assert fired_on.state == state
