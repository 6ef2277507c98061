"""The whole JSON API through HTTP (FastAPI's TestClient on the real app), on both engines.

A plan from nothing to approval over the API alone (after one administrator made by the
operator), pages and cursors, the plan filters, who may call what (administrators, the
holders of a role, the owners of a token), and what the OpenAPI schema says of it all.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from napflow import services
from napflow.clock import VirtualClock
from napflow.runtime import Runtime
from napflow.services import accounts
from napflow.web import create_app

API = "/api/v1"
ADMIN = "admin@napflow.example"
#: the demo's people (tests on the `demo` fixture)
COORD = "f.rahimov@cbrn.tj.example"  # coordinator of TJK-2015
CHAIR = "s.nazarova@president.tj.example"  # wg_chair of TJK-2015
MEMBER = "n.kurbonov@kchs.tj.example"  # wg_member of TJK-2015, and of no other plan
TKM_COORD = "b.atayev@mfa.tm.example"  # coordinator of TKM-2018: does not see TJK-2015
EXPERT = "e.huber@osce.example"  # expert on all three demo plans


@pytest.fixture
def http(rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(rt), follow_redirects=False) as client:
        yield client


def bearer(rt: Runtime, email: str) -> dict[str, str]:
    """An API token of ``email``'s, made by the operator (as `napflow token create`)."""
    return {"Authorization": f"Bearer {accounts.create_api_token(rt, email)}"}


def bootstrap_admin(rt: Runtime) -> dict[str, str]:
    """The operator's one step: a person, the admin grant, and their API token."""
    services.add_person(rt, ADMIN, "Site administrator")
    services.access.grant_access(rt, ADMIN, "admin")
    return bearer(rt, ADMIN)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def assert_problem(response: Any, status: int, fragment: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and fragment in body["detail"], body
    assert "\n" not in body["detail"]  # one line, as the CLI prints it
    return body


def every_page(http: TestClient, path: str, auth: dict[str, str], **params: Any) -> list[Any]:
    """Every item of a list, page by page, following next_cursor until it is null."""
    items: list[Any] = []
    cursor = None
    for _ in range(1000):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = ok(http.get(path, params=query, headers=auth))
        assert set(page) == {"items", "next_cursor"}
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert page["items"], "a page with a next one is never empty"
    raise AssertionError("the pages never ended")


def keys(page: dict[str, Any]) -> list[str]:
    return [p["key"] for p in page["items"]]


# --- 1. a plan from nothing to approval, over HTTP only ------------------------------------


def test_a_plan_goes_from_nothing_to_approval_over_the_api(
    rt: Runtime, http: TestClient, clock: VirtualClock
) -> None:
    admin = bootstrap_admin(rt)  # the only step outside the API, as the operator's CLI
    assert ok(http.get(f"{API}/me", headers=admin)) == {
        "email": ADMIN,
        "name": "Site administrator",
        "timezone": None,
        "admin": True,
        "grants": [{"grant": "admin", "country": "*"}],
    }
    cast = [  # (role, e-mail, name)
        ("coordinator", "coord@mfa.tj.example", "Farrukh Rahimov"),
        ("wg_chair", "chair@president.tj.example", "Sitora Nazarova"),
        ("wg_member", "member1@customs.tj.example", "Alisher Sharipov"),
        ("wg_member", "member2@kchs.tj.example", "Nurullo Kurbonov"),
        ("expert", "expert@un1540.example", "James Okafor"),
        ("approver", "minister@mfa.tj.example", "Minister of Foreign Affairs"),
    ]
    for _role, email, name in cast:
        person = ok(
            http.post(
                f"{API}/people",
                json={"email": email, "name": name, "timezone": "Asia/Dushanbe"},
                headers=admin,
            ),
            201,
        )
        assert person == {
            "email": email,
            "name": name,
            "timezone": "Asia/Dushanbe",
            "deactivated_at": None,
            "active": True,
            "locale": None,
            "digest": None,
        }
    listed = every_page(http, f"{API}/people", admin, limit=2)
    assert [p["email"] for p in listed] == sorted([ADMIN, *(e for _, e, _ in cast)])

    plan = ok(
        http.post(
            f"{API}/plans",
            json={
                "country": "TJK",
                "title": "National Action Plan 2016-2021",
                "timezone": "Asia/Dushanbe",
                "key": "TJK-F",
            },
            headers=admin,
        ),
        201,
    )
    assert (plan["key"], plan["state"], plan["version"]) == ("TJK-F", "drafting", 1)
    version = 1
    for role, email, _name in cast:
        change = ok(
            http.post(
                f"{API}/plans/TJK-F/roles",
                json={"email": email, "role": role},
                headers=admin,
            )
        )
        version += 1
        assert change == {
            "key": "TJK-F",
            "email": email,
            "role": role,
            "changed": True,
            "version": version,
        }
    coord, chair, member1, member2, expert, minister = (e for _, e, _ in cast)
    roles = every_page(http, f"{API}/plans/TJK-F/roles", admin, limit=4)
    assert [(r["role"], r["email"]) for r in roles] == [
        ("coordinator", coord),
        ("wg_chair", chair),
        ("wg_member", member1),
        ("wg_member", member2),
        ("expert", expert),
        ("approver", minister),
    ]

    # tokens are each person's own: the role holders' are made here by the operator (as
    # `napflow token create`); everything after this is over the API
    auth = {email: bearer(rt, email) for _role, email, _name in cast}

    added = ok(
        http.post(
            f"{API}/plans/TJK-F/deadlines",
            json={
                "kind": "follow_up_session",
                "date": "2015-09-10",
                "end": "2015-09-11",
                "time": "10:00",
                "title": "Follow-up session",
                "location": "Dushanbe",
                "comment": "Agreed with the OSCE.",
            },
            headers=auth[coord],  # the workflow lets the coordinator manage deadlines
        ),
        201,
    )
    assert (added["plan"], added["due_on"], added["ends_on"], added["at_time"]) == (
        "TJK-F",
        "2015-09-10",
        "2015-09-11",
        "10:00",
    )
    assert (added["status"], added["sequence"], added["timezone"]) == (
        "pending",
        0,
        "Asia/Dushanbe",
    )
    moved = ok(
        http.patch(
            f"{API}/deadlines/{added['id']}",
            json={
                "date": "2015-09-17",
                "end": "2015-09-19",
                "title": "OSCE follow-up session",
                "location": "Vienna",
                "comment": "The OSCE hosts it.",
            },
            headers=admin,
        )
    )
    assert moved == added | {
        "due_on": "2015-09-17",
        "ends_on": "2015-09-19",
        "title": "OSCE follow-up session",
        "location": "Vienna",
        "sequence": 1,
        "due_at": moved["due_at"],
    }
    assert moved["due_at"] > added["due_at"] and moved["at_time"] == "10:00"
    assert ok(http.get(f"{API}/plans/TJK-F/deadlines", headers=auth[chair]))["items"] == [moved]
    version += 2  # the deadline's two records

    # the NAP workflow to approval: every wg_member endorses (quorum "all"), one expert
    # endorses (quorum 1) and an approver is assigned; each step at the version it read
    steps = [
        (coord, "submit_for_review", "working_group_review", "coordinator", 2),  # + review window
        (member1, "endorse", "working_group_review", "wg_member", 1),
        (member2, "endorse", "working_group_review", "wg_member", 1),
        (chair, "send_to_experts", "expert_review", "wg_chair", 2),  # + review window met
        (expert, "endorse", "expert_review", "expert", 1),
        (coord, "submit_for_approval", "submitted", "coordinator", 1),
        (minister, "approve", "approved", "approver", 2),  # + the session cancelled: final
    ]
    assert ok(http.get(f"{API}/plans/TJK-F", headers=auth[coord]))["version"] == version
    for actor, trigger, state, role, records in steps:
        done = ok(
            http.post(
                f"{API}/plans/TJK-F/advance",
                json={"trigger": trigger, "expect_version": version},
                headers=auth[actor],
            )
        )
        assert done["version"] == version + records, (trigger, done)
        version = done["version"]
        assert (done["trigger"], done["to_state"], done["actor"], done["role"]) == (
            trigger,
            state,
            actor,
            role,
        )
        shown = ok(http.get(f"{API}/plans/TJK-F", headers=auth[actor]))
        assert (shown["state"], shown["version"]) == (state, version)

    final = ok(http.get(f"{API}/plans/TJK-F", headers=auth[minister]))
    assert final["state"] == "approved" and final["version"] == version == 19
    stale = http.post(
        f"{API}/plans/TJK-F/advance",
        json={"trigger": "approve", "expect_version": version - 1},
        headers=auth[minister],
    )
    assert assert_problem(stale, 409, "TJK-F is at version 19, not 18")["found_version"] == 19

    history = every_page(http, f"{API}/plans/TJK-F/history", auth[chair], limit=3)
    assert [r["seq"] for r in history] == list(range(1, 20))
    acts = [
        (r["trigger"], r["actor"], r["role"])
        for r in history
        if r["kind"] in ("transition", "action")
    ]
    assert acts == [(trigger, actor, role) for actor, trigger, _, role, _ in steps]
    by_kind = [(r["kind"], r["actor"], r["role"]) for r in history]
    assert by_kind[:7] == [("created", ADMIN, None)] + [("role_granted", ADMIN, "admin")] * 6
    assert by_kind[7:9] == [
        ("deadline_added", coord, "coordinator"),
        ("deadline_moved", ADMIN, "admin"),
    ]
    assert history[8]["comment"] == "The OSCE hosts it."
    assert history[8]["payload"]["location"] == "Vienna"
    assert history[-1]["kind"] == "deadline_cancelled"  # an approved plan has no sessions left


# --- 2. pages and cursors --------------------------------------------------------------------


@pytest.fixture
def more_plans(demo: Runtime) -> Runtime:
    """Three more TJK plans; MEMBER observes TJK-2 and reads every KGZ plan."""
    for n in (1, 2, 3):
        services.create_plan(demo, "TJK", f"Plan {n}", key=f"TJK-{n}")
    services.grant_role(demo, "TJK-2", MEMBER, "observer")
    services.access.grant_access(demo, MEMBER, "reader", ["KGZ"])
    return demo


def test_pages_of_plans_follow_the_cursor_to_exactly_the_visible_plans(
    more_plans: Runtime, http: TestClient
) -> None:
    auth = bearer(more_plans, MEMBER)
    visible = ["KGZ-2021", "TJK-2", "TJK-2015"]  # not TJK-1, TJK-3 nor TKM-2018
    for limit in (1, 2, 3, 500):
        walked = every_page(http, f"{API}/plans", auth, limit=limit)
        assert [p["key"] for p in walked] == visible, limit
    first = ok(http.get(f"{API}/plans", params={"limit": 1}, headers=auth))
    assert keys(first) == ["KGZ-2021"] and first["next_cursor"]
    # a plan they come to see between two pages is on a later one, its key coming after
    services.grant_role(more_plans, "TJK-3", MEMBER, "observer")
    rest = every_page(http, f"{API}/plans", auth, limit=1, cursor=first["next_cursor"])
    assert [p["key"] for p in rest] == ["TJK-2", "TJK-2015", "TJK-3"]
    # an administrator sees them all, in key order
    admin = bootstrap_admin(more_plans)
    everything = every_page(http, f"{API}/plans", admin, limit=2)
    assert [p["key"] for p in everything] == sorted(p.key for p in services.list_plans(more_plans))
    assert len(everything) == 6


def cursor_of(document: Any) -> str:
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_cursor_not_given_by_the_list_is_a_400(more_plans: Runtime, http: TestClient) -> None:
    auth = bearer(more_plans, MEMBER)
    real = ok(http.get(f"{API}/plans", params={"limit": 1}, headers=auth))["next_cursor"]
    history = ok(http.get(f"{API}/plans/TJK-2015/history", params={"limit": 1}, headers=auth))[
        "next_cursor"
    ]
    tampered = [
        real[:4] + "*" + real[5:],  # not base64url
        real[:-3],  # cut short
        real + "A",
        "not a cursor",
        history,  # another list's
        cursor_of({"l": "plans", "a": [1]}),  # a key that is no key
        cursor_of({"l": "plans", "a": ["TJK-2", "x"]}),
        cursor_of({"l": "plans", "a": ["TJK-2"], "x": 1}),
        cursor_of(["plans", "TJK-2"]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ]
    for cursor in tampered:
        refused = http.get(f"{API}/plans", params={"cursor": cursor}, headers=auth)
        body = assert_problem(refused, 400, "This cursor is not one this list gave")
        assert set(body) == {"type", "title", "status", "detail"}, cursor
    on_history = http.get(f"{API}/plans/TJK-2015/history", params={"cursor": real}, headers=auth)
    assert_problem(on_history, 400, "This cursor is not one this list gave")
    # a cursor a client made itself is still only a position: what it sees stays its own
    made = ok(
        http.get(
            f"{API}/plans", params={"cursor": cursor_of({"l": "plans", "a": ["A"]})}, headers=auth
        )
    )
    assert keys(made) == ["KGZ-2021", "TJK-2", "TJK-2015"]
    for limit in ("0", "501", "x"):
        assert_problem(
            http.get(f"{API}/plans", params={"limit": limit}, headers=auth), 422, "limit"
        )


def test_every_list_comes_in_pages(more_plans: Runtime, http: TestClient) -> None:
    auth = bearer(more_plans, CHAIR)
    whole = services.plan_history(more_plans, "TJK-2015").records
    walked = every_page(http, f"{API}/plans/TJK-2015/history", auth, limit=7)
    assert [r["seq"] for r in walked] == [r.seq for r in whole]
    deadlines = every_page(http, f"{API}/plans/TJK-2015/deadlines", auth, limit=1)
    assert [d["id"] for d in deadlines] == [
        d.id for d in services.list_deadlines(more_plans, "TJK-2015")
    ]
    assert every_page(http, f"{API}/deadlines", auth, limit=2) == deadlines
    pending = every_page(http, f"{API}/deadlines", auth, limit=1, pending="true")
    assert pending and all(d["status"] in ("pending", "missed", "passed") for d in pending)
    messages = every_page(http, f"{API}/plans/TJK-2015/reminders", auth, limit=3)
    assert [m["id"] for m in messages] == [
        m.id for m in services.list_messages(more_plans, None, "TJK-2015")
    ]
    assert len(messages) > 3
    assert every_page(http, f"{API}/reminders", auth, limit=4) == messages  # their one plan
    roles = every_page(http, f"{API}/plans/TJK-2015/roles", auth, limit=2)
    assert [(r["role"], r["email"]) for r in roles] == [
        (r.role, r.email) for r in services.list_roles(more_plans, "TJK-2015")
    ]
    admin = bootstrap_admin(more_plans)
    people = every_page(http, f"{API}/people", admin, limit=5)
    assert [p["email"] for p in people] == [p.email for p in services.list_people(more_plans)]
    grants = every_page(http, f"{API}/access", admin, limit=1)
    assert [(g["email"], g["grant"], g["country"]) for g in grants] == [
        (ADMIN, "admin", "*"),
        (MEMBER, "reader", "KGZ"),
    ]


# --- 3. filters keep only what the caller sees ---------------------------------------------


def test_filters_never_show_more_than_the_caller_sees(
    more_plans: Runtime, http: TestClient, clock: VirtualClock
) -> None:
    member = bearer(more_plans, MEMBER)

    def plans(auth: dict[str, str], **params: Any) -> list[str]:
        return [p["key"] for p in every_page(http, f"{API}/plans", auth, limit=1, **params)]

    assert plans(member, country="TKM") == []  # TKM-2018 exists; they do not see it
    assert plans(member, country="tjk") == ["TJK-2", "TJK-2015"]
    assert plans(member, country="KGZ") == ["KGZ-2021"]  # their reader grant
    assert plans(member, role="wg_member") == ["TJK-2015"]
    assert plans(member, role="observer") == ["TJK-2"]
    assert plans(member, role="coordinator") == []
    assert plans(member, state="approved") == ["KGZ-2021"]
    assert plans(member, state="submitted") == []  # TKM-2018 is, unseen
    assert plans(member, state="drafting") == ["TJK-2"]
    assert plans(member, state="drafting", country="KGZ") == []
    clock.set(datetime(2015, 11, 1, tzinfo=UTC))  # TJK-2015's review window was missed
    assert plans(member, overdue="true") == ["TJK-2015"]
    assert plans(member, overdue="false") == ["KGZ-2021", "TJK-2"]
    # someone on every demo plan sees each filter's whole answer
    expert = bearer(more_plans, EXPERT)
    assert plans(expert, country="TKM") == ["TKM-2018"]
    assert plans(expert, role="expert") == ["KGZ-2021", "TJK-2015", "TKM-2018"]
    assert plans(expert, overdue="true", country="TJK") == ["TJK-2015"]
    for params in (
        {"country": "TKM"},
        {"role": "wg_member"},
        {"state": "drafting"},
        {"overdue": "true"},
    ):
        for who, auth in ((MEMBER, member), (EXPERT, expert)):
            found = services.list_plans(
                more_plans,
                params.get("state"),
                viewer=who,
                country=params.get("country"),
                role=params.get("role"),
                overdue={"true": True}.get(params.get("overdue", "")),
            )
            kept = [p.key for p in found]
            assert plans(auth, **params) == kept, (who, params)
    assert_problem(
        http.get(f"{API}/plans", params={"country": "XXX"}, headers=member), 400, "'XXX'"
    )
    assert_problem(
        http.get(f"{API}/plans", params={"state": "nowhere"}, headers=member),
        400,
        "There is no state 'nowhere'",
    )
    assert_problem(
        http.get(f"{API}/plans", params={"overdue": "perhaps"}, headers=member), 422, "overdue"
    )


# --- 4. who may call what --------------------------------------------------------------------


def test_only_administrators_reach_the_administrators_routes(
    demo: Runtime, http: TestClient
) -> None:
    coord = bearer(demo, COORD)  # a coordinator, no administrator
    reason = f"only an administrator may, and {COORD} is not one"
    attempts = [
        ("GET", "/people", None),
        ("POST", "/people", {"email": "new@example.org", "name": "New"}),
        ("PATCH", f"/people/{MEMBER}", {"name": "Renamed"}),
        ("POST", f"/people/{MEMBER}/deactivate", {"comment": "gone"}),
        ("POST", f"/people/{MEMBER}/activate", None),
        ("GET", f"/people/{MEMBER}", None),
        ("GET", "/access", None),
        ("POST", "/access", {"email": MEMBER, "grant": "reader"}),
        ("POST", "/access/revoke", {"email": MEMBER, "grant": "reader"}),
        ("POST", "/plans", {"country": "TJK", "title": "Mine"}),
        ("PATCH", "/plans/TJK-2015", {"title": "Mine"}),
    ]
    for method, path, body in attempts:
        refused = http.request(method, f"{API}{path}", json=body, headers=coord)
        problem = assert_problem(refused, 403, f"as {COORD}: {reason}.")
        assert problem["reasons"] == [reason] and problem["actor"] == COORD, path
    assert [p.key for p in services.list_plans(demo)] == ["KGZ-2021", "TJK-2015", "TKM-2018"]
    assert services.show_plan(demo, "TJK-2015").title.startswith("National Action Plan")
    assert "new@example.org" not in {p.email for p in services.list_people(demo)}
    assert services.access.list_access(demo) == []
    # a person sees their own details, as an administrator sees anyone's
    assert ok(http.get(f"{API}/people/{COORD}", headers=coord))["email"] == COORD
    # the same routes, as an administrator
    admin = bootstrap_admin(demo)
    edited = ok(http.patch(f"{API}/plans/TJK-2015", json={"title": "NAP 2016-2021"}, headers=admin))
    assert edited["title"] == "NAP 2016-2021"
    granted = ok(
        http.post(
            f"{API}/access",
            json={"email": MEMBER, "grant": "reader", "countries": ["TKM"], "comment": "why"},
            headers=admin,
        )
    )
    assert (granted["changed"], granted["countries"]) == (["TKM"], ["TKM"])
    member = bearer(demo, MEMBER)
    assert ok(http.get(f"{API}/me", headers=member))["grants"] == [
        {"grant": "reader", "country": "TKM"}
    ]
    assert keys(ok(http.get(f"{API}/plans", headers=member))) == ["TJK-2015", "TKM-2018"]
    revoked = ok(
        http.post(f"{API}/access/revoke", json={"email": MEMBER, "grant": "reader"}, headers=admin)
    )
    assert revoked["changed"] == ["TKM"]
    assert_problem(
        http.post(f"{API}/access/revoke", json={"email": MEMBER, "grant": "reader"}, headers=admin),
        404,
        "holds no reader grant",
    )
    assert keys(ok(http.get(f"{API}/plans", headers=member))) == ["TJK-2015"]
    renamed = ok(
        http.patch(
            f"{API}/people/{MEMBER}", json={"name": "N. Kurbonov", "timezone": ""}, headers=admin
        )
    )
    assert (renamed["name"], renamed["timezone"]) == ("N. Kurbonov", None)
    made = ok(
        http.post(f"{API}/plans", json={"country": "kgz", "title": "Next"}, headers=admin), 201
    )
    assert (made["key"], made["state"]) == ("KGZ-2", "drafting")
    assert_problem(
        http.post(f"{API}/people", json={"email": COORD, "name": "Again"}, headers=admin),
        422,
        "already registered",
    )


def test_a_deactivated_persons_token_stops_working(demo: Runtime, http: TestClient) -> None:
    admin = bootstrap_admin(demo)
    member = bearer(demo, MEMBER)
    assert ok(http.get(f"{API}/plans", headers=member))["items"]
    left = ok(
        http.post(f"{API}/people/{MEMBER}/deactivate", json={"comment": "Left"}, headers=admin)
    )
    assert left["active"] is False and left["deactivated_at"]
    for path in ("/plans", "/me", "/me/tokens", "/plans/TJK-2015"):
        assert_problem(http.get(f"{API}{path}", headers=member), 401, "needs an API token")
    back = ok(http.post(f"{API}/people/{MEMBER}/activate", headers=admin))
    assert back["active"] is True and back["deactivated_at"] is None
    assert_problem(http.get(f"{API}/me", headers=member), 401, "API token")  # ended for good
    assert ok(http.get(f"{API}/me", headers=bearer(demo, MEMBER)))["email"] == MEMBER
    # the last administrator stays
    refused = http.post(f"{API}/people/{ADMIN}/deactivate", headers=admin)
    assert_problem(refused, 422, "the last active administrator")


def test_tokens_are_each_persons_own(demo: Runtime, http: TestClient) -> None:
    first = bearer(demo, MEMBER)
    other = bearer(demo, CHAIR)
    [others] = accounts.list_api_tokens(demo, CHAIR)
    made = http.post(f"{API}/me/tokens", json={"label": "  nightly   report "}, headers=first)
    new = ok(made, 201)
    assert new["token"].startswith("napflow_") and new["label"] == "nightly report"
    assert new["email"] == MEMBER
    second = {"Authorization": f"Bearer {new['token']}"}
    me = ok(http.get(f"{API}/me", headers=second))
    assert (me["email"], me["admin"], me["grants"]) == (MEMBER, False, [])
    listed = http.get(f"{API}/me/tokens", headers=second)
    assert "napflow_" not in listed.text  # never the tokens themselves
    mine = ok(listed)["items"]
    assert [t["label"] for t in mine] == ["api", "nightly report"]
    assert {t["email"] for t in mine} == {MEMBER}
    # someone else's token is answered as one that does not exist, and stays
    theirs = http.delete(f"{API}/me/tokens/{others.id}", headers=first)
    nobodys = http.delete(f"{API}/me/tokens/999999", headers=first)
    body = assert_problem(theirs, 404, f"There is no API token {others.id}")
    assert body == assert_problem(nobodys, 404, "There is no API token 999999") | {
        "detail": body["detail"],
        "key": others.id,
    }
    assert body["missing"] == "api_token"
    assert ok(http.get(f"{API}/me", headers=other))["email"] == CHAIR
    # one's own: revoked, and refused from then on; the other one keeps working
    revoked = ok(http.delete(f"{API}/me/tokens/{mine[1]['id']}", headers=first))
    assert revoked["id"] == mine[1]["id"] and revoked["label"] == "nightly report"
    assert_problem(http.get(f"{API}/me", headers=second), 401, "API token")
    assert ok(http.get(f"{API}/me/tokens", headers=first))["items"] == [mine[0]]
    again = http.delete(f"{API}/me/tokens/{mine[1]['id']}", headers=first)
    assert_problem(again, 404, f"There is no API token {mine[1]['id']}")
    assert_problem(http.post(f"{API}/me/tokens", json={"label": " "}, headers=first), 400, "label")
    assert_problem(http.delete(f"{API}/me/tokens/0", headers=first), 422, "token_id")


def test_roles_over_the_api_follow_the_workflow_and_what_the_caller_sees(
    demo: Runtime, http: TestClient
) -> None:
    coord, member, outsider = (bearer(demo, e) for e in (COORD, MEMBER, TKM_COORD))
    url = f"{API}/plans/TJK-2015/roles"
    granted = ok(http.post(url, json={"email": TKM_COORD, "role": "observer"}, headers=coord))
    assert granted["changed"] is True
    again = ok(http.post(url, json={"email": TKM_COORD, "role": "observer"}, headers=coord))
    assert again == granted | {"changed": False}
    assert ok(http.get(f"{API}/plans/TJK-2015", headers=outsider))["key"] == "TJK-2015"
    roles = every_page(http, url, outsider)
    assert ("observer", TKM_COORD) in {(r["role"], r["email"]) for r in roles}
    gone = ok(http.delete(f"{url}/{TKM_COORD}/observer", headers=coord))
    assert gone["changed"] is True and gone["version"] == granted["version"] + 1
    assert ok(http.delete(f"{url}/{TKM_COORD}/observer", headers=coord))["changed"] is False
    refused = http.post(url, json={"email": TKM_COORD, "role": "observer"}, headers=member)
    problem = assert_problem(refused, 403, "Cannot change roles on TJK-2015")
    assert problem["reasons"] == [
        f"only a coordinator of the plan may, and {MEMBER} holds wg_member on it"
    ]
    # a plan the caller does not see is answered as one that does not exist
    for hidden, missing in (
        (
            http.post(url, json={"email": MEMBER, "role": "observer"}, headers=outsider),
            http.post(
                f"{API}/plans/NOPE-1/roles",
                json={"email": MEMBER, "role": "observer"},
                headers=outsider,
            ),
        ),
        (
            http.delete(f"{url}/{MEMBER}/wg_member", headers=outsider),
            http.delete(f"{API}/plans/NOPE-1/roles/{MEMBER}/wg_member", headers=outsider),
        ),
        (http.get(url, headers=outsider), http.get(f"{API}/plans/NOPE-1/roles", headers=outsider)),
    ):
        body = assert_problem(hidden, 404, "There is no plan 'TJK-2015'")
        assert json.loads(missing.text.replace("NOPE-1", "TJK-2015")) == body
    assert_problem(
        http.post(url, json={"email": MEMBER, "role": "minister"}, headers=coord),
        400,
        "has no role 'minister'",
    )


def test_deadlines_over_the_api_and_a_hidden_plans_deadline_is_a_404(
    demo: Runtime, http: TestClient
) -> None:
    coord, member, outsider = (bearer(demo, e) for e in (COORD, MEMBER, TKM_COORD))
    approval = next(d for d in services.list_deadlines(demo, "TJK-2015") if d.kind == "approval")
    before = services.list_deadlines(demo, "TJK-2015")
    move = {"date": "2016-01-15", "comment": "The cabinet meets later."}
    for hidden, missing in (
        (
            http.patch(f"{API}/deadlines/{approval.id}", json=move, headers=outsider),
            http.patch(f"{API}/deadlines/999999", json=move, headers=outsider),
        ),
        (
            http.post(f"{API}/deadlines/{approval.id}/cancel", headers=outsider),
            http.post(f"{API}/deadlines/999999/cancel", headers=outsider),
        ),
    ):
        body = assert_problem(hidden, 404, f"There is no deadline {approval.id};")
        assert body == {
            **json.loads(missing.text.replace("999999", str(approval.id))),
            "key": approval.id,
        }
        assert body["missing"] == "deadline"
    added = http.post(
        f"{API}/plans/TJK-2015/deadlines",
        json={"kind": "follow_up_session", "date": "2015-11-02"},
        headers=outsider,
    )
    nowhere = http.post(
        f"{API}/plans/NOPE-1/deadlines",
        json={"kind": "follow_up_session", "date": "2015-11-02"},
        headers=outsider,
    )
    body = assert_problem(added, 404, "There is no plan 'TJK-2015'")
    assert json.loads(nowhere.text.replace("NOPE-1", "TJK-2015")) == body
    assert services.list_deadlines(demo, "TJK-2015") == before  # nothing changed
    # someone who sees the plan but may not manage its deadlines is told why
    refused = http.patch(f"{API}/deadlines/{approval.id}", json=move, headers=member)
    assert_problem(refused, 403, f"Cannot move deadline {approval.id} on TJK-2015")
    # the coordinator may
    moved = ok(http.patch(f"{API}/deadlines/{approval.id}", json=move, headers=coord))
    assert (moved["due_on"], moved["sequence"]) == ("2016-01-15", 1)
    session = ok(
        http.post(
            f"{API}/plans/TJK-2015/deadlines",
            json={"kind": "follow_up_session", "date": "2015-11-02", "time": "09:30"},
            headers=coord,
        ),
        201,
    )
    assert (session["title"], session["at_time"]) == ("Follow-up session", "09:30")
    cancelled = ok(
        http.post(
            f"{API}/deadlines/{session['id']}/cancel", json={"comment": "Called off"}, headers=coord
        )
    )
    assert cancelled["status"] == "cancelled"
    assert_problem(
        http.post(f"{API}/deadlines/{session['id']}/cancel", headers=coord), 422, "already"
    )
    last = services.plan_history(demo, "TJK-2015").records[-1]
    assert (last.kind, last.actor, last.comment) == ("deadline_cancelled", COORD, "Called off")
    assert_problem(
        http.patch(f"{API}/deadlines/{approval.id}", json={"date": "soon"}, headers=coord),
        400,
        "'soon' is not a date",
    )
    assert_problem(
        http.post(
            f"{API}/plans/TJK-2015/deadlines",
            json={"kind": "party", "date": "2015-11-02"},
            headers=coord,
        ),
        400,
        "no deadline kind 'party'",
    )


# --- the OpenAPI schema ----------------------------------------------------------------------


def test_the_schema_tags_every_route_shows_examples_and_pages(
    rt: Runtime, http: TestClient
) -> None:
    schema = ok(http.get(f"{API}/openapi.json"))
    tags = {
        "plans",
        "deadlines",
        "drafts",
        "people",
        "access",
        "tokens",
        "me",
        "audit",
        "workflows",
    }
    seen = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert len(operation["tags"]) == 1 and operation["tags"][0] in tags, (path, method)
            seen.add(operation["tags"][0])
            body = operation.get("requestBody")
            if body is not None and "multipart/form-data" in body["content"]:
                # an upload: the file, as bytes, is what the form must carry
                form = body["content"]["multipart/form-data"]["schema"]
                assert form["required"] == ["file"], (path, method)
                assert form["properties"]["file"]["format"] == "binary", (path, method)
            elif body is not None:
                ref = body["content"]["application/json"]["schema"]
                ref = ref.get("$ref") or next(r["$ref"] for r in ref["anyOf"] if "$ref" in r)
                model = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
                assert model.get("examples"), (path, method)
                for example in model["examples"]:
                    assert set(example) <= set(model["properties"]), (path, method)
            answer = next(r for s, r in operation["responses"].items() if s.startswith("2"))
            json_answer = answer.get("content", {}).get("application/json", {})
            ref = json_answer.get("schema", {}).get("$ref", "")  # a download has no JSON
            if method == "get" and ref.endswith("Page"):
                params = {p["name"]: p for p in operation["parameters"]}
                assert (
                    params["limit"]["schema"] | {"maximum": 500, "minimum": 1}
                    == params["limit"]["schema"]
                )
                assert "cursor" in params
    assert seen == tags
    lists = [
        path
        for path, operations in schema["paths"].items()
        if "get" in operations
        and operations["get"]["responses"]["200"]
        .get("content", {})
        .get("application/json", {})
        .get("schema", {})
        .get("$ref", "")
        .endswith("Page")
    ]
    assert sorted(lists) == sorted(
        f"{API}{p}"
        for p in (
            "/plans",
            "/plans/{key}/history",
            "/plans/{key}/roles",
            "/plans/{key}/deadlines",
            "/plans/{key}/reminders",
            "/plans/{key}/drafts",
            "/deadlines",
            "/reminders",
            "/people",
            "/access",
            "/me/tokens",
            "/timers",
            "/workflows",
            "/workflows/{name}/versions",
        )
    )
