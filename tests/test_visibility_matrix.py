"""Who sees which plan: every route that reads or acts on plans, for every kind of person.

The expectations are tables written out by hand below (not computed from napflow's rules):
a person sees a plan if they hold any role on it (an observer too), hold a site grant
covering it (reader or auditor of every country or of the plan's, admin), and nothing else.
A plan someone does not see answers exactly as a plan that does not exist: the same status
and, once the key is swapped, the same bytes. The audit page and bundle are for admins and
auditors, scoped to the plans they audit; readers and auditors never act (403, with the
reason); a deactivated person and an anonymous visitor are sent to log in (web: 303 to
/login) or refused (API: 401).

The database is built once per engine for the module: the demo (10 October 2015, TJK-2015
in working-group review, TKM-2018 submitted, KGZ-2021 approved) plus the people below. No
test writes to it: every action tried here is one nobody in the matrix may take, and the
advance tests check that nothing was written.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from helpers import DEMO_NOW, START, csrf_of, log_in, snapshot
from httpx2 import Response
from icalendar import Calendar

from napflow import services
from napflow.clock import VirtualClock
from napflow.errors import NotAllowedError
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.services import accounts, feeds
from napflow.services.demo import DEMO_PASSWORD
from napflow.web import create_app

# --- the plans --------------------------------------------------------------------------------

A, B, C = "TJK-2015", "TKM-2018", "KGZ-2021"
PLANS = (A, B, C)
COUNTRY = {A: "TJK", B: "TKM", C: "KGZ"}
#: a key no plan has, as long as the real ones (so even the lengths of the answers agree)
MISSING = "ZZZ-0000"
#: for each plan, a trigger that nobody in the matrix may fire (so no test writes): A is in
#: working-group review (only its chair and coordinator send it on, and not before every
#: member endorsed); B is submitted (only its approver approves); C is approved (final)
TRIGGER = {A: "send_to_experts", B: "approve", C: "withdraw"}

# --- the people -------------------------------------------------------------------------------

#: the kinds of person, and who stands for each (None: nobody logged in)
EMAIL: dict[str, str | None] = {
    "member_a": "d.saidov@medt.tj.example",  # wg_member of TJK-2015 (the demo), nothing else
    "member_b": "g.orazova@customs.tm.example",  # wg_member of TKM-2018 (the demo), only
    "observer_a": "observer@unrcpd.example",  # observer of TJK-2015 (the demo), only
    "reader_tjk": "reader.tjk@example.org",  # reader --country TJK
    "reader_all": "reader.all@example.org",  # reader, every country
    "auditor_tkm": "auditor.tkm@example.org",  # auditor --country TKM
    "auditor_all": "auditor.all@example.org",  # auditor, every country
    "admin": "admin@example.org",  # admin
    # wg_member of TJK-2015 (the demo) and reader of every country, logged in (web and API)
    # and then deactivated: had the deactivation not ended both, they would see everything
    "deactivated": "n.kurbonov@kchs.tj.example",
    "anonymous": None,
}
PEOPLE = list(EMAIL)
#: the site grants given to the new people (and to the one later deactivated)
GRANTS: dict[str, tuple[str, list[str]]] = {
    "reader_tjk": ("reader", ["TJK"]),
    "reader_all": ("reader", []),
    "auditor_tkm": ("auditor", ["TKM"]),
    "auditor_all": ("auditor", []),
    "admin": ("admin", []),
    "deactivated": ("reader", []),
}

# --- the expectations, by hand ----------------------------------------------------------------

#: not logged in: web pages answer 303 to /login, the API 401
LOGIN = "login"


@dataclass(frozen=True)
class Refused:
    """403 for an action, with the reasons, and "Allowed now for EMAIL: <allowed>."."""

    allowed: str


#: reading one plan (the page, its diagram; the API's plan, history, deadlines, reminders,
#: roles: ONE_PLAN_ROUTES). 404: answered exactly as a missing plan.
READ: dict[str, dict[str, int | str]] = {
    #               TJK-2015    TKM-2018    KGZ-2021
    "member_a": {A: 200, B: 404, C: 404},
    "member_b": {A: 404, B: 200, C: 404},
    "observer_a": {A: 200, B: 404, C: 404},
    "reader_tjk": {A: 200, B: 404, C: 404},
    "reader_all": {A: 200, B: 200, C: 200},
    "auditor_tkm": {A: 404, B: 200, C: 404},
    "auditor_all": {A: 200, B: 200, C: 200},
    "admin": {A: 200, B: 200, C: 200},
    "deactivated": {A: LOGIN, B: LOGIN, C: LOGIN},
    "anonymous": {A: LOGIN, B: LOGIN, C: LOGIN},
}

#: POST /plans/{key}/advance and /api/v1/plans/{key}/advance with TRIGGER[key]
ACT: dict[str, dict[str, int | str | Refused]] = {
    "member_a": {A: Refused("endorse"), B: 404, C: 404},
    "member_b": {A: 404, B: Refused("nothing"), C: 404},
    "observer_a": {A: Refused("nothing"), B: 404, C: 404},
    "reader_tjk": {A: Refused("nothing"), B: 404, C: 404},
    "reader_all": {A: Refused("nothing"), B: Refused("nothing"), C: Refused("nothing")},
    "auditor_tkm": {A: 404, B: Refused("nothing"), C: 404},
    "auditor_all": {A: Refused("nothing"), B: Refused("nothing"), C: Refused("nothing")},
    "admin": {A: Refused("nothing"), B: Refused("nothing"), C: Refused("nothing")},
    "deactivated": {A: LOGIN, B: LOGIN, C: LOGIN},
    "anonymous": {A: LOGIN, B: LOGIN, C: LOGIN},
}

#: the plans listed to each person by the plans list (its plan links), the deadlines page,
#: GET /api/v1/plans (whole, and one plan a page), /api/v1/deadlines, /api/v1/reminders and
#: the person's calendar feed (every plan of the demo has deadlines and reminders)
LISTED: dict[str, set[str] | str] = {
    "member_a": {A},
    "member_b": {B},
    "observer_a": {A},
    "reader_tjk": {A},
    "reader_all": {A, B, C},
    "auditor_tkm": {B},
    "auditor_all": {A, B, C},
    "admin": {A, B, C},
    "deactivated": LOGIN,
    "anonymous": LOGIN,
}

#: GET /admin/plans/{key} (a plan's administration page): administrators only; everyone
#: else is refused before any plan is looked up (so a hidden plan answers as a missing one)
ADMIN_ONLY: dict[str, dict[str, int | str]] = {
    "member_a": {A: 403, B: 403, C: 403},
    "member_b": {A: 403, B: 403, C: 403},
    "observer_a": {A: 403, B: 403, C: 403},
    "reader_tjk": {A: 403, B: 403, C: 403},
    "reader_all": {A: 403, B: 403, C: 403},
    "auditor_tkm": {A: 403, B: 403, C: 403},
    "auditor_all": {A: 403, B: 403, C: 403},
    "admin": {A: 200, B: 200, C: 200},
    "deactivated": {A: LOGIN, B: LOGIN, C: LOGIN},
    "anonymous": {A: LOGIN, B: LOGIN, C: LOGIN},
}

#: GET /audit and /audit/bundle.json: 403, or the plans audited (verified, in the bundle)
AUDIT: dict[str, int | str | set[str]] = {
    "member_a": 403,
    "member_b": 403,
    "observer_a": 403,
    "reader_tjk": 403,
    "reader_all": 403,
    "auditor_tkm": {B},
    "auditor_all": {A, B, C},
    "admin": {A, B, C},
    "deactivated": LOGIN,
    "anonymous": LOGIN,
}

#: every GET route with a plan key in its path: web page or API, and its table; besides
#: these, the plan's feed (a capability URL: test_a_plan_feed_link_is_given_only_...)
ONE_PLAN_ROUTES: dict[str, tuple[str, dict[str, dict[str, int | str]]]] = {
    "/plans/{key}": ("web", READ),
    "/plans/{key}/diagram.svg": ("web", READ),
    "/plans/{key}/changes": ("web", READ),  # these plans have no drafts: a page saying so
    "/admin/plans/{key}": ("web", ADMIN_ONLY),
    "/api/v1/plans/{key}": ("api", READ),
    "/api/v1/plans/{key}/history": ("api", READ),
    "/api/v1/plans/{key}/deadlines": ("api", READ),
    "/api/v1/plans/{key}/reminders": ("api", READ),
    "/api/v1/plans/{key}/roles": ("api", READ),
    "/api/v1/plans/{key}/drafts": ("api", READ),
}
FEED_ROUTE = "/calendar/plans/{key}.ics"
#: GET routes about one plan that need more than its key (a draft's version), each with
#: the test that holds it to the same rule (hidden answers exactly as missing)
OWN_TESTS = {
    "/plans/{key}/drafts/{version}": "tests/test_drafts_web.py",
    "/api/v1/plans/{key}/drafts/{version}": "tests/test_drafts_web.py",
    "/api/v1/plans/{key}/drafts/{old}/diff/{new}": "tests/test_drafts_web.py",
    "/plans/{key}/drafts/{old}/diff/{new}": "tests/test_drafts_diff_web.py",
}
#: the API's lists across plans: path, query, and the member naming each item's plan
API_LISTS: dict[str, tuple[str, dict[str, Any], str]] = {
    "api plans": ("/api/v1/plans", {}, "key"),
    "api plans, one a page": ("/api/v1/plans", {"limit": 1}, "key"),
    "api deadlines": ("/api/v1/deadlines", {}, "plan"),
    "api reminders": ("/api/v1/reminders", {}, "plan"),
}


# --- the database, once per engine and module -------------------------------------------------


#: the engines tested, as conftest.py reads them (NAPFLOW_TEST_ENGINES=sqlite: SQLite alone)
ENGINES = os.environ.get("NAPFLOW_TEST_ENGINES", "sqlite,postgresql").split(",")


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The engine (conftest.py's ``engine``, here for the whole module: one database each).

    Its parameter is named ``engine`` as conftest's is, so the engine markers select these
    tests as they do every other.
    """
    return str(request.param)


@dataclass
class World:
    """The demo database with the matrix's people, each with a client logged in as them."""

    rt: Runtime
    app: FastAPI
    #: kind of person -> a web client with their session cookie (anonymous: none)
    web: dict[str, TestClient]
    #: kind of person -> the API headers with their token (anonymous: none)
    api: dict[str, dict[str, str]] = field(default_factory=dict)
    #: kind of person -> the CSRF token of their session ("" for anonymous)
    csrf: dict[str, str] = field(default_factory=dict)
    #: kind of person -> the link of their calendar feed, from their deadlines page
    person_feed: dict[str, str] = field(default_factory=dict)


def _database(request: pytest.FixtureRequest, engine: str, tmp: Any) -> tuple[str, Any]:
    if engine == "sqlite":
        return f"sqlite:///{tmp / 'napflow.db'}", None
    server = request.getfixturevalue("pg_server")
    name = f"napflow_{uuid.uuid4().hex[:12]}"
    server.execute(f"CREATE DATABASE {name}")
    return server.url(name), lambda: server.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _check_the_demo(rt: Runtime) -> None:
    """The demo holds what the tables assume of it (who holds roles where, deadlines)."""
    holders = {key: {(r.email, r.role) for r in services.list_roles(rt, key)} for key in PLANS}
    on = {
        who: {key for key in PLANS if any(email == EMAIL[who] for email, _ in holders[key])}
        for who in ("member_a", "member_b", "observer_a", "deactivated")
    }
    assert on == {"member_a": {A}, "member_b": {B}, "observer_a": {A}, "deactivated": {A}}
    assert (EMAIL["member_a"], "wg_member") in holders[A]
    assert (EMAIL["member_b"], "wg_member") in holders[B]
    assert (EMAIL["observer_a"], "observer") in holders[A]
    assert {p.key: (p.country, p.state) for p in services.list_plans(rt)} == {
        A: ("TJK", "working_group_review"),
        B: ("TKM", "submitted"),
        C: ("KGZ", "approved"),
    }
    assert {d.plan for d in services.list_deadlines(rt)} == set(PLANS)


def _enter(world: World, who: str, email: str) -> None:
    """Log ``who`` in on the web and give them an API token, their form token, their feed."""
    http = world.web[who]
    log_in(http, email, DEMO_PASSWORD)
    world.csrf[who] = csrf_of(http)
    link = re.search(r'href="(/calendar/people/[^"]+\.ics)"', http.get("/deadlines").text)
    assert link is not None, f"{who}: no feed link on the deadlines page"
    world.person_feed[who] = link.group(1)
    token = accounts.create_api_token(world.rt, email)
    world.api[who] = {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def world(
    request: pytest.FixtureRequest, engine: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    url, drop = _database(request, engine, tmp_path_factory.mktemp("visibility"))
    clock = VirtualClock(START)
    rt = build_runtime(Settings(database_url=url), clock=clock)
    app = create_app(rt)
    found = World(rt, app, {})
    try:
        services.init_database(rt)
        services.load_demo(rt)
        clock.set(DEMO_NOW)
        _check_the_demo(rt)
        for who, email in EMAIL.items():
            if email is not None and email.endswith("@example.org"):
                services.add_person(rt, email, who.replace("_", " ").title())
            if email is not None and who in GRANTS:
                grant, countries = GRANTS[who]
                services.access.grant_access(rt, email, grant, countries=countries)
        # the new people get the demo people's password (one argon2 hash for all of them)
        accounts.set_demo_passwords(rt, [e for e in EMAIL.values() if e], DEMO_PASSWORD)
        feeds.plan_feed_url(rt, A)  # the feed key is made on first use: made now
        for who in EMAIL:
            found.web[who] = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
        found.api["anonymous"], found.csrf["anonymous"] = {}, ""
        for who, email in EMAIL.items():  # one at a time: logins from one client queue up
            if email is not None:
                _enter(found, who, email)
        deactivated = EMAIL["deactivated"]
        assert deactivated is not None
        services.people.deactivate_person(rt, deactivated)
        yield found
    finally:
        for http in found.web.values():
            http.close()
        rt.db.dispose()
        if drop is not None:
            drop()


# --- helpers ----------------------------------------------------------------------------------


def items(body: Any) -> list[Any]:
    """The entries of an API list: a bare JSON array, or {"items": [...], "next_cursor": ...}."""
    if isinstance(body, list):
        return body
    assert isinstance(body, dict) and isinstance(body.get("items"), list), body
    return list(body["items"])


def api_list(
    http: TestClient, path: str, headers: dict[str, str], params: dict[str, Any] | None = None
) -> tuple[int, list[Any]]:
    """GET an API list, following ``next_cursor`` (as ``cursor``) if the answer is paged."""
    answer = http.get(path, params=params, headers=headers)
    if answer.status_code != 200:
        return answer.status_code, []
    body = answer.json()
    found = items(body)
    for _ in range(100):
        cursor = body.get("next_cursor") if isinstance(body, dict) else None
        if not cursor:
            break
        answer = http.get(path, params={**(params or {}), "cursor": cursor}, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        found += items(body)
    return 200, found


def plan_links(html: str) -> set[str]:
    return set(re.findall(r'href="/plans/([A-Za-z0-9-]+)"', html))


def feed_keys(ics: bytes) -> set[str]:
    """The plans whose deadlines a calendar feed lists (each event's summary: [KEY] title)."""
    keys = set()
    for event in Calendar.from_ical(ics).walk("VEVENT"):
        found = re.match(r"\[([A-Z0-9-]+)\]", str(event.get("SUMMARY")))
        assert found is not None, event
        keys.add(found.group(1))
    return keys


def show(answer: Response) -> str:
    """An answer in a line: status, redirect, and a page's title and alert (else the body)."""
    text = answer.text
    if answer.headers.get("content-type", "").startswith("text/html"):
        found = re.findall(r"<title>(.*?)</title>|role=\"alert\">(.*?)</p>", text, re.DOTALL)
        text = " | ".join(part for pair in found for part in pair if part) or text
    return f"{answer.status_code} {answer.headers.get('location', '')} {text[:400]!r}"


def same_as_missing(answer: Response, missing: Response, key: str) -> str | None:
    """Say how ``answer`` (about ``key``) differs from the answer about MISSING, if it does."""
    if answer.status_code != missing.status_code:
        return f"status {answer.status_code}, a missing plan's {missing.status_code}"
    for header in ("content-type", "location"):
        theirs = missing.headers.get(header, "").replace(MISSING, key)
        if answer.headers.get(header, "") != theirs:
            return f"{header} {answer.headers.get(header)!r}, a missing plan's {theirs!r}"
    body = missing.content.replace(MISSING.encode(), key.encode())
    if answer.content != body:
        at = next(
            (n for n, (x, y) in enumerate(zip(answer.content, body, strict=False)) if x != y),
            min(len(answer.content), len(body)),
        )
        return (
            f"the body differs from a missing plan's at byte {at}: "
            f"{answer.content[max(0, at - 80) : at + 160]!r} where a missing plan's has "
            f"{body[max(0, at - 80) : at + 160]!r}"
        )
    return None


def check_login_answer(answer: Response, channel: str, path: str) -> str | None:
    """Say what is wrong with ``answer`` for someone not logged in, if anything."""
    if channel == "web":
        wanted = "/login?next=" + path
        if answer.status_code != 303 or answer.headers.get("location") != wanted:
            return f"wanted 303 to {wanted}, got {show(answer)}"
        return None
    if answer.status_code != 401 or not answer.headers["content-type"].startswith(
        "application/problem+json"
    ):
        return f"wanted 401 problem+json, got {show(answer)}"
    return None


def check_matrix(wrong: Iterable[str], what: str) -> None:
    found = list(wrong)
    assert not found, f"{what}: cells not as the table says:\n" + "\n".join(found)


def get_routes(routes: Iterable[Any], prefix: str = "") -> Iterator[str]:
    """Every GET route's path, through included routers (FastAPI keeps them nested) and mounts."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from get_routes(inner.routes, prefix + (getattr(context, "prefix", "") or ""))
            continue
        methods = getattr(route, "methods", None)
        path = getattr(route, "path", None)
        if methods is None:  # a mount (static files, the docs' assets) or the like
            yield from get_routes(getattr(route, "routes", None) or [], prefix + (path or ""))
        elif path is not None and "GET" in methods:
            yield prefix + path


# --- the tests --------------------------------------------------------------------------------


def test_every_get_route_of_a_plan_has_a_row(world: World) -> None:
    routes = {path for path in get_routes(world.app.routes) if "{key}" in path}
    gone = sorted(set(ONE_PLAN_ROUTES) - routes)
    assert not gone, f"ONE_PLAN_ROUTES names routes the app does not have: {gone}"
    unknown = sorted(routes - set(ONE_PLAN_ROUTES) - {FEED_ROUTE} - set(OWN_TESTS))
    assert not unknown, (
        f"GET routes about one plan with no row in test_visibility_matrix.py: {unknown}. "
        "Add each to ONE_PLAN_ROUTES with its table (READ if anyone who sees the plan may "
        "read it there), or give it a test of its own: who sees which plan there, and that "
        "a hidden plan answers exactly as a missing one."
    )


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("route", list(ONE_PLAN_ROUTES))
def test_reading_a_plan(world: World, route: str, person: str) -> None:
    channel, table = ONE_PLAN_ROUTES[route]
    http = world.web[person]
    headers = world.api[person] if channel == "api" else {}
    wrong = []
    for key in PLANS:
        path = route.format(key=key)
        missing = http.get(route.format(key=MISSING), headers=headers)
        answer = http.get(path, headers=headers)
        expected = table[person][key]
        cell = f"{person} GET {path}: wanted {expected}"
        if expected == LOGIN:
            problem = check_login_answer(answer, channel, path)
            problem = problem or same_as_missing(answer, missing, key)
        elif expected in (403, 404):
            problem = same_as_missing(answer, missing, key)
            if problem is None and answer.status_code != expected:
                problem = f"a missing plan answers {show(missing)}"
        elif answer.status_code != expected:
            problem = f"got {show(answer)}"
        elif route == "/api/v1/plans/{key}" and answer.json()["key"] != key:
            problem = f"got plan {answer.json()['key']}"
        else:
            problem = None
        if problem is not None:
            wrong.append(f"{cell}; {problem}")
    check_matrix(wrong, f"GET {route} as {person}")


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("channel", ["web", "api"])
def test_acting_on_a_plan(world: World, channel: str, person: str) -> None:
    http, email = world.web[person], EMAIL[person]

    def advance(key: str, trigger: str) -> Response:
        if channel == "api":
            body = {"trigger": trigger}
            return http.post(f"/api/v1/plans/{key}/advance", json=body, headers=world.api[person])
        form = {"trigger": trigger, "csrf": world.csrf[person]}
        return http.post(f"/plans/{key}/advance", data=form)

    before = snapshot(world.rt)
    wrong = []
    for key in PLANS:
        missing = advance(MISSING, TRIGGER[key])  # a missing plan's answer, the same trigger
        answer = advance(key, TRIGGER[key])
        expected = ACT[person][key]
        path = f"{'/api/v1' if channel == 'api' else ''}/plans/{key}/advance"
        cell = f"{person} POST {path} {TRIGGER[key]}: wanted {expected}"
        problem: str | None = None
        if expected == LOGIN:
            problem = check_login_answer(answer, channel, path)
            problem = problem or same_as_missing(answer, missing, key)
        elif expected == 404:
            problem = same_as_missing(answer, missing, key)
            if problem is None and answer.status_code != 404:
                problem = f"a missing plan answers {show(missing)}"
        elif isinstance(expected, Refused):
            said = f"Cannot {TRIGGER[key]} {key}: "
            allowed = f"Allowed now for {email}: {expected.allowed}."
            if answer.status_code != 403:
                problem = f"got {show(answer)}"
            elif channel == "api":
                body = answer.json()
                if not (body["detail"].startswith(said) and body["detail"].endswith(allowed)):
                    problem = f"detail {body['detail']!r}"
                elif not body.get("reasons"):
                    problem = f"no reasons: {body}"
            elif "This was not done: " not in answer.text or open_buttons(answer.text) != (
                [] if expected.allowed == "nothing" else [expected.allowed]
            ):
                # the page speaks the web's words and offers what is open now
                problem = f"the page does not say why: {show(answer)}"
        if problem is not None:
            wrong.append(f"{cell}; {problem}")
    assert snapshot(world.rt) == before, f"{person} via {channel}: something was written"
    check_matrix(wrong, f"advance via {channel} as {person}")


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("view", ["plans list", "deadlines page", *API_LISTS, "person feed"])
def test_the_plans_listed(world: World, view: str, person: str) -> None:
    expected = LISTED[person]
    http = world.web[person]
    if view in API_LISTS:
        path, params, plan_of = API_LISTS[view]
        status, found = api_list(http, path, world.api[person], params)
        if expected == LOGIN:
            assert status == 401, f"{person}: GET {path} answered {status}"
            return
        assert status == 200, f"{person}: GET {path} answered {status}"
        assert {item[plan_of] for item in found} == expected, f"{person}: GET {path} {params}"
        return
    if view == "person feed":
        if person == "anonymous":  # has no feed: the page with the link asks for a login
            assert check_login_answer(http.get("/deadlines"), "web", "/deadlines") is None
            return
        answer = world.web["anonymous"].get(world.person_feed[person])  # no cookie needed
        if expected == LOGIN:  # deactivated: their feed (its link kept) is gone
            assert answer.status_code == 404, f"{person}'s feed: {show(answer)}"
            assert "There is no such calendar feed" in answer.text
            return
        assert answer.status_code == 200, f"{person}'s feed: {show(answer)}"
        assert answer.headers["content-type"].startswith("text/calendar")
        assert feed_keys(answer.content) == expected, f"{person}'s feed"
        return
    path = "/plans" if view == "plans list" else "/deadlines"
    answer = http.get(path)
    if expected == LOGIN:
        problem = check_login_answer(answer, "web", path)
        assert problem is None, f"{person} GET {path}: {problem}"
        return
    assert answer.status_code == 200, f"{person} GET {path}: {show(answer)}"
    assert plan_links(answer.text) == expected, f"{person} GET {path}: the plans linked"
    if view == "plans list":  # the country filter offers the countries of those plans only
        offered = set(re.findall(r'<option value="([A-Z]{3})"', answer.text))
        assert offered == {COUNTRY[key] for key in expected}, f"{person}: the countries offered"


@pytest.mark.parametrize("person", PEOPLE)
def test_a_plan_feed_link_is_given_only_to_those_who_see_the_plan(
    world: World, person: str
) -> None:
    """A plan's feed needs its token, found on the plan's page: only those who see the plan
    get it. Without it, a plan answers as a missing one (to anyone: feeds take no login)."""
    http, calendar = world.web[person], world.web["anonymous"]
    wrong = []
    for key in PLANS:
        page = http.get(f"/plans/{key}").text
        links = re.findall(r'href="(/calendar/plans/([A-Z0-9-]+)\.ics\?token=[0-9a-f.]+)"', page)
        if READ[person][key] == 200:
            if [k for _, k in links] != [key]:
                wrong.append(f"{person} /plans/{key}: feed links {links}")
                continue
            feed = calendar.get(links[0][0])
            if feed.status_code != 200 or feed_keys(feed.content) != {key}:
                wrong.append(f"{person} {links[0][0]}: {show(feed)}")
        elif links or "/calendar/plans/" in page:
            wrong.append(f"{person} /plans/{key}: a feed link on a page they may not see")
        for token in ("", "0" * 40):
            missing = http.get(f"/calendar/plans/{MISSING}.ics", params={"token": token})
            answer = http.get(f"/calendar/plans/{key}.ics", params={"token": token})
            problem = same_as_missing(answer, missing, key)
            if problem is None and answer.status_code != 404:
                problem = f"a missing plan answers {show(missing)}"
            if problem is not None:
                wrong.append(f"{person} {key}'s feed, token {token!r}: {problem}")
    check_matrix(wrong, f"plan feeds as {person}")


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("path", ["/audit", "/audit/bundle.json"])
def test_the_audit(world: World, path: str, person: str) -> None:
    expected = AUDIT[person]
    answer = world.web[person].get(path)
    if expected == LOGIN:
        problem = check_login_answer(answer, "web", path)
        assert problem is None, f"{person} GET {path}: {problem}"
        return
    if expected == 403:
        assert answer.status_code == 403, f"{person} GET {path}: {show(answer)}"
        assert "administrators and auditors" in answer.text, f"{person} GET {path}: no reason"
        return
    assert isinstance(expected, set)
    assert answer.status_code == 200, f"{person} GET {path}: {show(answer)}"
    if path == "/audit":
        # scoped to the plans they audit: the plans verified, the plans the head digest is
        # said to cover, and the digest itself (the one their bundle carries, which they
        # check with `napflow audit verify --bundle FILE --head DIGEST`)
        wrong = []
        verified = re.search(r"OK: (\d+) plans, ", answer.text)
        if verified is None or int(verified.group(1)) != len(expected):
            wrong.append(f"verified: {verified and verified.group(0)!r}, wanted {len(expected)}")
        counted = re.search(r"chain heads of all (\d+) plans", answer.text)
        if counted is not None and int(counted.group(1)) != len(expected):
            wrong.append(f"the head digest section says {counted.group(0)!r}")
        shown = re.search(r'<code class="digest">([^<]+)</code>', answer.text)
        head = json.loads(world.web[person].get("/audit/bundle.json").content)["head"]
        if shown is None or shown.group(1) != head:
            digest = shown and shown.group(1)
            wrong.append(f"head digest shown {digest!r}, their bundle's head {head!r}")
        check_matrix(wrong, f"{person} GET /audit (audits {sorted(expected)})")
    else:
        bundle = json.loads(answer.content)
        assert {p["key"] for p in bundle["plans"]} == expected, f"{person}: the bundle's plans"


def test_a_deactivated_person_can_open_no_new_session_or_token(world: World) -> None:
    email = EMAIL["deactivated"]
    assert email is not None
    http = TestClient(world.app, follow_redirects=False)  # a cookie jar of its own
    form = http.get("/login").text
    token = form.split('name="login_csrf" value="', 1)[1].split('"', 1)[0]
    data = {"email": email, "password": DEMO_PASSWORD, "next": "/", "login_csrf": token}
    refused = http.post("/login", data=data)
    http.close()
    assert refused.status_code == 401 and "napflow_session" not in refused.cookies
    assert "deactivated" in refused.text
    with pytest.raises(NotAllowedError, match="deactivated"):
        accounts.create_api_token(world.rt, email)


def open_buttons(page: str) -> list[str]:
    """Return the triggers of the action buttons a plan page offers enabled."""
    return re.findall(r'name="do" value="([a-z_]+)"(?![^>]*disabled)', page)
