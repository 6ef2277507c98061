"""The web app and the JSON API, through HTTP (FastAPI's TestClient on the real app).

Logins use the demo people (password napflow-demo); the database is the demo's SQLite.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers import SCHEMA_HEAD, Result

from napflow import services
from napflow.clock import VirtualClock
from napflow.runtime import Runtime
from napflow.services import accounts
from napflow.services.demo import DEMO_PASSWORD
from napflow.web import create_app

Cli = Callable[..., Result]
COORD = "f.rahimov@cbrn.tj.example"
CHAIR = "s.nazarova@president.tj.example"
MEMBER = "n.kurbonov@kchs.tj.example"  # has not endorsed TJK-2015 in this round
OBSERVER = "observer@unrcpd.example"


@pytest.fixture
def client(demo: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(demo), follow_redirects=False) as http:
        yield http


def login_token(client: TestClient) -> str:
    """Open the login form, as a browser would: its token and the cookie set with it."""
    form = client.get("/login").text
    return form.split('name="login_csrf" value="', 1)[1].split('"', 1)[0]


def log_in(client: TestClient, email: str, password: str = DEMO_PASSWORD, next: str = "/") -> Any:
    token = login_token(client)
    data = {"email": email, "password": password, "next": next, "login_csrf": token}
    return client.post("/login", data=data)


def csrf_of(client: TestClient) -> str:
    page = client.get("/plans/TJK-2015").text
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def history_length(rt: Runtime) -> int:
    return len(services.plan_history(rt, "TJK-2015").records)


def test_pages_need_a_login_and_come_back_after_it(client: TestClient) -> None:
    first = client.get("/plans/TJK-2015")
    assert first.status_code == 303 and first.headers["location"] == "/login?next=/plans/TJK-2015"
    form = client.get(first.headers["location"])
    assert 'name="next" value="/plans/TJK-2015"' in form.text
    done = log_in(client, COORD, next="/plans/TJK-2015")
    assert done.status_code == 303 and done.headers["location"] == "/plans/TJK-2015"
    assert client.get("/plans/TJK-2015").status_code == 200


def test_the_session_cookie_is_httponly_samesite_and_new_at_every_login(
    client: TestClient, demo: Runtime
) -> None:
    client.cookies.set("napflow_session", "chosen-by-an-attacker")
    assert client.get("/").status_code == 303  # a planted cookie opens nothing
    first = log_in(client, COORD)
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    token = first.cookies["napflow_session"]
    assert token != "chosen-by-an-attacker"
    second = log_in(client, COORD).cookies["napflow_session"]
    assert second != token
    with TestClient(
        create_app(demo), base_url="https://napflow.example", follow_redirects=False
    ) as secure:
        assert "Secure" in log_in(secure, COORD).headers["set-cookie"]


def test_logout_ends_the_session_on_the_server(client: TestClient) -> None:
    token = log_in(client, COORD).cookies["napflow_session"]
    csrf = csrf_of(client)
    assert client.post("/logout", data={"csrf": csrf}).headers["location"] == "/login"
    client.cookies.set("napflow_session", token)  # a copy of the old cookie
    assert client.get("/").status_code == 303


def test_wrong_passwords_are_refused_then_rate_limited(client: TestClient) -> None:
    wrong = log_in(client, COORD, "not the password")
    assert wrong.status_code == 401 and "Wrong e-mail address or password." in wrong.text
    assert log_in(client, "nobody@example.org").status_code == 401
    for _ in range(4):
        log_in(client, COORD, "still wrong")
    limited = log_in(client, COORD)  # even the right password, for a while
    assert limited.status_code == 429 and "try again in 15 minutes" in limited.text


def test_login_never_redirects_off_the_site(client: TestClient) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        assert log_in(client, COORD, next=target).headers["location"] == "/"


def test_a_login_form_posted_from_elsewhere_is_refused(client: TestClient) -> None:
    data = {"email": COORD, "password": DEMO_PASSWORD, "next": "/"}
    without = client.post("/login", data=data)
    assert without.status_code == 403 and "This login form has expired" in without.text
    token = login_token(client)
    client.cookies.clear()
    client.cookies.set("napflow_login", "another")
    crossed = client.post("/login", data={**data, "login_csrf": token})
    assert crossed.status_code == 403 and "napflow_session" not in crossed.cookies


def test_the_plans_list_names_states_and_countries_and_filters(
    client: TestClient, demo: Runtime
) -> None:
    log_in(client, COORD)
    mine = client.get("/plans").text
    assert 'href="/plans/TJK-2015"' in mine  # the plan they coordinate, and no other
    assert 'href="/plans/TKM-2018"' not in mine and 'href="/plans/KGZ-2021"' not in mine
    services.access.grant_access(demo, COORD, "reader")  # now they follow every country
    page = client.get("/plans").text
    for key in ("TJK-2015", "TKM-2018", "KGZ-2021"):
        assert f'href="/plans/{key}"' in page
    # state titles and country names, never their ids or codes, in the rows
    rows = page.split("<tbody>", 1)[1]
    assert "Working-group review" in rows and "Approved" in rows and "Tajikistan" in rows
    assert "working_group_review" not in rows and ">TJK<" not in rows
    assert '<option value="TKM">Turkmenistan</option>' in page
    assert 'class="overdue">Working-group review' not in page  # not yet due
    filtered = client.get("/plans", params={"country": "TJK"}).text
    assert "TJK-2015" in filtered and "TKM-2018" not in filtered
    by_state = client.get("/plans", params={"state": "approved"}).text
    assert "KGZ-2021" in by_state and "TJK-2015" not in by_state
    searched = client.get("/plans", params={"q": "turkmen"}).text  # a country's name
    assert "TKM-2018" in searched and "TJK-2015" not in searched
    mine_only = client.get("/plans", params={"role": "coordinator"}).text
    assert "TJK-2015" in mine_only and "TKM-2018" not in mine_only
    bad = client.get("/plans", params={"state": "nowhere"})
    assert bad.status_code == 400 and "There is no state &#39;nowhere&#39;" in bad.text
    # the dashboard's old links land on the list
    old = client.get("/", params={"country": "TJK"})
    assert old.status_code == 303 and old.headers["location"] == "/plans?country=TJK"


def test_overdue_deadlines_are_marked(client: TestClient, clock: VirtualClock) -> None:
    clock.set(datetime(2015, 11, 1, tzinfo=UTC))
    log_in(client, COORD)
    page = client.get("/plans").text
    assert '<span class="overdue">Working-group review: 21 October 2015 (overdue)' in page
    late = client.get("/plans", params={"overdue": "1"}).text
    assert "TJK-2015" in late


def test_a_member_endorses_from_the_plan_page(client: TestClient, demo: Runtime) -> None:
    log_in(client, MEMBER)
    page = client.get("/plans/TJK-2015").text
    assert 'value="endorse"' in page and "This round" in page
    before = history_length(demo)
    done = client.post(
        "/plans/TJK-2015/advance",
        data={"csrf": csrf_of(client), "trigger": "endorse", "expect_version": "23"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/plans/TJK-2015"
    assert history_length(demo) == before + 1
    after = client.get("/plans/TJK-2015").text
    assert "<strong>Endorse the draft for the working group</strong> by Nurullo Kurbonov" in after
    assert "(Working-group member)" in after
    # once per round: still shown, disabled, with the reason in the web's words
    assert re.search(r'name="do" value="endorse" disabled', after)
    assert "Not open yet: you have done this already in this round." in after
    done = after.split('class="done">', 1)[1].split("</ul>", 1)[0]
    assert "Nurullo Kurbonov" in done


def test_an_observer_sees_the_plan_but_no_buttons_and_cannot_act(
    client: TestClient, demo: Runtime
) -> None:
    log_in(client, OBSERVER)
    page = client.get("/plans/TJK-2015").text
    assert "National Action Plan" in page and '<button type="submit" name="do"' not in page
    assert "your roles on this plan allow no action at this stage" in page
    before = history_length(demo)
    forged = client.post(
        "/plans/TJK-2015/advance", data={"csrf": csrf_of(client), "trigger": "endorse"}
    )
    assert forged.status_code == 403
    assert "This was not done: none of your roles on this plan allows it" in forged.text
    assert history_length(demo) == before


def test_a_form_without_the_csrf_token_is_refused(client: TestClient, demo: Runtime) -> None:
    log_in(client, MEMBER)
    before = history_length(demo)
    for data in ({"trigger": "endorse"}, {"trigger": "endorse", "csrf": "guessed"}):
        refused = client.post("/plans/TJK-2015/advance", data=data)
        assert refused.status_code == 403 and "This form has expired" in refused.text
    assert history_length(demo) == before


def test_a_stale_form_shows_what_happened_instead_of_acting(
    client: TestClient, demo: Runtime
) -> None:
    log_in(client, CHAIR)
    csrf = csrf_of(client)
    services.advance_plan(demo, "TJK-2015", "endorse", MEMBER)  # someone else, meanwhile
    stale = client.post(
        "/plans/TJK-2015/advance",
        data={
            "csrf": csrf,
            "trigger": "request_changes",
            "comment": "Revise annex B.",
            "expect_version": "23",
            "seen_seq": str(history_length(demo) - 1),
            "confirmed": "yes",
        },
    )
    assert stale.status_code == 409
    assert "This plan changed" in stale.text and "by Nurullo Kurbonov" in stale.text
    # what they typed is kept, in a form that acts on the plan as it is now
    assert ">Revise annex B.</textarea>" in stale.text
    assert 'name="expect_version" value="24"' in stale.text
    assert services.show_plan(demo, "TJK-2015").state == "working_group_review"


def test_comments_and_names_are_escaped(client: TestClient, demo: Runtime) -> None:
    services.advance_plan(
        demo, "TJK-2015", "request_changes", CHAIR, '<script>alert("x")</script> & more'
    )
    log_in(client, COORD)
    page = client.get("/plans/TJK-2015").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more" in page


def test_unknown_plan_page_is_a_404_page(client: TestClient) -> None:
    log_in(client, COORD)
    missing = client.get("/plans/NOPE-1")
    assert missing.status_code == 404 and "There is no plan &#39;NOPE-1&#39;" in missing.text


# --- the JSON API --------------------------------------------------------------------------


@pytest.fixture
def token(demo: Runtime) -> Callable[[str], dict[str, str]]:
    def make(email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {accounts.create_api_token(demo, email)}"}

    return make


def assert_problem(response: Any, status: int, fragment: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and fragment in body["detail"]


def test_the_api_needs_a_valid_token(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/plans"), 401, "needs an API token")
    bad = client.get("/api/v1/plans", headers={"Authorization": "Bearer napflow_forged"})
    assert_problem(bad, 401, "needs an API token")
    assert bad.headers["www-authenticate"] == "Bearer"


def test_api_reads(
    client: TestClient, demo: Runtime, token: Callable[[str], dict[str, str]]
) -> None:
    auth = token(CHAIR)
    # every list comes as one page: {"items": [...], "next_cursor": ...} (null: the last)
    plans = client.get("/api/v1/plans", headers=auth).json()["items"]
    assert [p["key"] for p in plans] == ["TJK-2015"]  # the plan they chair, and no other
    services.access.grant_access(demo, CHAIR, "reader")
    page = client.get("/api/v1/plans", headers=auth).json()
    plans = page["items"]
    assert [p["key"] for p in plans] == ["KGZ-2021", "TJK-2015", "TKM-2018"]
    assert page["next_cursor"] is None
    plan = client.get("/api/v1/plans/TJK-2015", headers=auth).json()
    assert plan["state"] == "working_group_review" and plan["allowed"] == ["request_changes"]
    history = client.get(
        "/api/v1/plans/TJK-2015/history",
        params={"since": "2015-10-08", "until": "2015-10-09"},
        headers=auth,
    ).json()["items"]
    assert [r["seq"] for r in history] == [21, 22, 23]
    deadlines = client.get("/api/v1/plans/TJK-2015/deadlines", headers=auth).json()["items"]
    assert {d["kind"] for d in deadlines} >= {"approval"}
    reminders = client.get(
        "/api/v1/plans/TJK-2015/reminders", params={"status": "pending"}, headers=auth
    ).json()["items"]
    assert all(m["status"] == "pending" and m["plan"] == "TJK-2015" for m in reminders)
    assert reminders


def test_api_advance_and_its_refusals(
    client: TestClient, demo: Runtime, token: Callable[[str], dict[str, str]]
) -> None:
    url = "/api/v1/plans/TJK-2015/advance"
    done = client.post(
        url, json={"trigger": "endorse", "expect_version": 23}, headers=token(MEMBER)
    )
    assert done.status_code == 200
    assert done.json() | {"version": 0} == done.json() | {
        "key": "TJK-2015",
        "trigger": "endorse",
        "actor": MEMBER,
        "role": "wg_member",
        "version": 0,
    }
    assert_problem(
        client.post(url, json={"trigger": "endorse"}, headers=token(OBSERVER)),
        403,
        "Cannot endorse TJK-2015",
    )
    assert_problem(
        client.post(url, json={"trigger": "endorse", "expect_version": 23}, headers=token(CHAIR)),
        409,
        "TJK-2015 is at version 24, not 23",
    )
    assert_problem(
        client.post(url, json={"trigger": "aprove"}, headers=token(CHAIR)),
        400,
        "has no trigger 'aprove'",
    )
    assert_problem(client.post(url, json={}, headers=token(CHAIR)), 422, "trigger")
    assert_problem(
        client.post("/api/v1/plans/NOPE-1/advance", json={"trigger": "x"}, headers=token(CHAIR)),
        404,
        "There is no plan 'NOPE-1'",
    )
    assert_problem(
        client.get(
            "/api/v1/plans/TJK-2015/history", params={"since": "9 Oct"}, headers=token(CHAIR)
        ),
        400,
        "since '9 Oct' is not a date",
    )


def test_api_refusals_carry_what_the_error_knows_as_problem_members(
    client: TestClient, token: Callable[[str], dict[str, str]]
) -> None:
    url = "/api/v1/plans/TJK-2015/advance"
    refused = client.post(url, json={"trigger": "send_to_experts"}, headers=token(CHAIR))
    assert_problem(refused, 403, "Cannot send_to_experts TJK-2015")
    body = refused.json()
    assert body | {"detail": ""} == {
        "type": "about:blank",
        "title": "Not allowed",
        "status": 403,
        "detail": "",
        "key": "TJK-2015",
        "trigger": "send_to_experts",
        "actor": CHAIR,
        "state": "working_group_review",
        "reasons": [
            f"every wg_member must endorse first; waiting for d.saidov@medt.tj.example, {MEMBER}"
        ],
        "allowed": ["request_changes"],
    }
    for reason in body["reasons"]:  # the members say what the sentence says
        assert reason in body["detail"]
    observer = client.post(url, json={"trigger": "endorse"}, headers=token(OBSERVER)).json()
    assert observer["allowed"] == []  # nothing, said as an empty list
    assert observer["reasons"] == [
        f"it needs the role wg_member or wg_chair, and {OBSERVER} holds observer on TJK-2015"
    ]

    stale = client.post(
        url, json={"trigger": "endorse", "expect_version": 20}, headers=token(MEMBER)
    )
    assert_problem(stale, 409, "TJK-2015 is at version 23, not 20")
    assert {k: stale.json().get(k) for k in ("key", "expected_version", "found_version")} == {
        "key": "TJK-2015",
        "expected_version": 20,
        "found_version": 23,
    }
    assert stale.json()["state"] == "working_group_review"

    missing = client.post(
        "/api/v1/plans/NOPE-1/advance", json={"trigger": "endorse"}, headers=token(CHAIR)
    )
    assert_problem(missing, 404, "There is no plan 'NOPE-1'")
    assert missing.json()["missing"] == "plan" and missing.json()["key"] == "NOPE-1"
    read = client.get("/api/v1/plans/nope-2/history", headers=token(CHAIR)).json()
    assert (read["missing"], read["key"]) == ("plan", "NOPE-2")

    # an error that knows nothing more has only the standard members, no nulls
    bad = client.post(url, json={"trigger": "aprove"}, headers=token(CHAIR)).json()
    assert set(bad) == {"type", "title", "status", "detail"}
    unknown = client.get("/api/v1/plans").json()
    assert set(unknown) == {"type", "title", "status", "detail"}


def test_the_openapi_schema_documents_the_problem_members(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    problem = schema["components"]["schemas"]["Problem"]
    assert problem["required"] == ["type", "title", "status", "detail"]
    assert {"reasons", "allowed", "found_version", "expected_version", "missing", "key"} <= set(
        problem["properties"]
    )
    assert problem["properties"]["allowed"] == problem["properties"]["allowed"] | {
        "type": "array",
        "items": {"type": "string"},
    }
    ref = {"$ref": "#/components/schemas/Problem"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            errors = {s: r for s, r in operation["responses"].items() if s.startswith("4")}
            assert {"400", "401", "403", "404", "409", "422"} <= set(errors), (path, method)
            for status, response in errors.items():
                assert response["content"] == {"application/problem+json": {"schema": ref}}, (
                    path,
                    method,
                    status,
                )


def test_every_member_an_error_carries_is_documented_and_clashes_with_none() -> None:
    from napflow import errors
    from napflow.web.http import Problem

    kinds = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.NapflowError)
    ]
    assert len(kinds) == 10
    standard = {"type", "title", "status", "detail", "code", "kind", "message"}
    for kind in kinds:
        assert set(kind.fields) <= set(Problem.model_fields) - standard, kind
    assert len({kind.kind for kind in kinds}) == len(kinds)


def test_the_api_and_the_cli_give_the_same_message(
    client: TestClient, token: Callable[[str], dict[str, str]], cli: Cli
) -> None:
    api = client.post(
        "/api/v1/plans/TJK-2015/advance", json={"trigger": "endorse"}, headers=token(OBSERVER)
    ).json()["detail"]
    shell = cli("advance", "TJK-2015", "endorse", "--as", OBSERVER)
    assert shell.code == 1 and shell.err == f"napflow: {api}\n"


def test_the_openapi_schema_lists_every_route(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    assert set(schema["paths"]) == {
        "/api/v1/plans",
        "/api/v1/plans/{key}",
        "/api/v1/plans/{key}/advance",
        "/api/v1/plans/{key}/history",
        "/api/v1/plans/{key}/deadlines",
        "/api/v1/plans/{key}/reminders",
        "/api/v1/plans/{key}/roles",
        "/api/v1/plans/{key}/drafts",
        "/api/v1/plans/{key}/drafts/{version}",
        "/api/v1/plans/{key}/drafts/{old}/diff/{new}",
        "/api/v1/plans/{key}/roles/{email}/{role}",
        "/api/v1/deadlines",
        "/api/v1/deadlines/{deadline_id}",
        "/api/v1/deadlines/{deadline_id}/cancel",
        "/api/v1/reminders",
        "/api/v1/reminders/{message_id}/retry",
        "/api/v1/timers",
        "/api/v1/workflows",
        "/api/v1/workflows/{name}/versions",
        "/api/v1/workflows/{name}/diff/{old}/{new}",
        "/api/v1/workflows/{name}/migrate",
        "/api/v1/people",
        "/api/v1/people/{email}",
        "/api/v1/people/{email}/deactivate",
        "/api/v1/people/{email}/activate",
        "/api/v1/access",
        "/api/v1/access/revoke",
        "/api/v1/audit/verification",
        "/api/v1/me",
        "/api/v1/me/work",
        "/api/v1/me/tokens",
        "/api/v1/me/tokens/{token_id}",
    }


# --- accounts on the command line ----------------------------------------------------------


def test_set_password_and_token_create(
    demo: Runtime, cli: Cli, monkeypatch: pytest.MonkeyPatch, client: TestClient
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a long new password\n"))
    done = cli("user", "set-password", COORD, "--password-stdin")
    assert done.code == 0 and "can log in to the web app now" in done.out
    assert log_in(client, COORD).status_code == 401  # the demo password no longer works
    assert log_in(client, COORD, "a long new password").status_code == 303
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    short = cli("user", "set-password", COORD, "--password-stdin")
    assert short.code == 2 and "12 to 1024 characters; this one has 5" in short.err
    unknown = cli("token", "create", "nobody@example.org")
    assert unknown.code == 1 and "nobody@example.org is not registered" in unknown.err
    made = cli("token", "create", COORD, "--label", "nightly report")
    assert made.code == 0 and made.out.startswith("napflow_")
    auth = {"Authorization": f"Bearer {made.out.strip()}"}
    assert "withdraw" in client.get("/api/v1/plans/TJK-2015", headers=auth).json()["allowed"]


# --- diagram, calendars, audit -------------------------------------------------------------


def test_the_diagram_highlights_the_current_state(client: TestClient) -> None:
    log_in(client, COORD)
    svg = client.get("/plans/TJK-2015/diagram.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    assert '<g class="state current" data-state="working_group_review">' in svg.text
    assert svg.text.count('class="state') == 6
    # arcs are labelled with the actions' titles (wrapped in lines), returns dashed, and an
    # action open from every state is one note beside its target
    words = " ".join(re.findall(r">([^<]+)</tspan>", svg.text))
    assert (
        '<g class="arc" data-trigger="send_to_experts" data-from="working_group_review" '
        'data-to="expert_review">' in svg.text
    )
    assert "Send the endorsed draft to the experts" in words
    assert '<g class="arc back" data-trigger="request_changes"' in svg.text
    assert svg.text.count('data-trigger="withdraw"') == 1
    assert "Withdraw the plan (from any state)" in words
    assert (
        'aria-label="Workflow 1540 National Implementation Action Plan: current state '
        'Working-group review"' in svg.text
    )
    assert (
        '<g class="state current" data-state="working_group_review">'
        in client.get("/plans/TJK-2015").text
    )


def test_deadlines_calendar_page_and_feeds(client: TestClient, demo: Runtime) -> None:
    from icalendar import Calendar

    log_in(client, MEMBER)
    page = client.get("/deadlines").text
    assert "October 2015" in page and "December 2015" in page
    assert "OSCE follow-up session" in page and "Ministerial approval" in page
    person_feed = page.split('class="feed">', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    plan_page = client.get("/plans/TJK-2015").text
    plan_feed = plan_page.split('class="feed">', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    client.cookies.clear()  # calendar programs do not log in
    for url in (person_feed.replace("&amp;", "&"), plan_feed.replace("&amp;", "&")):
        feed = client.get(url)
        assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
        events = Calendar.from_ical(feed.content).walk("VEVENT")
        titles = {str(e["summary"]) for e in events}
        assert "[TJK-2015] OSCE follow-up session" in titles
        assert all(str(e["uid"]).startswith("napflow-deadline-") for e in events)
    for wrong in (
        plan_feed.replace("&amp;", "&")[:-3] + "abc",
        "/calendar/plans/TJK-2015.ics",
        person_feed[:-8] + "0000.ics",
        "/calendar/plans/bad%20key!.ics?token=x",
    ):
        assert client.get(wrong).status_code == 404


def test_a_feed_link_reset_stops_working_and_the_others_keep_theirs(
    client: TestClient, demo: Runtime, cli: Cli
) -> None:
    from napflow.services import feeds

    member_feed = feeds.person_feed_url(demo, MEMBER)
    others = [feeds.plan_feed_url(demo, "TKM-2018"), feeds.person_feed_url(demo, CHAIR)]
    old = feeds.plan_feed_url(demo, "TJK-2015")
    assert all(client.get(url).status_code == 200 for url in (old, member_feed, *others))
    reset = cli("feed", "reset", "TJK-2015")
    assert reset.code == 0, reset.err
    new = feeds.plan_feed_url(demo, "TJK-2015")
    assert new != old and reset.out == (
        f"New calendar feed link for TJK-2015: {new} (the old one no longer works).\n"
    )
    assert client.get(old).status_code == 404 and client.get(new).status_code == 200
    assert cli("feed", "reset", "TJK-2015").code == 0  # again: the last reset counts
    assert client.get(new).status_code == 404
    assert client.get(feeds.plan_feed_url(demo, "TJK-2015")).status_code == 200
    # a person's own feed, by their address
    assert cli("feed", "reset", MEMBER).code == 0
    assert client.get(member_feed).status_code == 404
    assert client.get(feeds.person_feed_url(demo, MEMBER)).status_code == 200
    # nobody else's link changed
    assert all(client.get(url).status_code == 200 for url in others)
    assert cli("feed", "reset", "TJK-9").code == 1


def test_the_feed_key_is_made_once_when_another_process_makes_it_first(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import insert

    from napflow.runtime.bootstrap import build_runtime
    from napflow.runtime.settings import Settings
    from napflow.services import feeds
    from napflow.storage.schema import app_secrets

    monkeypatch.delenv("NAPFLOW_SECRET_KEY", raising=False)
    other = build_runtime(Settings(database_url=rt.settings.database_url))
    write = rt.db.write

    def after_the_other_process(*args: Any, **kwargs: Any) -> Any:
        # both read "no key yet"; the other process writes its key first
        with other.db.write() as conn:
            conn.execute(
                insert(app_secrets).values(
                    name="calendar-feeds", value="theirs", created_at=rt.clock.now()
                )
            )
        monkeypatch.setattr(rt.db, "write", write)
        return write(*args, **kwargs)

    monkeypatch.setattr(rt.db, "write", after_the_other_process)
    try:
        assert feeds._secret(rt) == b"theirs"  # theirs is used, not an error
        assert feeds._secret(other) == b"theirs"
    finally:
        other.db.dispose()


def test_the_audit_page_verifies_and_offers_the_bundle(client: TestClient, demo: Runtime) -> None:
    log_in(client, OBSERVER)
    refused = client.get("/audit")  # an observer of one plan is no auditor
    assert refused.status_code == 403 and "administrators and auditors" in refused.text
    assert client.get("/audit/bundle.json").status_code == 403
    services.access.grant_access(demo, OBSERVER, "auditor")
    page = client.get("/audit").text
    head = services.audit.ledger_head(demo).head
    assert "OK: 3 plans, " in page and head in page
    bundle = client.get("/audit/bundle.json")
    assert bundle.headers["content-disposition"].startswith('attachment; filename="napflow-audit-')
    assert bundle.json()["head"] == head
    assert bundle.json()["format"] == "napflow-audit-bundle/1"


def test_api_read_refusals(client: TestClient, token: Callable[[str], dict[str, str]]) -> None:
    auth = token(CHAIR)
    for path in ("", "/history", "/deadlines", "/reminders"):
        assert_problem(client.get(f"/api/v1/plans/NOPE-1{path}", headers=auth), 404, "NOPE-1")
        assert_problem(client.get(f"/api/v1/plans/TJK-2015{path}"), 401, "API token")
    assert_problem(
        client.get("/api/v1/plans", params={"state": "nowhere"}, headers=auth),
        400,
        "There is no state 'nowhere'",
    )
    assert_problem(
        client.get("/api/v1/plans/TJK-2015/reminders", params={"status": "x"}, headers=auth),
        400,
        "There is no status 'x'",
    )
    assert_problem(client.get("/api/v1/plans/bad key!", headers=auth), 400, "not a valid plan key")


@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["scheduler"]])
def test_serve_and_scheduler_refuse_a_database_older_than_napflow(
    db_url: str, cli: Cli, command: list[str]
) -> None:
    from napflow.storage.database import Database

    old = Database(db_url)
    old.upgrade("0003")
    old.dispose()
    refused = cli(*command)
    assert (
        refused.code == 2 and f"is at schema 0003, this napflow needs {SCHEMA_HEAD}" in refused.err
    )
    assert "run `napflow init`" in refused.err and not refused.out


def test_any_token_text_is_refused_cleanly(client: TestClient) -> None:
    for url in (
        "/calendar/plans/TJK-2015.ics?token=%FF",
        "/calendar/people/1-%C3%A9.ics",
        "/calendar/plans/TJK-2015.ics?token=%F0%9F%94%91",
    ):
        assert client.get(url).status_code == 404
    client.get("/login")
    assert (
        client.post("/login", data={"email": COORD, "login_csrf": "é", "password": "x"}).status_code
        == 403
    )
    log_in(client, COORD)
    for path in ("/plans/TJK-2015/advance", "/logout"):
        refused = client.post(path, data={"csrf": "é", "trigger": "withdraw"})
        assert refused.status_code == 403


def test_tokens_can_be_listed_and_revoked(
    client: TestClient, demo: Runtime, cli: Cli, token: Callable[[str], dict[str, str]]
) -> None:
    auth = token(CHAIR)
    assert client.get("/api/v1/plans", headers=auth).status_code == 200
    listed = cli("token", "list", CHAIR)
    assert listed.code == 0 and CHAIR in listed.out and "napflow_" not in listed.out
    [made] = accounts.list_api_tokens(demo, CHAIR)
    assert (
        cli("token", "revoke", str(made.id)).out
        == f"Revoked API token {made.id} (api) of {CHAIR}.\n"
    )
    assert_problem(client.get("/api/v1/plans", headers=auth), 401, "API token")
    again = cli("token", "revoke", str(made.id))
    assert again.code == 1 and f"There is no API token {made.id}" in again.err


def test_the_api_documentation_comes_from_napflow_itself(client: TestClient) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert 'src="/api/v1/docs/assets/swagger-ui-bundle.js"' in page.text
    assert "https://" not in page.text  # no CDN, no validator badge
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in policy and "unsafe-inline" not in policy.split(";")[1]
    script = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


def test_pages_carry_security_headers_and_html_errors(client: TestClient) -> None:
    log_in(client, COORD)
    page = client.get("/plans/TJK-2015")
    assert page.headers["x-frame-options"] == "DENY"
    assert "script-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    wrong_method = client.get("/plans/TJK-2015/advance")
    assert wrong_method.status_code == 405 and wrong_method.headers["content-type"].startswith(
        "text/html"
    )


def test_the_app_makes_the_unknown_address_hash_before_the_first_login(demo: Runtime) -> None:
    # a login for an address with no account is checked against a hash made once per
    # process: made as the app starts, so the first such login takes no longer than others
    # (timing itself is never asserted here)
    accounts._dummy_hash.cache_clear()
    with TestClient(create_app(demo)):
        assert accounts._dummy_hash.cache_info().currsize == 1


def test_a_page_reads_who_is_asking_once_and_the_next_request_afresh(
    client: TestClient, demo: Runtime
) -> None:
    """A page calls about ten services; who is asking (their grants) is read once for it,
    and never carried over into the next request: a grant made between two requests
    counts at once."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    log_in(client, CHAIR)
    read: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "FROM site_grants" in statement:
            read.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        page = client.get("/plans/TJK-2015")
        assert page.status_code == 200 and "Working-group review" in page.text
        assert len(read) == 1
        # a plan she does not see is refused (every service still checks each plan)
        assert client.get("/plans/KGZ-2021").status_code == 404
        services.access.grant_access(demo, CHAIR, "reader", ["KGZ"])
        read.clear()
        assert client.get("/plans/KGZ-2021").status_code == 200
        assert len(read) == 1
    finally:
        event.remove(Engine, "before_cursor_execute", count)
