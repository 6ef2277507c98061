"""The Tajikistan story with its drafts, and the mails about drafts: who is told, what.

Both engines; mail goes through a real SMTP server on loopback, the bundle through the CLI.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from helpers import Result, blank_pdf, docx_bytes, flip_byte_in_zip, mail_runtime
from smtp_sink import SmtpServer

from napflow import services
from napflow.clock import VirtualClock
from napflow.errors import NotAllowedError
from napflow.runtime import Runtime
from napflow.services.dispatch import send_due

PEOPLE = {
    "coord@mfa.tj.example": ("Farrukh Rahimov", "coordinator"),
    "chair@president.tj.example": ("Sitora Nazarova", "wg_chair"),
    "member@customs.tj.example": ("Alisher Sharipov", "wg_member"),
    "expert@osce.example": ("Eva Huber", "expert"),
    "minister@mfa.tj.example": ("Minister of Foreign Affairs", "approver"),
}
COORD, CHAIR, MEMBER, EXPERT, MINISTER = PEOPLE
KEY = "TJK-2015"
BASE = "http://127.0.0.1:8000"
V1 = docx_bytes("Export controls: the control list of 2014.", "Annex B: border posts.")
V2 = docx_bytes("Export controls: the control list of 2015.", "Annex B: border posts and rail.")
V3 = docx_bytes("Export controls: the control list of 2015.", "Annex B and C: border posts, rail.")
SHA = {n: hashlib.sha256(v).hexdigest() for n, v in ((1, V1), (2, V2), (3, V3))}


def at(month: int, day: int, hour: int = 6) -> datetime:
    return datetime(2015, month, day, hour, tzinfo=UTC)


def mails(smtp: SmtpServer, to: str, kind: str | None = None) -> list[EmailMessage]:
    """Return the mails to ``to`` (of one ``kind``: "draft", "notice", ...)."""
    return [
        m
        for m in smtp.sink.messages
        if to in str(m["To"]) and (kind is None or m["X-Napflow-Kind"] == kind)
    ]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def attached(message: EmailMessage) -> dict[str, bytes]:
    return {
        str(p.get_filename()): bytes(p.get_payload(decode=True))  # type: ignore[arg-type]
        for p in message.iter_attachments()
    }


def add(rt: Runtime, data: bytes, name: str, note: str | None = None) -> int:
    return services.drafts.add_draft(rt, KEY, io.BytesIO(data), name, COORD, note).version


@pytest.fixture
def plan(mail_rt: Runtime) -> str:
    for email, (name, _role) in PEOPLE.items():
        services.add_person(mail_rt, email, name, "Asia/Dushanbe")
    services.create_plan(mail_rt, "TJK", "National Action Plan", timezone="Asia/Dushanbe", key=KEY)
    for email, (_name, role) in PEOPLE.items():
        services.grant_role(mail_rt, KEY, email, role)
    return KEY


def test_the_tajikistan_story_binds_every_action_to_the_draft_it_was_taken_on(
    mail_rt: Runtime,
    plan: str,
    clock: VirtualClock,
    smtp: SmtpServer,
    cli: Callable[..., Result],
    tmp_path: Path,
) -> None:
    rt = mail_rt
    act = services.advance_plan
    assert add(rt, V1, "NAP Tajikistan v1.docx") == 1
    act(rt, KEY, "submit_for_review", COORD)
    clock.set(at(7, 29))  # the working-group review in Dushanbe
    act(rt, KEY, "endorse", CHAIR, draft=1)
    act(rt, KEY, "endorse", MEMBER, draft=1)
    clock.set(at(7, 30))
    assert add(rt, V2, "NAP Tajikistan v2.docx", "Rail added after the session") == 2
    send_due(rt)

    # the two endorsements of v1 stopped counting: the draft cannot go to the experts yet
    with pytest.raises(NotAllowedError, match="endorse"):
        act(rt, KEY, "send_to_experts", COORD)
    for endorser in (CHAIR, MEMBER):
        (told,) = mails(smtp, endorser, "draft")
        assert told["Subject"] == (
            f"[{KEY}] Draft v2 replaces v1 (Working-group review): please act on it again"
        )
        body = text_of(told)
        assert 'You did "Endorse the draft for the working group" on draft v1' in body
        assert "the round started again on v2" in body
        assert "Rail added after the session" in body
        assert "What changed from v1 to v2: 4 words inserted, 2 deleted" in body
        assert (  # each passage indented as a whole, its words as they changed
            "  Export controls: the control list of [-2014.-]{+2015.+}\n"
            "  Annex B: border [-posts.-]{+posts and rail.+}\n"
        ) in body
        assert f"The whole comparison: {BASE}/plans/{KEY}/drafts/1/diff/2" in body
        assert f"The new draft: {BASE}/plans/{KEY}/drafts/2 (also attached to this mail)" in body
        assert SHA[2] in body
        html = html_of(told)
        assert f'href="{BASE}/plans/{KEY}/drafts/1/diff/2"' in html
        assert "<del" in html and ">2014.</del>" in html and ">2015.</ins>" in html
        assert attached(told) == {"NAP Tajikistan v2.docx": V2}
    assert not mails(smtp, COORD)  # the one who added it is not told of it (nor of theirs)

    act(rt, KEY, "endorse", CHAIR, draft=2)
    act(rt, KEY, "endorse", MEMBER, draft=2)
    act(rt, KEY, "send_to_experts", COORD, draft=2)
    send_due(rt)
    (sent,) = mails(smtp, EXPERT)
    assert "This was done on draft v2, NAP Tajikistan v2.docx" in text_of(sent)
    assert attached(sent) == {"NAP Tajikistan v2.docx": V2}

    clock.set(at(10, 9))  # the follow-up session in Vienna
    act(rt, KEY, "return_with_comments", EXPERT, "Name the licensing authority.", draft=2)
    assert add(rt, V3, "NAP Tajikistan v3.docx") == 3
    act(rt, KEY, "submit_for_review", COORD, draft=3)
    act(rt, KEY, "endorse", CHAIR, draft=3)
    act(rt, KEY, "endorse", MEMBER, draft=3)
    act(rt, KEY, "send_to_experts", COORD, draft=3)
    act(rt, KEY, "endorse", EXPERT, draft=3)
    act(rt, KEY, "submit_for_approval", COORD, draft=3)
    clock.set(at(12, 28))
    act(rt, KEY, "approve", MINISTER, draft=3)
    send_due(rt)

    approval = [m for m in mails(smtp, COORD) if "Approve the plan" in str(m["Subject"])]
    assert len(approval) == 1
    body = text_of(approval[0])
    assert 'did "Approve the plan"' in body
    assert "This was done on draft v3, NAP Tajikistan v3.docx" in body
    assert f"SHA-256 {SHA[3]}" in " ".join(body.split())
    assert f"The plan in napflow: {BASE}/plans/{KEY}" in body
    assert len([m for m in mails(smtp, CHAIR) if "Approve the plan" in str(m["Subject"])]) == 1

    # the history names the draft of every action, and approval the very bytes of v3
    history = services.plan_history(rt, KEY).records
    acted = [
        (r.trigger, r.actor, (r.payload or {})["draft"]["version"])
        for r in history
        if r.kind in ("action", "transition")
    ]
    assert acted == [
        ("submit_for_review", COORD, 1),
        ("endorse", CHAIR, 1),
        ("endorse", MEMBER, 1),
        ("endorse", CHAIR, 2),
        ("endorse", MEMBER, 2),
        ("send_to_experts", COORD, 2),
        ("return_with_comments", EXPERT, 2),
        ("submit_for_review", COORD, 3),
        ("endorse", CHAIR, 3),
        ("endorse", MEMBER, 3),
        ("send_to_experts", COORD, 3),
        ("endorse", EXPERT, 3),
        ("submit_for_approval", COORD, 3),
        ("approve", MINISTER, 3),
    ]
    approved = next(r for r in history if r.trigger == "approve")
    assert approved.payload == {"draft": {"version": 3, "sha256": SHA[3]}}
    assert approved.detail == "on draft v3"
    shown = cli("history", KEY)
    assert shown.code == 0 and "on draft v3" in shown.out and "draft v2 added" in shown.out

    # the bundle with the drafts verifies, and no longer once one byte of v2 changed
    bundle = tmp_path / "TJK-2015.zip"
    assert cli("audit", "export", KEY, "--with-drafts", "--out", str(bundle)).code == 0
    verified = cli("audit", "verify", "--bundle", str(bundle))
    assert verified.code == 0, verified.out
    changed = tmp_path / "changed.zip"
    v2_name = f"drafts/{SHA[2]}"
    flip_byte_in_zip(bundle, changed, v2_name, 100)
    refused = cli("audit", "verify", "--bundle", str(changed))
    assert refused.code == 1
    assert "the file of draft v2 no longer matches its sealed digest" in refused.out


def cast(rt: Runtime) -> None:
    """The people of PEOPLE on plan KEY, each in their role."""
    for email, (name, _role) in PEOPLE.items():
        services.add_person(rt, email, name, "Asia/Dushanbe")
    services.create_plan(rt, "TJK", "National Action Plan", key=KEY)
    for email, (_name, role) in PEOPLE.items():
        services.grant_role(rt, KEY, email, role)


def endorsed(rt: Runtime, first: bytes, name: str = "v1.docx") -> None:
    """``first`` as v1, in working-group review, endorsed by the chair and the member."""
    add(rt, first, name)
    services.advance_plan(rt, KEY, "submit_for_review", COORD)
    services.advance_plan(rt, KEY, "endorse", CHAIR)
    services.advance_plan(rt, KEY, "endorse", MEMBER)


def test_a_draft_is_attached_up_to_the_mail_limit_and_linked_beyond(
    db_url: str, clock: VirtualClock, smtp: SmtpServer
) -> None:
    rt = mail_runtime(db_url, clock, smtp, mail_attach_max_mb=1, base_url="https://nap.mfa.tj")
    try:
        cast(rt)
        small = b"# Plan\n\n" + b"Export controls. " * 61_500  # just under 1 MiB
        large = small + b"Annex C. " * 1_000  # just over
        assert len(small) < 1 << 20 < len(large)
        endorsed(rt, small, "v1.md")
        add(rt, large, "v2.md")
        send_due(rt)
        (told,) = mails(smtp, MEMBER, "draft")
        assert attached(told) == {}
        body = text_of(told)
        assert f"The new draft: https://nap.mfa.tj/plans/{KEY}/drafts/2\n" in body
        assert "attached" not in body
        # 123,000 words: compared on the web page, not by the dispatcher
        assert "v2: the drafts are too long to summarise in a mail; see the comparison." in body
        services.advance_plan(rt, KEY, "endorse", MEMBER)
        add(rt, small, "v3.md")
        send_due(rt)
        assert attached(mails(smtp, MEMBER, "draft")[-1]) == {"v3.md": small}
    finally:
        rt.db.dispose()


def test_drafts_without_text_are_mailed_with_the_reason(
    mail_rt: Runtime, plan: str, smtp: SmtpServer
) -> None:
    endorsed(mail_rt, blank_pdf(), "scan v1.pdf")
    second = blank_pdf().replace(b"%%EOF", b"%%EOF\n%% scanned again")
    add(mail_rt, second, "scan v2.pdf")
    send_due(mail_rt)
    assert not services.list_messages(mail_rt, "failed")  # the mail went out
    (told,) = mails(smtp, MEMBER, "draft")
    assert (
        "What changed from v1 to v2: v1 (scan v1.pdf) cannot be compared word by word: it "
        "holds no text"
    ) in text_of(told)
    assert attached(told) == {"scan v2.pdf": second}


def test_a_long_russian_file_name_reaches_the_reader_whole(
    mail_rt: Runtime, plan: str, smtp: SmtpServer
) -> None:
    name = ("Национальный план действий по выполнению резолюции 1540 " * 5)[:250] + ".docx"
    endorsed(mail_rt, V1)
    add(mail_rt, V2, name)
    send_due(mail_rt)
    (told,) = mails(smtp, MEMBER, "draft")  # the server took it: no line over 998 characters
    assert attached(told) == {name: V2}
    subject_safe = "=?" + "utf-8?q?invoice.pdf?="  # a name a reader would decode
    services.advance_plan(mail_rt, KEY, "endorse", MEMBER)
    add(mail_rt, V3, subject_safe)
    send_due(mail_rt)
    assert attached(mails(smtp, MEMBER, "draft")[-1]) == {subject_safe: V3}


def test_who_is_told_of_a_new_draft(
    mail_rt: Runtime, plan: str, smtp: SmtpServer, clock: VirtualClock
) -> None:
    endorsed(mail_rt, V1)
    services.revoke_role(mail_rt, KEY, CHAIR, "wg_chair")  # no longer endorses for the group
    services.grant_role(mail_rt, KEY, CHAIR, "observer")
    add(mail_rt, V2, "v2.docx")
    # v3 before anyone read the mail about v2: that one is not sent, the member is told of
    # v3, what changed since v1, the draft they endorsed
    add(mail_rt, V3, "v3.docx")
    send_due(mail_rt)
    assert mails(smtp, CHAIR, "draft") == [] and mails(smtp, COORD) == []
    (told,) = mails(smtp, MEMBER, "draft")
    assert told["Subject"].startswith(f"[{KEY}] Draft v3 replaces v1 (Working-group review)")
    assert f"{BASE}/plans/{KEY}/drafts/1/diff/3" in text_of(told)
    statuses = sorted((m.recipient, m.status) for m in services.list_messages(mail_rt))
    assert (MEMBER, "cancelled") in statuses and (MEMBER, "sent") in statuses
    # v4 after the mail about v3 went out, the member still not acting: told again
    add(mail_rt, V1, "v4.docx")
    send_due(mail_rt)
    assert mails(smtp, MEMBER, "draft")[-1]["Subject"].startswith(f"[{KEY}] Draft v4 replaces v1")
    assert len(mails(smtp, MEMBER, "draft")) == 2


def test_many_changes_are_summarised_and_the_rest_left_to_the_web(
    mail_rt: Runtime, plan: str, smtp: SmtpServer
) -> None:
    words = [f"clause{i}" for i in range(400)]
    endorsed(mail_rt, " ".join(words).encode(), "v1.md")
    for i in range(0, 400, 50):  # eight changes far apart
        words[i] = f"CHANGED{i}"
    add(mail_rt, " ".join(words).encode(), "v2.md")
    send_due(mail_rt)
    body = text_of(mails(smtp, MEMBER, "draft")[0])
    assert "8 words inserted, 8 deleted" in body
    assert body.count("{+CHANGED") == 5
    assert "... and more: see the whole comparison." in body
