"""Site grants, people who leave, the site ledger, and deadlines' status over time.

The web and API answers for every kind of person are in tests/test_visibility_matrix.py;
these tests hold the services and the CLI to the same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from helpers import CAST, Result
from sqlalchemy import text

from napflow import services
from napflow.clock import VirtualClock
from napflow.errors import NotAllowedError, NotAuthenticatedError, NotFoundError, RefusedError
from napflow.runtime import Runtime
from napflow.services import accounts

COORD, CHAIR, EXPERT, MINISTER = (
    CAST[r][0] for r in ("coordinator", "wg_chair", "expert", "approver")
)
MEMBERS = CAST["wg_member"]
OUTSIDER = "outsider@example.org"


def to_approval(rt: Runtime, key: str) -> None:
    """Carry plan ``key`` from drafting to approved."""
    services.advance_plan(rt, key, "submit_for_review", COORD)
    for member in MEMBERS:
        services.advance_plan(rt, key, "endorse", member)
    services.advance_plan(rt, key, "send_to_experts", CHAIR)
    services.advance_plan(rt, key, "endorse", EXPERT)
    services.advance_plan(rt, key, "submit_for_approval", COORD)
    services.advance_plan(rt, key, "approve", MINISTER)


def test_a_reader_of_one_country_sees_its_plans_and_cannot_act(
    rt: Runtime, nap_plan: str, cli: Callable[..., Result]
) -> None:
    other = services.create_plan(rt, "TKM", "Turkmenistan's plan", key="TKM-T").key
    assert services.list_plans(rt, viewer=OUTSIDER) == []
    with pytest.raises(NotFoundError) as hidden:
        services.show_plan(rt, other, OUTSIDER)
    with pytest.raises(NotFoundError) as missing:
        services.show_plan(rt, "TKM-NONE", OUTSIDER)
    # a hidden plan and a missing one answer alike, but for the key
    assert str(hidden.value).replace(other, "K") == str(missing.value).replace("TKM-NONE", "K")

    done = services.access.grant_access(rt, OUTSIDER, "reader", ["tkm"], comment="OSCE desk")
    assert (done.grant, done.changed) == ("reader", ["TKM"])
    assert [p.key for p in services.list_plans(rt, viewer=OUTSIDER)] == [other]
    assert services.plan_history(rt, other, viewer=OUTSIDER).records
    with pytest.raises(NotFoundError):
        services.plan_history(rt, nap_plan, viewer=OUTSIDER)
    with pytest.raises(NotAllowedError) as refused:  # reads, never acts
        services.advance_plan(rt, other, "submit_for_review", OUTSIDER)
    assert refused.value.data()["reasons"]
    assert services.show_plan(rt, other).version == 1  # nothing was written

    listed = cli("plan", "list", "--as", OUTSIDER, "--format", "json")
    assert [p["key"] for p in listed.json()] == [other]  # type: ignore[union-attr]
    hidden_cli = cli("history", nap_plan, "--as", OUTSIDER)
    assert hidden_cli.code == 1 and f"There is no plan '{nap_plan}'" in hidden_cli.err
    assert cli("history", nap_plan).code == 0  # the operator sees everything


def test_site_grants_are_recorded_on_the_site_ledger_which_verifies(
    rt: Runtime, nap_plan: str, cli: Callable[..., Result]
) -> None:
    before = services.audit.verify_ledger(rt).site_records
    assert cli("access", "grant", CHAIR, "auditor", "--country", "TJK").code == 0
    assert cli("access", "grant", CHAIR, "auditor", "--country", "TJK").out.endswith(
        "nothing changed.\n"
    )  # held already: nothing recorded twice
    assert cli("access", "grant", COORD, "admin", "--comment", "runs the server").code == 0
    revoked = cli("access", "revoke", CHAIR, "auditor", "--as", COORD)
    assert revoked.code == 0 and "Revoked auditor (TJK)" in revoked.out
    report = services.audit.verify_ledger(rt)
    assert report.ok and report.site_records == before + 3
    with rt.db.read() as conn:
        kinds = conn.execute(text("SELECT kind, actor, comment FROM site_history ORDER BY seq"))
        last = kinds.all()[-3:]
    assert [tuple(r) for r in last] == [
        ("access_granted", None, None),
        ("access_granted", None, "runs the server"),
        ("access_revoked", COORD, None),
    ]
    listed = cli("access", "list", "--format", "json").json()
    assert listed == [  # type: ignore[comparison-overlap]
        {
            "email": COORD,
            "name": "Coord",
            "grant": "admin",
            "country": "*",
            "granted_at": listed[0]["granted_at"],  # type: ignore[index]
        }
    ]
    refused = cli("access", "grant", OUTSIDER, "reader", "--as", CHAIR)
    assert refused.code == 1 and "only an administrator may" in refused.err


@pytest.mark.sqlite_only
def test_a_changed_site_record_fails_verification(rt: Runtime, nap_plan: str) -> None:
    services.access.grant_access(rt, OUTSIDER, "reader")
    assert services.audit.verify_ledger(rt).ok
    with rt.db.write() as conn:  # someone with the database file, behind napflow's back
        conn.execute(text("DROP TRIGGER site_history_append_only_update"))
        conn.execute(text("UPDATE site_history SET payload = replace(payload, 'reader', 'admin')"))
    report = services.audit.verify_ledger(rt)
    assert not report.ok
    assert [(p.plan, p.kind) for p in report.problems] == [("site ledger", "edited")]


def test_a_person_who_leaves_loses_sessions_tokens_logins_actions_and_reminders(
    rt: Runtime, nap_plan: str, clock: VirtualClock, cli: Callable[..., Result]
) -> None:
    member = MEMBERS[0]
    services.add_deadline(rt, nap_plan, "approval", "2015-12-31")
    services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    accounts.set_password(rt, member, "a long enough password")
    session = accounts.log_in(rt, member, "a long enough password")
    token = accounts.create_api_token(rt, member)
    assert services.list_messages(rt, "pending", nap_plan, viewer=member)
    mine = [m for m in services.list_messages(rt, "pending", nap_plan) if m.recipient == member]
    assert mine  # reminders were waiting for them

    gone = services.people.deactivate_person(rt, member, comment="Left the ministry")
    assert not gone.active
    assert accounts.session_for(rt, session.token) is None
    with pytest.raises(NotAuthenticatedError):
        accounts.token_owner(rt, token)
    with pytest.raises(NotAuthenticatedError) as login:
        accounts.log_in(rt, member, "a long enough password")
    assert "was deactivated on 2015-07-01" in str(login.value)
    with pytest.raises(NotAllowedError) as acting:
        services.advance_plan(rt, nap_plan, "endorse", member)
    assert "was deactivated on 2015-07-01" in str(acting.value)
    pending = [m for m in services.list_messages(rt, "pending", nap_plan) if m.recipient == member]
    assert pending == []
    assert member in services.show_plan(rt, nap_plan).roles["wg_member"]  # the role stays
    assert any(r.actor == member for r in services.plan_history(rt, nap_plan).records) is False
    listed = cli("person", "list", "--format", "json").json()
    departed = [p["deactivated_at"] for p in listed if p["email"] == member]  # type: ignore[union-attr, index]
    assert len(departed) == 1 and departed[0] is not None

    back = services.people.activate_person(rt, member)
    assert back.active
    again = [m for m in services.list_messages(rt, "pending", nap_plan) if m.recipient == member]
    # reminded again; the notice of the submission, cancelled when they left, is not sent
    assert {m.rung for m in again} == {m.rung for m in mine if m.kind == "reminder"}
    assert {m.kind for m in mine} == {"reminder", "notice"}
    assert accounts.log_in(rt, member, "a long enough password").email == member
    assert services.advance_plan(rt, nap_plan, "endorse", member).actor == member


def test_the_last_administrator_cannot_leave_or_lose_the_grant(rt: Runtime, nap_plan: str) -> None:
    services.access.grant_access(rt, COORD, "admin")
    with pytest.raises(RefusedError, match="last active administrator"):
        services.people.deactivate_person(rt, COORD)
    with pytest.raises(RefusedError, match="last active administrator"):
        services.access.revoke_access(rt, COORD, "admin")
    services.access.grant_access(rt, CHAIR, "admin")
    services.people.deactivate_person(rt, COORD, actor=CHAIR)  # another admin remains
    assert not services.people.show_person(rt, COORD).active
    with pytest.raises(RefusedError, match="last active administrator"):
        services.access.revoke_access(rt, CHAIR, "admin", actor=CHAIR)
    # the grant of an administrator who left can be taken back: it leaves no one out
    done = services.access.revoke_access(rt, COORD, "admin", actor=CHAIR)
    assert done.changed == ["*"]


def test_person_edit_is_recorded_and_moves_pending_mail_to_the_new_address(
    rt: Runtime, nap_plan: str, cli: Callable[..., Result]
) -> None:
    services.add_deadline(rt, nap_plan, "approval", "2015-12-31")
    new = "minister.office@example.org"
    before = [m.rung for m in services.list_messages(rt, "pending") if m.recipient == MINISTER]
    assert before
    done = services.people.edit_person(rt, MINISTER, new_email=new, name="The Minister")
    assert (done.email, done.name) == (new, "The Minister")
    after = services.list_messages(rt, "pending")
    assert [m.rung for m in after if m.recipient == new] == before
    assert [m for m in after if m.recipient == MINISTER] == []
    assert new in services.show_plan(rt, nap_plan).roles["approver"]
    assert services.audit.verify_ledger(rt).ok
    refused = cli("person", "edit", new, "--email", COORD)
    assert refused.code == 1 and "it is taken" in refused.err
    nothing = cli("person", "edit", new)
    assert nothing.code == 2 and "Nothing to change" in nothing.err


def test_an_admin_may_manage_roles_of_any_plan_and_a_hidden_plan_is_missing(
    rt: Runtime, nap_plan: str
) -> None:
    with pytest.raises(NotFoundError):  # no role on it, no grant: the plan is not there
        services.grant_role(rt, nap_plan, OUTSIDER, "observer", actor=OUTSIDER)
    services.access.grant_access(rt, OUTSIDER, "admin")
    done = services.grant_role(rt, nap_plan, OUTSIDER, "observer", OUTSIDER, "Follows it")
    assert done.changed
    last = services.plan_history(rt, nap_plan).records[-1]
    assert (last.actor, last.role, last.detail) == (
        OUTSIDER,
        "admin",
        f"granted observer to {OUTSIDER}: Follows it",
    )


def test_a_deadline_met_late_says_so_and_a_session_held_is_not_cancelled(
    rt: Runtime, nap_plan: str, clock: VirtualClock, cli: Callable[..., Result]
) -> None:
    services.add_deadline(rt, nap_plan, "approval", "2015-12-31")
    services.add_deadline(rt, nap_plan, "follow_up_session", "2015-10-08", end="2015-10-09")
    clock.set(datetime(2016, 1, 2, 9, 0, tzinfo=UTC))  # two days after the deadline, Dushanbe
    to_approval(rt, nap_plan)
    found = {d.kind: d for d in services.list_deadlines(rt, nap_plan)}
    assert (found["approval"].status, found["approval"].late_days) == ("met", 2)
    assert found["approval"].status_text == "met late, 2 days after"
    assert found["follow_up_session"].status == "passed"  # it took place: not cancelled
    met = [r for r in services.plan_history(rt, nap_plan).records if r.kind == "deadline_met"]
    assert [r.detail for r in met] == [
        "deadline met: Working-group review (2016-02-01)",  # the review window, in time
        "deadline met: Ministerial approval (2015-12-31), 2 days late",
    ]
    listed = cli("deadline", "list", nap_plan)
    assert "met late, 2 days after" in listed.out


def test_a_session_still_ahead_is_cancelled_with_a_withdrawn_plan(
    rt: Runtime, nap_plan: str, clock: VirtualClock
) -> None:
    services.add_deadline(rt, nap_plan, "follow_up_session", "2015-10-08")
    clock.advance(timedelta(days=1))
    services.advance_plan(rt, nap_plan, "withdraw", COORD, "Superseded by a new draft.")
    found = services.list_deadlines(rt, nap_plan)
    assert [(d.status, d.late_days, d.status_text) for d in found] == [
        ("cancelled", None, "cancelled")  # a session still ahead is called off with the plan
    ]


def test_the_person_commands_say_what_they_did_and_refuse_clearly(
    rt: Runtime, nap_plan: str, cli: Callable[..., Result]
) -> None:
    gone = cli("person", "deactivate", OUTSIDER, "--comment", "Left")
    assert gone.code == 0 and gone.out.startswith(f"Deactivated {OUTSIDER}: sessions and API")
    again = cli("person", "deactivate", OUTSIDER)
    assert again.code == 1 and "was already deactivated on" in again.err
    back = cli("person", "activate", OUTSIDER)
    assert back.code == 0 and back.out.startswith(f"Activated {OUTSIDER} again")
    assert cli("person", "activate", OUTSIDER).code == 1  # nothing to undo
    unknown = cli("person", "deactivate", "nobody@example.org")
    assert unknown.code == 1 and "is not registered" in unknown.err
    bad = cli("access", "grant", OUTSIDER, "admin", "--country", "TJK")
    assert bad.code == 2 and "covers every country" in bad.err
    assert services.audit.verify_ledger(rt).ok


def test_a_plan_feed_link_is_personal_and_dies_with_access(
    rt: Runtime, nap_plan: str, cli: Callable[..., Result]
) -> None:
    from fastapi.testclient import TestClient

    from napflow.web import create_app

    services.add_deadline(rt, nap_plan, "approval", "2015-12-31")
    member, observer = MEMBERS[0], CAST["observer"][0]
    mine, theirs = (services.feeds.plan_feed_url(rt, nap_plan, e) for e in (member, observer))
    shared = services.feeds.plan_feed_url(rt, nap_plan)
    assert len({mine, theirs, shared}) == 3
    with TestClient(create_app(rt)) as http:
        missing = http.get(f"/calendar/plans/{nap_plan}.ics?token=1.abc")
        assert missing.status_code == 404
        for link in (mine, theirs, shared):
            assert http.get(link).status_code == 200
            assert b"Ministerial approval" in http.get(link).content
        services.revoke_role(rt, nap_plan, member, "wg_member", comment="Left the group")
        gone = http.get(mine)  # they left the plan: their link answers as a missing feed
        assert (gone.status_code, gone.content) == (404, missing.content)
        assert http.get(theirs).status_code == 200  # everyone else keeps theirs
        services.access.grant_access(rt, member, "reader", ["TJK"])
        assert http.get(mine).status_code == 200  # a grant covers the plan again
        services.people.deactivate_person(rt, member)
        assert http.get(mine).status_code == 404
        services.feeds.reset_feed(rt, nap_plan)  # a plan's reset ends every link to it
        assert http.get(theirs).status_code == 404 and http.get(shared).status_code == 404
        renewed = services.feeds.plan_feed_url(rt, nap_plan, observer)
        assert renewed != theirs and http.get(renewed).status_code == 200
