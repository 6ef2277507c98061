"""The coordinator's desk: the plans list at scale, the plan page's choices and confirmations.

On the demo's database (10 October 2015: TJK-2015 in working-group review with two of four
members' endorsements, TKM-2018 submitted, KGZ-2021 approved) and on 120 more plans made
through the services; through the services and the pages, on both engines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from helpers import log_in

from napflow import services
from napflow.clock import VirtualClock
from napflow.errors import InputError
from napflow.i18n import use_locale
from napflow.runtime import Runtime
from napflow.services.demo import DEMO_PASSWORD
from napflow.services.plan_list import PER_PAGE, PlanQuery, find_plans
from napflow.web import create_app

COORD = "f.rahimov@cbrn.tj.example"
CHAIR = "s.nazarova@president.tj.example"
MEMBER = "n.kurbonov@kchs.tj.example"  # has not endorsed TJK-2015 in this round
DONE = "m.karimova@mfa.tj.example"  # endorsed in this round
MINISTER = "cabinet@gov.tm.example"  # TKM-2018's approver
ADMIN = "admin@napflow.example"


@pytest.fixture
def many(demo: Runtime) -> Runtime:
    """The demo, 120 more plans (60 Uzbek, 60 Kazakh; every third titled in Russian) and an
    administrator who sees every plan."""
    services.add_person(demo, ADMIN, "Site Admin")
    services.access.grant_access(demo, ADMIN, "admin")
    for n in range(120):
        country = "UZB" if n % 2 else "KAZ"
        title = f"Национальный план {n}" if n % 3 == 0 else f"Export control plan {n}"
        services.create_plan(demo, country, title, key=f"{country}-{n}")
    return demo


def keys(page: object) -> list[str]:
    return [p.key for p in page.plans]  # type: ignore[attr-defined]


def test_the_list_pages_searches_and_sorts_many_plans(many: Runtime, clock: VirtualClock) -> None:
    everything = find_plans(many, ADMIN, PlanQuery(sort="key"))
    assert everything.total == 123 and everything.pages == 3 and len(everything.plans) == PER_PAGE
    second = find_plans(many, ADMIN, PlanQuery(sort="key", page=2))
    third = find_plans(many, ADMIN, PlanQuery(sort="key", page=3))
    listed = keys(everything) + keys(second) + keys(third)
    assert listed == sorted(listed) and len(set(listed)) == 123  # every plan once
    assert find_plans(many, ADMIN, PlanQuery(sort="key", page=99)).page == 3  # past the end
    # search: key, title (any case, any script), country name
    by_key = find_plans(many, ADMIN, PlanQuery(text="uzb-11", sort="key"))
    assert keys(by_key) == ["UZB-11", "UZB-111", "UZB-113", "UZB-115", "UZB-117", "UZB-119"]
    russian = find_plans(many, ADMIN, PlanQuery(text="НАЦИОНАЛЬНЫЙ план 9", sort="key"))
    assert keys(russian) == ["KAZ-90", "KAZ-96", "UZB-9", "UZB-93", "UZB-99"]
    assert find_plans(many, ADMIN, PlanQuery(text="kazakh")).total == 60
    with use_locale("ru"):
        assert find_plans(many, ADMIN, PlanQuery(text="казах")).total == 60
    # filters combine
    combined = PlanQuery(text="export", country="UZB", state="drafting")
    assert find_plans(many, ADMIN, combined).total == 40
    assert keys(find_plans(many, ADMIN, PlanQuery(state="approved"))) == ["KGZ-2021"]
    # sorted by country name: Kazakhstan, Kyrgyzstan, Tajikistan, Turkmenistan, Uzbekistan
    by_country = find_plans(many, ADMIN, PlanQuery(sort="country", page=2))
    assert [p.country for p in by_country.plans[8:13]] == ["KAZ", "KAZ", "KGZ", "TJK", "TKM"]
    # the next deadline first (TJK-2015's review window), plans with none last
    assert keys(find_plans(many, ADMIN, PlanQuery()))[0] == "TJK-2015"
    # the last change first
    clock.set(clock.now() + timedelta(hours=1))
    services.edit_plan(many, "UZB-7", title="Export control plan 7 (revised)")
    changed = find_plans(many, ADMIN, PlanQuery(sort="changed")).plans
    assert [p.changed_at for p in changed] == sorted((p.changed_at for p in changed), reverse=True)
    made = [p.key for p in changed if p.key[:3] in ("UZB", "KAZ")]
    assert made[0] == "UZB-7"  # changed after the other 119 were made
    # the search follows a new title, and no longer finds the old one
    assert keys(find_plans(many, ADMIN, PlanQuery(text="plan 7 (REVISED)"))) == ["UZB-7"]
    services.edit_plan(many, "UZB-7", title="Экспортный контроль: ПЛАН")
    assert keys(find_plans(many, ADMIN, PlanQuery(text="контроль: план"))) == ["UZB-7"]
    assert find_plans(many, ADMIN, PlanQuery(text="revised")).total == 0
    # a search never matches across the key and the title ("UZB-7 Экспорт...")
    assert find_plans(many, ADMIN, PlanQuery(text="7 экспорт")).total == 0
    # nor does a LIKE wildcard typed in the search stand for anything
    assert find_plans(many, ADMIN, PlanQuery(text="uzb-1_")).total == 0
    assert find_plans(many, ADMIN, PlanQuery(text="%")).total == 0


def test_upgrading_a_database_fills_the_search_of_the_plans_it_has(db_url: str) -> None:
    """Schema 0010 adds the folded search text: the plans already there get theirs."""
    from sqlalchemy import text

    from napflow.runtime.bootstrap import build_runtime
    from napflow.runtime.settings import Settings
    from napflow.storage.database import Database

    old = Database(db_url)
    old.upgrade("0009")
    with old.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO plans (key, country, title, workflow, workflow_version, state, "
                "version, seq, head_hash, entered_seq, timezone, created_at, updated_at) VALUES "
                "(:key, 'TJK', :title, 'nap', 1, 'drafting', 1, 0, '', 1, 'Asia/Dushanbe', "
                ":at, :at)"
            ),
            [
                {"key": "TJK-OLD", "title": "Национальный ПЛАН", "at": "2015-07-01 00:00:00"},
                {"key": "KGZ-OLD", "title": "Export control", "at": "2015-07-01 00:00:00"},
            ],
        )
    before, after = old.upgrade()
    old.dispose()
    assert before == "0009" and after != "0009"
    rt = build_runtime(Settings(database_url=db_url))
    try:
        services.add_person(rt, ADMIN, "Site Admin")
        services.access.grant_access(rt, ADMIN, "admin")
        assert keys(find_plans(rt, ADMIN, PlanQuery(text="национальный план"))) == ["TJK-OLD"]
        assert keys(find_plans(rt, ADMIN, PlanQuery(text="kgz-old"))) == ["KGZ-OLD"]
    finally:
        rt.db.dispose()


def test_the_list_shows_only_what_the_person_sees_and_refuses_bad_filters(
    many: Runtime,
) -> None:
    mine = find_plans(many, COORD, PlanQuery())
    assert keys(mine) == ["TJK-2015"] and mine.countries == [("TJK", "Tajikistan")]
    [row] = mine.plans
    assert row.state_title == "Working-group review" and row.roles == ["National coordinator"]
    assert row.deadline is not None and row.deadline.kind == "review_window"
    assert row.entered_at < row.changed_at  # it entered review, then members endorsed
    assert find_plans(many, COORD, PlanQuery(text="uzb")).total == 0
    for bad, said in (
        (PlanQuery(sort="age"), "There is no sort 'age'; sorts: deadline, changed"),
        (PlanQuery(state="limbo"), "There is no state 'limbo'; states: preparation"),
        (PlanQuery(role="king"), "There is no role 'king'; roles: focal_point, expert, chair"),
        (PlanQuery(country="XX1"), "XX1"),
    ):
        with pytest.raises(InputError, match=re.escape(said)):
            find_plans(many, COORD, bad)


@pytest.fixture
def http(demo: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(demo), follow_redirects=False) as client:
        yield client


def csrf(http: TestClient) -> str:
    page = http.get("/").text
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def form_of(page: str, trigger: str) -> str:
    return page.split(f'id="do-{trigger}"', 1)[1].split("</form>", 1)[0]


def test_a_blocked_action_is_shown_disabled_with_its_reason_in_people_s_words(
    http: TestClient, demo: Runtime
) -> None:
    log_in(http, CHAIR, DEMO_PASSWORD)
    page = http.get("/plans/TJK-2015").text
    send = form_of(page, "send_to_experts")
    assert re.search(r'value="send_to_experts" disabled', send)
    assert (
        'needs "Endorse the draft for the working group" from everyone in the role '
        "Working-group member: 2 missing (Davron Saidov (Ministry of Economic Development and "
        "Trade) and Nurullo Kurbonov (Committee for Emergency Situations))"
    ) in send.replace("&#34;", '"')
    # who endorsed this round and who has not, by name
    done = page.split('class="done">', 1)[1].split("</ul>", 1)[0]
    missing = page.split('class="missing">', 1)[1].split("</ul>", 1)[0]
    assert "Malika Karimova" in done and "Alisher Sharipov" in done
    assert "Davron Saidov" in missing and "Nurullo Kurbonov" in missing
    assert "Malika Karimova" not in missing
    # no command-line words anywhere on the page
    assert "--comment" not in page and "napflow " not in page.replace("napflow.css", "")
    # a forged post of it is refused in the same words, nothing written
    before = len(services.plan_history(demo, "TJK-2015").records)
    forged = http.post(
        "/plans/TJK-2015/advance",
        data={"csrf": csrf(http), "trigger": "send_to_experts", "comment": "Ready."},
    )
    assert forged.status_code == 403
    assert "This was not done: needs &#34;Endorse the draft" in forged.text
    assert ">Ready.</textarea>" in form_of(forged.text, "send_to_experts") or (
        "Ready." not in forged.text  # a disabled action has no comment box to keep it in
    )
    assert len(services.plan_history(demo, "TJK-2015").records) == before


def test_a_withdrawal_needs_a_confirmation_that_restates_it(
    http: TestClient, demo: Runtime
) -> None:
    log_in(http, COORD, DEMO_PASSWORD)
    page = http.get("/plans/TJK-2015").text
    withdraw = form_of(page, "withdraw")
    assert 'class="action destructive"' in page and 'class="danger"' in withdraw
    assert 'class="danger"' not in form_of(page, "request_changes").split("<button")[0]
    token = csrf(http)
    before = len(services.plan_history(demo, "TJK-2015").records)
    data = {
        "csrf": token,
        "trigger": "withdraw",
        "comment": "Superseded by the 2016 plan.",
        "expect_version": str(services.show_plan(demo, "TJK-2015").version),
    }
    first = http.post("/plans/TJK-2015/advance", data=data)
    assert first.status_code == 200 and "<h1>Withdraw the plan?</h1>" in first.text
    assert "The plan goes to the stage Withdrawn and its procedure ends there" in first.text
    assert ">Superseded by the 2016 plan.</textarea>" in first.text  # what they typed
    assert 'name="confirmed" value="yes"' in first.text
    assert len(services.plan_history(demo, "TJK-2015").records) == before  # nothing yet
    done = http.post("/plans/TJK-2015/advance", data={**data, "confirmed": "yes"})
    assert done.status_code == 303
    assert services.show_plan(demo, "TJK-2015").state == "withdrawn"


def test_a_refused_or_conflicting_form_keeps_the_typed_comment(
    http: TestClient, demo: Runtime
) -> None:
    log_in(http, CHAIR, DEMO_PASSWORD)
    token = csrf(http)
    version = services.show_plan(demo, "TJK-2015").version
    # a blank comment where one is needed: refused, in the web's words
    blank = {
        "csrf": token,
        "trigger": "request_changes",
        "comment": "   ",
        "expect_version": str(version),
        "confirmed": "yes",
    }
    refused = http.post("/plans/TJK-2015/advance", data=blank)
    assert refused.status_code == 403
    assert "This was not done: this action needs a comment saying why." in refused.text
    # the plan changes under a typed comment: the comment is kept, ready to send again
    services.advance_plan(demo, "TJK-2015", "endorse", MEMBER)
    typed = {**blank, "comment": "Annex B contradicts the customs code."}
    stale = http.post("/plans/TJK-2015/advance", data=typed)
    assert stale.status_code == 409
    assert ">Annex B contradicts the customs code.</textarea>" in stale.text
    assert "Endorse the draft for the working group" in stale.text  # what happened
    again = re.search(r'name="expect_version" value="(\d+)"', stale.text)
    assert again is not None and int(again.group(1)) == version + 1
    resent = http.post("/plans/TJK-2015/advance", data={**typed, "expect_version": again.group(1)})
    assert resent.status_code == 303
    assert services.show_plan(demo, "TJK-2015").state == "drafting"
