"""A mail server that misbehaves on purpose: nothing is lost, nothing is sent twice.

The server (aiosmtpd on loopback) first refuses connections (it is down), then hangs up in
the middle of DATA, answers 421, 451 and 452, stalls past the client's time-out, refuses
two recipients for good (550, 553), and then recovers. The dispatcher runs pass after pass,
the clock moved on to each retry: at the end every message is either sent, exactly once,
or failed with the server's own answer, and the plan's history says which.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import START, mail_runtime, queue_notices
from smtp_sink import DROP, STALL, SmtpServer

from napflow import services
from napflow.clock import VirtualClock
from napflow.runtime import Runtime
from napflow.services.dispatch import send_due

EXPERTS = 12
GONE, BAD = "expert3@example.org", "expert7@example.org"


@pytest.fixture
def faulty_rt(db_url: str, clock: VirtualClock, smtp: SmtpServer) -> Iterator[Runtime]:
    """A runtime sending through the test's server, giving up on an answer after 1 s."""
    runtime = mail_runtime(db_url, clock, smtp, smtp_timeout_s=1)
    yield runtime
    runtime.db.dispose()


def notices(rt: Runtime, key: str) -> list[services.MessageView]:
    return [m for m in services.list_messages(rt, key=key) if m.kind == "notice"]


def drain(rt: Runtime, clock: VirtualClock, key: str) -> int:
    """Run passes, the clock moved to each retry, until nothing is pending; return passes."""
    for passes in range(1, 40):
        pending = [m for m in notices(rt, key) if m.status == "pending"]
        if not pending:
            return passes
        clock.set(max(clock.now(), min(m.next_attempt_at for m in pending)))
        send_due(rt)
    raise AssertionError("messages still pending after 40 passes")


@pytest.mark.slow
def test_every_message_ends_sent_once_or_failed_with_the_servers_answer(
    faulty_rt: Runtime, clock: VirtualClock, smtp: SmtpServer
) -> None:
    clock.set(START)
    smtp.stop()  # the server is down: connections are refused
    key = queue_notices(faulty_rt, EXPERTS)
    first = send_due(faulty_rt)
    assert (first.claimed, first.retrying, first.sent) == (EXPERTS, EXPERTS, 0)
    assert all("Connection refused" in (m.last_error or "") for m in notices(faulty_rt, key))

    smtp.start()  # back, and misbehaving
    smtp.sink.data_replies = [
        DROP,
        "421 4.3.2 Service shutting down",
        "451 4.3.0 Local error in processing",
        "452 4.3.1 Insufficient system storage",
        f"{STALL}3",
    ]
    smtp.sink.refuse = {GONE: "550 5.1.1 Mailbox unavailable", BAD: "553 5.1.3 Bad address"}
    drain(faulty_rt, clock, key)

    final = {m.recipient: m for m in notices(faulty_rt, key)}
    assert len(final) == EXPERTS
    assert {r: m.status for r, m in final.items() if m.status != "sent"} == {
        GONE: "failed",
        BAD: "failed",
    }
    assert final[GONE].last_error == "550 5.1.1 Mailbox unavailable"
    assert final[BAD].last_error == "553 5.1.3 Bad address"
    # one attempt each in the outage, one more each after it, and one per scripted fault
    assert sum(m.attempts for m in final.values()) == 2 * EXPERTS + 5
    ids = smtp.sink.ids()
    assert len(ids) == len(set(ids)) == EXPERTS - 2  # each delivered message arrived once
    assert sorted(to for _, tos in smtp.sink.envelopes for to in tos) == sorted(
        r for r, m in final.items() if m.status == "sent"
    )
    history = services.plan_history(faulty_rt, key).records
    delivered = [r.payload for r in history if r.kind == "mail_sent"]
    failed = [r.payload for r in history if r.kind == "mail_failed"]
    assert len(delivered) == EXPERTS - 2
    assert sorted((p or {})["error"] for p in failed) == [
        "550 5.1.1 Mailbox unavailable",
        "553 5.1.3 Bad address",
    ]
