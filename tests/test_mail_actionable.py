"""Mails people can act on: their language, their actions as links, who to ask, a digest.

Through a real SMTP server on loopback; only the clock is virtual.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from helpers import csrf_of, log_in, mail_runtime, run_until, utc, web_client
from icalendar import Calendar
from smtp_sink import SmtpServer
from sqlalchemy import select

from napflow import services
from napflow.clock import VirtualClock
from napflow.errors import InputError, NotAllowedError, RefusedError
from napflow.ledger.record import Kind
from napflow.runtime import Runtime
from napflow.services import accounts
from napflow.services.dispatch import send_due
from napflow.storage.schema import history, outbox

BASE = "https://napflow.example.org"
PEOPLE = {
    "coord@cbrn.tj.example": ("Фаррух Рахимов", "coordinator", "Asia/Dushanbe", "ru"),
    "chair@president.tj.example": ("Ситора Назарова", "wg_chair", "Asia/Dushanbe", None),
    "member@customs.tj.example": ("Алишер Шарипов", "wg_member", "Asia/Dushanbe", None),
    "expert@osce.example": ("Eva Huber", "expert", "Europe/Vienna", "en"),
    "minister@mfa.tj.example": ("Министр иностранных дел", "approver", "Asia/Dushanbe", None),
}
COORD, CHAIR, MEMBER, EXPERT, MINISTER = PEOPLE
TITLE = "НПД 1540 (2016-2021)"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


@pytest.fixture
def mail_rt(db_url: str, clock: VirtualClock, smtp: SmtpServer) -> Runtime:
    """A runtime sending through the loopback server, its links under BASE."""
    runtime = mail_runtime(db_url, clock, smtp, base_url=BASE)
    yield runtime
    runtime.db.dispose()


@pytest.fixture
def plan(mail_rt: Runtime) -> str:
    """TJK-2015 on the NAP workflow, its mail in Russian unless a person chose English."""
    for email, (name, _role, zone, locale) in PEOPLE.items():
        services.add_person(mail_rt, email, name, zone, locale)
    key = services.create_plan(
        mail_rt,
        "TJK",
        "НПД 1540 (2016-2021)",
        timezone="Asia/Dushanbe",
        key="TJK-2015",
        locale="ru",
    ).key
    for email, (_name, role, _zone, _locale) in PEOPLE.items():
        services.grant_role(mail_rt, key, email, role)
    return key


def add_draft(rt: Runtime, key: str, data: bytes, name: str) -> None:
    """The coordinator adds ``data`` as the plan's next draft."""
    services.drafts.add_draft(rt, key, io.BytesIO(data), name, COORD)


def refused_notice(
    rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> services.MessageView:
    """The notice of the submission to the member, refused for good by their mail server."""
    smtp.sink.refuse[MEMBER] = "550 5.1.1 Mailbox unavailable"
    clock.set(utc(2015, 7, 15, 5))
    services.advance_plan(rt, plan, "submit_for_review", COORD)
    send_due(rt)
    [failed] = services.list_messages(rt, "failed")
    return failed


def beside(rt: Runtime, work: Callable[..., Any], *args: Any) -> None:
    """Run ``work`` in a thread of its own, as another process would, and wait for it.

    The thread's database connections are closed when it ends (left open, a server's would
    be garbage another test trips over).
    """

    def run() -> None:
        try:
            work(*args)
        finally:
            rt.db.dispose_thread()

    other = threading.Thread(target=run)
    other.start()
    other.join(timeout=60)
    assert not other.is_alive()


def received(smtp: SmtpServer, to: str) -> list[EmailMessage]:
    return [m for m in smtp.sink.messages if to in str(m["To"])]


def text_of(message: EmailMessage) -> str:
    return str(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]


def html_of(message: EmailMessage) -> str:
    return str(message.get_body(("html",)).get_content())  # type: ignore[union-attr]


def test_one_event_mails_each_reader_in_their_language_with_their_actions(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    """Submitting the draft tells the members (in the plan's Russian) what they can do, as links."""
    clock.set(utc(2015, 7, 15, 5))
    services.advance_plan(mail_rt, plan, "submit_for_review", COORD)
    send_due(mail_rt)
    [to_member] = received(smtp, MEMBER)
    [to_chair] = received(smtp, CHAIR)
    assert received(smtp, EXPERT) == []  # experts hear when it is sent to them
    assert to_member["Content-Language"] == "ru"
    assert str(to_member["Subject"]) == (
        "[TJK-2015] Выполнено действие «Направить проект на рассмотрение рабочей группы» "
        "(Фаррух Рахимов); текущий этап: Рассмотрение рабочей группой"
    )
    text = text_of(to_member)
    assert "Здравствуйте, Алишер Шарипов!" in text
    assert "15 июля 2015\u202fг., 10:00 (Asia/Dushanbe)" in text  # CLDR's narrow space
    assert f"Одобрить проект в рамках рабочей группы: {BASE}/plans/TJK-2015#do-endorse" in text
    assert "Вернуть проект на доработку" not in text  # a member may not; the chair may
    assert "Вернуть проект на доработку" in text_of(to_chair)
    assert f'<a href="{BASE}/plans/TJK-2015#do-endorse">' in html_of(to_member)
    # replies reach the coordinator, who is named, never by a bare address
    assert to_member["Reply-To"] is not None and COORD in str(to_member["Reply-To"])
    assert "адресат ответа: Фаррух Рахимов" in text
    for body in (text, html_of(to_member)):
        assert EMAIL.findall(body) == []
        assert "submit_for_review" not in body and "wg_member" not in body


def test_a_return_reaches_the_coordinator_and_chair_with_the_comment(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    clock.set(utc(2015, 7, 15, 5))
    services.advance_plan(mail_rt, plan, "submit_for_review", COORD)
    services.advance_plan(
        mail_rt, plan, "request_changes", CHAIR, comment="Раздел III: учесть замечания таможни."
    )
    send_due(mail_rt)
    [to_coord] = [m for m in received(smtp, COORD) if "доработку" in str(m["Subject"])]
    text = text_of(to_coord)
    assert "Раздел III: учесть замечания таможни." in text
    assert "Исполнитель: Ситора Назарова (Председатель рабочей группы)" in text
    assert f"Направить проект на рассмотрение рабочей группы: {BASE}/plans/TJK-2015" in text
    # the coordinator is not told to ask themselves: replies go to the chair
    assert "Фаррух Рахимов" not in text.split("По всем вопросам")[1]
    assert CHAIR in str(to_coord["Reply-To"])
    # the chair, who returned it, is not told of their own action
    assert [m for m in received(smtp, CHAIR) if "доработку" in str(m["Subject"])] == []


def test_an_english_reader_on_a_russian_plan_reads_english(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    clock.set(utc(2015, 7, 15, 5))
    services.advance_plan(mail_rt, plan, "submit_for_review", COORD)
    for member in (MEMBER, CHAIR):
        services.advance_plan(mail_rt, plan, "endorse", member)
    services.advance_plan(mail_rt, plan, "send_to_experts", CHAIR)
    send_due(mail_rt)
    [to_expert] = received(smtp, EXPERT)
    assert to_expert["Content-Language"] == "en"
    assert str(to_expert["Subject"]) == (
        '[TJK-2015] "Send the endorsed draft to the experts" by Ситора Назарова; '
        "stage now: Expert review"
    )
    text = text_of(to_expert)
    assert "Dear Eva Huber," in text
    assert "15 July 2015, 07:00 (Europe/Vienna)" in text  # the time where she is
    assert f"Endorse the draft as an expert: {BASE}/plans/TJK-2015#do-endorse" in text
    assert f"Return the draft with comments: {BASE}/plans/TJK-2015#do-return_with_comments" in text
    typed = ("Ситора Назарова", "Фаррух Рахимов", TITLE)  # names and titles as written
    for value in typed:
        text = text.replace(value, "")
    assert re.search(r"[А-Яа-яЁё]", text) is None


def test_a_reminder_subject_says_what_is_due_when_in_the_readers_terms(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    clock.set(utc(2015, 11, 1))
    services.add_deadline(mail_rt, plan, "approval", "2015-12-31")
    run_until(mail_rt, clock, utc(2015, 12, 24, 12))
    to_minister = received(smtp, MINISTER)
    assert str(to_minister[-1]["Subject"]) == (
        "[TJK-2015] Утверждение на министерском уровне: срок через 7 дней, 31 декабря 2015 г."
    )
    assert str(to_minister[0]["Subject"]).endswith("срок через 30 дней, 31 декабря 2015 г.")
    text = text_of(to_minister[-1])
    assert "Когда: четверг, 31 декабря 2015\u202fг., до конца дня (Asia/Dushanbe)" in text
    assert f"Утвердить план: {BASE}/plans/TJK-2015#do-approve" not in text  # not submitted yet
    assert f"Срок на странице плана: {BASE}/plans/TJK-2015#deadline-" in text
    assert "а затем каждые 7 дней до выполнения требуемого действия. Получатели:" in text


def test_the_calendar_file_alarms_at_each_reminder_and_names_the_coordinator(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    clock.set(utc(2015, 11, 1))
    services.add_deadline(mail_rt, plan, "approval", "2015-12-31")
    run_until(mail_rt, clock, utc(2015, 12, 2))
    [first] = received(smtp, MINISTER)
    part = next(p for p in first.iter_attachments() if p.get_content_type() == "text/calendar")
    [event] = Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")
    alarms = sorted(a.get("trigger").dt for a in event.walk("VALARM"))
    assert alarms == [timedelta(days=-d) for d in (30, 14, 7, 1)]
    assert str(event.get("url")) == f"{BASE}/plans/TJK-2015"
    assert str(event.get("organizer")) == f"mailto:{COORD}"
    assert event.get("organizer").params["CN"] == "Фаррух Рахимов"
    assert "31 декабря 2015\u202fг., до конца дня" in str(event.get("description"))


def test_a_late_notice_says_so_and_what_is_current_now(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    """The daemon was down: the mail keeps what the event left to do, and says what is now."""
    clock.set(utc(2015, 7, 15, 5))
    services.advance_plan(mail_rt, plan, "submit_for_review", COORD)
    services.advance_plan(mail_rt, plan, "request_changes", CHAIR, comment="Переработать.")
    clock.set(utc(2015, 7, 17, 5))
    send_due(mail_rt)
    late = next(m for m in received(smtp, MEMBER) if "Направить проект" in str(m["Subject"]))
    text = text_of(late)
    assert "направлено с опозданием: его следовало направить 15 июля 2015\u202fг., 10:00" in text
    assert "доступные Вам на момент события:\n  - Одобрить проект в рамках рабочей группы" in text
    assert "Сейчас план находится на этапе «Подготовка проекта»." in text
    assert "Сейчас по этому плану от Вас не требуется никаких действий." in text
    assert text.count("Одобрить проект") == 1  # what was open then, no longer now


def test_sender_reply_to_and_signature_come_from_the_configuration(
    db_url: str, clock: VirtualClock, smtp: SmtpServer, tmp_path: Path
) -> None:
    rt = mail_runtime(
        db_url,
        clock,
        smtp,
        mail_from_name="Секретариат НПД",
        mail_reply_to="secretariat@mfa.tj.example",
        mail_signature="Секретариат межведомственной рабочей группы",
    )
    try:
        services.add_person(rt, COORD, "Фаррух Рахимов", "Asia/Dushanbe")
        services.add_person(rt, MEMBER, "Алишер Шарипов", "Asia/Dushanbe")
        key = services.create_plan(rt, "TJK", "НПД", key="TJK-2015", locale="ru").key
        services.grant_role(rt, key, COORD, "coordinator")
        services.grant_role(rt, key, MEMBER, "wg_member")
        services.advance_plan(rt, key, "submit_for_review", COORD)
        send_due(rt)
    finally:
        rt.db.dispose()
    [mail] = received(smtp, MEMBER)
    assert str(mail["Reply-To"]) == "secretariat@mfa.tj.example"
    assert mail["From"].addresses[0].display_name == "Секретариат НПД"
    assert text_of(mail).rstrip().endswith("-- \nСекретариат межведомственной рабочей группы")
    assert "просьба ответить на это письмо. Контактные лица: Фаррух Рахимов." in (
        " ".join(text_of(mail).split())
    )


def test_a_workflow_with_its_own_templates_falls_back_template_by_template(
    db_url: str, clock: VirtualClock, smtp: SmtpServer, tmp_path: Path
) -> None:
    source = (Path(__file__).parent.parent / "workflows" / "nap.toml").read_text()
    folder = tmp_path / "flows"
    (folder / "mails").mkdir(parents=True)
    (folder / "mails" / "notice.subject.txt").write_text("[{{ plan.key }}] Committee notice\n")
    text = source.replace('name = "nap"', 'name = "committee"').replace(
        "[drafts]\n",
        '[mail]\ntemplates = "mails"\nsignature = "The 1540 Committee"\n'
        'signatures = { ru = "Комитет 1540" }\n\n[drafts]\n',
        1,
    )
    (folder / "committee.toml").write_text(text)
    rt = mail_runtime(db_url, clock, smtp, workflow_dirs=(folder,))
    try:
        services.add_person(rt, COORD, "Farrukh Rahimov", "Asia/Dushanbe")
        services.add_person(rt, MEMBER, "Alisher Sharipov", "Asia/Dushanbe", "ru")
        key = services.create_plan(rt, "TJK", "NAP", workflow="committee", key="TJK-1").key
        services.grant_role(rt, key, COORD, "coordinator")
        services.grant_role(rt, key, MEMBER, "wg_member")
        services.advance_plan(rt, key, "submit_for_review", COORD)
        send_due(rt)
    finally:
        rt.db.dispose()
    [mail] = received(smtp, MEMBER)
    assert str(mail["Subject"]) == "[TJK-1] Committee notice"  # the workflow's own
    assert "Здравствуйте, Alisher Sharipov!" in text_of(mail)  # the default body
    assert text_of(mail).rstrip().endswith("-- \nКомитет 1540")


def test_a_digest_reader_gets_one_mail_a_day_with_every_item(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    services.people.edit_person(mail_rt, MEMBER, digest="daily")
    clock.set(utc(2015, 9, 1))
    services.add_deadline(
        mail_rt, plan, "follow_up_session", "2015-10-08", title="OSCE follow-up session"
    )
    services.add_deadline(
        mail_rt, plan, "follow_up_session", "2015-10-08", title="Working-group meeting"
    )
    run_until(mail_rt, clock, utc(2015, 9, 17, 12))
    # the coordinator, who did not choose a digest, gets each reminder
    assert len(received(smtp, COORD)) == 2
    [digest] = received(smtp, MEMBER)
    assert digest["X-Napflow-Kind"] == "digest"
    assert digest["Date"].datetime == utc(2015, 9, 17, 4)  # 09:00 in Dushanbe
    assert str(digest["Subject"]) == "Сводка napflow за 17 сентября 2015 г.: 2 сообщения"
    text = text_of(digest)
    assert "1. [TJK-2015] OSCE follow-up session: через 21 день, 8 октября 2015 г." in text
    assert "2. [TJK-2015] Working-group meeting: через 21 день, 8 октября 2015 г." in text
    assert text.count(f"{BASE}/plans/TJK-2015#deadline-") == 2
    assert f"{BASE}/me" in text
    with mail_rt.db.read() as conn:
        rows = conn.execute(
            select(outbox.c.status, outbox.c.message_id).where(
                outbox.c.recipient == MEMBER, outbox.c.kind == "reminder"
            )
        ).all()
        records = (
            conn.execute(select(history.c.payload).where(history.c.kind == Kind.MAIL_SENT))
            .scalars()
            .all()
        )
    sent = [r for r in rows if r.status == "sent"]
    assert len(sent) == 2 and {r.message_id for r in sent} == {str(digest["Message-ID"])}
    carried = [p for p in records if p["recipient"] == MEMBER]
    assert len(carried) == 2 and all(p["digest"].startswith(f"g:{MEMBER}:") for p in carried)


def test_a_message_after_the_digest_hour_waits_for_the_next_days_digest(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    services.people.edit_person(mail_rt, MEMBER, digest="daily")
    clock.set(utc(2015, 7, 15, 5))  # 10:00 in Dushanbe
    services.advance_plan(mail_rt, plan, "submit_for_review", COORD)
    send_due(mail_rt)
    assert received(smtp, MEMBER) == []
    assert len(received(smtp, CHAIR)) == 1
    run_until(mail_rt, clock, utc(2015, 7, 16, 12))
    [digest] = received(smtp, MEMBER)
    assert digest["Date"].datetime == utc(2015, 7, 16, 4)
    assert "Направить проект на рассмотрение рабочей группы" in text_of(digest)
    assert f"Одобрить проект в рамках рабочей группы: {BASE}/plans/TJK-2015#do-endorse" in (
        text_of(digest)
    )


def test_an_urgent_escalation_goes_at_once_even_to_a_digest_reader(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    """The NAP workflow marks the approval escalation urgent: the chair hears the same morning."""
    services.people.edit_person(mail_rt, CHAIR, digest="daily")
    clock.set(utc(2015, 12, 20))
    services.add_deadline(mail_rt, plan, "approval", "2015-12-31")
    run_until(mail_rt, clock, utc(2016, 1, 1, 12))
    [missed] = received(smtp, CHAIR)
    assert missed["X-Napflow-Kind"] == "escalation"
    assert missed["Date"].datetime == utc(2016, 1, 1, 4)
    assert str(missed["Subject"]).startswith("[TJK-2015] Пропущен срок: Утверждение")


def test_turning_the_digest_off_sends_what_waited_at_once(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    services.people.choose_digest(mail_rt, MEMBER, "daily")
    clock.set(utc(2015, 7, 15, 5))
    services.advance_plan(mail_rt, plan, "submit_for_review", COORD)
    send_due(mail_rt)
    mine = [m for m in services.list_messages(mail_rt) if m.recipient == MEMBER]
    assert [m.status for m in mine if m.kind == "notice"] == ["held"]
    clock.advance(timedelta(hours=1))
    services.people.choose_digest(mail_rt, MEMBER, "none")
    send_due(mail_rt)
    [notice] = received(smtp, MEMBER)
    assert notice["X-Napflow-Kind"] == "notice"
    run_until(mail_rt, clock, utc(2015, 7, 17))
    assert len(received(smtp, MEMBER)) == 1  # no digest follows
    with pytest.raises(InputError, match=r"'weekly' is not valid; choose none, daily\.$"):
        services.people.choose_digest(mail_rt, MEMBER, "weekly")


def test_a_failed_message_is_sent_again_by_an_administrator_and_recorded(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    failed = refused_notice(mail_rt, clock, smtp, plan)
    with pytest.raises(NotAllowedError):
        services.reminders.retry_message(mail_rt, failed.id, actor=COORD)
    del smtp.sink.refuse[MEMBER]
    again = services.reminders.retry_message(mail_rt, failed.id, comment="Ящик восстановлен.")
    assert again.status == "pending"
    with pytest.raises(RefusedError, match="only a message that failed"):
        services.reminders.retry_message(mail_rt, failed.id)
    send_due(mail_rt)
    assert len(received(smtp, MEMBER)) == 1
    records = services.plan_history(mail_rt, plan).records
    requeued = [r for r in records if r.kind == Kind.MAIL_REQUEUED]
    assert len(requeued) == 1 and requeued[0].comment == "Ящик восстановлен."
    assert requeued[0].payload["error"] == "550 5.1.1 Mailbox unavailable"
    report = services.audit.verify_ledger(mail_rt)
    assert report.ok and report.replayed, report.problems  # an administrator's, allowed


def test_retry_from_the_command_line_and_the_json_api(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str, cli: Callable[..., Any]
) -> None:
    smtp.sink.refuse[MEMBER] = "550 5.1.1 Mailbox unavailable"
    smtp.sink.refuse[CHAIR] = "550 5.1.1 Mailbox unavailable"
    clock.set(utc(2015, 7, 15, 5))
    services.advance_plan(mail_rt, plan, "submit_for_review", COORD)
    send_due(mail_rt)
    to_member, to_chair = sorted(
        services.list_messages(mail_rt, "failed"), key=lambda m: m.recipient != MEMBER
    )
    listed = cli("reminders", "list", "--status", "failed")
    assert listed.code == 0 and str(to_member.id) in listed.out
    done = cli("reminders", "retry", str(to_member.id), "--comment", "fixed")
    assert done.code == 0, done.err
    assert f"Message {to_member.id}" in done.out and "goes again on the next pass" in done.out
    again = cli("reminders", "retry", str(to_member.id))
    assert again.code == 1
    assert (
        again.err.strip().endswith("only a message that failed can be sent again.")
        and "\n" not in again.err.strip()
    )
    missing = cli("reminders", "retry", "99999")
    assert missing.code != 0 and "There is no message 99999" in missing.err
    admin = "admin@napflow.example"
    services.add_person(mail_rt, admin, "Site administrator")
    services.access.grant_access(mail_rt, admin, "admin")
    token = {"Authorization": f"Bearer {accounts.create_api_token(mail_rt, admin)}"}
    member_token = {"Authorization": f"Bearer {accounts.create_api_token(mail_rt, MEMBER)}"}
    with web_client(mail_rt) as http:
        url = f"/api/v1/reminders/{to_chair.id}/retry"
        assert http.post(url, headers=member_token).status_code == 403
        answer = http.post(url, headers=token, json={"comment": "fixed too"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "pending"
    kinds = [r.kind for r in services.plan_history(mail_rt, plan).records]
    assert kinds.count(Kind.MAIL_REQUEUED) == 2


def test_retry_refuses_what_napflow_would_no_longer_send(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    """A reminder of a deadline cancelled since, and mail to someone deactivated since."""
    smtp.sink.refuse[MINISTER] = "550 5.1.1 Mailbox unavailable"
    smtp.sink.refuse[COORD] = "550 5.1.1 Mailbox unavailable"
    clock.set(utc(2015, 12, 30, 4))
    deadline = services.add_deadline(mail_rt, plan, "approval", "2015-12-31")
    send_due(mail_rt)
    failed = {m.recipient: m for m in services.list_messages(mail_rt, "failed")}
    assert set(failed) == {MINISTER, COORD}
    services.people.deactivate_person(mail_rt, MINISTER)
    with pytest.raises(RefusedError, match="who was deactivated; it is not sent again"):
        services.reminders.retry_message(mail_rt, failed[MINISTER].id)
    services.cancel_deadline(mail_rt, deadline.id)
    with pytest.raises(RefusedError, match="a deadline that is cancelled; it is not sent again"):
        services.reminders.retry_message(mail_rt, failed[COORD].id)
    assert {m.status for m in services.list_messages(mail_rt) if m.id in failed.values()} <= {
        "failed"
    }
    kinds = [r.kind for r in services.plan_history(mail_rt, plan).records]
    assert Kind.MAIL_REQUEUED not in kinds


def test_the_administration_page_sends_a_failed_message_again(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    failed = refused_notice(mail_rt, clock, smtp, plan)
    admin = "admin@napflow.example"
    services.add_person(mail_rt, admin, "Администратор", locale="ru")
    services.access.grant_access(mail_rt, admin, "admin")
    accounts.set_password(mail_rt, admin, "a long enough password")
    with web_client(mail_rt) as http:
        log_in(http, admin, "a long enough password")
        page = http.get("/admin")
        title = page.text.split("<title>", 1)[1].split("</title>", 1)[0]
        assert title == "Администрирование · napflow"  # nothing of the table in the title
        assert page.text.count('action="/admin/messages/') == 1
        assert "550 5.1.1 Mailbox unavailable" in page.text and "Отправить повторно" in page.text
        forged = http.post(f"/admin/messages/{failed.id}/retry", data={"csrf": "wrong"})
        assert forged.status_code == 403
        done = http.post(f"/admin/messages/{failed.id}/retry", data={"csrf": csrf_of(http)})
        assert done.status_code == 303 and done.headers["location"] == "/admin"
        again = http.post(f"/admin/messages/{failed.id}/retry", data={"csrf": csrf_of(http)})
        assert again.status_code == 422 and "повторно можно отправить только" in again.text
    del smtp.sink.refuse[MEMBER]
    send_due(mail_rt)
    assert len(received(smtp, MEMBER)) == 1
    [requeued] = [
        r for r in services.plan_history(mail_rt, plan).records if r.kind == Kind.MAIL_REQUEUED
    ]
    assert requeued.actor == admin


def test_the_calendar_organizer_is_one_encoded_address(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    """An address napflow accepts with "?" in it cannot add header fields to the mailto URI."""
    hostile = "farrukh?cc=spy@evil.example"
    services.revoke_role(mail_rt, plan, COORD, "coordinator")
    services.add_person(mail_rt, hostile, "Farrukh")
    services.grant_role(mail_rt, plan, hostile, "coordinator")
    clock.set(utc(2015, 12, 30, 4))
    services.add_deadline(mail_rt, plan, "approval", "2015-12-31")
    send_due(mail_rt)
    [mail] = received(smtp, MINISTER)
    part = next(p for p in mail.iter_attachments() if p.get_content_type() == "text/calendar")
    [event] = Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")
    assert str(event.get("organizer")) == "mailto:farrukh%3Fcc%3Dspy@evil.example"


def test_a_digest_drops_a_draft_mail_a_newer_draft_replaced_and_lists_todays_actions(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    services.people.edit_person(mail_rt, MEMBER, digest="daily")
    clock.set(utc(2015, 7, 15, 5))
    add_draft(mail_rt, plan, b"Plan v1", "v1.md")
    services.advance_plan(mail_rt, plan, "submit_for_review", COORD)
    services.advance_plan(mail_rt, plan, "endorse", MEMBER)
    add_draft(mail_rt, plan, b"Plan v2", "v2.md")
    send_due(mail_rt)  # the submission notice and the draft-2 mail are held
    add_draft(mail_rt, plan, b"Plan v3", "v3.md")
    services.advance_plan(mail_rt, plan, "endorse", MEMBER)  # on v3, before the digest
    run_until(mail_rt, clock, utc(2015, 7, 16, 12))
    [digest] = received(smtp, MEMBER)
    text = text_of(digest)
    assert "№ 3" in text and "№ 2 " not in text.replace("№ 2,", "")  # v2's mail left out
    assert "Одобрить проект" not in text  # endorsed already: nothing open for them now
    statuses = {
        (m.kind, m.status) for m in services.list_messages(mail_rt) if m.recipient == MEMBER
    }
    assert ("draft", "cancelled") in statuses


def test_a_message_that_cannot_be_written_fails_alone_and_the_digest_goes(
    db_url: str, clock: VirtualClock, smtp: SmtpServer, tmp_path: Path
) -> None:
    source = (Path(__file__).parent.parent / "workflows" / "nap.toml").read_text()
    folder = tmp_path / "flows"
    (folder / "broken").mkdir(parents=True)
    (folder / "broken" / "notice.subject.txt").write_text("{{ no_such_value }}\n")
    (folder / "broken.toml").write_text(
        source.replace('name = "nap"', 'name = "broken"').replace(
            "[drafts]\n", '[mail]\ntemplates = "broken"\n\n[drafts]\n', 1
        )
    )
    rt = mail_runtime(db_url, clock, smtp, workflow_dirs=(folder,))
    try:
        for email in (COORD, MEMBER):
            services.add_person(rt, email, email.split("@")[0], "Asia/Dushanbe")
        services.people.edit_person(rt, MEMBER, digest="daily")
        for key, workflow in (("TJK-1", "nap"), ("TJK-2", "broken")):
            services.create_plan(rt, "TJK", "NAP", workflow=workflow, key=key)
            services.grant_role(rt, key, COORD, "coordinator")
            services.grant_role(rt, key, MEMBER, "wg_member")
        clock.set(utc(2015, 7, 15, 5))
        for key in ("TJK-1", "TJK-2"):
            services.advance_plan(rt, key, "submit_for_review", COORD)
        run_until(rt, clock, utc(2015, 7, 16, 12))
        [digest] = received(smtp, MEMBER)
        assert "[TJK-1]" in text_of(digest) and "[TJK-2]" not in text_of(digest)
        [broken] = services.list_messages(rt, "failed")
        assert broken.plan == "TJK-2" and "no_such_value" in (broken.last_error or "")
        sent = [m for m in services.list_messages(rt, "sent") if m.recipient == MEMBER]
        assert [m.plan for m in sent if m.kind == "notice"] == ["TJK-1"]
    finally:
        rt.db.dispose()


def test_a_message_sent_again_goes_in_todays_digest_not_one_of_its_own_day(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    failed = refused_notice(mail_rt, clock, smtp, plan)
    del smtp.sink.refuse[MEMBER]
    services.people.edit_person(mail_rt, MEMBER, digest="daily")
    clock.set(utc(2015, 8, 5, 6))  # three weeks later, 11:00 in Dushanbe
    services.reminders.retry_message(mail_rt, failed.id)
    run_until(mail_rt, clock, utc(2015, 8, 6, 12))
    [digest] = [m for m in received(smtp, MEMBER) if m["X-Napflow-Kind"] == "digest"]
    assert digest["Date"].datetime == utc(2015, 8, 6, 4)  # the next morning's digest
    assert str(digest["Subject"]).startswith("Сводка napflow за 6 августа 2015 г.")


@pytest.mark.postgresql_only
def test_a_message_held_while_another_dispatcher_sends_the_digest_is_not_stranded(
    mail_rt: Runtime,
    clock: VirtualClock,
    smtp: SmtpServer,
    plan: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two daemons: one holds a message for today's digest as the other would send it."""
    from napflow.services import _digest, dispatch

    services.people.edit_person(mail_rt, MEMBER, digest="daily")
    second = services.create_plan(mail_rt, "TJK", "Second", timezone="Asia/Dushanbe", key="TJK-2")
    services.grant_role(mail_rt, second.key, COORD, "coordinator")
    services.grant_role(mail_rt, second.key, MEMBER, "wg_member")
    clock.set(utc(2015, 7, 15, 3))  # 08:00 in Dushanbe: held, today's digest queued for 09:00
    services.advance_plan(mail_rt, plan, "submit_for_review", COORD)
    send_due(mail_rt)
    clock.set(utc(2015, 7, 15, 3) + timedelta(minutes=59))
    services.advance_plan(mail_rt, second.key, "submit_for_review", COORD)
    clock.set(utc(2015, 7, 15, 4))  # 09:00: the new notice and the digest are both due
    original = _digest.queue_digest
    raced: list[bool] = []

    def racing(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        if not raced:  # the other daemon's pass, while this hold is not committed yet
            raced.append(True)
            beside(mail_rt, send_due, mail_rt)

    monkeypatch.setattr(_digest, "queue_digest", racing)
    dispatch.dispatch_due(mail_rt, limit=1)  # claims the new notice only
    monkeypatch.setattr(_digest, "queue_digest", original)
    run_until(mail_rt, clock, utc(2015, 7, 17))
    mine = [m for m in services.list_messages(mail_rt) if m.recipient == MEMBER]
    assert [m for m in mine if m.status == "held"] == []
    [digest] = [m for m in received(smtp, MEMBER) if m["X-Napflow-Kind"] == "digest"]
    assert "[TJK-2015]" in text_of(digest) and "[TJK-2]" in text_of(digest)


@pytest.mark.postgresql_only
def test_two_administrators_sending_one_message_again_record_it_once(
    mail_rt: Runtime,
    clock: VirtualClock,
    smtp: SmtpServer,
    plan: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from napflow.services import reminders

    failed = refused_notice(mail_rt, clock, smtp, plan)
    original = reminders.update
    raced: list[bool] = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        if not raced:  # the other administrator's click lands between the check and the write
            raced.append(True)
            beside(mail_rt, reminders.retry_message, mail_rt, failed.id, None, "the other")
        return original(*args, **kwargs)

    monkeypatch.setattr(reminders, "update", racing)
    with pytest.raises(RefusedError, match="sent again meanwhile by someone else"):
        reminders.retry_message(mail_rt, failed.id)
    records = services.plan_history(mail_rt, plan).records
    [requeued] = [r for r in records if r.kind == Kind.MAIL_REQUEUED]
    assert requeued.comment == "the other"


def test_a_plans_mail_language_is_set_shown_changed_and_recorded(
    cli: Callable[..., Any],
) -> None:
    assert cli("init").code == 0
    made = cli("plan", "create", "--country", "TJK", "--title", "NAP", "--locale", "ru-RU")
    assert made.code == 0, made.err
    key = made.out.strip()
    assert cli("plan", "show", key, "--format", "json").json()["locale"] == "ru"
    [row] = [line for line in cli("plan", "show", key).out.splitlines() if "language of" in line]
    assert row.split("│")[2].strip() == "ru"
    bad = cli("plan", "edit", key, "--locale", "xx")
    assert bad.code == 2 and bad.err.count("\n") == 1 and "en, ru" in bad.err
    back = cli("plan", "edit", key, "--locale", "")
    assert back.code == 0, back.err
    shown = cli("plan", "show", key, "--format", "json").json()
    assert shown["locale"] is None
    history = cli("history", key).out
    assert "language 'ru' -> ''" in history


def test_napflows_own_writer_gives_the_bytes_the_email_generator_gives(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer, plan: str
) -> None:
    """Every kind of mail, with calendar files, a draft attached, long and Cyrillic headers."""
    from email.generator import BytesGenerator

    from napflow.notifications.mailer import WIRE, flatten
    from napflow.services._messages import PassCache, compose, compose_digest

    services.people.edit_person(mail_rt, CHAIR, digest="daily")
    services.people.edit_person(mail_rt, MINISTER, locale="en")  # a long ASCII subject
    clock.set(utc(2015, 12, 20))
    long_title = "Ministerial approval of the National Action Plan " * 4
    deadline = services.add_deadline(mail_rt, plan, "approval", "2015-12-31", title=long_title)
    add_draft(mail_rt, plan, b"# Plan\n\nExport controls.", "План v1.md")
    services.advance_plan(mail_rt, plan, "submit_for_review", COORD)
    services.advance_plan(mail_rt, plan, "endorse", MEMBER)
    add_draft(mail_rt, plan, b"# Plan\n\nExport controls and rail.", "План v2.md")
    clock.set(utc(2015, 12, 24, 5))
    send_due(mail_rt)  # the reminders of a week before: those reminded hear of the changes
    services.move_deadline(mail_rt, deadline.id, "2016-01-15")
    clock.set(utc(2016, 1, 20))
    services.cancel_deadline(mail_rt, deadline.id)
    with mail_rt.db.read() as conn:  # every message, whatever became of it
        rows = conn.execute(select(outbox)).all()
    kinds = set()
    folded = False
    cache = PassCache()
    for row in rows:
        if row.kind == "digest":
            continue
        message = compose(
            mail_rt, mail_rt.mailer, row, "<x@napflow.example>", clock.now(), True, cache
        )
        written = io.BytesIO()
        BytesGenerator(written, policy=WIRE).flatten(message)
        assert flatten(message) == written.getvalue(), (row.kind, row.rung)
        kinds.add(row.kind)
        subject = str(message["Subject"])  # as set: folded only when written
        folded |= subject.startswith("[TJK-2015] Ministerial") and len(subject) > 78
        if row.recipient == CHAIR:
            from napflow.services._digest import Held

            digest = compose_digest(
                mail_rt, mail_rt.mailer, row, Held([row]), "<d@napflow.example>", clock.now()
            )
            again = io.BytesIO()
            BytesGenerator(again, policy=WIRE).flatten(digest)
            assert flatten(digest) == again.getvalue()
    assert kinds >= {"reminder", "notice", "draft", "change"}
    assert folded  # a subject folded by the email package's own rules went through too
