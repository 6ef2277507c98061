"""Delivery through a real SMTP server on loopback: ladders, DST, escalation, retries, faults."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from helpers import mail_runtime, queue_notices, run_until
from icalendar import Calendar
from smtp_sink import SmtpServer
from sqlalchemy import event, select, text

from napflow import services
from napflow.clock import VirtualClock
from napflow.runtime import Runtime
from napflow.services.dispatch import dispatch_due, send_due
from napflow.storage.schema import outbox

PEOPLE = {
    "coord@mfa.tj.example": ("Farrukh Rahimov", "coordinator", "Asia/Dushanbe"),
    "chair@president.tj.example": ("Sitora Nazarova", "wg_chair", "Asia/Dushanbe"),
    "member@customs.tj.example": ("Alisher Sharipov", "wg_member", "Asia/Dushanbe"),
    "expert@osce.example": ("Eva Huber", "expert", "Europe/Vienna"),
    "minister@mfa.tj.example": ("Министр иностранных дел", "approver", "Asia/Dushanbe"),
}
COORD, CHAIR, MEMBER, EXPERT, MINISTER = PEOPLE


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def plan(mail_rt: Runtime) -> str:
    for email, (name, _role, zone) in PEOPLE.items():
        services.add_person(mail_rt, email, name, zone)
    key = services.create_plan(
        mail_rt, "TJK", "National Action Plan (2016-2021)", timezone="Asia/Dushanbe", key="TJK-2015"
    ).key
    for email, (_name, role, _zone) in PEOPLE.items():
        services.grant_role(mail_rt, key, email, role)
    return key


def received(smtp: SmtpServer, to: str | None = None) -> list[EmailMessage]:
    return [m for m in smtp.sink.messages if to is None or to in str(m["To"])]


def calendar_of(message: EmailMessage) -> Calendar:
    part = next(p for p in message.iter_attachments() if p.get_content_type() == "text/calendar")
    return Calendar.from_ical(part.get_payload(decode=True))


def test_approval_ladder_arrives_on_the_right_days_at_nine_local(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    clock.set(utc(2015, 11, 1))
    services.add_deadline(mail_rt, plan, "approval", "2015-12-31")
    run_until(mail_rt, clock, utc(2015, 12, 31, 12))
    to_minister = received(smtp, MINISTER)
    assert [m["Date"].datetime for m in to_minister] == [
        utc(2015, 12, 1, 4),
        utc(2015, 12, 17, 4),
        utc(2015, 12, 24, 4),
        utc(2015, 12, 30, 4),
    ]
    last = to_minister[-1]
    assert str(last["Subject"]) == "[TJK-2015] Ministerial approval due tomorrow, 31 December 2015"
    assert str(to_minister[0]["Subject"]) == (
        "[TJK-2015] Ministerial approval due in 30 days, 31 December 2015"
    )
    body = last.get_body(("plain",)).get_content()
    for fact in (
        "National Action Plan (2016-2021) (TJK-2015, Tajikistan)",
        "When: Thursday, 31 December 2015, end of day (Asia/Dushanbe)",
        'The deadline is met when the plan reaches "Approved".',
        "Questions: reply to this message; your reply goes to Farrukh Rahimov.",
    ):
        assert fact in body, fact
    assert "coord@mfa.tj.example" in str(last["Reply-To"])
    event = calendar_of(last).walk("VEVENT")[0]
    assert event.decoded("dtstart") == date(2015, 12, 31)
    assert int(event["sequence"]) == 0
    assert str(event["uid"]).startswith("napflow-deadline-")
    assert len({str(calendar_of(m).walk("VEVENT")[0]["uid"]) for m in to_minister}) == 1
    assert len(received(smtp, COORD)) == 4 and not received(smtp, EXPERT)


def test_follow_up_session_in_vienna_across_the_dst_change(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    """Vienna left summer time on 25 October 2015: 09:00 was 07:00 UTC before, 08:00 after."""
    clock.set(utc(2015, 10, 12))  # after the 21-days-before rung: only 7 and 1 days remain
    services.add_deadline(
        mail_rt,
        plan,
        "follow_up_session",
        "2015-11-01",
        timezone="Europe/Vienna",
        location="Vienna",
    )
    clock.set(utc(2015, 10, 25, 7, 30))  # 08:30 in Vienna: not yet
    send_due(mail_rt)
    assert received(smtp, EXPERT) == []
    run_until(mail_rt, clock, utc(2015, 11, 1))
    dates = [m["Date"].datetime for m in received(smtp, EXPERT)]
    assert dates == [utc(2015, 10, 25, 8), utc(2015, 10, 31, 8)]
    assert [d.astimezone(ZoneInfo("Europe/Vienna")).hour for d in dates] == [9, 9]


def test_met_deadline_sends_nothing_more(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    clock.set(utc(2015, 11, 1))
    services.add_deadline(mail_rt, plan, "approval", "2015-12-31")
    for trigger, actor in [
        ("submit_for_review", COORD),
        ("endorse", MEMBER),
        ("send_to_experts", CHAIR),
        ("endorse", EXPERT),
        ("submit_for_approval", COORD),
        ("approve", MINISTER),
    ]:
        services.advance_plan(mail_rt, plan, trigger, actor)
    run_until(mail_rt, clock, utc(2016, 2, 1))
    kinds = [m["X-Napflow-Kind"] for m in smtp.sink.messages]
    assert kinds and set(kinds) == {"notice"}  # the transitions' notices, no reminder


def test_moved_deadline_sends_a_new_sequence(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    clock.set(utc(2015, 11, 1))
    deadline = services.add_deadline(mail_rt, plan, "approval", "2015-12-31")
    services.move_deadline(mail_rt, deadline.id, "2016-01-15")
    run_until(mail_rt, clock, utc(2015, 12, 18))
    [first] = received(smtp, MINISTER)
    assert first["Date"].datetime == utc(2015, 12, 16, 4)  # 30 days before 15 January
    event = calendar_of(first).walk("VEVENT")[0]
    assert (int(event["sequence"]), event.decoded("dtstart")) == (1, date(2016, 1, 15))


def test_escalation_the_morning_after_then_every_seven_days(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    clock.set(utc(2015, 12, 29))
    services.add_deadline(mail_rt, plan, "approval", "2015-12-31")
    run_until(mail_rt, clock, utc(2016, 1, 16))
    escalations = [m for m in received(smtp, CHAIR) if m["X-Napflow-Kind"] == "escalation"]
    assert [m["Date"].datetime for m in escalations] == [
        utc(2016, 1, 1, 4),
        utc(2016, 1, 8, 4),
        utc(2016, 1, 15, 4),
    ]
    assert str(escalations[0]["Subject"]).startswith("[TJK-2015] Missed: Ministerial approval")
    assert "Notices continue every 7 days" in escalations[0].get_body(("plain",)).get_content()
    assert not [m for m in received(smtp, MINISTER) if m["X-Napflow-Kind"] == "escalation"]


def test_after_downtime_everything_due_goes_out_once_marked_late(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    clock.set(utc(2015, 11, 1))
    services.add_deadline(mail_rt, plan, "approval", "2015-12-31")
    clock.set(utc(2015, 12, 25))  # down since 1 November
    result = send_due(mail_rt)
    assert (result.sent, result.late) == (6, 6)  # 30, 14, 7 days before, to two people
    assert "is sent late" in received(smtp, COORD)[0].get_body(("plain",)).get_content()
    assert send_due(mail_rt).sent == 0
    assert len(set(smtp.sink.ids())) == len(smtp.sink.ids()) == 6


def test_temporary_failure_is_retried_with_backoff(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    clock.set(utc(2015, 12, 30, 4))
    services.add_deadline(mail_rt, plan, "approval", "2015-12-31")
    smtp.sink.data_replies = ["451 4.3.0 Try again later", "452 4.3.1 Insufficient storage"]
    first = dispatch_due(mail_rt)
    assert (first.sent, first.retrying) == (0, 2)
    waiting = services.list_messages(mail_rt, "pending")
    assert {m.last_error for m in waiting if m.rung == "before-1d"} == {
        "451 4.3.0 Try again later",
        "452 4.3.1 Insufficient storage",
    }
    assert all(
        m.next_attempt_at == utc(2015, 12, 30, 4, 1) for m in waiting if m.rung == "before-1d"
    )
    clock.advance(timedelta(minutes=1))
    assert dispatch_due(mail_rt).sent == 2
    assert len(received(smtp)) == 2


def test_permanent_failure_keeps_the_servers_answer(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    smtp.sink.refuse[MINISTER] = "550 5.1.1 Mailbox unavailable"
    clock.set(utc(2015, 12, 30, 4))
    services.add_deadline(mail_rt, plan, "approval", "2015-12-31")
    result = dispatch_due(mail_rt)
    assert (result.sent, result.failed) == (1, 1)
    [failed] = services.list_messages(mail_rt, "failed")
    assert (failed.recipient, failed.last_error) == (MINISTER, "550 5.1.1 Mailbox unavailable")
    clock.advance(timedelta(days=1))
    dispatch_due(mail_rt)
    assert len(received(smtp, MINISTER)) == 0


def test_no_header_injection_even_from_the_database(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    with mail_rt.db.write() as conn:  # as if written by hand, past every input check
        conn.execute(
            text("UPDATE people SET name = :n WHERE email = :e"),
            {"n": "Evil\r\nBcc: spy@evil.example\r\nX-Injected: yes", "e": MINISTER},
        )
        conn.execute(text("UPDATE plans SET title = :t"), {"t": "Plan\r\nBcc: spy@evil.example"})
    clock.set(utc(2015, 12, 30, 4))
    services.add_deadline(mail_rt, plan, "approval", "2015-12-31")
    send_due(mail_rt)
    assert all(rcpts != ["spy@evil.example"] for _, rcpts in smtp.sink.envelopes)
    assert {r for _, rcpts in smtp.sink.envelopes for r in rcpts} == {COORD, MINISTER}
    for message in smtp.sink.messages:
        assert message["Bcc"] is None and message["X-Injected"] is None


def test_non_ascii_names_are_encoded_and_read_back(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    clock.set(utc(2015, 12, 30, 4))
    services.add_deadline(
        mail_rt, plan, "approval", "2015-12-31", title="Утверждение плана — Душанбе"
    )
    send_due(mail_rt)
    [message] = received(smtp, MINISTER)
    assert message["To"].addresses[0].display_name == "Министр иностранных дел"
    assert "Утверждение плана — Душанбе" in str(message["Subject"])
    raw = message.as_bytes()
    assert "Министр".encode() not in raw.split(b"\n\n", 1)[0]  # headers are RFC 2047-encoded


def test_notice_carries_the_comment_escaped_in_html(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    clock.set(utc(2015, 7, 30, 7))
    services.advance_plan(mail_rt, plan, "submit_for_review", COORD)
    services.advance_plan(
        mail_rt,
        plan,
        "request_changes",
        CHAIR,
        "Revise section III & the <script>alert(1)</script> annex.",
    )
    send_due(mail_rt)
    [notice] = [m for m in received(smtp, COORD) if m["X-Napflow-Kind"] == "notice"]
    assert str(notice["Subject"]) == (
        '[TJK-2015] "Return the draft for changes" by Sitora Nazarova; stage now: Drafting'
    )
    assert "Revise section III & the <script>" in notice.get_body(("plain",)).get_content()
    html = notice.get_body(("html",)).get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "&amp; the" in html


def test_people_reminded_hear_of_a_move_and_of_a_cancellation(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    clock.set(utc(2015, 11, 1))
    deadline = services.add_deadline(mail_rt, plan, "approval", "2015-12-31")
    run_until(mail_rt, clock, utc(2015, 12, 2))  # the 30-days-before reminder went out
    services.move_deadline(mail_rt, deadline.id, "2016-01-15")
    send_due(mail_rt)
    moved = [m for m in received(smtp, MINISTER) if m["X-Napflow-Kind"] == "change"]
    assert [str(m["Subject"]) for m in moved] == [
        "[TJK-2015] Moved: Ministerial approval is now 15 January 2016"
    ]
    assert "It is now: Friday, 15 January 2016, end of day (Asia/Dushanbe)" in (
        moved[0].get_body(("plain",)).get_content()
    )
    event = calendar_of(moved[0]).walk("VEVENT")[0]
    assert (int(event["sequence"]), event.decoded("dtstart")) == (1, date(2016, 1, 15))
    services.cancel_deadline(mail_rt, deadline.id)
    send_due(mail_rt)
    [cancelled] = [
        m for m in received(smtp, MINISTER) if str(m["Subject"]).startswith("[TJK-2015] Cancelled")
    ]
    calendar = calendar_of(cancelled)
    assert str(calendar["method"]) == "CANCEL"
    assert str(calendar.walk("VEVENT")[0]["status"]) == "CANCELLED"
    assert str(calendar.walk("VEVENT")[0]["uid"]) == str(event["uid"])
    assert not received(smtp, EXPERT)  # never reminded, so not told either
    run_until(mail_rt, clock, utc(2016, 2, 1))
    assert not [
        m
        for m in received(smtp)
        if m["Date"].datetime > utc(2015, 12, 3) and m["X-Napflow-Kind"] != "change"
    ]


def test_review_window_ladder_reaches_only_members_who_have_not_endorsed(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    services.add_person(mail_rt, "member2@medt.tj.example", "Davron Saidov", "Asia/Dushanbe")
    services.grant_role(mail_rt, plan, "member2@medt.tj.example", "wg_member")
    clock.set(utc(2015, 9, 21, 4, 30))  # 09:30 in Dushanbe
    services.advance_plan(mail_rt, plan, "submit_for_review", COORD)
    clock.set(utc(2015, 10, 9, 5))
    services.advance_plan(mail_rt, plan, "endorse", MEMBER)
    run_until(mail_rt, clock, utc(2015, 10, 22))
    window = [m for m in smtp.sink.messages if m["X-Napflow-Kind"] == "reminder"]
    assert [(str(m["To"].addresses[0].addr_spec), m["Date"].datetime) for m in window] == [
        ("member2@medt.tj.example", utc(2015, 10, 14, 4)),
        ("member2@medt.tj.example", utc(2015, 10, 20, 4)),
    ]
    assert str(window[0]["Subject"]) == (
        "[TJK-2015] Working-group review due in 7 days, 21 October 2015"
    )
    assert (
        'Once you have done "Endorse the draft for the working group", these reminders stop.'
        in window[0].get_body(("plain",)).get_content()
    )


def test_a_pass_slower_than_the_lease_does_not_send_what_another_took_over(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    from napflow.services import dispatch

    clock.set(utc(2015, 12, 30, 4))
    services.add_deadline(mail_rt, plan, "approval", "2015-12-31")
    slow = dispatch._claim(mail_rt, clock.now(), 10)  # daemon A claims, then hangs
    assert len(slow) == 2
    clock.advance(timedelta(seconds=mail_rt.settings.lease_seconds + 1))
    assert dispatch_due(mail_rt).sent == 2  # daemon B takes the rows over and sends them
    assert mail_rt.mailer is not None
    outcomes = []
    for row in slow:  # daemon A wakes up and carries on with its batch
        future: Future[object] = Future()
        future.set_result(None)
        outcomes.append(dispatch._deliver(mail_rt, mail_rt.mailer, row, clock.now(), future, []))
    assert outcomes == ["lost", "lost"]
    assert len(smtp.sink.ids()) == len(set(smtp.sink.ids())) == 2


def test_escalations_keep_coming_after_one_bounced(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    clock.set(utc(2015, 12, 29))
    services.add_deadline(mail_rt, plan, "approval", "2015-12-31")
    run_until(mail_rt, clock, utc(2015, 12, 31))
    smtp.sink.refuse[CHAIR] = "550 5.2.1 Mailbox disabled"
    run_until(mail_rt, clock, utc(2016, 1, 2))
    smtp.sink.refuse.clear()
    run_until(mail_rt, clock, utc(2016, 1, 9))
    failed = [m for m in services.list_messages(mail_rt, "failed") if m.recipient == CHAIR]
    assert [m.rung for m in failed] == ["escalation-1"]
    later = [m for m in received(smtp, CHAIR) if m["X-Napflow-Kind"] == "escalation"]
    assert [m["Date"].datetime for m in later] == [utc(2016, 1, 8, 4)]


def test_long_titles_and_names_are_folded_and_delivered(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    """SMTP refuses lines over 998 characters; long headers must be folded, not lost."""
    long_name = "Министерство иностранных дел Республики Таджикистан " * 3  # 156 of 200
    with mail_rt.db.write() as conn:
        conn.execute(
            text("UPDATE people SET name = :n WHERE email = :e"),
            {"n": long_name.strip(), "e": MINISTER},
        )
    title = ("Approval of the National Action Plan by the Government " * 9)[:200].strip()
    location = ("Dushanbe, Executive Office of the President, hall " * 10)[:200].strip()
    clock.set(utc(2015, 12, 30, 4))
    services.add_deadline(mail_rt, plan, "approval", "2015-12-31", title=title, location=location)
    result = send_due(mail_rt)
    assert result.failed == 0 and result.sent == 2, services.list_messages(mail_rt, "failed")
    [message] = received(smtp, MINISTER)
    assert message["To"].addresses[0].display_name == long_name.strip()
    assert title in str(message["Subject"]) and location in str(message["Subject"])


def test_deliveries_and_failures_enter_the_history_without_a_new_version(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    smtp.sink.refuse[MINISTER] = "550 5.1.1 Mailbox unavailable"
    clock.set(utc(2015, 12, 30, 4))
    services.add_deadline(mail_rt, plan, "approval", "2015-12-31")
    version = services.show_plan(mail_rt, plan).version
    assert dispatch_due(mail_rt).claimed == 2
    records = services.plan_history(mail_rt, plan).records
    mails = {r.kind: r for r in records[-2:]}
    sent, failed = mails["mail_sent"], mails["mail_failed"]
    [message] = received(smtp)
    assert sent.payload is not None and failed.payload is not None
    assert sent.payload["message_id"] == message["Message-ID"]
    assert (sent.payload["recipient"], sent.payload["rung"]) == (COORD, "before-1d")
    assert (sent.payload["mail"], sent.payload["late"], sent.at) == ("reminder", False, clock.now())
    assert failed.payload["error"] == "550 5.1.1 Mailbox unavailable"
    assert (
        failed.detail == f"reminder before-1d to {MINISTER} failed: 550 5.1.1 Mailbox unavailable"
    )
    assert sent.to_state == failed.to_state == "drafting"
    # a form or script that read the plan before the reminders went out is not outdated
    assert services.show_plan(mail_rt, plan).version == version
    services.advance_plan(mail_rt, plan, "submit_for_review", COORD, expect_version=version)
    assert services.audit.verify_ledger(mail_rt).ok


def test_a_claim_takes_one_batch_in_order_and_the_next_claim_the_next(
    rt: Runtime, clock: VirtualClock
) -> None:
    from napflow.services import dispatch

    queue_notices(rt, 50)
    claims = [dispatch._claim(rt, clock.now(), 20) for _ in range(4)]
    assert [len(c) for c in claims] == [20, 20, 10, 0]
    ids = [row.id for claim in claims for row in claim]
    assert len(set(ids)) == 50
    assert ids == sorted(ids)  # queued in one go: oldest first is id order


@pytest.mark.postgresql_only
def test_a_claim_passes_over_rows_another_dispatcher_is_claiming(
    rt: Runtime, clock: VirtualClock
) -> None:
    from napflow.services import dispatch

    queue_notices(rt, 50)
    with rt.db.engine.connect() as other, other.begin():  # another daemon, mid-claim
        held = other.execute(
            select(outbox.c.id)
            .where(outbox.c.status == "pending")
            .order_by(outbox.c.id)
            .limit(20)
            .with_for_update()
        ).scalars()
        held_ids = set(held)
        with ThreadPoolExecutor(1) as pool:
            claim = pool.submit(dispatch._claim, rt, clock.now(), 20)
            try:  # a claim that waited for the lock would only return after this block
                rows = claim.result(timeout=60)
            finally:
                other.rollback()
    assert len(held_ids) == len(rows) == 20
    assert held_ids.isdisjoint(row.id for row in rows)


def test_with_the_fast_path_off_a_sent_mail_is_marked_through_sqlalchemy(
    db_url: str, clock: VirtualClock, smtp: SmtpServer
) -> None:
    # [database] fast_path = false: the mark of a sent mail (a FastStatement) runs through
    # plain Connection.execute, and the mail is sent, marked and recorded all the same
    plain = mail_runtime(db_url, clock, smtp, fast_path=False)
    try:
        for email, (name, _role, zone) in PEOPLE.items():
            services.add_person(plain, email, name, zone)
        key = services.create_plan(plain, "TJK", "Plan", timezone="Asia/Dushanbe").key
        services.grant_role(plain, key, COORD, "coordinator")
        clock.set(utc(2015, 12, 30, 4))
        services.add_deadline(plain, key, "approval", "2015-12-31")
        seen: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            seen.append(" ".join(statement.split()))

        event.listen(plain.db._services, "before_cursor_execute", record)
        try:
            assert dispatch_due(plain).sent == 1
        finally:
            event.remove(plain.db._services, "before_cursor_execute", record)
        assert [m["To"].addresses[0].addr_spec for m in received(smtp)] == [COORD]
        assert any(s.startswith("UPDATE outbox SET status=") and "message_id" in s for s in seen)
        assert len(services.list_messages(plain, "sent", key)) == 1
        assert services.plan_history(plain, key).records[-1].kind == "mail_sent"
    finally:
        plain.db.dispose()
