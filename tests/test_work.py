"""My work: what each person of the demo can do now, what is coming, what their plans wait on.

On the demo's database (10 October 2015: TJK-2015 in working-group review with two of four
members' endorsements, TKM-2018 submitted, KGZ-2021 approved), through the service, the JSON
API and the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from helpers import log_in

from napflow import services
from napflow.errors import NotAllowedError, NotAuthenticatedError, NotFoundError
from napflow.runtime import Runtime
from napflow.services import accounts
from napflow.services.demo import DEMO_PASSWORD
from napflow.web import create_app

COORD = "f.rahimov@cbrn.tj.example"
CHAIR = "s.nazarova@president.tj.example"
WAITING = ["d.saidov@medt.tj.example", "n.kurbonov@kchs.tj.example"]  # have not endorsed
DONE = "m.karimova@mfa.tj.example"  # endorsed in this round
EXPERT = "e.huber@osce.example"
TKM_COORD = "b.atayev@mfa.tm.example"


def acts(rt: Runtime, email: str) -> dict[str, list[str]]:
    return {
        i.plan: [a.trigger for a in i.actions] for i in services.work.my_work(rt, email).act_now
    }


def test_each_person_sees_exactly_the_actions_they_can_take_now(demo: Runtime) -> None:
    for member in WAITING:
        assert acts(demo, member) == {"TJK-2015": ["endorse"]}
    assert acts(demo, DONE) == {}  # endorsed once this round: nothing left
    # the chair and the coordinator may return it; the way out every state offers
    # (withdrawing) is not work, and the experts' step waits for the quorum
    assert acts(demo, CHAIR) == {"TJK-2015": ["request_changes"]}
    assert acts(demo, COORD) == {"TJK-2015": ["request_changes"]}
    assert acts(demo, EXPERT) == {}
    assert acts(demo, "cabinet@gov.tm.example") == {"TKM-2018": ["approve", "send_back"]}
    assert acts(demo, "cabinet@gov.kg.example") == {}  # KGZ-2021 is approved: final
    # each with the deadline that drives it
    [item] = services.work.my_work(demo, WAITING[0]).act_now
    assert item.deadline is not None and item.deadline.kind == "review_window"
    assert item.state_title == "Working-group review"
    assert item.actions[0].title == "Endorse the draft for the working group"


def test_coordinators_and_chairs_see_what_each_plan_waits_for_and_on_whom(
    demo: Runtime,
) -> None:
    [tjk] = services.work.my_work(demo, COORD).watching
    assert tjk.plan == "TJK-2015"
    assert tjk.waiting == [
        '2 of 4 did "Endorse the draft for the working group"; waiting for '
        "Davron Saidov (Ministry of Economic Development and Trade) and "
        "Nurullo Kurbonov (Committee for Emergency Situations)"
    ]
    [tkm] = services.work.my_work(demo, TKM_COORD).watching
    assert tkm.waiting == [
        '"Approve the plan" is up to Cabinet of Ministers of Turkmenistan'
    ]  # the return is a choice, not what it waits for
    assert services.work.my_work(demo, WAITING[0]).watching == []  # members watch nothing
    services.revoke_role(demo, "TKM-2018", "cabinet@gov.tm.example", "approver")
    [tkm] = services.work.my_work(demo, TKM_COORD).watching
    assert tkm.waiting == ["nobody holds the role Approver yet"]


def test_overdue_plans_come_first(demo: Runtime) -> None:
    services.add_person(demo, "twin@example.org", "Twin")
    for key in ("TJK-2015", "TKM-2018"):
        services.grant_role(demo, key, "twin@example.org", "coordinator")
    services.add_deadline(demo, "TKM-2018", "approval", "2015-10-01")  # missed already
    watching = services.work.my_work(demo, "twin@example.org").watching
    assert [i.plan for i in watching] == ["TKM-2018", "TJK-2015"]
    assert watching[0].overdue and not watching[1].overdue


def test_a_session_coming_is_listed_for_those_its_reminders_name(demo: Runtime) -> None:
    services.add_deadline(
        demo, "TJK-2015", "follow_up_session", "2015-10-20", title="Working-group meeting"
    )
    coming = services.work.my_work(demo, EXPERT).coming
    # the session is the soonest deadline ahead (the Vienna one took place)
    assert [(i.plan, i.deadline.title if i.deadline else None) for i in coming] == [
        ("TJK-2015", "Working-group meeting")
    ]
    assert services.work.my_work(demo, "observer@unrcpd.example").coming == []


def test_strangers_and_people_who_left_are_refused(demo: Runtime) -> None:
    with pytest.raises(NotFoundError, match="is not registered"):
        services.work.my_work(demo, "nobody@example.org")
    services.people.deactivate_person(demo, DONE)
    with pytest.raises((NotAuthenticatedError, NotAllowedError)):
        services.work.my_work(demo, DONE)


@pytest.fixture
def client(demo: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(demo), follow_redirects=False) as http:
        yield http


def test_the_api_gives_the_same_work_and_the_page_shows_it(
    demo: Runtime, client: TestClient
) -> None:
    token = accounts.create_api_token(demo, COORD)
    answer = client.get("/api/v1/me/work", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    work = answer.json()
    assert [(i["plan"], [a["trigger"] for a in i["actions"]]) for i in work["act_now"]] == [
        ("TJK-2015", ["request_changes"])
    ]
    assert work["watching"][0]["waiting"][0].startswith('2 of 4 did "Endorse the draft')
    assert client.get("/api/v1/me/work").status_code == 401
    log_in(client, WAITING[1], DEMO_PASSWORD)
    assert client.get("/work").headers["location"] == "/"  # My work's first address
    page = client.get("/")
    assert page.status_code == 200
    assert 'href="/plans/TJK-2015#do-endorse">Endorse the draft for the working group</a>' in (
        page.text
    )
    assert "What your plans wait for" not in page.text  # a member watches nothing
    ru = client.post("/language", data={"locale": "ru", "next": "/", "csrf": csrf(client)})
    assert ru.status_code == 303
    page = client.get("/")
    assert "Одобрить проект в рамках рабочей группы" in page.text
    assert "Моя работа" in page.text


def csrf(http: TestClient) -> str:
    page = http.get("/").text
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_the_history_names_people_and_actions_and_keeps_actions_only_on_request(
    client: TestClient,
) -> None:
    log_in(client, COORD, DEMO_PASSWORD)
    everything = client.get("/plans/TJK-2015").text.split('id="history"', 1)[1]
    kinds = set(re.findall(r'<li data-kind="(\w+)"', everything))
    assert {"created", "action", "transition", "role_granted"} <= kinds
    assert "<strong>Endorse the draft for the working group</strong>" in everything
    assert "Drafting → Working-group review" in everything
    assert "by Malika Karimova (Ministry of Foreign Affairs) (Working-group member)" in everything
    actions = client.get("/plans/TJK-2015?history=actions").text.split('id="history"', 1)[1]
    assert set(re.findall(r'<li data-kind="(\w+)"', actions)) == {
        "created",
        "action",
        "transition",
    }
    assert "<strong>Actions only</strong>" in actions
