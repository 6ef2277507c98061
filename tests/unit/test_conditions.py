"""The conditions a workflow file can name: each one holds, or says what is missing.

Pure: a condition reads a PlanFacts and nothing else.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napflow.workflow.conditions import (
    CommentRequired,
    LoadScope,
    OncePerRound,
    Quorum,
    RoleAssigned,
    build_condition,
)
from napflow.workflow.facts import PlanFacts, RoundAction

pytestmark = pytest.mark.unit

KEY = "TJK-1"
ANN, BOB, CAT = "ann@example.org", "bob@example.org", "cat@example.org"
SCOPE = LoadScope(
    roles=frozenset({"coordinator", "wg_member", "expert"}),
    triggers=frozenset({"endorse", "approve"}),
)


def facts(**values: Any) -> PlanFacts:
    return PlanFacts(key=KEY, state="working_group_review", **values)


def endorsed_by(*people: str, trigger: str = "endorse") -> tuple[RoundAction, ...]:
    return tuple(RoundAction(person, trigger, "wg_member") for person in people)


# --- comment_required -------------------------------------------------------------------------


@pytest.mark.parametrize("comment", ["Please revise annex B.", "x", "  a reason  "])
def test_a_comment_with_text_satisfies_comment_required(comment: str) -> None:
    assert CommentRequired().failure(facts(comment=comment)) is None


@pytest.mark.parametrize("comment", [None, "", "   ", "\n\t \n"])
def test_a_missing_or_blank_comment_is_refused(comment: str | None) -> None:
    reason = CommentRequired().failure(facts(comment=comment))
    assert reason is not None and "comment is required" in reason


def test_comment_required_passes_while_listing_when_the_comment_is_not_known_yet() -> None:
    assert CommentRequired().failure(facts(comment=None, listing=True)) is None


# --- once_per_round ---------------------------------------------------------------------------


def test_once_per_round_holds_for_a_first_firing() -> None:
    state = facts(actor=ANN, trigger="endorse", round_actions=endorsed_by(BOB))
    assert OncePerRound().failure(state) is None


def test_once_per_round_refuses_a_second_firing_by_the_same_person_naming_them() -> None:
    state = facts(actor=ANN, trigger="endorse", round_actions=endorsed_by(BOB, ANN))
    reason = OncePerRound().failure(state)
    assert reason is not None and ANN in reason and "endorse" in reason


def test_once_per_round_counts_only_the_same_trigger() -> None:
    state = facts(actor=ANN, trigger="endorse", round_actions=endorsed_by(ANN, trigger="approve"))
    assert OncePerRound().failure(state) is None


def test_once_per_round_passes_when_nobody_in_particular_asks() -> None:
    state = facts(actor=None, trigger="endorse", round_actions=endorsed_by(ANN))
    assert OncePerRound().failure(state) is None


# --- role_assigned ----------------------------------------------------------------------------


def test_role_assigned_holds_when_someone_holds_the_role() -> None:
    state = facts(holders={"approver": frozenset({ANN})})
    assert RoleAssigned("approver").failure(state) is None


@pytest.mark.parametrize(
    "holders",
    [{}, {"approver": frozenset()}, {"coordinator": frozenset({ANN})}],
    ids=["no roles", "nobody in it", "only another role"],
)
def test_role_assigned_refuses_naming_the_role_and_the_plan(
    holders: dict[str, frozenset[str]],
) -> None:
    reason = RoleAssigned("approver").failure(facts(holders=holders))
    assert reason is not None and "no approver" in reason and KEY in reason


# --- quorum -----------------------------------------------------------------------------------


def test_a_quorum_of_all_waits_for_every_holder_naming_who_is_missing() -> None:
    quorum = Quorum("wg_member", "endorse", "all")
    state = facts(holders={"wg_member": frozenset({ANN, BOB, CAT})}, round_actions=endorsed_by(BOB))
    reason = quorum.failure(state)
    assert reason is not None
    assert f"waiting for {ANN}, {CAT}" in reason  # sorted, and only those still missing
    assert BOB not in reason


def test_a_quorum_of_all_holds_once_every_holder_acted() -> None:
    quorum = Quorum("wg_member", "endorse", "all")
    state = facts(
        holders={"wg_member": frozenset({ANN, BOB})}, round_actions=endorsed_by(BOB, ANN, CAT)
    )
    assert quorum.failure(state) is None


def test_a_quorum_of_all_with_nobody_in_the_role_can_never_be_reached() -> None:
    reason = Quorum("wg_member", "endorse", "all").failure(facts(round_actions=endorsed_by(ANN)))
    assert reason is not None and "no wg_member" in reason and "no quorum" in reason


def test_a_numeric_quorum_counts_holders_only_and_says_how_many_so_far() -> None:
    quorum = Quorum("expert", "endorse", 2)
    holders = {"expert": frozenset({ANN, BOB})}
    # CAT is no expert, and BOB approved rather than endorsed: one endorsement counts
    actions = (*endorsed_by(ANN, CAT), *endorsed_by(BOB, trigger="approve"))
    reason = quorum.failure(facts(holders=holders, round_actions=actions))
    assert reason is not None and "at least 2 expert endorse" in reason and "1 so far" in reason
    assert quorum.failure(facts(holders=holders, round_actions=endorsed_by(ANN, BOB))) is None


PEOPLE = st.sets(st.sampled_from([f"p{i}@example.org" for i in range(6)]))


@settings(max_examples=150, deadline=None)
@given(holders=PEOPLE, actors=PEOPLE, minimum=st.integers(1, 7))
def test_a_quorum_holds_exactly_when_enough_holders_acted(
    holders: set[str], actors: set[str], minimum: int
) -> None:
    state = facts(holders={"wg_member": frozenset(holders)}, round_actions=endorsed_by(*actors))
    counted = len(holders & actors)
    assert (Quorum("wg_member", "endorse", minimum).failure(state) is None) == (counted >= minimum)
    every = bool(holders) and holders <= actors
    assert (Quorum("wg_member", "endorse", "all").failure(state) is None) == every


# --- building conditions from a workflow file -------------------------------------------------


def test_a_condition_is_built_from_its_name_or_its_table() -> None:
    assert isinstance(build_condition("comment_required", SCOPE), CommentRequired)
    assert isinstance(build_condition({"name": "once_per_round"}, SCOPE), OncePerRound)
    assert build_condition({"name": "role_assigned", "role": "expert"}, SCOPE) == RoleAssigned(
        "expert"
    )
    # a quorum counts endorsements of every holder unless told otherwise
    built = build_condition({"name": "quorum", "role": "wg_member"}, SCOPE)
    assert built == Quorum("wg_member", "endorse", "all")
    built = build_condition({"name": "quorum", "role": "expert", "min": 2}, SCOPE)
    assert built == Quorum("expert", "endorse", 2)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_condition", "unknown condition 'no_such_condition'"),
        (42, "a condition is a name or a table"),
        ({"role": "expert"}, "a condition is a name or a table"),
        ({"name": "role_assigned"}, "needs parameter(s) role"),
        ({"name": "comment_required", "role": "x"}, "unknown parameter(s) role"),
        ({"name": "role_assigned", "role": "minister"}, "unknown role 'minister'"),
        ({"name": "quorum", "role": "expert", "trigger": "vote"}, "unknown trigger 'vote'"),
        ({"name": "quorum", "role": "expert", "min": 0}, 'min must be "all"'),
        ({"name": "quorum", "role": "expert", "min": True}, 'min must be "all"'),
        ({"name": "quorum", "role": "expert", "min": "most"}, 'min must be "all"'),
    ],
)
def test_a_wrong_condition_in_a_file_is_refused_saying_what_is_wrong(
    spec: object, message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        build_condition(spec, SCOPE)
    assert message in str(refused.value)


def test_draft_present_needs_a_draft() -> None:
    from napflow.workflow.conditions import DraftPresent
    from napflow.workflow.facts import PlanFacts

    condition = DraftPresent()
    assert condition.failure(PlanFacts(key="TJK-1", state="drafting", draft_version=2)) is None
    refused = condition.failure(PlanFacts(key="TJK-1", state="drafting"))
    assert refused == "TJK-1 has no draft yet (add one with `napflow draft add TJK-1 FILE`)"
    assert condition.describe() == "a draft is present"
