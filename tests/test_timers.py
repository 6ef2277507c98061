"""Timer transitions: the 1540 Committee's no-objection procedure (workflows/
committee_review.toml) accepts a plan by itself when its 60-day review window ends without
an objection: at the end of that day in the plan's zone, once, even with two scheduler
daemons, on both engines; shown beforehand by `reminders preview`, `timers list` and
`simulate`; refused when an expert objected; judged by `audit verify`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import Result, daemon_env, mail_runtime
from smtp_sink import SmtpServer
from sqlalchemy import func, select

from napflow import services
from napflow.clock import VirtualClock
from napflow.runtime import Runtime
from napflow.services.dispatch import send_due
from napflow.storage.schema import history, plans, timers

KEY = "TJK-C-2016"
FOCAL, CHAIR = "focal@mfa.tj.example", "chair@un1540.example"
EXPERTS = ["e1@un1540.example", "e2@un1540.example", "e3@un1540.example"]
#: submitted on 15 February 2016 at 10:00 in Dushanbe (UTC+5)
SUBMITTED = datetime(2016, 2, 15, 5, 0, tzinfo=UTC)
#: the 60-day window ends on 15 April 2016 at 23:59:59 in Dushanbe: 18:59:59 UTC
WINDOW_ENDS = datetime(2016, 4, 15, 18, 59, 59, tzinfo=UTC)
Cli = Callable[..., Result]


@pytest.fixture
def review(db_url: str, clock: VirtualClock, smtp: SmtpServer) -> Iterator[Runtime]:
    """The plan in the Committee's review since SUBMITTED, its experts and chair on it."""
    clock.set(SUBMITTED - timedelta(days=14))
    rt = mail_runtime(db_url, clock, smtp)
    for email in [FOCAL, CHAIR, *EXPERTS]:
        services.add_person(rt, email, email.split("@")[0].title())
    services.create_plan(
        rt, "TJK", "Plan", workflow="committee_review", timezone="Asia/Dushanbe", key=KEY
    )
    services.grant_role(rt, KEY, FOCAL, "focal_point")
    services.grant_role(rt, KEY, CHAIR, "chair")
    for email in EXPERTS:
        services.grant_role(rt, KEY, email, "expert")
    clock.set(SUBMITTED)
    services.advance_plan(rt, KEY, "submit", FOCAL)
    yield rt
    rt.db.dispose()


def by_itself(rt: Runtime) -> list[tuple[str, str | None, str | None]]:
    """The records of transitions no person made: (trigger, from, to)."""
    with rt.db.read() as conn:
        rows = conn.execute(
            select(history.c.trigger, history.c.from_state, history.c.to_state)
            .join(plans, plans.c.id == history.c.plan_id)
            .where(plans.c.key == KEY, history.c.kind == "transition", history.c.actor.is_(None))
        ).all()
    return [tuple(r) for r in rows]


def test_no_objection_accepts_the_plan_at_the_end_of_the_window_in_its_zone(
    review: Runtime, clock: VirtualClock, smtp: SmtpServer, cli: Cli
) -> None:
    pending = services.timers.list_timers(review)
    assert [(t.plan, t.trigger, t.due_at, t.to_state) for t in pending] == [
        (KEY, "accept_without_objection", WINDOW_ENDS, "accepted")
    ]
    # shown beforehand, in the plan's time
    clock.set(WINDOW_ENDS - timedelta(days=3))
    preview = cli("reminders", "preview", "--days", "7")
    assert "Done by napflow itself in the next 7 days" in preview.out
    assert "2016-04-15 23:59 +0500" in preview.out and "Accept without objection" in preview.out
    listed = json.loads(cli("timers", "list", "--format", "json").out)
    assert [(t["plan"], t["status"]) for t in listed] == [(KEY, "pending")]
    services.advance_plan(review, KEY, "recommend", EXPERTS[0])  # not enough to accept
    # a second before the end of the window: nothing
    clock.set(WINDOW_ENDS - timedelta(seconds=1))
    send_due(review)
    assert services.show_plan(review, KEY).state == "committee_review"
    assert by_itself(review) == []
    # at the end of it: accepted, by napflow, once
    clock.set(WINDOW_ENDS)
    send_due(review)
    send_due(review)
    assert services.show_plan(review, KEY).state == "accepted"
    assert by_itself(review) == [("accept_without_objection", "committee_review", "accepted")]
    records = services.plan_history(review, KEY).records
    record = next(r for r in records if r.trigger == "accept_without_objection")
    assert (record.actor, record.role) == (None, None)
    assert record.payload == {"timer": {"on_missed": "review_window"}}
    assert "its deadline review_window having passed" in record.detail
    # its notice went to everyone on the plan, at once (urgent)
    told = {m["To"].addresses[0].addr_spec for m in smtp.sink.messages if KEY in m["Subject"]}
    assert {FOCAL, CHAIR, *EXPERTS} <= told
    assert [t.status for t in services.timers.list_timers(review, None)] == ["fired"]
    assert cli("audit", "verify").code == 0


def test_an_objection_keeps_the_plan_for_the_chair(
    review: Runtime, clock: VirtualClock, cli: Cli
) -> None:
    services.advance_plan(review, KEY, "object", EXPERTS[1], "Paragraph 3 is unclear.")
    clock.set(WINDOW_ENDS)
    send_due(review)
    assert services.show_plan(review, KEY).state == "committee_review"
    assert by_itself(review) == []
    found = services.timers.list_timers(review, "refused")
    assert len(found) == 1 and "it is not allowed while at least 1 expert did object" in (
        found[0].note or ""
    )
    # the chair decides: a return, then a new submission starts a new window
    services.advance_plan(review, KEY, "return_for_revision", CHAIR, "Clarify paragraph 3.")
    assert services.timers.list_timers(review) == []
    services.advance_plan(review, KEY, "submit", FOCAL)
    again = services.timers.list_timers(review)
    assert len(again) == 1 and again[0].due_at > WINDOW_ENDS + timedelta(days=59)
    assert cli("audit", "verify").code == 0


def test_a_timer_transition_is_no_ones_to_fire(review: Runtime, cli: Cli) -> None:
    refused = cli("advance", KEY, "accept_without_objection", "--as", CHAIR)
    assert refused.code == 1 and "napflow does this by itself, in time" in refused.err
    assert "accept_without_objection" not in services.show_plan(review, KEY, CHAIR).allowed


def test_a_transition_by_nobody_out_of_time_is_named_by_the_replay(
    review: Runtime, cli: Cli
) -> None:
    from napflow.services._records import append, load_plan

    with review.db.write() as conn:  # sealed through napflow's own append, 2 months early
        plan = load_plan(conn, KEY)
        append(
            conn,
            plan,
            audit_key=review.secrets.audit_key,
            kind="transition",
            at=review.clock.now(),
            trigger="accept",
            to_state="accepted",
        )
    found = cli("audit", "verify")
    assert found.code == 1
    assert "accept by None: an action without an actor" in found.out


def test_simulate_shows_it_beforehand(review: Runtime, cli: Cli, tmp_path: Path) -> None:
    shown = cli(
        "simulate", "--from", "2016-04-01", "--to", "2016-04-30",
        "--out", str(tmp_path / "mail"), "--format", "json",
    )  # fmt: skip
    assert shown.code == 0, shown.err
    events = json.loads(shown.out)
    timer = [e for e in events if e["kind"] == "timer"]
    assert [(t["plan"], t["local_time"], t["recipient"]) for t in timer] == [
        (KEY, "2016-04-15 23:59 +05", "")
    ]
    assert "Accept without objection (committee_review -> accepted)" in timer[0]["subject"]
    # the notices it causes follow it in the simulation's mail
    after = [e for e in events if e["kind"] == "notice" and e["sent_at"] >= timer[0]["sent_at"]]
    assert {e["recipient"] for e in after} >= {FOCAL, CHAIR}
    # and nothing happened for real
    assert services.show_plan(review, KEY).state == "committee_review"


def test_two_daemons_fire_it_once(
    review: Runtime, db_url: str, smtp: SmtpServer, tmp_path: Path
) -> None:
    """Two scheduler daemons on the real clock: the window (2016) ended long ago."""
    env = daemon_env(db_url, smtp)
    daemons, logs = [], []
    for n in range(2):
        log = (tmp_path / f"daemon-{n}.log").open("w")
        logs.append(log)
        daemons.append(
            subprocess.Popen(
                [sys.executable, "-m", "napflow", "scheduler"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if services.show_plan(review, KEY).state == "accepted":
                break
            time.sleep(0.2)
        time.sleep(3)  # both daemons have passed again since
    finally:
        for daemon in daemons:
            daemon.terminate()
        for daemon in daemons:
            daemon.wait(timeout=30)
        for log in logs:
            log.close()
    assert services.show_plan(review, KEY).state == "accepted"
    assert by_itself(review) == [("accept_without_objection", "committee_review", "accepted")]
    with review.db.read() as conn:
        fired = conn.execute(
            select(func.count()).select_from(timers).where(timers.c.status == "fired")
        ).scalar_one()
    assert fired == 1
    ids = [m["Message-ID"] for m in smtp.sink.messages]
    assert len(ids) == len(set(ids)) and len(ids) >= 5  # each notice sent once
    assert services.audit.verify_ledger(review).ok


def test_the_api_lists_the_timers_the_caller_sees(review: Runtime) -> None:
    from fastapi.testclient import TestClient

    from napflow.services.accounts import create_api_token
    from napflow.web import create_app

    services.add_person(review, "stranger@example.org", "Stranger")
    chair = {"Authorization": f"Bearer {create_api_token(review, CHAIR)}"}
    stranger = {"Authorization": f"Bearer {create_api_token(review, 'stranger@example.org')}"}
    with TestClient(create_app(review)) as http:
        page = http.get("/api/v1/timers", headers=chair).json()
        assert [(t["plan"], t["trigger"], t["due_at"]) for t in page["items"]] == [
            (KEY, "accept_without_objection", "2016-04-15T18:59:59Z")
        ]
        assert http.get("/api/v1/timers", headers=stranger).json()["items"] == []
        bad = http.get("/api/v1/timers?status=soon", headers=chair)
        assert bad.status_code == 400 and "There is no timer status 'soon'" in bad.json()["detail"]


def test_the_mails_name_the_contacts_the_workflow_declares(
    review: Runtime, clock: VirtualClock, smtp: SmtpServer
) -> None:
    """committee_review declares contacts = ["chair", "focal_point"]: a reminder to an
    expert asks them to turn to the Chair (the NAP's coordinator, else its working-group
    chair, are the default of a workflow that declares none)."""
    clock.set(WINDOW_ENDS - timedelta(days=14))
    send_due(review)
    reminders = [m for m in smtp.sink.messages if m["X-Napflow-Kind"] == "reminder"]
    assert reminders
    text = reminders[0].get_body(("plain",)).get_content()
    assert "Questions: reply to this message; your reply goes to Chair." in text
    assert {a.addr_spec for a in reminders[0]["Reply-To"].addresses} == {CHAIR}


def _at_once(runtimes: list[Runtime]) -> list[BaseException]:
    """Run a scheduler pass of each runtime in a thread of its own, all at once."""
    import threading

    start = threading.Barrier(len(runtimes))
    errors: list[BaseException] = []

    def run(rt: Runtime) -> None:
        try:
            start.wait()
            send_due(rt)
        except BaseException as exc:
            errors.append(exc)
        finally:
            rt.db.dispose_thread()

    threads = [threading.Thread(target=run, args=(rt,)) for rt in runtimes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_two_schedulers_at_the_very_second_fire_it_once(
    review: Runtime, db_url: str, clock: VirtualClock, smtp: SmtpServer
) -> None:
    """Two scheduler passes of two processes' runtimes, at once, on the virtual clock: not
    a second early, exactly once at the end of the window."""
    other = mail_runtime(db_url, clock, smtp)
    try:
        clock.set(WINDOW_ENDS - timedelta(seconds=1))
        assert _at_once([review, other]) == []
        assert by_itself(review) == []
        clock.set(WINDOW_ENDS)
        assert _at_once([review, other]) == []
        assert by_itself(review) == [("accept_without_objection", "committee_review", "accepted")]
        assert services.show_plan(review, KEY).state == "accepted"
        ids = [m["Message-ID"] for m in smtp.sink.messages]
        assert len(ids) == len(set(ids))
    finally:
        other.db.dispose()


def test_a_timer_that_cannot_be_fired_holds_up_nothing(
    review: Runtime, clock: VirtualClock, smtp: SmtpServer
) -> None:
    """A plan pointed by hand at a workflow version napflow does not have: its timer is
    refused with the reason, and the pass goes on to the mail (this plan's own messages
    fail, each with its reason, as they would without the timer)."""
    from sqlalchemy import update

    with review.db.write() as conn:
        conn.execute(update(plans).where(plans.c.key == KEY).values(workflow_version=42))
    clock.set(WINDOW_ENDS)
    result = send_due(review)
    refused = services.timers.list_timers(review, "refused")
    assert len(refused) == 1
    assert "Workflow committee_review v42 is not stored in this database" in (refused[0].note or "")
    assert result.claimed > 0 and result.claimed == result.sent + result.failed
    assert services.timers.list_timers(review) == []  # nothing left pending to retry forever


def test_the_plan_page_says_what_napflow_will_do_and_when(review: Runtime) -> None:
    from helpers import PASSWORD, log_in, web_client

    from napflow.services import accounts

    accounts.set_password(review, CHAIR, PASSWORD)
    with web_client(review) as http:
        log_in(http, CHAIR)
        page = http.get("/plans/" + KEY).text
        assert (
            'On 2016-04-15 23:59 (Asia/Dushanbe) napflow will do "Accept without objection" by '
            "itself, if its conditions hold then."
        ) in page.replace("&#34;", '"').replace("&quot;", '"')
        # a quorum of two thirds: the page's round progress and the chair's My work say
        # how many of how many did what, and whom they wait for
        services.advance_plan(review, KEY, "recommend", EXPERTS[0])
        assert http.get("/plans/" + KEY).status_code == 200
        work = http.get("/").text.replace("&#34;", '"').replace("&quot;", '"')
        assert '1 of 3 did "Recommend acceptance"; waiting for E2 and E3' in work
        ru = http.get("/plans/" + KEY, headers={"Accept-Language": "ru"}).text
        assert (
            "система napflow автоматически выполнит действие «Принять в отсутствие возражений»"
            in ru
        )
