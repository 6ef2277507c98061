"""Security, field by field: XSS, e-mail header injection, SQL meta-characters, path
traversal and timing-safe secret checks, on a real database (SQLite and PostgreSQL), a real
SMTP server on loopback and, for traversal, a real `napflow serve` process.

What it proves (nothing of napflow is mocked; only the clock is virtual):

1. XSS: a hostile text in every user-controlled field the web app shows (a person's name
   and e-mail address, a plan's title, an action's comment, a deadline's title and
   location, a role change, a mail server's refusal text, the texts of a workflow file, a
   plan state written behind the ledger's back) is escaped on every page that shows it:
   dashboard, plan page (round, deadlines, reminders, history, inline diagram), the SVG
   diagram route, the deadlines page, the audit page, the changed-plan page and the error
   pages; JSON, .ics and the audit bundle are served as what they are (never as HTML, with
   nosniff). Each case also checks the escaped form *is* on the page, so nothing passes by
   the field not being shown. Input echoed back (filters, paths, login form) is escaped too.
2. Header injection: CR/LF typed into any field that reaches an e-mail is refused (an
   address) or folded to one line before it is stored (names, titles, locations), and
   values with CR/LF written straight into the database still give messages with exactly
   napflow's headers, one To address and unchanged envelope recipients.
3. SQL meta-characters in every filter of the CLI, the API and the dashboard give a clear
   error (exit 2, 4xx) or an exact (empty) answer, never every row, never a 5xx; the tables
   and the ledger are intact afterwards.
4. Path traversal in every web route with a path parameter, in /static and in the API
   documentation's files (raw requests, encoded dots and slashes, to a real server) gives
   400/404, never a file; the CLI's file options never print the content of a file they
   cannot use.
5. Secret comparisons (form and login CSRF tokens, calendar feed tokens) go through
   hmac.compare_digest; session and API tokens are looked up by their SHA-256 digest: the
   plaintext is never stored nor even sent to the database.

Three findings of the first run (a 500 for a plan in a state its workflow lacks, an
address the SMTP client refuses ending a whole pass, a scenario name reaching outside the
shipped scenarios) were fixed; their tests stay.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import os
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import markupsafe
import pytest
from fastapi.testclient import TestClient
from helpers import REPO, Result, mail_runtime, serving
from icalendar import Calendar
from smtp_sink import SmtpServer
from sqlalchemy import event, func, select, text, update
from sqlalchemy.engine import Engine

from napflow import services
from napflow.clock import VirtualClock
from napflow.runtime import Runtime
from napflow.services import accounts, audit
from napflow.services.dispatch import send_due
from napflow.services.scenario import SCENARIOS
from napflow.storage.schema import api_tokens, metadata, outbox, web_sessions
from napflow.web import create_app

Cli = Callable[..., Result]

PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&"
#: the same attack as an e-mail address napflow accepts (a quoted local part; no spaces)
EMAIL_PAYLOAD = '"<script>alert(1)</script><img/src=x/onerror=alert(2)>\'&"@evil.example'
#: markup that must never reach a page unescaped (no page of napflow has any of it)
RAW_MARKUP = ("<script", "<img")

VIEWER = "coord@example.org"
CHAIR = "chair@example.org"
MEMBER = "member@example.org"
MINISTER = "minister@example.org"
KEY = "TJK-X"
PASSWORD = "a long enough password"


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def escaped_forms(shown: str) -> set[str]:
    """How ``shown`` looks escaped: by Jinja (markupsafe) or by html.escape (the SVG)."""
    return {str(markupsafe.escape(shown)), html.escape(shown), html.escape(shown, quote=False)}


def assert_no_raw_markup(body: str, where: str) -> None:
    for raw in (PAYLOAD, EMAIL_PAYLOAD):
        assert raw not in body, f"{where}: the hostile text is on the page unescaped"
    for markup in RAW_MARKUP:
        assert markup not in body.lower(), f"{where}: {markup!r} reached the page"


def assert_escaped(body: str, shown: list[str], where: str) -> None:
    forms = {form for text_ in shown for form in escaped_forms(text_)}
    assert any(form in body for form in forms), f"{where}: the escaped text is not shown"


def login_form_token(http: TestClient) -> str:
    form = http.get("/login").text
    return form.split('name="login_csrf" value="', 1)[1].split('"', 1)[0]


def log_in(http: TestClient, email: str, password: str = PASSWORD) -> None:
    token = login_form_token(http)
    data = {"email": email, "password": password, "next": "/", "login_csrf": token}
    done = http.post("/login", data=data)
    assert done.status_code == 303, done.text


def csrf_of(http: TestClient) -> str:
    page = http.get("/").text
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def feed_link(page: str) -> str:
    href = page.split('class="feed">', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    return html.unescape(href)


def web_client(rt: Runtime) -> TestClient:
    return TestClient(create_app(rt), follow_redirects=False, raise_server_exceptions=False)


def hostile_workflow(directory: Path, title: Callable[[str], str]) -> Path:
    """Write a copy of the nap workflow named ``hostile`` whose every title is ``title(old)``."""
    source = (REPO / "workflows" / "nap.toml").read_text(encoding="utf-8")
    source = source.replace('name = "nap"', 'name = "hostile"', 1)

    def retitle(match: re.Match[str]) -> str:
        return f"title = {json.dumps(title(match.group(1)))}"

    source = re.sub(r'^title = "(.*)"$', retitle, source, flags=re.MULTILINE)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hostile.toml").write_text(source, encoding="utf-8")
    return directory


def runtime_with(
    db_url: str,
    clock: VirtualClock,
    smtp: SmtpServer,
    tmp_path: Path,
    title: Callable[[str], str] | None = None,
) -> tuple[Runtime, str]:
    """A runtime sending through ``smtp``, and the workflow for the plan: ``nap``, or with
    ``title``, the ``hostile`` copy of it (see hostile_workflow)."""
    if title is None:
        return mail_runtime(db_url, clock, smtp), "nap"
    folder = hostile_workflow(tmp_path / "workflows", title)
    return mail_runtime(db_url, clock, smtp, workflow_dirs=(folder,)), "hostile"


# --- 1. XSS: every field, every page --------------------------------------------------------

#: every HTML (and SVG) page of the app, as fetch_pages names them
HTML_PAGES = (
    "dashboard",
    "plan",
    "diagram",
    "deadlines",
    "audit",
    "changed",
    "not_found",
    "forbidden",
    "no_route",
)
ALL_HTML = frozenset(HTML_PAGES) - {"diagram"}


@dataclass(frozen=True)
class Field:
    """A user-controlled field: where the hostile text goes and the pages that show it."""

    name: str
    pages: frozenset[str]
    shown: tuple[str, ...] = (PAYLOAD,)


FIELDS = [
    Field("person_name", ALL_HTML),
    Field("person_email", ALL_HTML, (EMAIL_PAYLOAD,)),
    Field("plan_title", frozenset({"dashboard", "plan", "changed"})),
    Field("comment", frozenset({"plan", "changed"})),
    Field("deadline_title", frozenset({"dashboard", "plan", "deadlines"})),
    Field("deadline_location", frozenset({"plan", "deadlines"})),
    Field("role_change", frozenset({"plan", "changed"}), (EMAIL_PAYLOAD,)),
    Field("smtp_reply", frozenset({"plan", "changed"})),
    Field("workflow_texts", frozenset({"plan", "diagram", "deadlines"})),
]


@dataclass
class World:
    """A plan in working-group review with one hostile field; who logs in to look at it."""

    rt: Runtime
    hostile: str
    viewer: str


def build_world(
    rt: Runtime, workflow: str, clock: VirtualClock, smtp: SmtpServer, hostile: str
) -> World:
    """Create the plan through the real services, ``hostile`` naming the hostile field."""

    def value(name: str, benign: str) -> str:
        return PAYLOAD if hostile == name else benign

    viewer = EMAIL_PAYLOAD if hostile == "person_email" else VIEWER
    services.add_person(rt, viewer, value("person_name", "Farrukh Rahimov"))
    services.add_person(rt, CHAIR, "Sitora Nazarova")
    services.add_person(rt, MEMBER, "Alisher Sharipov")
    title = value("plan_title", "National Action Plan")
    services.create_plan(rt, "TJK", title, workflow=workflow, timezone="UTC", key=KEY)
    services.grant_role(rt, KEY, viewer, "coordinator")
    services.grant_role(rt, KEY, CHAIR, "wg_chair")
    services.grant_role(rt, KEY, MEMBER, "wg_member")
    if hostile == "role_change":
        services.add_person(rt, EMAIL_PAYLOAD, "Guest")
        services.grant_role(rt, KEY, EMAIL_PAYLOAD, "observer", actor=viewer)
        services.revoke_role(rt, KEY, EMAIL_PAYLOAD, "observer", actor=viewer)
    services.add_deadline(
        rt,
        KEY,
        "follow_up_session",
        "2015-07-15",
        at="10:00",
        title=value("deadline_title", "OSCE follow-up session"),
        location=value("deadline_location", "Dushanbe"),
    )
    services.advance_plan(rt, KEY, "submit_for_review", viewer)
    services.advance_plan(rt, KEY, "endorse", MEMBER, value("comment", "Agreed."))
    if hostile == "smtp_reply":  # a mail server answering with markup of its own
        smtp.sink.refuse[MEMBER] = f"550 5.1.1 {PAYLOAD}"
    clock.set(utc(2015, 7, 8, 9))
    send_due(rt)
    accounts.set_password(rt, viewer, PASSWORD)
    return World(rt, hostile, viewer)


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    db_url: str,
    clock: VirtualClock,
    smtp: SmtpServer,
    tmp_path: Path,
) -> Iterator[World]:
    hostile = request.param
    title = (lambda _old: PAYLOAD) if hostile == "workflow_texts" else None
    rt, workflow = runtime_with(db_url, clock, smtp, tmp_path, title)
    try:
        yield build_world(rt, workflow, clock, smtp, hostile)
    finally:
        rt.db.dispose()


def fetch_pages(http: TestClient) -> dict[str, Any]:
    """Fetch every page of the app as the logged-in viewer (one response per page)."""
    csrf = csrf_of(http)
    stale = {
        "csrf": csrf,
        "trigger": "request_changes",
        "comment": "Revise it.",
        "expect_version": "1",  # stale: shows everything since seq 0
        "seen_seq": "0",
    }
    return {
        "dashboard": http.get("/"),
        "plan": http.get(f"/plans/{KEY}"),
        "diagram": http.get(f"/plans/{KEY}/diagram.svg"),
        "deadlines": http.get("/deadlines"),
        "audit": http.get("/audit"),
        "changed": http.post(f"/plans/{KEY}/advance", data=stale),
        "not_found": http.get("/plans/NOPE-1"),
        "forbidden": http.post(f"/plans/{KEY}/advance", data={"trigger": "endorse"}),
        "no_route": http.get("/no/such/page"),
    }


EXPECTED_STATUS = {"changed": 409, "not_found": 404, "forbidden": 403, "no_route": 404}


def assert_not_html(response: Any, kind: str, where: str) -> None:
    assert response.status_code == 200, f"{where}: {response.status_code}"
    assert response.headers["content-type"].startswith(kind), where
    assert response.headers["x-content-type-options"] == "nosniff", where


@pytest.mark.parametrize("world", [f.name for f in FIELDS], indirect=True)
def test_a_hostile_field_is_escaped_on_every_page(world: World) -> None:
    spec = next(f for f in FIELDS if f.name == world.hostile)
    token = accounts.create_api_token(world.rt, world.viewer)
    with web_client(world.rt) as http:
        log_in(http, world.viewer)
        pages = fetch_pages(http)
        for name, response in pages.items():
            where = f"{spec.name} on {name}"
            assert response.status_code == EXPECTED_STATUS.get(name, 200), where
            kind = "image/svg+xml" if name == "diagram" else "text/html"
            assert response.headers["content-type"].startswith(kind), where
            assert_no_raw_markup(response.text, where)
            if name in spec.pages:
                assert_escaped(response.text, list(spec.shown), where)
        # what is not HTML is never served as HTML (and never sniffed as such)
        plan_feed = http.get(feed_link(pages["plan"].text))
        person_feed = http.get(feed_link(pages["deadlines"].text))
        bundle = http.get("/audit/bundle.json")
        auth = {"Authorization": f"Bearer {token}"}
        api = [
            http.get(f"/api/v1/plans{path}", headers=auth)
            for path in ("", f"/{KEY}", f"/{KEY}/history", f"/{KEY}/deadlines", f"/{KEY}/reminders")
        ]
    for feed in (plan_feed, person_feed):
        assert_not_html(feed, "text/calendar", f"{spec.name} in a feed")
        events = Calendar.from_ical(feed.content).walk("VEVENT")
        if spec.name == "deadline_title":  # the feed keeps the text as typed, as a calendar
            assert f"[{KEY}] {PAYLOAD}" in {str(e["summary"]) for e in events}
        if spec.name == "deadline_location":
            assert PAYLOAD in {str(e.get("location")) for e in events}
    assert_not_html(bundle, "application/json", f"{spec.name} in the audit bundle")
    assert bundle.headers["content-disposition"].startswith("attachment;")
    for response in api:
        assert_not_html(response, "application/json", f"{spec.name} in the API")


@pytest.fixture
def drafting(rt: Runtime) -> Runtime:
    """A plan in drafting and its coordinator, who can log in."""
    services.add_person(rt, VIEWER, "Farrukh Rahimov")
    services.create_plan(rt, "TJK", "National Action Plan", timezone="UTC", key=KEY)
    services.grant_role(rt, KEY, VIEWER, "coordinator")
    accounts.set_password(rt, VIEWER, PASSWORD)
    return rt


@pytest.fixture
def tampered(drafting: Runtime) -> Runtime:
    """The plan, its row given a hostile state behind the ledger's back."""
    with drafting.db.write() as conn:
        conn.execute(text("UPDATE plans SET state = :s"), {"s": PAYLOAD})
    return drafting


def test_a_state_written_behind_the_ledgers_back_is_escaped(tampered: Runtime) -> None:
    with web_client(tampered) as http:
        log_in(http, VIEWER)
        for url, shown in (("/audit", repr(PAYLOAD)), ("/", PAYLOAD)):
            page = http.get(url)
            assert page.status_code == 200
            assert_no_raw_markup(page.text, url)
            assert_escaped(page.text, [shown], url)
        svg = http.get(f"/plans/{KEY}/diagram.svg")
        assert svg.status_code == 200
        assert_no_raw_markup(svg.text, "diagram")
    assert "its state is" in str(audit.verify_ledger(tampered).problems[0])


def test_a_plan_with_a_state_unknown_to_its_workflow_is_not_a_server_error(
    tampered: Runtime,
) -> None:
    with web_client(tampered) as http:
        log_in(http, VIEWER)
        page = http.get(f"/plans/{KEY}")
        assert page.status_code == 200 and "not a state of workflow" in page.text
        assert_no_raw_markup(page.text, "plan page")


#: the hostile text for a path segment: no "/" (it would end the segment)
PATH_PAYLOAD = "<script>alert(1)<img src=x onerror=alert(2)>\"'&"
#: stands for the token of a login form just opened
FRESH = "<fresh>"


@pytest.mark.parametrize(
    ("what", "method", "url", "form", "status", "shown"),
    [
        ("dashboard state filter", "GET", f"/?state={quote(PAYLOAD)}", None, 400, repr(PAYLOAD)),
        ("dashboard country filter", "GET", f"/?country={quote(PAYLOAD)}", None, 200, None),
        ("plan key", "GET", f"/plans/{quote(PATH_PAYLOAD)}", None, 400, repr(PATH_PAYLOAD)),
        (
            "diagram key",
            "GET",
            f"/plans/{quote(PATH_PAYLOAD)}/diagram.svg",
            None,
            400,
            repr(PATH_PAYLOAD),
        ),
        ("page path", "GET", f"/{quote(PATH_PAYLOAD)}", None, 404, None),
        ("feed key", "GET", f"/calendar/plans/{quote(PATH_PAYLOAD)}.ics", None, 404, None),
        ("feed token", "GET", f"/calendar/people/1-{quote(PATH_PAYLOAD)}.ics", None, 404, None),
        ("login next", "GET", f"/login?next=/{quote(PAYLOAD)}", None, 200, f"/{PAYLOAD}"),
        ("login email", "POST", "/login", {"email": PAYLOAD, "login_csrf": FRESH}, 401, PAYLOAD),
        ("expired login", "POST", "/login", {"email": PAYLOAD, "login_csrf": "x"}, 403, PAYLOAD),
        (
            "advance trigger",
            "POST",
            f"/plans/{KEY}/advance",
            {"trigger": PAYLOAD},
            400,
            repr(PAYLOAD),
        ),
        (
            "advance version",
            "POST",
            f"/plans/{KEY}/advance",
            {"trigger": "endorse", "expect_version": PAYLOAD},
            400,
            None,
        ),
        (
            "advance comment",
            "POST",
            f"/plans/{KEY}/advance",
            {"trigger": "submit_for_review", "comment": PAYLOAD, "expect_version": "9"},
            409,
            None,
        ),
    ],
)
def test_input_echoed_back_is_escaped(
    drafting: Runtime,
    what: str,
    method: str,
    url: str,
    form: dict[str, str] | None,
    status: int,
    shown: str | None,
) -> None:
    with web_client(drafting) as http:
        if url.startswith("/login"):  # nobody logged in; a wrong password
            data = None
            if form is not None:
                data = {"password": "wrong", "next": "/", **form}
                if data["login_csrf"] == FRESH:
                    data["login_csrf"] = login_form_token(http)
            response = http.request(method, url, data=data)
        else:
            log_in(http, VIEWER)
            data = None if form is None else {"csrf": csrf_of(http), **form}
            response = http.request(method, url, data=data)
    assert response.status_code == status, (what, response.text)
    assert response.headers["content-type"].startswith("text/html"), what
    assert_no_raw_markup(response.text, what)
    assert PATH_PAYLOAD not in response.text, what
    if shown is not None:
        assert_escaped(response.text, [shown], what)
    if what == "dashboard country filter":
        assert "No plans match this filter" in response.text and KEY not in response.text


# --- 2. E-mail header injection ---------------------------------------------------------------

INJECTION = (
    "Evil\r\nBcc: spy@evil.example\r\nX-Injected: yes\r\nATTENDEE:mailto:spy@evil.example"
    "\r\n\r\nforged body"
)
FOLDED = "Evil Bcc: spy@evil.example X-Injected: yes ATTENDEE:mailto:spy@evil.example forged body"
#: every header napflow writes, each once; anything else was injected
NAPFLOW_HEADERS = [
    "Auto-Submitted",
    "Content-Type",
    "Date",
    "From",
    "MIME-Version",
    "Message-ID",
    "Subject",
    "To",
    "X-Napflow-Kind",
    "X-Napflow-Plan",
]
EVENT_PROPERTIES = {
    "SUMMARY",
    "DTSTART",
    "DTEND",
    "DTSTAMP",
    "UID",
    "SEQUENCE",
    "DESCRIPTION",
    "LOCATION",
    "STATUS",
}
MAIL_CAST = {
    VIEWER: ("Farrukh Rahimov", "coordinator"),
    CHAIR: ("Sitora Nazarova", "wg_chair"),
    MEMBER: ("Alisher Sharipov", "wg_member"),
    MINISTER: ("Minister of Foreign Affairs", "approver"),
}


@pytest.fixture
def cast(rt: Runtime) -> Runtime:
    """A plan in working-group review, its coordinator, chair, member and approver."""
    for email, (name, _role) in MAIL_CAST.items():
        services.add_person(rt, email, name)
    services.create_plan(rt, "TJK", "National Action Plan", timezone="UTC", key=KEY)
    for email, (_name, role) in MAIL_CAST.items():
        services.grant_role(rt, KEY, email, role)
    services.advance_plan(rt, KEY, "submit_for_review", VIEWER)
    return rt


def stored_name(rt: Runtime) -> str:
    return next(p.name for p in services.list_people(rt) if p.email == "new@example.org")


def stored_title(rt: Runtime) -> str:
    return services.show_plan(rt, "KGZ-1").title


def stored_deadline(what: str) -> Callable[[Runtime], str]:
    def read(rt: Runtime) -> str:
        [deadline] = [d for d in services.list_deadlines(rt, KEY) if d.kind == "approval"]
        return str(getattr(deadline, what))

    return read


def stored_comment(rt: Runtime) -> str:
    records = services.plan_history(rt, KEY).records
    return str(next(r.comment for r in records if r.trigger == "request_changes"))


def stored_label(rt: Runtime) -> str:
    return accounts.list_api_tokens(rt, VIEWER)[-1].label


@pytest.mark.parametrize(
    ("args", "read", "stored"),
    [
        pytest.param(
            ["person", "add", f"new@example.org{INJECTION}", "--name", "N"],
            None,
            None,
            id="person-address",
        ),
        pytest.param(
            ["advance", KEY, "endorse", "--as", f"{MEMBER}{INJECTION}"], None, None, id="actor"
        ),
        pytest.param(
            ["role", "grant", KEY, f"{MEMBER}{INJECTION}", "expert"], None, None, id="role-address"
        ),
        pytest.param(
            ["person", "add", "new@example.org", "--name", INJECTION],
            stored_name,
            FOLDED,
            id="person-name",
        ),
        pytest.param(
            ["plan", "create", "--country", "KGZ", "--title", INJECTION, "--key", "KGZ-1"],
            stored_title,
            FOLDED,
            id="plan-title",
        ),
        pytest.param(
            ["deadline", "add", KEY, "approval", "2015-12-31", "--title", INJECTION],
            stored_deadline("title"),
            FOLDED,
            id="deadline-title",
        ),
        pytest.param(
            ["deadline", "add", KEY, "approval", "2015-12-31", "--location", INJECTION],
            stored_deadline("location"),
            FOLDED,
            id="deadline-location",
        ),
        pytest.param(  # body text: its lines are kept, CR dropped
            ["advance", KEY, "request_changes", "--as", CHAIR, "--comment", INJECTION],
            stored_comment,
            INJECTION.replace("\r\n", "\n"),
            id="comment",
        ),
        pytest.param(
            ["token", "create", VIEWER, "--label", INJECTION],
            stored_label,
            FOLDED,
            id="token-label",
        ),
    ],
)
def test_cr_lf_typed_into_a_mail_field_is_refused_or_folded_to_one_line(
    cast: Runtime,
    cli: Cli,
    args: list[str],
    read: Callable[[Runtime], str] | None,
    stored: str | None,
) -> None:
    """An address with CR/LF is refused (exit 2, one line); a name, title or location is
    stored as one line (its whitespace, CR and LF included, folded to single spaces: the
    documented tidying of napflow.inputs); a comment is body text and keeps its lines."""
    done = cli(*args)
    if read is None:
        assert done.code == 2, done
        assert "is not a valid e-mail address" in done.err and done.err.count("\n") == 1
        assert not done.out
        return
    assert done.code == 0, done
    assert read(cast) == stored
    assert "\r" not in read(cast)


LINE_BREAKS = ["\r", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028"]
CONTROLS = ["\x1b", "\x7f", "\x07", "\x9b", "\x00"]


@pytest.mark.parametrize("option", ["--name", "--title", "--location"])
def test_every_line_break_is_folded_and_other_controls_refused(
    cast: Runtime, cli: Cli, option: str
) -> None:
    def attempt(sep: str, n: int) -> Result:
        value = f"Evil{sep}Bcc: spy@evil.example"
        if option == "--name":
            return cli("person", "add", f"new{n}@example.org", "--name", value)
        if option == "--title":
            return cli("plan", "create", "--country", "KGZ", "--title", value, "--key", f"KGZ-{n}")
        return cli("deadline", "add", KEY, "approval", "2015-12-31", "--location", value)

    def count() -> int:
        people, plans = services.list_people(cast), services.list_plans(cast)
        return len(people) + len(plans) + len(services.list_deadlines(cast))

    for n, sep in enumerate(LINE_BREAKS):
        assert attempt(sep, n).code == 0, repr(sep)
    stored = [p.name for p in services.list_people(cast) if p.email.startswith("new")]
    stored += [p.title for p in services.list_plans(cast) if p.key.startswith("KGZ")]
    stored += [str(d.location) for d in services.list_deadlines(cast, KEY) if d.location]
    assert stored == ["Evil Bcc: spy@evil.example"] * len(LINE_BREAKS)
    before = count()
    for n, control in enumerate(CONTROLS, start=len(LINE_BREAKS)):
        refused = attempt(control, n)
        assert refused.code == 2, repr(control)
        assert refused.err.count("\n") == 1 and (
            "without control characters" in refused.err or "NUL character" in refused.err
        ), refused.err
    assert count() == before  # nothing refused was written


def _set_notice_comment(conn: Any) -> None:
    rows = conn.execute(
        select(outbox.c.id, outbox.c.payload).where(
            outbox.c.kind == "notice", outbox.c.status == "pending"
        )
    ).all()
    for row in rows:
        payload = {**(row.payload or {}), "comment": INJECTION}
        conn.execute(update(outbox).where(outbox.c.id == row.id).values(payload=payload))


def _sql(statement: str) -> Callable[[Any], None]:
    def run(conn: Any) -> None:
        values = {"v": INJECTION, "m": MINISTER, "c": CHAIR, "k": VIEWER, "cr": "\r\n"}
        conn.execute(text(statement), values)

    return run


RECIPIENT = f"{MINISTER}\r\nRCPT TO:<spy@evil.example>\r\nBcc: spy@evil.example"


@dataclass(frozen=True)
class Tampering:
    """A value with CR/LF written straight into the database, and where it must show."""

    tamper: Callable[[Any], None] | None
    #: (kind of mail, where): a header name, "body", or "ics"
    shows_in: tuple[str, str]
    last_stage_only: bool = False
    #: how the value shows in that header, folded to one line
    folded: str = FOLDED


TAMPERINGS = {
    "recipient-name": Tampering(
        _sql("UPDATE people SET name = :v WHERE email = :m"), ("reminder", "To")
    ),
    "actor-name": Tampering(
        _sql("UPDATE people SET name = :v WHERE email = :c"), ("notice", "Subject")
    ),
    "contact-name": Tampering(
        _sql("UPDATE people SET name = :v WHERE email = :k"), ("escalation", "body")
    ),
    "recipient-address": Tampering(
        lambda conn: conn.execute(
            update(outbox)
            .where(outbox.c.recipient == MINISTER, outbox.c.status == "pending")
            .values(recipient=RECIPIENT)
        ),
        ("reminder", "To"),
    ),
    "plan-title": Tampering(_sql("UPDATE plans SET title = :v"), ("reminder", "body")),
    "plan-key": Tampering(  # a key holds 32 characters at most
        _sql(f"UPDATE plans SET key = '{KEY}' || :cr || 'Bcc: spy@evil.example'"),
        ("escalation", "X-Napflow-Plan"),
        last_stage_only=True,
        folded=f"{KEY} Bcc: spy@evil.example",
    ),
    "deadline-title": Tampering(_sql("UPDATE deadlines SET title = :v"), ("change", "Subject")),
    "deadline-location": Tampering(
        _sql("UPDATE deadlines SET location = :v"), ("reminder", "Subject")
    ),
    "deadline-ics": Tampering(_sql("UPDATE deadlines SET location = :v"), ("reminder", "ics")),
    "comment": Tampering(_set_notice_comment, ("notice", "body")),
    "workflow-titles": Tampering(None, ("notice", "Subject")),
}


def mail_run(rt: Runtime, workflow: str, clock: VirtualClock, case: str) -> None:
    """Send a reminder, a notice, a change notice and an escalation, tampering before each."""
    spec = TAMPERINGS[case]
    for email, (name, _role) in MAIL_CAST.items():
        services.add_person(rt, email, name)
    services.create_plan(rt, "TJK", "National Action Plan", workflow=workflow, key=KEY)
    for email, (_name, role) in MAIL_CAST.items():
        services.grant_role(rt, KEY, email, role)
    deadline = services.add_deadline(rt, KEY, "approval", "2015-07-10", location="Hall B")

    def send(last: bool = False) -> None:
        if spec.tamper is not None and (last or not spec.last_stage_only):
            with rt.db.write() as conn:
                spec.tamper(conn)
        send_due(rt)

    clock.set(utc(2015, 7, 9, 9))
    send()  # reminders
    services.advance_plan(rt, KEY, "submit_for_review", VIEWER)
    services.advance_plan(rt, KEY, "request_changes", CHAIR, "Please revise annex B.")
    send()  # the notice to the coordinator
    services.move_deadline(rt, deadline.id, "2015-07-11")
    send()  # change notices to those reminded
    clock.set(utc(2015, 7, 12, 9))
    send(last=True)  # escalations


@pytest.fixture
def mail_case(
    request: pytest.FixtureRequest,
    db_url: str,
    clock: VirtualClock,
    smtp: SmtpServer,
    tmp_path: Path,
) -> Iterator[tuple[str, Runtime]]:
    case = request.param
    # the operator's own workflow file, with CR/LF escapes in its titles
    title = (lambda old: old + INJECTION) if case == "workflow-titles" else None
    rt, workflow = runtime_with(db_url, clock, smtp, tmp_path, title)
    try:
        mail_run(rt, workflow, clock, case)
        yield case, rt
    finally:
        rt.db.dispose()


def plain_body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def event_of(message: EmailMessage) -> Any:
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    [found] = Calendar.from_ical(data).walk("VEVENT")
    return found


@pytest.mark.parametrize("mail_case", list(TAMPERINGS), indirect=True)
def test_cr_lf_written_into_the_database_injects_no_header(
    mail_case: tuple[str, Runtime], smtp: SmtpServer
) -> None:
    case, rt = mail_case
    sink = smtp.sink
    kinds = {str(m["X-Napflow-Kind"]) for m in sink.messages}
    assert kinds == {"reminder", "notice", "change", "escalation"}  # every template was used
    sent = services.list_messages(rt, "sent")
    assert len(sink.messages) == len(sent)  # no message more than the outbox sent
    # the envelope: one recipient per message, and only the people the outbox named
    assert all(len(rcpts) == 1 for _sender, rcpts in sink.envelopes)
    assert {rcpts[0] for _sender, rcpts in sink.envelopes} == {VIEWER, CHAIR, MINISTER}
    for message in sink.messages:
        where = f"{case}: {message['X-Napflow-Kind']} to {message['To']}"
        assert sorted(message.keys()) == NAPFLOW_HEADERS, where  # nothing added, nothing twice
        assert len(message["To"].addresses) == 1, where
        assert "spy@evil.example" not in {a.addr_spec for a in message["To"].addresses}, where
        types = [p.get_content_type() for p in message.walk()]
        assert types in (
            ["multipart/alternative", "text/plain", "text/html"],
            [
                "multipart/mixed",
                "multipart/alternative",
                "text/plain",
                "text/html",
                "text/calendar",
            ],
        ), where
        if types[-1] == "text/calendar":
            event = event_of(message)
            assert set(event.keys()) <= EVENT_PROPERTIES, where
            assert len(Calendar.from_ical(event.to_ical()).walk("VEVENT")) == 1
        html_part = message.get_body(("html",))
        assert html_part is not None and "<script" not in str(html_part.get_content())
    # the value did reach the place it was aimed at, made harmless there
    kind, where = TAMPERINGS[case].shows_in
    aimed = [m for m in sink.messages if m["X-Napflow-Kind"] == kind]
    assert aimed, case
    if where == "body":
        assert any("Bcc: spy@evil.example" in plain_body(m) for m in aimed), case
    elif where == "ics":
        assert any(event_of(m)["location"] == INJECTION.replace("\r\n", "\n") for m in aimed)
    elif case == "recipient-address":  # the injected RCPT and Bcc went nowhere
        tampered = [
            (m, rcpts)
            for m, (_sender, rcpts) in zip(sink.messages, sink.envelopes, strict=True)
            if "RCPT TO" in str(m["To"])
        ]
        assert tampered, case
        for message, rcpts in tampered:
            assert rcpts == [MINISTER]
            assert [a.addr_spec for a in message["To"].addresses] == [MINISTER]
    else:
        folded = TAMPERINGS[case].folded
        assert any(folded in " ".join(str(m[where]).split()) for m in aimed), (case, where)


def test_an_address_the_smtp_client_refuses_fails_that_message_not_the_pass(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer
) -> None:
    for email, (name, _role) in MAIL_CAST.items():
        services.add_person(mail_rt, email, name)
    services.create_plan(mail_rt, "TJK", "National Action Plan", timezone="UTC", key=KEY)
    for email, (_name, role) in MAIL_CAST.items():
        services.grant_role(mail_rt, KEY, email, role)
    services.add_deadline(mail_rt, KEY, "approval", "2015-07-10")
    with mail_rt.db.write() as conn:  # by hand, past every input check
        conn.execute(
            update(outbox).where(outbox.c.recipient == MINISTER).values(recipient='""\r\nRSET')
        )
    clock.set(utc(2015, 7, 9, 9))
    send_due(mail_rt)
    assert {rcpts[0] for _sender, rcpts in smtp.sink.envelopes} == {VIEWER}
    due = [m for m in services.list_messages(mail_rt) if m.send_at <= clock.now()]
    assert {(m.recipient, m.status) for m in due} == {(VIEWER, "sent"), ('""\r\nRSET', "failed")}


# --- 3. SQL meta-characters in every filter --------------------------------------------------

META = ["' OR '1'='1", "%", "_", "\\", '"; DROP TABLE plans; --', "drafting' --", "*", "TJK%"]
#: addresses napflow accepts that are made of SQL meta-characters: exact matches or nothing
META_ADDRESSES = [
    "%@evil.example",
    "_@evil.example",
    "o'r@evil.example",
    "\"'or'1'='1\"@evil.example",
]


@pytest.fixture
def plans3(cast: Runtime) -> Runtime:
    """Three plans in two states, deadlines, reminders and an API token."""
    services.create_plan(cast, "KGZ", "Second plan", timezone="UTC", key="KGZ-1")
    services.create_plan(cast, "SRB", "Third plan", timezone="UTC", key="SRB-1")
    services.add_deadline(cast, KEY, "approval", "2015-12-31")
    services.add_person(cast, "o'r@evil.example", "O'Reilly")
    accounts.create_api_token(cast, "o'r@evil.example", "theirs")
    return cast


def snapshot(rt: Runtime) -> dict[str, Any]:
    """Every table's row count, the plans, and whether the ledger verifies."""
    with rt.db.read() as conn:
        counts = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in metadata.sorted_tables
        }
    plans = [(p.key, p.state, p.version, p.title) for p in services.list_plans(rt)]
    return {"counts": counts, "plans": plans, "ledger_ok": audit.verify_ledger(rt).ok}


#: command -> (args with {} for the value, what its refusal says)
CLI_FILTERS = {
    "plan list --state": (["plan", "list", "--state", "{}"], "There is no state"),
    "plan list --as-of": (["plan", "list", "--as-of", "{}"], "is not a date"),
    "plan list --as-of --state": (
        ["plan", "list", "--as-of", "2015-07-01", "--state", "{}"],
        "There is no state",
    ),
    "plan list --country (no such filter)": (["plan", "list", "--country", "{}"], "No such option"),
    "plan show KEY": (["plan", "show", "{}"], "is not a valid plan key"),
    "plan show --as": (["plan", "show", KEY, "--as", "{}"], "is not a valid e-mail address"),
    "role list KEY": (["role", "list", "{}"], "is not a valid plan key"),
    "history KEY": (["history", "{}"], "is not a valid plan key"),
    "history --since": (["history", KEY, "--since", "{}"], "is not a date"),
    "history --until": (["history", KEY, "--until", "{}"], "is not a date"),
    "deadline list KEY": (["deadline", "list", "{}"], "is not a valid plan key"),
    "reminders list --status": (["reminders", "list", "--status", "{}"], "is not one of"),
    "reminders list --plan": (["reminders", "list", "--plan", "{}"], "is not a valid plan key"),
    "token list EMAIL": (["token", "list", "{}"], "is not a valid e-mail address"),
    "audit verify KEY": (["audit", "verify", "{}"], "is not a valid plan key"),
    "report durations --as-of": (["report", "durations", "--as-of", "{}"], "is not a date"),
}


@pytest.mark.parametrize("command", list(CLI_FILTERS))
def test_sql_meta_characters_in_a_cli_filter_are_a_clear_error(
    plans3: Runtime, cli: Cli, command: str
) -> None:
    template, refusal = CLI_FILTERS[command]
    before = snapshot(plans3)
    for value in META:
        done = cli(*[value if arg == "{}" else arg for arg in template])
        assert done.code == 2, (command, value, done)
        assert refusal in done.err and done.err.count("\n") == 1, (command, value, done.err)
        assert not done.out
    assert snapshot(plans3) == before


def test_sql_meta_characters_in_an_address_filter_match_exactly(plans3: Runtime, cli: Cli) -> None:
    before = snapshot(plans3)
    for address in META_ADDRESSES:
        listed = cli("token", "list", address)
        assert listed.code == 0, listed
        owners = re.findall(r"\S+@\S+", listed.out)
        assert owners == ([address] if address == "o'r@evil.example" else []), (address, owners)
        shown = cli("plan", "show", KEY, "--as", address, "--format", "json")
        if address == "o'r@evil.example":  # registered, holds no role: may do nothing
            assert shown.code == 0 and shown.json()["allowed"] == []  # type: ignore[index]
        else:
            assert shown.code == 1 and "is not registered" in shown.err, (address, shown)
    assert snapshot(plans3) == before


def test_sql_meta_characters_in_api_parameters_are_a_4xx(plans3: Runtime) -> None:
    auth = {"Authorization": f"Bearer {accounts.create_api_token(plans3, CHAIR)}"}
    before = snapshot(plans3)
    with web_client(plans3) as http:
        for value in META:
            asked = [
                http.get("/api/v1/plans", params={"state": value}, headers=auth),
                http.get(f"/api/v1/plans/{KEY}/history", params={"since": value}, headers=auth),
                http.get(f"/api/v1/plans/{KEY}/history", params={"until": value}, headers=auth),
                http.get(f"/api/v1/plans/{KEY}/reminders", params={"status": value}, headers=auth),
                http.post(f"/api/v1/plans/{KEY}/advance", json={"trigger": value}, headers=auth),
            ]
            for path in ("", "/history", "/deadlines", "/reminders"):
                asked.append(http.get(f"/api/v1/plans/{quote(value, safe='')}{path}", headers=auth))
            asked.append(
                http.post(
                    f"/api/v1/plans/{quote(value, safe='')}/advance",
                    json={"trigger": "endorse"},
                    headers=auth,
                )
            )
            for response in asked:
                where = (value, response.request.method, str(response.request.url))
                assert response.status_code in (400, 404), where
                assert response.headers["content-type"] == "application/problem+json", where
                assert response.json()["detail"], where
            # an exact answer where the value is data: a comment is stored as it was sent
            comment = f"{value} -- {' '.join(META)}"
            done = http.post(
                f"/api/v1/plans/{KEY}/advance",
                json={"trigger": "request_changes", "comment": comment},
                headers=auth,
            )
            assert done.status_code == 200, done.text
            records = services.plan_history(plans3, KEY).records
            assert [r.comment for r in records if r.trigger == "request_changes"][-1] == comment
            services.advance_plan(plans3, KEY, "submit_for_review", VIEWER)
    after = snapshot(plans3)
    assert after["counts"]["plans"] == before["counts"]["plans"] and after["ledger_ok"]
    assert [p[:2] for p in after["plans"]] == [p[:2] for p in before["plans"]]


def test_sql_meta_characters_in_dashboard_filters_match_nothing(plans3: Runtime) -> None:
    accounts.set_password(plans3, VIEWER, PASSWORD)
    before = snapshot(plans3)
    with web_client(plans3) as http:
        log_in(http, VIEWER)
        everything = http.get("/").text
        assert all(k in everything for k in (KEY, "KGZ-1", "SRB-1"))
        for value in META:
            by_state = http.get("/", params={"state": value})
            assert by_state.status_code == 400, value
            assert_escaped(by_state.text, [f"There is no state {value!r}"], value)
            by_country = http.get("/", params={"country": value})
            assert by_country.status_code == 200, value
            assert "No plans match this filter" in by_country.text, value
            assert not any(k in by_country.text for k in (KEY, "KGZ-1", "SRB-1")), value
        exact = http.get("/", params={"country": "kgz"}).text  # the filter itself works
        assert "KGZ-1" in exact and KEY not in exact and "SRB-1" not in exact
    assert {**snapshot(plans3), "counts": None} == {**before, "counts": None}


# --- 4. Path traversal ------------------------------------------------------------------------

TRAVERSALS = [
    "..",
    "%2e%2e",
    "%2E%2E",
    "../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%5c..%5cetc%5cpasswd",
    "%252e%252e%252fetc%252fpasswd",
    "%c0%ae%c0%ae%2fapp.py",
    f"{KEY}%2f..%2f..%2fweb%2fapp.py",
    "..%00",
    "....//....//etc/passwd",
]
KEYED_ROUTES = [
    "/plans/{}",
    "/plans/{}/diagram.svg",
    "/calendar/plans/{}.ics?token=0",
    "/calendar/people/{}-0.ics",
    "/calendar/people/1-{}.ics",
    "/api/v1/plans/{}",
    "/api/v1/plans/{}/history",
    "/api/v1/plans/{}/deadlines",
    "/api/v1/plans/{}/reminders",
]
STATIC = [
    "/static/../app.py",
    "/static/..%2fapp.py",
    "/static/%2e%2e/app.py",
    "/static/%2e%2e%2fapp.py",
    "/static/%2E%2E%2Fapp.py",
    "/static/..%5capp.py",
    "/static/....//app.py",
    "/static/%252e%252e%252fapp.py",
    "/static/..;/app.py",
    "/static/%c0%ae%c0%ae/app.py",
    "/static/../templates/base.html",
    "/static/..%2ftemplates%2fbase.html",
    "/static/" + "../" * 12 + "etc/passwd",
    "/static/" + "%2e%2e%2f" * 12 + "etc/passwd",
    "/static/" + "..%2f" * 12 + "etc/passwd",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/audit/bundle.json/..%2f..%2fapp.py",
]
# the API documentation's Swagger UI files are a second mount of static files
STATIC += [p.replace("/static/", "/api/v1/docs/assets/", 1) for p in STATIC if "/static/" in p]


def raw_request(
    port: int, method: str, target: str, headers: dict[str, str], body: str = ""
) -> Any:
    """Send one request exactly as written (no client normalises the path); (status, body)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body:
        lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    request = ("\r\n".join(lines) + "\r\n\r\n" + body).encode("latin-1")
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(request)
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    head, _, content = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), content


@pytest.mark.slow
def test_no_path_reaches_a_file_outside_and_every_traversal_is_a_404_or_400(
    cast: Runtime, db_url: str, clock: VirtualClock, tmp_path: Path
) -> None:
    from napflow.services import feeds

    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-MARKER-4711\n")
    web = Path(create_app.__code__.co_filename).parent
    forbidden = [b"SECRET-MARKER-4711", b"SECURITY_HEADERS", b"{% block main %}", b"root:x:0:0"]
    assert b"SECURITY_HEADERS" in (web / "app.py").read_bytes()  # the markers are real
    assert b"{% block main %}" in (web / "templates" / "base.html").read_bytes()
    accounts.set_password(cast, VIEWER, PASSWORD)
    clock.set(datetime.now(UTC))  # the server runs on the real clock: a session valid now
    session = accounts.log_in(cast, VIEWER, PASSWORD)
    cookie = {"Cookie": f"napflow_session={session.token}"}
    bearer = {"Authorization": f"Bearer {accounts.create_api_token(cast, VIEWER)}"}
    to_secret = "%2e%2e%2f" * 12 + quote(str(secret).lstrip("/"))
    asks: list[tuple[str, str, dict[str, str], str]] = [
        ("GET", path, cookie, "") for path in [*STATIC, f"/static/{to_secret}"]
    ]
    for traversal in [*TRAVERSALS, to_secret]:
        for route in KEYED_ROUTES:
            asks.append(("GET", route.format(traversal), cookie | bearer, ""))
        form = f"csrf={session.csrf}&trigger=endorse"
        asks.append(("POST", f"/plans/{traversal}/advance", cookie, form))
    env = {**os.environ, "NAPFLOW_DATABASE_URL": db_url}
    for var in ("NAPFLOW_CONFIG", "NAPFLOW_WORKFLOW_DIRS"):
        env.pop(var, None)
    with serving(cwd=tmp_path, env=env) as (url, _process, _log):
        port = int(url.rsplit(":", 1)[1])
        # the routes answer when nothing is wrong: the refusals below are about the paths
        for path in (
            "/static/napflow.css",
            f"/plans/{KEY}",
            f"/plans/{KEY}/diagram.svg",
            feeds.plan_feed_url(cast, KEY),
            f"/api/v1/plans/{KEY}",
            "/audit/bundle.json",
        ):
            assert raw_request(port, "GET", path, cookie | bearer)[0] == 200, path
        for method, target, headers, body in asks:
            status, content = raw_request(port, method, target, headers, body)
            assert status in (400, 404), (method, target, status, content[:200])
            for marker in forbidden:
                assert marker not in content, (method, target)


SIMULATE = ["simulate", "--from", "2015-07-01", "--to", "2015-07-02", "--out", "mail"]
#: the CLI's options that read a file named on the command line
FILE_OPTIONS = {
    "simulate --scenario": [*SIMULATE, "--scenario"],
    "audit verify --bundle": ["audit", "verify", "--bundle"],
    "workflow check": ["workflow", "check"],
    "--config": ["--config"],
}


@pytest.mark.parametrize("option", list(FILE_OPTIONS))
def test_a_file_option_never_prints_a_file_it_cannot_use(
    cast: Runtime, cli: Cli, tmp_path: Path, option: str
) -> None:
    """Each option reads the file it is given (by design: the CLI runs with its user's
    rights); what it cannot use is a clear error (exit 2) that shows none of its content."""
    plain = tmp_path / "secret.txt"
    plain.write_text("root:x:0:0:SECRET-MARKER-4711:/root:/bin/bash\n")
    toml = tmp_path / "secret.toml"
    toml.write_text('password = "SECRET-MARKER-4711"\n[smtp]\nkey = "SECRET-MARKER-4711"\n')
    up = "../" * 12
    targets = [
        str(plain),
        str(toml),
        up + str(plain).lstrip("/"),
        up + str(toml).lstrip("/"),
        "/etc/passwd",
        up + "etc/passwd",
        str(tmp_path),  # a directory
        up + "no/such/file",
    ]
    before = snapshot(cast)
    for target in targets:
        args = [*FILE_OPTIONS[option], target]
        if option == "--config":
            args += ["plan", "list"]
        done = cli(*args)
        assert done.code == 2, (option, target, done)
        assert "SECRET-MARKER" not in done.out + done.err, (option, target)
        assert "root:x" not in done.out + done.err, (option, target)
        assert done.err.startswith("napflow: "), (option, target)
    assert snapshot(cast) == before


def test_a_scenario_name_cannot_leave_the_shipped_scenarios(
    cast: Runtime, cli: Cli, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere" / "settings.toml"
    outside.parent.mkdir()
    outside.write_text('smtp_password = "SECRET-MARKER-4711"\n')
    name = os.path.relpath(outside.with_suffix(""), SCENARIOS)
    assert not Path(name).exists()  # from the working directory, this path leads nowhere
    done = cli(*FILE_OPTIONS["simulate --scenario"], name)
    assert done.code == 2
    assert "smtp_password" not in done.err, done.err  # the file was not read


# --- 5. Timing-safe secret checks -------------------------------------------------------------


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Every call of hmac.compare_digest from now on, as (expected, given) bytes."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        calls.append((bytes(a), bytes(b)) if isinstance(a, bytes) else (a.encode(), b.encode()))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    return calls


def test_form_login_and_feed_tokens_are_compared_in_constant_time(
    cast: Runtime, compared: list[tuple[bytes, bytes]]
) -> None:
    from napflow.services import feeds

    accounts.set_password(cast, VIEWER, PASSWORD)
    with web_client(cast) as http:
        # the login form's token against its cookie: a forged one, then the right one
        login_form_token(http)
        cookie = http.cookies["napflow_login"]
        data = {"email": VIEWER, "password": PASSWORD, "next": "/"}
        assert http.post("/login", data={**data, "login_csrf": "forged"}).status_code == 403
        assert (cookie.encode(), b"forged") in compared
        token = login_form_token(http)
        assert http.post("/login", data={**data, "login_csrf": token}).status_code == 303
        assert (token.encode(), token.encode()) in compared
        # a form's token against the session's: wrong (short, long, same length), then right
        csrf = csrf_of(http)
        for wrong in ("x", csrf + "x", csrf[:-1] + ("A" if csrf[-1] != "A" else "B")):
            form = {"csrf": wrong, "trigger": "request_changes", "comment": "Revise."}
            assert http.post(f"/plans/{KEY}/advance", data=form).status_code == 403
            assert (csrf.encode(), wrong.encode()) in compared, wrong
        form = {"csrf": csrf, "trigger": "request_changes", "comment": "Revise."}
        assert http.post(f"/plans/{KEY}/advance", data=form).status_code == 303
        assert (csrf.encode(), csrf.encode()) in compared
        assert http.post("/logout", data={"csrf": "wrong"}).status_code == 403
        assert (csrf.encode(), b"wrong") in compared
        # calendar feed tokens, plan and person
        plan_url = feeds.plan_feed_url(cast, KEY)
        person_url = feeds.person_feed_url(cast, VIEWER)
        plan_token = plan_url.rsplit("token=", 1)[1]
        person_token = person_url.rsplit("-", 1)[1].removesuffix(".ics")
        http.cookies.clear()
        for url, right in ((plan_url, plan_token), (person_url, person_token)):
            assert http.get(url).status_code == 200
            assert (right.encode(), right.encode()) in compared
            for wrong in ("0", right[:-1] + ("0" if right[-1] != "0" else "1")):
                assert http.get(url.replace(right, wrong)).status_code == 404
                assert (right.encode(), wrong.encode()) in compared, (url, wrong)


def test_session_and_api_tokens_are_kept_and_looked_up_only_as_sha256(
    cast: Runtime,
) -> None:
    """The cookie and the API token never reach the database, not even as a query
    parameter of any statement sent through SQLAlchemy (all of accounts.py's): only their
    SHA-256 does (an indexed lookup of a digest: nothing about the token to time).
    Passwords are argon2id hashes. (A session's form token is stored as it is: it opens
    nothing without the session cookie.)"""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        sent.append(f"{statement} {parameters!r}")

    event.listen(Engine, "before_cursor_execute", record)  # every engine napflow made
    try:
        accounts.set_password(cast, VIEWER, PASSWORD)
        api_token = accounts.create_api_token(cast, VIEWER, "nightly")
        with web_client(cast) as http:
            log_in(http, VIEWER)
            cookie = http.cookies["napflow_session"]
            assert http.get(f"/plans/{KEY}").status_code == 200
            auth = {"Authorization": f"Bearer {api_token}"}
            assert http.get(f"/api/v1/plans/{KEY}", headers=auth).status_code == 200
            forged = {"Authorization": f"Bearer {api_token[:-1]}x"}
            assert http.get(f"/api/v1/plans/{KEY}", headers=forged).status_code == 401
            with cast.db.read() as conn:  # every value of every row, as text
                stored = " ".join(
                    repr(tuple(row))
                    for table in metadata.sorted_tables
                    for row in conn.execute(select(table))
                )
                sessions = conn.execute(select(web_sessions.c.token_hash)).scalars().all()
                tokens = conn.execute(select(api_tokens.c.token_hash)).scalars().all()
            assert http.post("/logout", data={"csrf": csrf_of(http)}).status_code == 303
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    digest = {s: hashlib.sha256(s.encode()).hexdigest() for s in (cookie, api_token)}
    assert sessions == [digest[cookie]] and tokens == [digest[api_token]]
    for secret in (cookie, api_token, PASSWORD):
        assert secret not in stored
        assert not any(secret in query for query in sent), "a plaintext secret went to the DB"
    assert any(digest[cookie] in query for query in sent)
    assert any(digest[api_token] in query for query in sent)
    assert "$argon2id$" in stored
