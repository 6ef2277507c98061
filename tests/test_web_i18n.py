"""The web app in its reader's language: chosen by the account, on the login page or by the browser.

Through HTTP on the real app and the demo's database (FastAPI's TestClient).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from i18n_text import database_text, english_left, latin_phrases, visible_text
from sqlalchemy import func, select
from test_web import COORD, csrf_of, log_in

from napflow import services
from napflow.runtime import Runtime
from napflow.services import accounts
from napflow.storage.schema import site_history
from napflow.web import create_app

RU = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}


@pytest.fixture
def client(demo: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(demo), follow_redirects=False) as http:
        yield http


def site_records(rt: Runtime) -> int:
    with rt.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(site_history)).scalar_one())


def language_of(page: str) -> str:
    return page.split('<html lang="', 1)[1].split('"', 1)[0]


def test_the_login_page_speaks_the_browsers_language(client: TestClient) -> None:
    english = client.get("/login")
    assert language_of(english.text) == "en" and english.headers["content-language"] == "en"
    assert "<h1>Log in</h1>" in english.text and 'lang="ru">Русский</button>' in english.text
    russian = client.get("/login", headers=RU)
    assert language_of(russian.text) == "ru" and russian.headers["content-language"] == "ru"
    assert "<h1>Вход в систему</h1>" in russian.text
    assert "Пароль" in russian.text and 'lang="en">English</button>' in russian.text


def test_the_switch_before_login_is_kept_in_a_cookie(client: TestClient) -> None:
    chosen = client.post("/language", data={"locale": "en", "next": "/login"}, headers=RU)
    assert chosen.status_code == 303 and chosen.headers["location"] == "/login"
    assert "napflow_locale=en" in chosen.headers["set-cookie"]
    assert language_of(client.get("/login", headers=RU).text) == "en"  # the choice wins


def test_the_switch_never_leaves_the_site(client: TestClient) -> None:
    away = client.post("/language", data={"locale": "ru", "next": "//evil.example/x"})
    assert away.headers["location"] == "/"


def test_an_unknown_language_is_refused_with_the_list(client: TestClient) -> None:
    refused = client.post("/language", data={"locale": "xx", "next": "/"})
    assert refused.status_code == 400
    assert "unknown locale &#39;xx&#39;; napflow speaks en, ru" in refused.text


def test_the_accounts_language_wins_and_the_switch_changes_it(
    client: TestClient, demo: Runtime
) -> None:
    services.people.edit_person(demo, COORD, locale="ru")
    sealed = site_records(demo)
    assert log_in(client, COORD).status_code == 303
    english_browser = {"Accept-Language": "en"}
    page = client.get("/", headers=english_browser)
    assert language_of(page.text) == "ru"
    switched = client.post(
        "/language",
        data={"locale": "en", "next": "/plans/TJK-2015", "csrf": csrf_of(client)},
        headers=english_browser,
    )
    assert switched.status_code == 303 and switched.headers["location"] == "/plans/TJK-2015"
    assert services.people.show_person(demo, COORD).locale == "en"
    assert language_of(client.get("/", headers=RU).text) == "en"
    # a preference, like a session: nothing sealed in the site ledger
    assert site_records(demo) == sealed


def test_the_switch_of_a_logged_in_person_needs_the_forms_token(
    client: TestClient, demo: Runtime
) -> None:
    assert log_in(client, COORD).status_code == 303
    forged = client.post("/language", data={"locale": "ru", "next": "/"})
    assert forged.status_code == 403
    assert services.people.show_person(demo, COORD).locale is None


ADMIN = "admin@napflow.example"
PAGES = (
    "/",
    "/plans",
    "/portfolio",
    "/plans/TJK-2015",
    "/deadlines",
    "/audit",
    "/admin",
    "/admin/people",
    f"/admin/people/{COORD}",
    "/admin/plans",
    "/admin/plans/TJK-2015",
    "/admin/access",
    "/me",
    "/plans/NOPE-1",  # an error page: a refusal of the services
    "/no-such-page",  # and of the web app itself
    "/calendar/plans/TJK-2015.ics?token=wrong",  # and of a feed
)


def test_every_page_of_a_russian_reader_is_russian(demo: Runtime) -> None:
    """Logged in as a ru administrator (every page opens), no English of napflow's own is left.

    The English is the code's own messages (tests/i18n_text.py), not a list kept here; the
    database's values (plan titles, names, comments, workflow ids in records) are shown as
    they were written and are taken out first.
    """
    services.add_person(demo, ADMIN, "Администратор сайта", locale="ru")
    services.access.grant_access(demo, ADMIN, "admin")
    accounts.set_password(demo, ADMIN, "a long enough password")
    data = database_text(demo)
    with TestClient(create_app(demo), follow_redirects=False) as http:
        assert log_in(http, ADMIN, "a long enough password").status_code == 303
        for path in PAGES:
            page = http.get(path)
            assert page.status_code in (200, 404), path
            assert language_of(page.text) == "ru", path
            text = visible_text(page.text)
            left = english_left(text, data)
            assert left == [], f"{path}: {left}"
            phrases = latin_phrases(text, data)
            assert phrases == [], f"{path}: {phrases}"


def test_after_a_refused_form_the_switch_returns_to_the_plan(client: TestClient) -> None:
    assert log_in(client, COORD).status_code == 303
    refused = client.post(
        "/plans/TJK-2015/advance",
        data={
            "trigger": "withdraw",
            "csrf": csrf_of(client),
            "expect_version": "0",
            "confirmed": "yes",
        },
        headers=RU,
    )
    assert refused.status_code >= 400 and language_of(refused.text) == "ru"
    assert 'name="next" value="/plans/TJK-2015"' in refused.text  # not the form's address


def test_the_json_api_stays_english_whatever_the_browser_asks(client: TestClient) -> None:
    answer = client.get("/api/v1/plans/NOPE-1", headers={**RU, "Authorization": "Bearer x"})
    assert answer.status_code == 401
    assert answer.json()["detail"].isascii()
    missing = client.get("/no-such-page", headers=RU)
    assert missing.status_code == 404 and "Такой страницы нет." in missing.text


def test_a_switch_posted_from_another_site_is_refused(client: TestClient) -> None:
    forged = client.post(
        "/language", data={"locale": "ru", "next": "/"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    same = client.post(
        "/language", data={"locale": "ru", "next": "/"}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert same.status_code == 303 and "napflow_locale=ru" in same.headers["set-cookie"]
