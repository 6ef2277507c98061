"""Security: the contacts a mail names are reached by replying, one address each.

Every mail names the plan's coordinators as the people to ask, and its Reply-To header
carries their addresses (mailto links, which an earlier version used, are gone). An
address is not a URL and not a list: ``?`` starts a mailto link's header fields and ``,``
separates recipients, so an address written as it is (``coord?cc=spy@evil.example``, which
napflow's own check accepts: ``coord?cc=spy`` is a valid local part) once made a mail
client open a message copied to someone else, and an address written straight into the
database with commas in it would make a reply go to several. Mails go through a real SMTP
server on loopback, on both engines.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import getaddresses

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
MAILTO = re.compile(r"mailto:", re.IGNORECASE)


def reply_to(message: EmailMessage) -> list[str]:
    """Return the addresses a reply to ``message`` goes to, as a mail client reads them."""
    return [address for _name, address in getaddresses([str(message["Reply-To"] or "")])]


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
        html = message.get_body(("html",))
        assert html is not None and not MAILTO.search(str(html.get_content()))
        found = reply_to(message)
        where = f"{message['X-Napflow-Kind']} to {message['To']}: {found}"
        assert found, where
        assert str(message["To"].addresses[0].addr_spec) not in found, where  # never themselves
        seen.update(found)
    # the registered coordinators, each one address (the deputy's before it was written
    # over); the one written in by hand, which is no address, is named nowhere and adds
    # nobody to a reply
    assert {VIEWER, VALID_BUT_HOSTILE} <= seen
    assert seen <= {VIEWER, VALID_BUT_HOSTILE, CHAIR, "deputy@mfa.tj.example"}
    assert WRITTEN_IN not in seen
    assert not any("bcc" in address or address.startswith("y@") for address in seen)


def test_no_html_template_links_to_an_address() -> None:
    """Contacts are reached by replying: no template writes a mailto link (the draft's too)."""
    templates = sorted((REPO / "notifications" / "templates").glob("*.html"))
    assert len(templates) >= 6, templates  # change, digest, draft, escalation, notice, reminder
    linked = [t.name for t in templates if MAILTO.search(t.read_text(encoding="utf-8"))]
    assert linked == []
