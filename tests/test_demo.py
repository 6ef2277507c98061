"""The demo data: Tajikistan 2015 mid-review, and two more real plans in other states."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from napflow import services
from napflow.runtime import Runtime


def test_demo_plans_and_their_states(rt: Runtime) -> None:
    services.init_database(rt)
    assert services.load_demo(rt) is True
    states = {p.key: p.state for p in services.list_plans(rt)}
    assert states == {
        "TJK-2015": "working_group_review",
        "TKM-2018": "submitted",
        "KGZ-2021": "approved",
    }


def test_tajikistan_cast_and_history(rt: Runtime) -> None:
    services.init_database(rt)
    services.load_demo(rt)
    plan = services.show_plan(rt, "TJK-2015")
    assert plan.timezone == "Asia/Dushanbe"
    assert {r: len(p) for r, p in plan.roles.items()} == {
        "coordinator": 1,
        "wg_chair": 1,
        "wg_member": 4,
        "expert": 2,
        "approver": 1,
        "observer": 1,
    }
    people = {p.email: p.name for p in services.list_people(rt)}
    members = " ".join(people[e] for e in plan.roles["wg_member"])
    for body in (
        "Economic Development and Trade",
        "Foreign Affairs",
        "Customs Service",
        "Emergency Situations",
    ):
        assert body in members
    assert any("OSCE" in people[e] for e in plan.roles["expert"])
    assert "Minister" in people[plan.roles["approver"][0]]

    records = services.plan_history(rt, "TJK-2015").records
    assert records[0].kind == "created" and records[0].to_state == "drafting"
    moves = [(r.trigger, r.to_state) for r in records if r.kind == "transition"]
    assert moves == [
        ("submit_for_review", "working_group_review"),
        ("request_changes", "drafting"),
        ("submit_for_review", "working_group_review"),
    ]
    returned = next(r for r in records if r.trigger == "request_changes")
    assert returned.at.astimezone(ZoneInfo("Asia/Dushanbe")).date().isoformat() == "2015-07-30"
    assert "Dushanbe, 29-30 July 2015" in (returned.comment or "")
    # Mid-round: the chair and two members have endorsed, two members have not.
    chair = plan.roles["wg_chair"][0]
    assert services.show_plan(rt, "TJK-2015", chair).allowed == ["request_changes"]


def test_other_plans_reached_their_real_dates(rt: Runtime) -> None:
    services.init_database(rt)
    services.load_demo(rt)
    submitted = services.plan_history(rt, "TKM-2018").records[-1]
    assert (
        submitted.trigger,
        submitted.at.astimezone(ZoneInfo("Asia/Ashgabat")).date().isoformat(),
    ) == ("submit_for_approval", "2018-06-11")
    approved = services.plan_history(rt, "KGZ-2021").records[-1]
    assert approved.trigger == "approve"
    assert approved.at.astimezone(ZoneInfo("Asia/Bishkek")).date().isoformat() == "2021-12-24"
    assert "No. 340" in (approved.comment or "")
