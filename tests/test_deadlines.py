"""Deadlines and the reminder rows they call for: ladders, local hours, DST, met, moved."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from napflow import services
from napflow.clock import VirtualClock
from napflow.errors import InputError, RefusedError
from napflow.runtime import Runtime

ZONES = {
    "coord@mfa.tj.example": ("coordinator", "Asia/Dushanbe"),
    "chair@president.tj.example": ("wg_chair", "Asia/Dushanbe"),
    "member@customs.tj.example": ("wg_member", None),  # the plan's zone
    "member2@medt.tj.example": ("wg_member", "Asia/Dushanbe"),
    "expert@osce.example": ("expert", "Europe/Vienna"),
    "gexpert@un1540.example": ("expert", "America/New_York"),
    "minister@mfa.tj.example": ("approver", "Asia/Dushanbe"),
}
COORD, CHAIR, MEMBER, MEMBER2, EXPERT, GEXPERT, MINISTER = ZONES


@pytest.fixture
def tjk(rt: Runtime) -> str:
    for email, (_role, zone) in ZONES.items():
        services.add_person(rt, email, email.split("@")[0], zone)
    key = services.create_plan(
        rt, "TJK", "NAP 2016-2021", timezone="Asia/Dushanbe", key="TJK-2015"
    ).key
    for email, (role, _zone) in ZONES.items():
        services.grant_role(rt, key, email, role)
    return key


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def pending(rt: Runtime, kind: str | None = None) -> list[services.MessageView]:
    return [m for m in services.list_messages(rt, "pending") if kind in (None, m.kind)]


def test_approval_ladder_and_first_escalation(rt: Runtime, tjk: str) -> None:
    deadline = services.add_deadline(rt, tjk, "approval", "2015-12-31")
    assert deadline.due_at == utc(2015, 12, 31, 18, 59, 59)  # 23:59:59 in Dushanbe (UTC+5)
    rows = {(m.rung, m.recipient): m for m in pending(rt)}
    assert set(rows) == {
        (rung, who)
        for rung in ("before-30d", "before-14d", "before-7d", "before-1d")
        for who in (COORD, MINISTER)
    } | {("escalation-1", COORD), ("escalation-1", CHAIR)}
    # 09:00 in Dushanbe is 04:00 UTC, all year
    assert rows[("before-30d", COORD)].send_at == utc(2015, 12, 1, 4)
    assert rows[("before-1d", MINISTER)].send_at == utc(2015, 12, 30, 4)
    assert rows[("escalation-1", CHAIR)].send_at == utc(2016, 1, 1, 4)
    assert rows[("before-1d", MINISTER)].local_send_at == "2015-12-30 09:00 +05"


def test_follow_up_session_reminders_in_each_recipients_zone(rt: Runtime, tjk: str) -> None:
    services.add_deadline(
        rt,
        tjk,
        "follow_up_session",
        "2015-10-08",
        end="2015-10-09",
        timezone="Europe/Vienna",
        location="Vienna",
    )
    rows = {(m.rung, m.recipient): m for m in pending(rt)}
    assert {who for _, who in rows} == {COORD, CHAIR, MEMBER, MEMBER2, EXPERT, GEXPERT}
    assert MINISTER not in {who for _, who in rows}
    assert rows[("before-21d", EXPERT)].send_at == utc(2015, 9, 17, 7)  # 09:00 CEST
    assert rows[("before-7d", GEXPERT)].send_at == utc(2015, 10, 1, 13)  # 09:00 EDT
    assert rows[("before-1d", MEMBER)].send_at == utc(2015, 10, 7, 4)  # plan zone, Dushanbe
    assert not [m for m in pending(rt) if m.kind == "escalation"]  # an event is never missed


def test_vienna_reminder_across_the_october_2015_change_is_at_nine_local(
    rt: Runtime, tjk: str
) -> None:
    """Summer time in Vienna ended on 25 October 2015 at 03:00."""
    services.add_deadline(rt, tjk, "follow_up_session", "2015-11-01", timezone="Europe/Vienna")
    rows = {m.rung: m for m in pending(rt) if m.recipient == EXPERT}
    assert rows["before-7d"].send_at == utc(2015, 10, 25, 8)  # the change day: CET, UTC+1
    assert rows["before-7d"].local_send_at == "2015-10-25 09:00 CET"
    assert rows["before-21d"].send_at == utc(2015, 10, 11, 7)  # still CEST, UTC+2
    assert rows["before-21d"].local_send_at == "2015-10-11 09:00 CEST"


def test_past_rungs_are_not_queued(rt: Runtime, clock: VirtualClock, tjk: str) -> None:
    clock.set(utc(2015, 12, 20))
    services.add_deadline(rt, tjk, "approval", "2015-12-31")
    assert {m.rung for m in pending(rt, "reminder")} == {"before-7d", "before-1d"}


def test_met_by_approval_cancels_everything_queued(rt: Runtime, tjk: str) -> None:
    deadline = services.add_deadline(rt, tjk, "approval", "2015-12-31")
    for trigger, actor in [
        ("submit_for_review", COORD),
        ("endorse", MEMBER),
        ("endorse", MEMBER2),
        ("send_to_experts", CHAIR),
        ("endorse", EXPERT),
        ("submit_for_approval", COORD),
        ("approve", MINISTER),
    ]:
        services.advance_plan(rt, tjk, trigger, actor)
    [approval] = [d for d in services.list_deadlines(rt, tjk) if d.id == deadline.id]
    assert approval.status == "met"
    assert not [m for m in pending(rt) if m.deadline == "Ministerial approval"]
    assert services.list_messages(rt, "cancelled")
    kinds = [r.kind for r in services.plan_history(rt, tjk).records]
    assert kinds.count("deadline_met") == 2  # the review window, then the approval


def test_move_requeues_with_a_new_sequence(rt: Runtime, tjk: str) -> None:
    deadline = services.add_deadline(rt, tjk, "approval", "2015-12-31")
    moved = services.move_deadline(rt, deadline.id, "2016-01-15")
    assert (moved.due_on.isoformat(), moved.sequence) == ("2016-01-15", 1)
    rows = pending(rt)
    assert rows and all(m.send_at >= utc(2015, 12, 16) for m in rows)
    assert {m.rung for m in rows if m.recipient == COORD} == {
        "before-30d",
        "before-14d",
        "before-7d",
        "before-1d",
        "escalation-1",
    }
    assert len(services.list_messages(rt, "cancelled")) == 10
    last = services.plan_history(rt, tjk).records[-1]
    assert (last.kind, last.payload["due_on"], last.payload["sequence"]) == (
        "deadline_moved",
        "2016-01-15",
        1,
    )


def test_cancel_stops_every_message(rt: Runtime, tjk: str) -> None:
    deadline = services.add_deadline(rt, tjk, "approval", "2015-12-31")
    assert services.cancel_deadline(rt, deadline.id).status == "cancelled"
    assert pending(rt) == []
    with pytest.raises(RefusedError, match="is cancelled already"):
        services.cancel_deadline(rt, deadline.id)
    with pytest.raises(RefusedError, match="only a pending one moves"):
        services.move_deadline(rt, deadline.id, "2016-01-31")


def test_review_window_follows_the_state_and_the_endorsements(
    rt: Runtime, clock: VirtualClock, tjk: str
) -> None:
    clock.set(utc(2015, 7, 15, 5))
    services.advance_plan(rt, tjk, "submit_for_review", COORD)
    [window] = [d for d in services.list_deadlines(rt, tjk) if d.kind == "review_window"]
    assert window.due_on.isoformat() == "2015-08-14"
    reminders = pending(rt, "reminder")
    assert {(m.rung, m.recipient) for m in reminders} == {
        (r, who) for r in ("before-7d", "before-1d") for who in (MEMBER, MEMBER2)
    }
    services.advance_plan(rt, tjk, "endorse", MEMBER)
    assert {m.recipient for m in pending(rt, "reminder")} == {MEMBER2}
    services.advance_plan(rt, tjk, "request_changes", CHAIR, "Revise section III.")
    assert pending(rt, "reminder") == []
    [window] = [d for d in services.list_deadlines(rt, tjk) if d.kind == "review_window"]
    assert window.status == "met"


def test_roles_granted_later_get_reminders_and_revoked_lose_them(rt: Runtime, tjk: str) -> None:
    services.add_deadline(rt, tjk, "approval", "2015-12-31")
    services.add_person(rt, "deputy@mfa.tj.example", "Deputy", "Asia/Dushanbe")
    services.grant_role(rt, tjk, "deputy@mfa.tj.example", "approver")
    assert len([m for m in pending(rt) if m.recipient == "deputy@mfa.tj.example"]) == 4
    services.revoke_role(rt, tjk, MINISTER, "approver")
    assert [m for m in pending(rt) if m.recipient == MINISTER] == []


def test_transition_notices_go_to_the_named_roles(rt: Runtime, tjk: str) -> None:
    for trigger, actor in [
        ("submit_for_review", COORD),
        ("endorse", MEMBER),
        ("endorse", MEMBER2),
        ("send_to_experts", CHAIR),
    ]:
        services.advance_plan(rt, tjk, trigger, actor)
    notices = pending(rt, "notice")
    assert {(m.rung, m.recipient) for m in notices} == {
        # the working group hears that the draft reached it (not the coordinator who sent it)
        ("submit_for_review", CHAIR),
        ("submit_for_review", MEMBER),
        ("submit_for_review", MEMBER2),
        ("send_to_experts", EXPERT),
        ("send_to_experts", GEXPERT),
    }
    services.advance_plan(rt, tjk, "return_with_comments", EXPERT, "Add time frames.")
    returned = {m.recipient for m in pending(rt) if m.rung == "return_with_comments"}
    assert returned == {COORD, CHAIR}  # the coordinator and the chair, with the comment


def test_bad_deadline_input(rt: Runtime, tjk: str) -> None:
    with pytest.raises(InputError, match="no deadline kind 'review_window' to add by hand"):
        services.add_deadline(rt, tjk, "review_window", "2015-12-31")
    with pytest.raises(InputError, match="'31/12/2015' is not a date; write it as YYYY-MM-DD"):
        services.add_deadline(rt, tjk, "approval", "31/12/2015")
    with pytest.raises(InputError, match="end date 2015-10-07 is before the start date"):
        services.add_deadline(rt, tjk, "follow_up_session", "2015-10-08", end="2015-10-07")
    with pytest.raises(InputError, match="'25:00' is not a time of day"):
        services.add_deadline(rt, tjk, "approval", "2015-12-31", at="25:00")


def test_missed_and_passed_are_shown(rt: Runtime, clock: VirtualClock, tjk: str) -> None:
    services.add_deadline(rt, tjk, "approval", "2015-12-31")
    services.add_deadline(rt, tjk, "follow_up_session", "2015-10-08", timezone="Europe/Vienna")
    clock.set(utc(2016, 1, 2))
    assert {d.kind: d.status for d in services.list_deadlines(rt, tjk)} == {
        "follow_up_session": "passed",
        "approval": "missed",
    }


def test_a_role_given_back_gets_its_reminders_again(rt: Runtime, tjk: str) -> None:
    services.add_deadline(rt, tjk, "approval", "2015-12-31")
    services.revoke_role(rt, tjk, MINISTER, "approver")
    assert [m for m in pending(rt) if m.recipient == MINISTER] == []
    services.grant_role(rt, tjk, MINISTER, "approver")
    assert sorted(m.rung for m in pending(rt) if m.recipient == MINISTER) == [
        "before-14d",
        "before-1d",
        "before-30d",
        "before-7d",
    ]


def test_withdrawal_ends_every_deadline_and_takes_no_new_ones(rt: Runtime, tjk: str) -> None:
    services.add_deadline(rt, tjk, "approval", "2015-12-31")
    services.advance_plan(rt, tjk, "withdraw", COORD, "Superseded by the 2016 draft.")
    assert {d.status for d in services.list_deadlines(rt, tjk)} == {"cancelled"}
    # no reminder is left; everyone on the plan but the coordinator who withdrew it is told
    on_plan = {e for who in services.show_plan(rt, tjk).roles.values() for e in who}
    assert {(m.kind, m.rung) for m in pending(rt)} == {("notice", "withdraw")}
    assert {m.recipient for m in pending(rt)} == on_plan - {COORD}
    with pytest.raises(RefusedError, match="TJK-2015 is withdrawn, a final state"):
        services.add_deadline(rt, tjk, "approval", "2016-06-30")


def test_escalation_far_east_of_the_deadline_waits_until_it_has_passed(rt: Runtime) -> None:
    services.add_person(rt, "nz@example.org", "Reader in Auckland", "Pacific/Auckland")
    services.add_person(rt, "coord@example.org", "Coordinator", "America/New_York")
    key = services.create_plan(rt, "USA", "Plan", timezone="America/New_York", key="USA-1").key
    services.grant_role(rt, key, "nz@example.org", "wg_chair")
    services.grant_role(rt, key, "coord@example.org", "coordinator")
    deadline = services.add_deadline(rt, key, "approval", "2015-12-31")
    [nz] = [m for m in pending(rt, "escalation") if m.recipient == "nz@example.org"]
    # 09:00 on 1 January in Auckland is still 31 December in New York: not missed yet
    assert nz.send_at > deadline.due_at == utc(2016, 1, 1, 4, 59, 59)


def test_dates_out_of_range_and_offsets_are_refused(rt: Runtime, tjk: str) -> None:
    with pytest.raises(InputError, match="out of range: years 1900-2999"):
        services.add_deadline(rt, tjk, "approval", "9999-12-31")
    with pytest.raises(InputError, match="carries an offset"):
        services.add_deadline(rt, tjk, "approval", "2015-12-31", at="10:00+05:00")
