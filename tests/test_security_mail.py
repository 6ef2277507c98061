"""Security: e-mail header injection, on a real database (SQLite and PostgreSQL) and a
real SMTP server on loopback (nothing of napflow is mocked; only the clock is virtual).

CR/LF typed into any field that reaches an e-mail is refused (an address) or folded to one
line before it is stored (names, titles, locations), and values with CR/LF written straight
into the database still give messages with exactly napflow's headers, one To address and
unchanged envelope recipients.

A finding of the first run (an address the SMTP client refuses ending a whole pass) was
fixed; its test stays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    CHAIR,
    KEY,
    MAIL_CAST,
    MEMBER,
    MINISTER,
    VIEWER,
    Cli,
    Result,
    runtime_with,
    utc,
)
from icalendar import Calendar
from smtp_sink import SmtpServer
from sqlalchemy import select, text, update

from napflow import services
from napflow.clock import VirtualClock
from napflow.runtime import Runtime
from napflow.services import accounts
from napflow.services.dispatch import send_due
from napflow.storage.schema import outbox

INJECTION = (
    "Evil\r\nBcc: spy@evil.example\r\nX-Injected: yes\r\nATTENDEE:mailto:spy@evil.example"
    "\r\n\r\nforged body"
)
FOLDED = "Evil Bcc: spy@evil.example X-Injected: yes ATTENDEE:mailto:spy@evil.example forged body"
#: every header napflow writes, each once; anything else was injected
NAPFLOW_HEADERS = [
    "Auto-Submitted",
    "Content-Language",
    "Content-Type",
    "Date",
    "From",
    "MIME-Version",
    "Message-ID",
    "Reply-To",
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
    "URL",
    "ORGANIZER",
}


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
    assert {rcpts[0] for _sender, rcpts in sink.envelopes} == {VIEWER, CHAIR, MEMBER, MINISTER}
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
