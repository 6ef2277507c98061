"""`audit verify` replays every plan through its workflow: was each sealed record allowed?

The attacks are the auditor's: someone with the app's database login gives a person a role
(or an admin grant, or takes a deactivation back) behind napflow's back, lets the app act
and seal it, and removes the row again. The chain verifies; the replay, judging by the
ledger's own records only, names the record. Both engines.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from helpers import CAST, Result
from sqlalchemy import delete, insert, select, update

from napflow import services
from napflow.clock import VirtualClock
from napflow.runtime import Runtime
from napflow.services import audit
from napflow.services._workflow_versions import ensure_stored
from napflow.storage.schema import people, plans, roles, site_grants
from napflow.workflow.definition import parse_definition

COORD, CHAIR, EXPERT, MINISTER, OBSERVER = (
    CAST[r][0] for r in ("coordinator", "wg_chair", "expert", "approver", "observer")
)
MEMBERS = CAST["wg_member"]
OBSERVER_DEMO = "observer@unrcpd.example"  # the demo's observer (napflow init --demo)


def lines(rt: Runtime) -> list[str]:
    return [str(p) for p in audit.verify_ledger(rt).problems]


def person_id(rt: Runtime, email: str) -> int:
    with rt.db.read() as conn:
        return int(conn.execute(select(people.c.id).where(people.c.email == email)).scalar_one())


@contextmanager
def role_by_hand(rt: Runtime, key: str, email: str, role: str) -> Iterator[None]:
    """Give ``email`` ``role`` on ``key`` by writing the roles table, then take it away."""
    who = person_id(rt, email)
    with rt.db.write() as conn:
        plan_id = conn.execute(select(plans.c.id).where(plans.c.key == key)).scalar_one()
        conn.execute(
            insert(roles).values(
                plan_id=plan_id, person_id=who, role=role, granted_at=rt.clock.now()
            )
        )
    try:
        yield
    finally:
        with rt.db.write() as conn:
            conn.execute(
                delete(roles).where(
                    roles.c.plan_id == plan_id, roles.c.person_id == who, roles.c.role == role
                )
            )


def last_seq(rt: Runtime, key: str) -> int:
    return services.plan_history(rt, key).records[-1].seq


def test_a_whole_lawful_journey_is_allowed(rt: Runtime, nap_plan: str, clock: VirtualClock) -> None:
    services.drafts.add_draft(rt, nap_plan, io.BytesIO(b"# Plan\n"), "nap.md", COORD)
    services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    services.advance_plan(rt, nap_plan, "endorse", MEMBERS[0])
    services.drafts.add_draft(rt, nap_plan, io.BytesIO(b"# Plan v2\n"), "nap.md", COORD)
    for member in MEMBERS:  # the round started again: both endorse v2
        services.advance_plan(rt, nap_plan, "endorse", member)
    services.advance_plan(rt, nap_plan, "send_to_experts", CHAIR)
    services.advance_plan(rt, nap_plan, "return_with_comments", EXPERT, "Name the agency.")
    services.grant_role(rt, nap_plan, "outsider@example.org", "wg_member", actor=COORD)
    clock.advance(timedelta(hours=1))  # (each change at its own time, as in real use)
    services.people.edit_person(rt, MEMBERS[0], new_email="m1@customs.tj.example")
    clock.advance(timedelta(hours=1))
    services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    for member in ("m1@customs.tj.example", MEMBERS[1], "outsider@example.org"):
        services.advance_plan(rt, nap_plan, "endorse", member)
    services.advance_plan(rt, nap_plan, "send_to_experts", CHAIR)
    services.advance_plan(rt, nap_plan, "endorse", EXPERT)
    services.advance_plan(rt, nap_plan, "submit_for_approval", COORD)
    services.advance_plan(rt, nap_plan, "approve", MINISTER)
    report = audit.verify_ledger(rt)
    assert report.ok, [str(p) for p in report.problems]
    assert ", every chain intact, every action allowed; head " in report.summary()


def test_an_action_by_a_role_given_behind_napflows_back_is_unauthorized(
    rt: Runtime, nap_plan: str, cli: Callable[..., Result]
) -> None:
    with role_by_hand(rt, nap_plan, OBSERVER, "coordinator"):
        services.advance_plan(rt, nap_plan, "withdraw", OBSERVER, "Closing it.")
    seq = last_seq(rt, nap_plan)
    assert lines(rt) == [
        f"{nap_plan} seq {seq}: unauthorized: withdraw by {OBSERVER} as coordinator, but the "
        "ledger never granted that role"
    ]
    result = cli("audit", "verify")
    assert result.code == 1
    assert f"{nap_plan} seq {seq}: unauthorized: withdraw by {OBSERVER}" in result.out


def test_a_quorum_reached_with_a_member_made_by_hand_is_unauthorized(
    rt: Runtime, nap_plan: str
) -> None:
    services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    services.advance_plan(rt, nap_plan, "endorse", MEMBERS[0])
    # the second member's endorsement is written by someone who made themselves a member
    with role_by_hand(rt, nap_plan, OBSERVER, "wg_member"):
        services.revoke_role(rt, nap_plan, MEMBERS[1], "wg_member")
        services.advance_plan(rt, nap_plan, "endorse", OBSERVER)
        endorsed = last_seq(rt, nap_plan)
        services.advance_plan(rt, nap_plan, "send_to_experts", CHAIR)
    # by the ledger the observer was never a member: their endorsement is named; the one
    # member the ledger knows had endorsed, so sending to the experts was allowed
    assert lines(rt) == [
        f"{nap_plan} seq {endorsed}: unauthorized: endorse by {OBSERVER} as wg_member, but the "
        "ledger never granted that role"
    ]


def test_a_role_change_by_someone_not_entitled_is_unauthorized(rt: Runtime, nap_plan: str) -> None:
    with role_by_hand(rt, nap_plan, OBSERVER, "coordinator"):
        services.grant_role(rt, nap_plan, "outsider@example.org", "approver", actor=OBSERVER)
    seq = last_seq(rt, nap_plan)
    assert lines(rt) == [
        f"{nap_plan} seq {seq}: unauthorized: role_granted by {OBSERVER} as coordinator, but "
        "the ledger never granted that role"
    ]


def test_an_admin_grant_written_by_hand_authorises_nothing(rt: Runtime, nap_plan: str) -> None:
    who = person_id(rt, OBSERVER)
    with rt.db.write() as conn:
        conn.execute(
            insert(site_grants).values(
                person_id=who, grant="admin", country="*", granted_at=rt.clock.now()
            )
        )
    services.add_deadline(rt, nap_plan, "approval", "2015-12-31", actor=OBSERVER)
    seq = last_seq(rt, nap_plan)
    with rt.db.write() as conn:
        conn.execute(delete(site_grants).where(site_grants.c.person_id == who))
    assert lines(rt) == [
        f"{nap_plan} seq {seq}: unauthorized: deadline_added by {OBSERVER} as admin, but the "
        f"site ledger never made {OBSERVER} an administrator"
    ]
    # an administrator made through napflow may
    services.access.grant_access(rt, EXPERT, "admin")
    services.add_deadline(rt, nap_plan, "follow_up_session", "2015-10-08", actor=EXPERT)
    assert len(lines(rt)) == 1


def test_an_action_by_someone_deactivated_is_unauthorized(
    rt: Runtime, nap_plan: str, clock: VirtualClock
) -> None:
    services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    services.people.deactivate_person(rt, MEMBERS[0])
    clock.advance(timedelta(minutes=5))
    with rt.db.write() as conn:  # brought back by hand, acts, and is gone again
        conn.execute(update(people).where(people.c.email == MEMBERS[0]).values(deactivated_at=None))
    services.advance_plan(rt, nap_plan, "endorse", MEMBERS[0])
    seq = last_seq(rt, nap_plan)
    assert lines(rt) == [
        f"{nap_plan} seq {seq}: unauthorized: endorse by {MEMBERS[0]} as wg_member, but the "
        f"site ledger had deactivated {MEMBERS[0]}"
    ]


@pytest.mark.sqlite_only
def test_worker_processes_judge_as_one_process_does(demo: Runtime) -> None:
    with role_by_hand(demo, "TJK-2015", OBSERVER_DEMO, "coordinator"):
        services.grant_role(demo, "TJK-2015", OBSERVER_DEMO, "approver", actor=OBSERVER_DEMO)
    alone = [str(p) for p in audit.verify_ledger(demo, workers=1).problems]
    shared = [str(p) for p in audit.verify_ledger(demo, workers=3).problems]
    assert shared == alone and len(alone) == 1 and "unauthorized: role_granted by" in alone[0]


def test_an_administrators_changes_and_a_renamed_member_are_lawful(
    rt: Runtime, nap_plan: str, clock: VirtualClock
) -> None:
    services.access.grant_access(rt, EXPERT, "admin")
    services.edit_plan(rt, nap_plan, title="National Action Plan 2016-2021", actor=EXPERT)
    services.create_plan(rt, "TKM", "Turkmenistan's plan", key="TKM-T", actor=EXPERT)
    services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    services.advance_plan(rt, nap_plan, "endorse", MEMBERS[0])
    # a member renamed after endorsing must endorse again under the new address (the
    # round counts addresses), and that second endorsement is lawful
    clock.advance(timedelta(hours=1))
    services.people.edit_person(rt, MEMBERS[0], new_email="m1@customs.tj.example")
    clock.advance(timedelta(hours=1))
    services.advance_plan(rt, nap_plan, "endorse", "m1@customs.tj.example")
    services.advance_plan(rt, nap_plan, "endorse", MEMBERS[1])
    services.advance_plan(rt, nap_plan, "send_to_experts", CHAIR)
    assert lines(rt) == []


def test_a_plan_created_by_an_admin_made_by_hand_is_unauthorized(
    rt: Runtime, nap_plan: str
) -> None:
    who = person_id(rt, OBSERVER)
    with rt.db.write() as conn:
        conn.execute(
            insert(site_grants).values(
                person_id=who, grant="admin", country="*", granted_at=rt.clock.now()
            )
        )
    services.create_plan(rt, "TKM", "A plan of nobody's", key="TKM-X", actor=OBSERVER)
    with rt.db.write() as conn:
        conn.execute(delete(site_grants).where(site_grants.c.person_id == who))
    assert lines(rt) == [
        f"TKM-X seq 1: unauthorized: created by {OBSERVER}, but the site ledger never made "
        f"{OBSERVER} an administrator"
    ]


def test_an_action_sealed_under_another_workflow_version_is_not_let_through(
    rt: Runtime, nap_plan: str
) -> None:
    # the role by hand, and the plan row pointed at another version (stored, as napflow
    # stores a version, so the action can be recorded under it) that no record moved it to
    nap = rt.catalog.get("nap")
    v99 = parse_definition(
        nap.source.replace(f"version = {nap.version}", "version = 99").encode(), nap.path
    )
    with rt.db.write() as conn:
        ensure_stored(conn, rt.catalog, v99, audit_key=None, at=rt.clock.now(), actor=None)
    with role_by_hand(rt, nap_plan, OBSERVER, "coordinator"):
        with rt.db.write() as conn:
            conn.execute(update(plans).where(plans.c.key == nap_plan).values(workflow_version=99))
        services.advance_plan(rt, nap_plan, "withdraw", OBSERVER, "Closing it.")
        with rt.db.write() as conn:
            conn.execute(
                update(plans).where(plans.c.key == nap_plan).values(workflow_version=nap.version)
            )
    seq = last_seq(rt, nap_plan)
    found = lines(rt)
    assert found[0] == (
        f"{nap_plan} seq {seq}: unauthorized: withdraw by {OBSERVER} as coordinator under "
        f"workflow nap v99, but the plan was created under nap v{nap.version} and no record "
        "moved it"
    )
    assert found[1].startswith(f"{nap_plan} seq {seq}: unauthorized: withdraw by {OBSERVER}")
    assert not audit.verify_ledger(rt).ok


def test_odd_site_records_are_reported_not_a_crash(rt: Runtime, nap_plan: str) -> None:
    from napflow.ledger.record import SiteKind
    from napflow.services._site_ledger import append_site

    with rt.db.write() as conn:  # sealed through napflow's own append, with odd payloads
        for payload in (
            {"person": OBSERVER, "email": []},
            {"person": OBSERVER, "grant": "admin", "countries": 5},
        ):
            kind = SiteKind.PERSON_EDITED if "email" in payload else SiteKind.ACCESS_GRANTED
            append_site(
                conn, audit_key=None, kind=kind, at=rt.clock.now(), actor=None, payload=payload
            )
    found = lines(rt)
    assert len(found) == 2 and all("holds values napflow never writes" in f for f in found)


def test_an_auditor_of_one_country_is_shown_the_replay_of_its_plans(
    rt: Runtime, nap_plan: str
) -> None:
    services.access.grant_access(rt, "outsider@example.org", "auditor", ["TJK"])
    with role_by_hand(rt, nap_plan, OBSERVER, "coordinator"):
        services.advance_plan(rt, nap_plan, "withdraw", OBSERVER, "Closing it.")
    seen = audit.verify_visible(rt, "outsider@example.org")
    assert [str(p) for p in seen.problems] == lines(rt)
    assert len(seen.problems) == 1 and seen.summary().startswith("FAILED: 1 problem")
