"""The NAP workflow through the advance service: every transition, every role, every rule."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from helpers import CAST, START, refuse_history_inserts
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from napflow import services
from napflow.clock import VirtualClock
from napflow.errors import ConflictError, InputError, NotAllowedError, NotFoundError
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings

# One person standing for each role, and one with no role at all.
ACTOR = {role: emails[0] for role, emails in CAST.items()} | {"none": "outsider@example.org"}
COORD, CHAIR, EXPERT, MINISTER = (
    ACTOR[r] for r in ("coordinator", "wg_chair", "expert", "approver")
)
MEMBERS = CAST["wg_member"]

# How to bring a fresh plan into each situation the table below starts from.
PATHS: dict[str, list[tuple[str, str]]] = {
    "drafting": [],
    "working_group_review": [("submit_for_review", COORD)],
    "working_group_review+quorum": [("submit_for_review", COORD)]
    + [("endorse", m) for m in MEMBERS],
    "expert_review": [("submit_for_review", COORD)]
    + [("endorse", m) for m in MEMBERS]
    + [("send_to_experts", CHAIR)],
    "expert_review+endorsed": [("submit_for_review", COORD)]
    + [("endorse", m) for m in MEMBERS]
    + [("send_to_experts", CHAIR), ("endorse", EXPERT)],
    "submitted": [("submit_for_review", COORD)]
    + [("endorse", m) for m in MEMBERS]
    + [("send_to_experts", CHAIR), ("endorse", EXPERT), ("submit_for_approval", COORD)],
}

# trigger, situation, roles that may fire it, whether a comment is required, state after
TABLE = [
    ("submit_for_review", "drafting", {"coordinator"}, False, "working_group_review"),
    ("endorse", "working_group_review", {"wg_member", "wg_chair"}, False, "working_group_review"),
    ("request_changes", "working_group_review", {"wg_chair", "coordinator"}, True, "drafting"),
    (
        "send_to_experts",
        "working_group_review+quorum",
        {"wg_chair", "coordinator"},
        False,
        "expert_review",
    ),
    ("endorse", "expert_review", {"expert"}, False, "expert_review"),
    ("return_with_comments", "expert_review", {"expert"}, True, "drafting"),
    ("submit_for_approval", "expert_review+endorsed", {"coordinator"}, False, "submitted"),
    ("approve", "submitted", {"approver"}, False, "approved"),
    ("send_back", "submitted", {"approver"}, True, "drafting"),
    ("withdraw", "drafting", {"coordinator"}, True, "withdrawn"),
    ("withdraw", "working_group_review", {"coordinator"}, True, "withdrawn"),
    ("withdraw", "expert_review", {"coordinator"}, True, "withdrawn"),
    ("withdraw", "submitted", {"coordinator"}, True, "withdrawn"),
]


@pytest.fixture(params=[True, False], ids=["fast_path", "plain_sql"])
def rt(request: pytest.FixtureRequest, db_url: str, clock: VirtualClock) -> Iterator[Runtime]:
    """The runtime, with the statement fast path on and off: every test here runs both ways."""
    runtime = build_runtime(Settings(database_url=db_url, fast_path=request.param), clock=clock)
    services.init_database(runtime)
    yield runtime
    runtime.db.dispose()


@pytest.fixture
def make_plan(rt: Runtime, nap_plan: str) -> Callable[[str], str]:
    """Return a factory of fresh plans, with the whole cast, in a given situation."""
    counter = iter(range(1, 1000))

    def make(situation: str) -> str:
        key = services.create_plan(rt, "TJK", "Plan", key=f"TJK-P{next(counter)}").key
        for role, emails in CAST.items():
            for email in emails:
                services.grant_role(rt, key, email, role)
        for trigger, actor in PATHS[situation]:
            services.advance_plan(rt, key, trigger, actor)
        return key

    return make


#: the kinds of history record an action writes for itself
ACTION_KINDS = ("transition", "action")


def state_of(rt: Runtime, key: str) -> str:
    return services.show_plan(rt, key).state


@pytest.mark.parametrize(
    ("trigger", "situation", "allowed", "needs_comment", "after"),
    TABLE,
    ids=[f"{t}-from-{s}" for t, s, *_ in TABLE],
)
def test_transition_allowed_exactly_for_its_roles(
    rt: Runtime,
    make_plan: Callable[[str], str],
    trigger: str,
    situation: str,
    allowed: set[str],
    needs_comment: bool,
    after: str,
) -> None:
    comment = "Please revise section III." if needs_comment else None
    refused_plan = make_plan(situation)
    before = services.show_plan(rt, refused_plan)
    for role, actor in ACTOR.items():
        if role in allowed:
            continue
        if role == "none":
            # someone on no role of the plan (and with no site grant) does not see it: the
            # same answer as for a plan that does not exist
            with pytest.raises(NotFoundError) as hidden:
                services.advance_plan(rt, refused_plan, trigger, actor, comment)
            assert hidden.value.data() == {"key": refused_plan, "missing": "plan"}
            assert str(hidden.value) == f"There is no plan {refused_plan!r}; " + (
                "`napflow plan list` shows the plans there are."
            )
            continue
        with pytest.raises(NotAllowedError) as info:
            services.advance_plan(rt, refused_plan, trigger, actor, comment)
        assert f"Cannot {trigger} {refused_plan}: it needs the role" in str(info.value)
    unchanged = services.show_plan(rt, refused_plan)
    assert (unchanged.state, unchanged.version) == (before.state, before.version)

    for role in sorted(allowed):
        key = make_plan(situation)
        done = services.advance_plan(rt, key, trigger, ACTOR[role], comment)
        assert (done.to_state, done.role) == (after, role)
        assert state_of(rt, key) == after
        # the action's own record: the last action or transition (the deadlines it opened
        # or met are recorded after it, each a version of the plan's own)
        acts = [r for r in services.plan_history(rt, key).records if r.kind in ACTION_KINDS]
        last = acts[-1]
        assert done.version == services.show_plan(rt, key).version
        assert (last.trigger, last.actor, last.role, last.to_state, last.comment) == (
            trigger,
            ACTOR[role],
            role,
            after,
            comment,
        )


@pytest.mark.parametrize("trigger", ["request_changes", "withdraw"])
def test_comment_required_refuses_missing_and_blank(
    rt: Runtime, make_plan: Callable[[str], str], trigger: str
) -> None:
    key = make_plan("working_group_review")
    for comment in (None, "   \n\t "):
        with pytest.raises(NotAllowedError, match="a comment is required"):
            services.advance_plan(rt, key, trigger, COORD, comment)
    assert state_of(rt, key) == "working_group_review"


def test_send_to_experts_waits_for_every_member_of_this_round(
    rt: Runtime, make_plan: Callable[[str], str]
) -> None:
    key = make_plan("working_group_review")
    with pytest.raises(NotAllowedError, match=r"waiting for member1@example\.org, member2@"):
        services.advance_plan(rt, key, "send_to_experts", CHAIR)
    services.advance_plan(rt, key, "endorse", MEMBERS[0])
    services.advance_plan(rt, key, "endorse", CHAIR)  # the chair's endorsement is not a member's
    with pytest.raises(NotAllowedError, match=r"waiting for member2@example.org\."):
        services.advance_plan(rt, key, "send_to_experts", CHAIR)
    services.advance_plan(rt, key, "endorse", MEMBERS[1])
    # A return starts a new round: earlier endorsements no longer count.
    services.advance_plan(rt, key, "request_changes", CHAIR, "Add customs annex.")
    services.advance_plan(rt, key, "submit_for_review", COORD)
    with pytest.raises(NotAllowedError, match=r"waiting for member1@example\.org, member2@"):
        services.advance_plan(rt, key, "send_to_experts", CHAIR)
    for member in MEMBERS:
        services.advance_plan(rt, key, "endorse", member)
    assert services.advance_plan(rt, key, "send_to_experts", CHAIR).to_state == "expert_review"


def test_quorum_needs_at_least_one_member(rt: Runtime, make_plan: Callable[[str], str]) -> None:
    key = make_plan("working_group_review")
    for member in MEMBERS:
        services.revoke_role(rt, key, member, "wg_member")
    with pytest.raises(NotAllowedError, match="no wg_member is assigned"):
        services.advance_plan(rt, key, "send_to_experts", CHAIR)


def test_endorse_once_per_person_per_round(rt: Runtime, make_plan: Callable[[str], str]) -> None:
    key = make_plan("working_group_review")
    services.advance_plan(rt, key, "endorse", MEMBERS[0])
    with pytest.raises(NotAllowedError, match="has already done endorse in this round"):
        services.advance_plan(rt, key, "endorse", MEMBERS[0])
    services.advance_plan(rt, key, "request_changes", COORD, "Rework.")
    services.advance_plan(rt, key, "submit_for_review", COORD)
    done = services.advance_plan(rt, key, "endorse", MEMBERS[0])
    last = services.plan_history(rt, key).records[-1]
    assert (last.seq, last.trigger, last.actor) == (done.version, "endorse", MEMBERS[0])


def test_submit_for_approval_needs_an_expert_endorsement_and_an_approver(
    rt: Runtime, make_plan: Callable[[str], str]
) -> None:
    key = make_plan("expert_review")
    services.revoke_role(rt, key, MINISTER, "approver")
    with pytest.raises(NotAllowedError) as info:
        services.advance_plan(rt, key, "submit_for_approval", COORD)
    message = str(info.value)
    assert "at least 1 expert endorse needed in this round, 0 so far" in message
    assert f"no approver is assigned to {key}" in message
    services.advance_plan(rt, key, "endorse", EXPERT)
    with pytest.raises(NotAllowedError, match="no approver is assigned"):
        services.advance_plan(rt, key, "submit_for_approval", COORD)
    services.grant_role(rt, key, MINISTER, "approver")
    assert services.advance_plan(rt, key, "submit_for_approval", COORD).to_state == "submitted"


def test_wrong_state_says_what_is_allowed_now(rt: Runtime, nap_plan: str) -> None:
    with pytest.raises(NotAllowedError) as info:
        services.advance_plan(rt, nap_plan, "approve", COORD)
    assert str(info.value) == (
        f"Cannot approve {nap_plan}: it is in drafting. "
        f"Allowed now for {COORD}: submit_for_review, withdraw."
    )


def test_final_states_allow_nothing(rt: Runtime, make_plan: Callable[[str], str]) -> None:
    key = make_plan("submitted")
    services.advance_plan(rt, key, "approve", MINISTER)
    assert services.show_plan(rt, key).allowed == []
    with pytest.raises(NotAllowedError, match=r"it is in approved\. Allowed now for .*: nothing"):
        services.advance_plan(rt, key, "withdraw", COORD, "Too late.")


def test_unknown_trigger_is_bad_input_listing_the_triggers(rt: Runtime, nap_plan: str) -> None:
    with pytest.raises(InputError, match="no trigger 'aprove'; triggers: submit_for_review, "):
        services.advance_plan(rt, nap_plan, "aprove", COORD)


def test_unknown_plan_and_unknown_person_are_refused(rt: Runtime, nap_plan: str) -> None:
    with pytest.raises(NotFoundError, match="There is no plan 'TJK-NONE'"):
        services.advance_plan(rt, "TJK-NONE", "submit_for_review", COORD)
    with pytest.raises(NotFoundError, match=r"nobody@example\.org is not registered"):
        services.advance_plan(rt, nap_plan, "submit_for_review", "nobody@example.org")


def test_expect_version_refuses_a_stale_action(rt: Runtime, nap_plan: str) -> None:
    seen = services.show_plan(rt, nap_plan).version
    services.advance_plan(rt, nap_plan, "submit_for_review", COORD, expect_version=seen)
    now = services.show_plan(rt, nap_plan).version
    with pytest.raises(ConflictError, match=f"is at version {now}, not {seen}"):
        services.advance_plan(rt, nap_plan, "withdraw", COORD, "Stale.", expect_version=seen)
    assert state_of(rt, nap_plan) == "working_group_review"


def test_history_record_has_every_field(rt: Runtime, clock: VirtualClock, nap_plan: str) -> None:
    clock.advance(timedelta(days=3))
    done = services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    *_, record, started = services.plan_history(rt, nap_plan).records
    # entering working-group review starts its 30-day review window, recorded right after
    assert (started.kind, started.seq) == ("deadline_added", record.seq + 1)
    assert started.payload is not None and started.payload["due_on"] == "2015-08-03"
    # the version reported is the plan's after both records
    assert services.show_plan(rt, nap_plan).version == started.seq == done.version
    assert (record.kind, record.trigger, record.from_state, record.to_state) == (
        "transition",
        "submit_for_review",
        "drafting",
        "working_group_review",
    )
    assert (record.actor, record.role, record.comment) == (COORD, "coordinator", None)
    assert record.at == START + timedelta(days=3)
    # the version the plan runs under (the NAP file's, which created it)
    assert (record.workflow, record.workflow_version) == ("nap", rt.catalog.get("nap").version)


def test_state_and_history_commit_together_or_not_at_all(rt: Runtime, nap_plan: str) -> None:
    """A failure while writing the history record leaves the plan as it was."""
    refuse_history_inserts(rt, "NEW.comment = 'boom'")
    services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    before = services.show_plan(rt, nap_plan)
    with pytest.raises(IntegrityError, match="history write failed"):
        services.advance_plan(rt, nap_plan, "request_changes", COORD, "boom")
    after = services.show_plan(rt, nap_plan)
    assert (after.state, after.version) == (before.state, before.version)
    assert len(services.plan_history(rt, nap_plan).records) == before.version


def test_one_machine_per_workflow_shared_by_every_plan(
    rt: Runtime, make_plan: Callable[[str], str]
) -> None:
    engine = rt.catalog.engine("nap")
    make_plan("submitted")
    make_plan("expert_review")
    assert rt.catalog.engine("nap") is engine


def test_show_plan_lists_what_each_person_may_do(
    rt: Runtime, make_plan: Callable[[str], str]
) -> None:
    key = make_plan("working_group_review")
    assert services.show_plan(rt, key, MEMBERS[0]).allowed == ["endorse"]
    assert services.show_plan(rt, key, CHAIR).allowed == ["endorse", "request_changes"]
    assert services.show_plan(rt, key, ACTOR["observer"]).allowed == []
    assert services.show_plan(rt, key).allowed == ["endorse", "request_changes", "withdraw"]


def test_role_change_and_its_record_commit_together_or_not_at_all(
    rt: Runtime, nap_plan: str
) -> None:
    """The role row (written through SQLAlchemy) is rolled back with the failed record."""
    refuse_history_inserts(rt, "NEW.kind = 'role_granted'")
    before = services.show_plan(rt, nap_plan).version
    with pytest.raises(IntegrityError, match="history write failed"):
        services.grant_role(rt, nap_plan, "outsider@example.org", "expert")
    assert "outsider@example.org" not in services.show_plan(rt, nap_plan).roles["expert"]
    assert services.show_plan(rt, nap_plan).version == before
    # The connection is usable afterwards: the next action goes through.
    # (its record and the review window it opens: two versions)
    assert services.advance_plan(rt, nap_plan, "submit_for_review", COORD).version == before + 2


def test_the_fast_path_setting_decides_who_runs_the_history_insert(
    rt: Runtime, nap_plan: str
) -> None:
    # With the fast path the history insert runs on the driver cursor, unseen by SQLAlchemy's
    # execute events; without it, through plain Connection.execute. Either way it is written.
    seen: list[str] = []
    before = len(services.plan_history(rt, nap_plan).records)

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(rt.db._services, "before_cursor_execute", record)
    try:
        services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    finally:
        event.remove(rt.db._services, "before_cursor_execute", record)
    inserts = [s for s in seen if s.lstrip().upper().startswith("INSERT INTO HISTORY")]
    new = services.plan_history(rt, nap_plan).records[before:]
    assert "submit_for_review" in [r.trigger for r in new]  # and its review window's record
    assert len(inserts) == (0 if rt.settings.fast_path else len(new))


def test_the_reported_version_is_the_plans_after_everything_the_action_wrote(
    rt: Runtime, make_plan: Callable[[str], str]
) -> None:
    # submitting opens the review window and sending on meets it: records of their own,
    # each a version. The version an advance reports is the plan's after all of them, so a
    # script acting next with --expect-version on it is never refused for nothing.
    key = make_plan("drafting")
    done = services.advance_plan(rt, key, "submit_for_review", COORD)
    assert done.version == services.show_plan(rt, key).version
    for member in MEMBERS:
        done = services.advance_plan(rt, key, "endorse", member, expect_version=done.version)
    done = services.advance_plan(rt, key, "send_to_experts", CHAIR, expect_version=done.version)
    kinds = [r.kind for r in services.plan_history(rt, key).records[-2:]]
    assert kinds == ["transition", "deadline_met"]
    assert done.version == services.show_plan(rt, key).version
    services.advance_plan(rt, key, "endorse", EXPERT, expect_version=done.version)
