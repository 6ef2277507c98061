"""Security: the contacts' mailto links in HTML mails carry one address, percent-encoded.

Every HTML mail names the plan's coordinators as contacts, ``<a href="mailto:...">``. An
address is not a URL: ``?`` starts a mailto link's header fields, ``&`` separates them and
``,`` separates recipients, so an address written into the link as it is
(``coord?cc=spy@evil.example``, which napflow's own check accepts: ``coord?cc=spy`` is a
valid local part) made a mail client open a message copied to someone else. Mails go
through a real SMTP server on loopback, on both engines.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from urllib.parse import unquote

from helpers import CHAIR, KEY, MAIL_CAST, REPO, VIEWER, utc
from smtp_sink import SmtpServer
from sqlalchemy import update

from napflow import services
from napflow.clock import VirtualClock
from napflow.runtime import Runtime
from napflow.services.dispatch import send_due
from napflow.storage.schema import people

#: accepted by napflow's own check of addresses (napflow.inputs.email_address)
VALID_BUT_HOSTILE = "farrukh?cc=spy@evil.example"
#: not accepted by it: written straight into the database, as the auditor did
WRITTEN_IN = "deputy@mfa.tj.example?cc=spy@evil.example&bcc=x@evil.example,y@evil.example"
MAILTO = re.compile(r'href="mailto:([^"]*)"')


def mailto_links(message: EmailMessage) -> list[str]:
    part = message.get_body(("html",))
    assert part is not None
    return MAILTO.findall(str(part.get_content()))


def test_napflow_accepts_an_address_with_a_query_in_its_local_part() -> None:
    from napflow.inputs import email_address

    assert email_address(VALID_BUT_HOSTILE) == VALID_BUT_HOSTILE


def test_a_coordinators_address_in_a_mailto_link_adds_no_header_field(
    mail_rt: Runtime, clock: VirtualClock, smtp: SmtpServer
) -> None:
    rt = mail_rt
    for email, (name, _role) in MAIL_CAST.items():
        services.add_person(rt, email, name)
    services.add_person(rt, VALID_BUT_HOSTILE, "Farrukh (second coordinator)")
    services.add_person(rt, "deputy@mfa.tj.example", "Deputy coordinator")
    services.create_plan(rt, "TJK", "National Action Plan", timezone="UTC", key=KEY)
    for email, (_name, role) in MAIL_CAST.items():
        services.grant_role(rt, KEY, email, role)
    services.grant_role(rt, KEY, VALID_BUT_HOSTILE, "coordinator")
    services.grant_role(rt, KEY, "deputy@mfa.tj.example", "coordinator")
    deadline = services.add_deadline(rt, KEY, "approval", "2015-07-10")
    clock.set(utc(2015, 7, 9, 9))
    send_due(rt)  # reminders
    services.advance_plan(rt, KEY, "submit_for_review", VIEWER)
    services.advance_plan(rt, KEY, "request_changes", CHAIR, "Please revise annex B.")
    services.move_deadline(rt, deadline.id, "2015-07-11")
    # the deputy's address, past every input check, once the messages are queued (the
    # recipients are kept with them; the contacts are read as each message is made)
    with rt.db.write() as conn:
        conn.execute(
            update(people).where(people.c.email == "deputy@mfa.tj.example").values(email=WRITTEN_IN)
        )
    send_due(rt)  # the notices of the actions and of the moved deadline
    clock.set(utc(2015, 7, 12, 9))
    send_due(rt)  # escalations
    messages = smtp.sink.messages
    kinds = {str(m["X-Napflow-Kind"]) for m in messages}
    assert kinds == {"reminder", "notice", "change", "escalation"}
    seen: set[str] = set()
    for message in messages:
        links = mailto_links(message)
        where = f"{message['X-Napflow-Kind']} to {message['To']}: {links}"
        assert links, where
        for link in links:
            # one address, no header fields, no second recipient
            assert not set(link) & set("?&=,#"), where
            seen.add(unquote(link))
    assert {VIEWER, VALID_BUT_HOSTILE} <= seen
    assert WRITTEN_IN in seen  # shown whole, as one (odd) address
    assert "farrukh%3Fcc%3Dspy@evil.example" in {
        link for m in messages for link in mailto_links(m)
    }  # the @ stays readable


def test_every_mailto_link_of_the_html_templates_is_encoded() -> None:
    """The draft mail's too, which the test above does not send."""
    links = [
        link
        for template in sorted((REPO / "notifications" / "templates").glob("*.html"))
        for link in MAILTO.findall(template.read_text(encoding="utf-8"))
    ]
    assert len(links) >= 5, links  # change, draft, escalation, notice, reminder
    assert all("|urlencode" in link for link in links), links
