"""The Tajikistan scenario's mail, each in its reader's language, each with links that work.

`napflow simulate` replays the shipped scenario (officials in Russian, the language of
their plans; the experts and the observer chose English) and writes every mail as an .eml
file. Each is checked as its reader would read it: the language, the subject and dates in
that language, no English of napflow's own left in a Russian mail (the code's messages,
extracted with Babel, not a list kept here), no workflow ids, no bare e-mail address, and
links that answer 200 on a running napflow server once the reader has logged in.
"""

from __future__ import annotations

import os
import re
import tomllib
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import httpx2 as httpx
import pytest
from helpers import napflow_process, serving
from i18n_text import english_left, latin_phrases, visible_text

from napflow.services.demo import DEMO_PASSWORD
from napflow.workflow.definition import load_definition

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "napflow" / "scenarios" / "tajikistan-2015.toml"
ENGLISH_READERS = {"e.huber@osce.example", "j.okafor@un1540.example", "observer@unrcpd.example"}
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
LINK = re.compile(r"https?://[^\s<>\"]+")


def typed(scenario: dict[str, object]) -> set[str]:
    """What people wrote in the scenario (names, titles, places, comments): shown as written."""
    found: set[str] = set()
    for person in scenario["people"]:  # type: ignore[attr-defined]
        found.add(person["name"])
    for plan in scenario["plans"]:  # type: ignore[attr-defined]
        found.add(plan["title"])
    for deadline in scenario["deadlines"]:  # type: ignore[attr-defined]
        found.update(v for k, v in deadline.items() if k in ("title", "location"))
    for action in scenario["actions"]:  # type: ignore[attr-defined]
        if action.get("comment"):
            found.add(action["comment"])
    return found


def workflow_ids() -> set[str]:
    """The ids of the NAP workflow's states, roles and triggers: never shown in a mail."""
    nap = load_definition(REPO / "workflows" / "nap.toml")
    return {*nap.state_names, *nap.role_names, *nap.triggers}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> object:
    """A running napflow server on the demo database, and the scenario's mail linking to it."""
    home = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NAPFLOW_DATABASE_URL": f"sqlite:///{home / 'demo.db'}"}
    env.pop("NAPFLOW_CONFIG", None)
    done = napflow_process("init", "--demo", cwd=home, env=env)
    assert done.returncode == 0, done.stderr
    with serving(cwd=home, env=env) as (url, _process, _log):
        out = home / "mail"
        sim_env = {**env, "NAPFLOW_BASE_URL": url}
        ran = napflow_process(
            "simulate",
            "--scenario",
            "tajikistan-2015",
            "--from",
            "2015-07-01",
            "--to",
            "2016-01-10",
            "--out",
            str(out),
            cwd=home,
            env=sim_env,
            timeout=300,
        )
        assert ran.returncode == 0, ran.stderr
        mails = [
            message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(out.glob("*.eml"))
        ]
        yield url, mails


def recipient(mail: EmailMessage) -> str:
    return str(mail["To"].addresses[0].addr_spec)


def bodies(mail: EmailMessage) -> tuple[str, str]:
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


def test_each_reader_gets_their_language_and_dates_in_it(site: tuple[str, list]) -> None:
    _url, mails = site
    assert len(mails) > 50
    readers = {recipient(m) for m in mails}
    assert ENGLISH_READERS & readers and readers - ENGLISH_READERS
    for mail in mails:
        who = recipient(mail)
        language = "en" if who in ENGLISH_READERS else "ru"
        text, html = bodies(mail)
        assert mail["Content-Language"] == language, (who, mail["Subject"])
        assert f'<html lang="{language}">' in html
        greeting = "Dear " if language == "en" else "Здравствуйте, "
        assert text.startswith(greeting), (who, text[:40])
    subjects = {(recipient(m), str(m["Subject"])) for m in mails}
    # the spec's own example, and its English twin for the experts
    assert (
        "minister@mfa.tj.example",
        "[TJK-2015] Утверждение на министерском уровне: срок через 7 дней, 31 декабря 2015 г.",
    ) in subjects
    assert (
        "e.huber@osce.example",
        "[TJK-2015] OSCE follow-up session (Vienna) in 21 days, 8 October 2015",
    ) in subjects


def test_no_english_of_napflows_own_is_left_in_a_russian_mail(site: tuple[str, list]) -> None:
    _url, mails = site
    data = typed(tomllib.loads(SCENARIO.read_text(encoding="utf-8")))
    checked = 0
    for mail in mails:
        if recipient(mail) in ENGLISH_READERS:
            continue
        text, html = bodies(mail)
        for shown in (str(mail["Subject"]), text, visible_text(html)):
            where = f"{recipient(mail)}: {mail['Subject']}"
            assert english_left(shown, data) == [], where
            assert latin_phrases(shown, data) == [], where
        checked += 1
    assert checked > 30


def test_no_workflow_id_and_no_bare_address_in_any_mail(site: tuple[str, list]) -> None:
    _url, mails = site
    ids = workflow_ids()
    for mail in mails:
        text, html = bodies(mail)
        for body in (text, visible_text(html), str(mail["Subject"])):
            words = set(re.findall(r"[A-Za-z_]+", LINK.sub(" ", body)))
            where = f"{recipient(mail)}: {mail['Subject']}"
            assert not {i for i in ids if "_" in i} & words, where
            if recipient(mail) not in ENGLISH_READERS:  # one-word ids in a Russian mail
                assert not ids & words, where
            assert EMAIL.findall(LINK.sub(" ", body)) == [], where


def test_every_link_answers_200_for_its_reader_after_login(site: tuple[str, list]) -> None:
    """Each mail links to its plan, in the text and the HTML alike; each link opens."""
    url, mails = site
    links: dict[str, set[str]] = {}
    for mail in mails:
        text, html = bodies(mail)
        in_text = {urldefrag(link).url for link in LINK.findall(text)}
        in_html = {urldefrag(link).url for link in re.findall(r'href="([^"]+)"', html)}
        assert in_text == in_html, mail["Subject"]
        assert f"{url}/plans/{mail['X-Napflow-Plan']}" in in_text, mail["Subject"]
        links.setdefault(recipient(mail), set()).update(in_text)
    assert all(link.startswith(url) for found in links.values() for link in found)
    for who, found in sorted(links.items()):
        with httpx.Client(base_url=url, follow_redirects=False) as http:
            form = http.get("/login").text
            token = form.split('name="login_csrf" value="', 1)[1].split('"', 1)[0]
            login = {"email": who, "password": DEMO_PASSWORD, "next": "/", "login_csrf": token}
            answer = http.post("/login", data=login)
            assert answer.status_code == 303, (who, answer.text[:200])
            for link in sorted(found):
                parts = urlsplit(link)
                page = http.get(parts.path + (f"?{parts.query}" if parts.query else ""))
                assert page.status_code == 200, (who, link, page.status_code)
