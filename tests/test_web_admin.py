"""The administration pages and a plan page's role and deadline forms, through HTTP.

FastAPI's TestClient on the real app over the demo database (SQLite and PostgreSQL); an
administrator is made in each test with the admin site grant. Nothing is mocked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from napflow import services
from napflow.runtime import Runtime
from napflow.services import accounts, feeds
from napflow.services.demo import DEMO_PASSWORD
from napflow.web import create_app

ADMIN = "admin@napflow.example"
PASSWORD = "a long enough password"
COORD = "f.rahimov@cbrn.tj.example"  # coordinator of TJK-2015
MEMBER = "n.kurbonov@kchs.tj.example"  # wg_member of TJK-2015
NEWBIE = "newbie@mfa.tm.example"
EXPIRED = "This form has expired"
NOT_ADMIN = "only an administrator may"
PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&"
#: a hostile address napflow accepts (a quoted local part, with slashes for the paths)
EMAIL_PAYLOAD = '"<script>alert(1)</script><img/src=x/onerror=alert(2)>\'&"@evil.example'
ADMIN_PAGES = (
    "/admin",
    "/admin/people",
    f"/admin/people/{NEWBIE}",
    f"/admin/people/{COORD}",  # their own, too
    "/admin/plans",
    "/admin/plans/TJK-2015",
    "/admin/access",
)


@pytest.fixture
def site(demo: Runtime) -> Runtime:
    """The demo, with an administrator who can log in and a registered newcomer."""
    services.add_person(demo, ADMIN, "Site Administrator")
    services.access.grant_access(demo, ADMIN, "admin")
    accounts.set_password(demo, ADMIN, PASSWORD)
    services.add_person(demo, NEWBIE, "New Person")
    return demo


@contextmanager
def browser(rt: Runtime, email: str, password: str = DEMO_PASSWORD) -> Iterator[TestClient]:
    """A browser of its own (its own cookies), logged in as ``email``."""
    with TestClient(create_app(rt), follow_redirects=False) as http:
        log_in(http, email, password)
        yield http


def log_in(http: TestClient, email: str, password: str) -> Any:
    form = http.get("/login").text
    token = form.split('name="login_csrf" value="', 1)[1].split('"', 1)[0]
    data = {"email": email, "password": password, "next": "/", "login_csrf": token}
    done = http.post("/login", data=data)
    return done


def csrf_of(http: TestClient) -> str:
    page = http.get("/").text
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def path_of(email: str) -> str:
    return f"/admin/people/{quote(email, safe='@')}"


def escaped(text: str) -> str:
    import markupsafe

    return str(markupsafe.escape(text))


def assert_no_markup(page: str, where: str) -> None:
    for raw in (PAYLOAD, EMAIL_PAYLOAD, "<script", "<img"):
        assert raw not in page, f"{where}: {raw!r} reached the page unescaped"


def state_of(rt: Runtime) -> dict[str, Any]:
    """What the administration forms can change, as the operator sees it."""
    return {
        "people": services.list_people(rt),
        "access": services.access.list_access(rt),
        "plans": services.list_plans(rt),
        "history": len(services.plan_history(rt, "TJK-2015").records),
        "deadlines": services.list_deadlines(rt, "TJK-2015"),
        "roles": services.list_roles(rt, "TJK-2015"),
        "feed": feeds.plan_feed_url(rt, "TJK-2015"),
    }


def approval(rt: Runtime) -> services.DeadlineView:
    return next(d for d in services.list_deadlines(rt, "TJK-2015") if d.kind == "approval")


def test_an_admin_adds_edits_deactivates_and_activates_a_person(site: Runtime) -> None:
    person = "l.berdyeva@mfa.tm.example"
    with browser(site, ADMIN, PASSWORD) as admin:
        home = admin.get("/").text
        assert '<a href="/admin">Administration</a>' in home
        assert "People" in admin.get("/admin").text
        csrf = csrf_of(admin)
        added = admin.post(
            "/admin/people",
            data={"csrf": csrf, "email": person, "name": "Leyla B.", "timezone": "Asia/Ashgabat"},
        )
        assert added.status_code == 303 and added.headers["location"] == path_of(person)
        page = admin.get(added.headers["location"]).text
        assert "Leyla B." in page and "reminders in Asia/Ashgabat" in page
        edited = admin.post(
            f"{path_of(person)}/edit",
            data={"csrf": csrf, "name": "Leyla Berdyeva", "timezone": "", "new_email": person},
        )
        assert edited.status_code == 303
        shown = services.people.show_person(site, person)
        assert (shown.name, shown.timezone) == ("Leyla Berdyeva", None)
        listed = admin.get("/admin/people").text
        assert "Leyla Berdyeva" in listed and f'href="{path_of(person)}"' in listed

        differ = admin.post(
            f"{path_of(person)}/password",
            data={"csrf": csrf, "password": PASSWORD, "confirm": PASSWORD + "!"},
        )
        assert differ.status_code == 400 and "The two passwords differ" in differ.text
        assert PASSWORD not in differ.text  # a password is never echoed back
        short = admin.post(
            f"{path_of(person)}/password", data={"csrf": csrf, "password": "x", "confirm": "x"}
        )
        assert short.status_code == 400 and "12 to 1024 characters" in short.text
        done = admin.post(
            f"{path_of(person)}/password",
            data={"csrf": csrf, "password": PASSWORD, "confirm": PASSWORD},
        )
        assert done.status_code == 303 and done.headers["location"].endswith("?done=password")
        assert "The new password is set" in admin.get(done.headers["location"]).text

        with browser(site, person, PASSWORD) as theirs:
            assert theirs.get("/").status_code == 200
            auth = {"Authorization": f"Bearer {accounts.create_api_token(site, person)}"}
            assert theirs.get("/api/v1/plans", headers=auth).status_code == 200
            left = admin.post(
                f"{path_of(person)}/deactivate",
                data={"csrf": csrf, "comment": "Left the ministry."},
            )
            assert left.status_code == 303
            assert not services.people.show_person(site, person).active
            # their session and API token ended at once
            assert theirs.get("/").headers["location"] == "/login?next=/"
            assert theirs.get("/api/v1/plans", headers=auth).status_code == 401
            assert log_in(theirs, person, PASSWORD).status_code == 401
        listed = admin.get("/admin/people").text
        assert listed.index("Leyla Berdyeva") > listed.index("Deactivated")
        page = admin.get(path_of(person)).text
        assert "deactivated on" in page and "/activate" in page
        again = admin.post(
            f"{path_of(person)}/deactivate", data={"csrf": csrf, "comment": "Twice."}
        )
        assert again.status_code == 422 and "already deactivated" in again.text
        back = admin.post(f"{path_of(person)}/activate", data={"csrf": csrf, "comment": "Back."})
        assert back.status_code == 303 and services.people.show_person(site, person).active
        with browser(site, person, PASSWORD) as theirs:
            assert theirs.get("/").status_code == 200

        moved = admin.post(
            f"{path_of(person)}/edit",
            data={"csrf": csrf, "name": "Leyla Berdyeva", "timezone": "", "new_email": "l@x.tm"},
        )
        assert moved.status_code == 303 and moved.headers["location"] == path_of("l@x.tm")


def test_a_reader_grant_for_a_country_shows_that_countrys_plans(site: Runtime) -> None:
    accounts.set_password(site, NEWBIE, PASSWORD)
    with browser(site, ADMIN, PASSWORD) as admin, browser(site, NEWBIE, PASSWORD) as reader:
        before = reader.get("/plans").text
        assert "TKM-2018" not in before and "TJK-2015" not in before
        csrf = csrf_of(admin)
        wrong = admin.post(
            "/admin/access/grant",
            data={"csrf": csrf, "email": NEWBIE, "grant": "superuser", "countries": "TKM"},
        )
        assert wrong.status_code == 400 and "There is no site grant" in wrong.text
        assert f'value="{NEWBIE}"' in wrong.text and 'value="TKM"' in wrong.text  # as typed
        granted = admin.post(
            "/admin/access/grant",
            data={
                "csrf": csrf,
                "email": NEWBIE,
                "grant": "reader",
                "countries": "tkm",
                "comment": "Ministry liaison.",
            },
        )
        assert granted.status_code == 303 and granted.headers["location"] == "/admin/access"
        listed = admin.get("/admin/access").text
        assert "New Person" in listed and "<td>reader</td>" in listed and "<td>TKM</td>" in listed
        assert "reader of TKM" in admin.get(path_of(NEWBIE)).text

        after = reader.get("/plans").text
        assert 'href="/plans/TKM-2018"' in after
        assert "TJK-2015" not in after and "KGZ-2021" not in after
        assert reader.get("/plans/TKM-2018").status_code == 200
        assert reader.get("/plans/TJK-2015").status_code == 404
        assert "Manage this plan" not in reader.get("/plans/TKM-2018").text  # reads only

        revoked = admin.post(
            "/admin/access/revoke",
            data={"csrf": csrf, "email": NEWBIE, "grant": "reader", "countries": "TKM"},
        )
        assert revoked.status_code == 303
        assert "TKM-2018" not in reader.get("/plans").text
        none_left = admin.post(
            "/admin/access/revoke",
            data={"csrf": csrf, "email": NEWBIE, "grant": "reader", "countries": ""},
        )
        assert none_left.status_code == 404 and "holds no reader grant" in none_left.text


def test_a_non_admin_is_refused_every_admin_page_and_form(site: Runtime) -> None:
    before = state_of(site)
    with browser(site, COORD) as coord:
        assert 'href="/admin"' not in coord.get("/").text
        for path in ADMIN_PAGES:
            page = coord.get(path)
            assert page.status_code == 403 and NOT_ADMIN in page.text, path
        csrf = csrf_of(coord)
        forms = {
            "/admin/people": {"email": "x@example.org", "name": "X"},
            f"{path_of(NEWBIE)}/edit": {"name": "Y", "timezone": "", "new_email": NEWBIE},
            f"{path_of(NEWBIE)}/deactivate": {"comment": "no"},
            f"{path_of(NEWBIE)}/activate": {"comment": "no"},
            f"{path_of(COORD)}/password": {"password": PASSWORD, "confirm": PASSWORD},
            "/admin/plans": {"country": "TJK", "title": "Mine"},
            "/admin/plans/TJK-2015/edit": {"title": "Mine", "timezone": "UTC"},
            "/admin/plans/TJK-2015/feed": {},
            "/admin/access/grant": {"email": COORD, "grant": "admin", "countries": ""},
            "/admin/access/revoke": {"email": ADMIN, "grant": "admin", "countries": ""},
        }
        for path, data in forms.items():
            refused = coord.post(path, data={"csrf": csrf, **data})
            assert refused.status_code == 403 and NOT_ADMIN in refused.text, path
            # even input the services would refuse as malformed: 403 before anything else
            malformed = coord.post(path, data={"csrf": csrf, **dict.fromkeys(data, "?")})
            assert malformed.status_code == 403, path
    assert state_of(site) == before
    with browser(site, COORD) as again:  # their password was not changed
        assert again.get("/").status_code == 200


def test_the_coordinator_manages_roles_and_deadlines_from_the_plan_page(site: Runtime) -> None:
    deadline = approval(site)
    with browser(site, COORD) as coord:
        page = coord.get("/plans/TJK-2015").text
        assert "Manage this plan" in page
        assert f'action="/plans/TJK-2015/deadlines/{deadline.id}/move"' in page
        csrf = csrf_of(coord)
        url = f"/plans/TJK-2015/deadlines/{deadline.id}/move"
        bad = coord.post(url, data={"csrf": csrf, "on": "15 Jan", "comment": "Later."})
        assert bad.status_code == 400 and "&#39;15 Jan&#39; is not a date" in bad.text
        assert 'value="15 Jan"' in bad.text and 'value="Later."' in bad.text  # as typed
        moved = coord.post(
            url, data={"csrf": csrf, "on": "2016-01-15", "comment": "The minister travels."}
        )
        assert moved.status_code == 303 and moved.headers["location"] == "/plans/TJK-2015"
        assert approval(site).due_on.isoformat() == "2016-01-15"
        history = coord.get("/plans/TJK-2015").text.split(">History</h2>", 1)[1]
        assert f"deadline moved: {deadline.title} (2016-01-15): The minister travels." in history
        # the person by name and the role by its title, not their address and the role's id
        name = "Farrukh Rahimov (CBRN Safety and Security Agency)"
        assert f"by {name} (National coordinator)" in history

        other = coord.post(
            "/plans/TKM-2018/deadlines/1/move", data={"csrf": csrf, "on": "2016-01-20"}
        )
        assert other.status_code == 404  # a plan they do not see
        wrong_plan = coord.post(
            f"/plans/TJK-2015/deadlines/{deadline.id + 1000}/cancel", data={"csrf": csrf}
        )
        assert wrong_plan.status_code == 404 and "has no deadline" in wrong_plan.text

        added = coord.post(
            "/plans/TJK-2015/deadlines",
            data={
                "csrf": csrf,
                "kind": "follow_up_session",
                "on": "2016-03-01",
                "end": "2016-03-02",
                "title": "Second follow-up session",
                "location": "Vienna",
                "comment": "Agreed with the OSCE.",
            },
        )
        assert added.status_code == 303
        made = next(
            d
            for d in services.list_deadlines(site, "TJK-2015")
            if d.title == "Second follow-up session"
        )
        cancelled = coord.post(
            f"/plans/TJK-2015/deadlines/{made.id}/cancel",
            data={"csrf": csrf, "comment": "Not needed."},
        )
        assert cancelled.status_code == 303
        assert {d.id: d.status for d in services.list_deadlines(site, "TJK-2015")}[made.id] == (
            "cancelled"
        )

        granted = coord.post(
            "/plans/TJK-2015/roles/grant", data={"csrf": csrf, "email": NEWBIE, "role": "observer"}
        )
        assert granted.status_code == 303
        assert ("observer", NEWBIE) in {
            (r.role, r.email) for r in services.list_roles(site, "TJK-2015")
        }
        assert f"granted observer to {NEWBIE}" in coord.get("/plans/TJK-2015").text
        unknown = coord.post(
            "/plans/TJK-2015/roles/grant",
            data={"csrf": csrf, "email": "nobody@example.org", "role": "observer"},
        )
        assert unknown.status_code == 404 and 'value="nobody@example.org"' in unknown.text
        revoked = coord.post(
            "/plans/TJK-2015/roles/revoke", data={"csrf": csrf, "email": NEWBIE, "role": "observer"}
        )
        assert revoked.status_code == 303
        assert NEWBIE not in {r.email for r in services.list_roles(site, "TJK-2015")}

    before = state_of(site)
    with browser(site, MEMBER) as member:  # no role that manages: no forms, and refused
        page = member.get("/plans/TJK-2015").text
        assert "Manage this plan" not in page and "/deadlines/" not in page
        csrf = csrf_of(member)
        refused = member.post(
            f"/plans/TJK-2015/deadlines/{deadline.id}/move",
            data={"csrf": csrf, "on": "2016-02-01"},
        )
        assert refused.status_code == 403 and "Cannot move deadline" in refused.text
        role = member.post(
            "/plans/TJK-2015/roles/grant", data={"csrf": csrf, "email": MEMBER, "role": "wg_chair"}
        )
        assert role.status_code == 403 and "Cannot change roles" in role.text
    assert state_of(site) == before

    with browser(site, ADMIN, PASSWORD) as admin:  # an administrator may, holding no role
        assert "Manage this plan" in admin.get("/plans/TJK-2015").text


def test_an_admin_edits_a_plan_and_resets_its_feed(site: Runtime) -> None:
    with browser(site, ADMIN, PASSWORD) as admin:
        csrf = csrf_of(admin)
        bad = admin.post(
            "/admin/plans",
            data={"csrf": csrf, "country": "XXQ", "title": "Plan of 2026", "workflow": "nap"},
        )
        assert bad.status_code == 400 and 'value="Plan of 2026"' in bad.text
        created = admin.post(
            "/admin/plans",
            data={
                "csrf": csrf,
                "country": "TJK",
                "title": "Plan of 2026",
                "workflow": "nap",
                "timezone": "Asia/Dushanbe",
                "key": "TJK-2026",
            },
        )
        assert created.status_code == 303 and created.headers["location"] == "/admin/plans/TJK-2026"
        assert 'href="/admin/plans/TJK-2026"' in admin.get("/admin/plans").text
        assert services.show_plan(site, "TJK-2026").state == "drafting"

        zone = admin.post(
            "/admin/plans/TJK-2015/edit",
            data={"csrf": csrf, "title": "Renamed plan", "timezone": "Mars/Olympus"},
        )
        assert zone.status_code == 400 and 'value="Mars/Olympus"' in zone.text
        assert 'value="Renamed plan"' in zone.text
        edited = admin.post(
            "/admin/plans/TJK-2015/edit",
            data={"csrf": csrf, "title": "Renamed plan", "timezone": "Asia/Dushanbe"},
        )
        assert edited.status_code == 303
        assert "plan edited: title" in admin.get("/plans/TJK-2015").text

        old = feeds.plan_feed_url(site, "TJK-2015")
        assert admin.get(old).status_code == 200
        reset = admin.post("/admin/plans/TJK-2015/feed", data={"csrf": csrf})
        assert reset.status_code == 303 and reset.headers["location"].endswith("?done=feed")
        new = feeds.plan_feed_url(site, "TJK-2015")
        assert admin.get(old).status_code == 404 and admin.get(new).status_code == 200
        page = admin.get(reset.headers["location"]).text
        assert "no longer works" in page and new.replace("&", "&amp;") in page

        last = admin.post(f"{path_of(ADMIN)}/deactivate", data={"csrf": csrf, "comment": "Bye."})
        assert last.status_code == 422 and "last active administrator" in last.text
        assert "Bye.</textarea>" in last.text


def test_hostile_text_is_escaped_on_the_admin_pages(site: Runtime) -> None:
    with browser(site, ADMIN, PASSWORD) as admin:
        csrf = csrf_of(admin)
        added = admin.post(
            "/admin/people", data={"csrf": csrf, "email": EMAIL_PAYLOAD, "name": PAYLOAD}
        )
        assert added.status_code == 303 and added.headers["location"] == path_of(EMAIL_PAYLOAD)
        services.access.grant_access(site, EMAIL_PAYLOAD, "auditor", ["TJK"], comment=PAYLOAD)
        created = admin.post(
            "/admin/plans",
            data={"csrf": csrf, "country": "TJK", "title": PAYLOAD, "key": "TJK-2030"},
        )
        assert created.status_code == 303
        services.grant_role(site, "TJK-2030", EMAIL_PAYLOAD, "coordinator")
        pages = {
            "/admin": [],
            "/admin/people": [PAYLOAD, EMAIL_PAYLOAD],
            path_of(EMAIL_PAYLOAD): [PAYLOAD, EMAIL_PAYLOAD],
            "/admin/access": [PAYLOAD, EMAIL_PAYLOAD],
            "/admin/plans": [PAYLOAD],
            "/admin/plans/TJK-2030": [PAYLOAD, EMAIL_PAYLOAD],
            "/plans/TJK-2030": [PAYLOAD, EMAIL_PAYLOAD],  # the roles it manages
        }
        for path, shown in pages.items():
            page = admin.get(path)
            assert page.status_code == 200, path
            assert_no_markup(page.text, path)
            for text in shown:
                assert escaped(text) in page.text, (path, text)
        # input echoed back in a refusal
        echoed = admin.post("/admin/people", data={"csrf": csrf, "email": PAYLOAD, "name": PAYLOAD})
        assert echoed.status_code == 400
        assert_no_markup(echoed.text, "refused person")
        assert f'value="{escaped(PAYLOAD)}"' in echoed.text
        for path in ("/admin/access/grant", "/admin/access/revoke"):
            form = {"csrf": csrf, "email": EMAIL_PAYLOAD, "grant": PAYLOAD, "countries": PAYLOAD}
            refused = admin.post(path, data=form)
            assert refused.status_code == 400, path
            assert_no_markup(refused.text, path)
    with browser(site, COORD) as coord:  # and the refusal of someone else
        refused = coord.get(path_of(EMAIL_PAYLOAD))
        assert refused.status_code == 403
        assert_no_markup(refused.text, "refused page")


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(site: Runtime) -> None:
    deadline = approval(site)
    before = state_of(site)
    admin_forms = {
        "/admin/people": {"email": "x@example.org", "name": "X"},
        f"{path_of(NEWBIE)}/edit": {"name": "Y", "timezone": "", "new_email": NEWBIE},
        f"{path_of(NEWBIE)}/deactivate": {"comment": "no"},
        f"{path_of(NEWBIE)}/password": {"password": PASSWORD, "confirm": PASSWORD},
        "/admin/plans": {"country": "TJK", "title": "Mine"},
        "/admin/plans/TJK-2015/edit": {"title": "Mine", "timezone": "UTC"},
        "/admin/plans/TJK-2015/feed": {},
        "/admin/access/grant": {"email": NEWBIE, "grant": "admin", "countries": ""},
        "/admin/access/revoke": {"email": ADMIN, "grant": "admin", "countries": ""},
    }
    plan_forms = {
        "/plans/TJK-2015/roles/grant": {"email": NEWBIE, "role": "observer"},
        "/plans/TJK-2015/roles/revoke": {"email": MEMBER, "role": "wg_member"},
        "/plans/TJK-2015/deadlines": {"kind": "follow_up_session", "on": "2016-03-01"},
        f"/plans/TJK-2015/deadlines/{deadline.id}/move": {"on": "2016-03-01"},
        f"/plans/TJK-2015/deadlines/{deadline.id}/cancel": {"comment": "no"},
    }
    for who, password, forms in (
        (ADMIN, PASSWORD, admin_forms),
        (COORD, DEMO_PASSWORD, plan_forms),
    ):
        with browser(site, who, password) as http:
            for path, data in forms.items():
                for token in ({}, {"csrf": "guessed"}, {"csrf": "é"}):
                    refused = http.post(path, data={**data, **token})
                    assert refused.status_code == 403 and EXPIRED in refused.text, (path, token)
    assert state_of(site) == before
    with TestClient(create_app(site), follow_redirects=False) as nobody:
        for path in ("/admin", *admin_forms):
            gone = nobody.request("POST" if path != "/admin" else "GET", path, data={})
            assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    assert state_of(site) == before
