"""Login limits: guesses are counted even when they arrive at once, people are not.

Every login attempt is recorded before its password is checked. Failed ones count toward
the limits (MAX_FAILURES per address and client, CLIENT_FAILURES per client); attempts
still being checked hold the ones after them back until they end, so a burst of guesses
cannot slip past a limit and a burst of people logging in from one office address is not
refused for the others' attempts in progress.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, update

from napflow.clock import VirtualClock
from napflow.errors import NotAuthenticatedError, RateLimitedError
from napflow.runtime import Runtime
from napflow.services import accounts, people
from napflow.services.demo import DEMO_PASSWORD
from napflow.storage.schema import login_failures

CHAIR = "s.nazarova@president.tj.example"
OFFICE = "203.0.113.7"  # one NAT address in front of a whole ministry


def attempt(rt: Runtime, email: str, password: str, client: str = OFFICE) -> str:
    """One login, as the web app makes it: 'in', 'wrong', or the rate limit's message."""
    try:
        accounts.log_in(rt, email, password, client)
    except NotAuthenticatedError:
        return "wrong"
    except RateLimitedError as exc:
        return exc.message
    finally:
        rt.db.dispose_thread()
    return "in"


def all_at_once(rt: Runtime, logins: list[tuple[str, str]]) -> list[str]:
    """Make the logins from OFFICE in as many threads, released together."""
    start = threading.Barrier(len(logins))

    def one(login: tuple[str, str]) -> str:
        start.wait()
        return attempt(rt, *login)

    with ThreadPoolExecutor(len(logins)) as pool:
        return list(pool.map(one, logins))


def staff(rt: Runtime, count: int) -> list[str]:
    emails = [f"officer{n}@mfa.tj.example" for n in range(count)]
    for n, email in enumerate(emails):
        people.add_person(rt, email, f"Officer {n}")
    accounts.set_demo_passwords(rt, emails, DEMO_PASSWORD)
    return emails


def recorded(rt: Runtime) -> tuple[int, int]:
    """Attempts on record: (failed, still being checked)."""
    with rt.db.read() as conn:
        pending = login_failures.c.pending
        failed, running = conn.execute(
            select(func.count().filter(~pending), func.count().filter(pending))
        ).one()
    return int(failed), int(running)


TOO_MANY_FAILED = "Too many failed logins; try again in 15 minutes."


def test_a_whole_office_logging_in_at_once_from_one_address_gets_in(demo: Runtime) -> None:
    emails = staff(demo, accounts.CLIENT_FAILURES + 15)
    answers = all_at_once(demo, [(email, DEMO_PASSWORD) for email in emails])
    assert answers == ["in"] * len(emails)
    assert recorded(demo) == (0, 0)


def test_guesses_at_one_password_made_at_once_do_not_slip_past_the_limit(demo: Runtime) -> None:
    answers = all_at_once(demo, [(CHAIR, f"guess number {n}") for n in range(24)])
    assert answers.count("wrong") == accounts.MAX_FAILURES
    assert answers.count(TOO_MANY_FAILED) == 24 - accounts.MAX_FAILURES
    # the chair, logging in from elsewhere, is not locked out by someone else's guesses
    assert attempt(demo, CHAIR, DEMO_PASSWORD, "198.51.100.2") == "in"
    # but from the guessing address, even the right password waits out the window
    assert attempt(demo, CHAIR, DEMO_PASSWORD) == TOO_MANY_FAILED


def test_guesses_sprayed_over_many_addresses_at_once_stop_at_the_client_limit(
    demo: Runtime,
) -> None:
    emails = staff(demo, accounts.CLIENT_FAILURES + 15)
    answers = all_at_once(demo, [(email, "Summer2015!") for email in emails])
    assert answers.count("wrong") == accounts.CLIENT_FAILURES
    assert answers.count(TOO_MANY_FAILED) == 15
    assert attempt(demo, emails[0], DEMO_PASSWORD, "198.51.100.2") == "in"


def test_an_office_can_log_in_while_someone_there_mistypes(demo: Runtime) -> None:
    emails = staff(demo, accounts.CLIENT_FAILURES + 10)
    logins = [(email, DEMO_PASSWORD) for email in emails]
    logins += [(CHAIR, "caps lock on")] * (accounts.MAX_FAILURES - 1)
    answers = all_at_once(demo, logins)
    assert answers == ["in"] * len(emails) + ["wrong"] * (accounts.MAX_FAILURES - 1)
    assert attempt(demo, CHAIR, DEMO_PASSWORD) == "in"
    assert recorded(demo) == (0, 0)


def test_an_attempt_cut_off_mid_check_holds_others_back_then_counts_as_failed(
    demo: Runtime, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accounts, "WAIT_FOR_EARLIER", timedelta(seconds=0.3))
    for _ in range(accounts.MAX_FAILURES):  # as if the server died while checking them
        accounts._record_attempt(demo, CHAIR, OFFICE)
    assert attempt(demo, CHAIR, DEMO_PASSWORD) == "Too many logins at once; try again in a minute."
    assert recorded(demo) == (0, accounts.MAX_FAILURES)  # waiting out was not a failure
    clock.advance(accounts.PENDING_STALE + timedelta(seconds=1))
    assert attempt(demo, CHAIR, DEMO_PASSWORD) == TOO_MANY_FAILED
    clock.advance(accounts.FAILURE_WINDOW)
    assert attempt(demo, CHAIR, DEMO_PASSWORD) == "in"


def test_a_login_waits_on_while_the_attempts_before_it_keep_ending(
    demo: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Far more people than fit under the limit: the last waits as long as the queue moves."""
    monkeypatch.setattr(accounts, "WAIT_FOR_EARLIER", timedelta(seconds=1))
    emails = staff(demo, accounts.CLIENT_FAILURES)
    before = [accounts._record_attempt(demo, email, OFFICE) for email in emails]
    row = login_failures.c

    # 20 fail one by one, 0.1 s apart, then the other 10 get in: until then the 30 before
    # the chair's attempt fill the client limit, so an "in" means it waited through all 20
    # endings, twice as long as it waits without one
    def end_them_one_by_one() -> None:
        for attempt_id in before[:20]:
            time.sleep(0.1)
            with demo.db.write() as conn:
                conn.execute(
                    update(login_failures).where(row.id == attempt_id).values(pending=False)
                )
        with demo.db.write() as conn:
            conn.execute(delete(login_failures).where(row.id.in_(before[20:])))
        demo.db.dispose_thread()

    ending = threading.Thread(target=end_them_one_by_one)
    ending.start()
    try:
        assert attempt(demo, CHAIR, DEMO_PASSWORD) == "in"
    finally:
        ending.join()
    assert recorded(demo) == (20, 0)


def test_guesses_from_the_addresses_of_one_ipv6_subscriber_count_together(
    demo: Runtime,
) -> None:
    assert accounts.client_key("2001:db8:1:2::7") == "2001:db8:1:2::/64"
    assert accounts.client_key("::ffff:198.51.100.2") == "198.51.100.2"
    assert accounts.client_key("198.51.100.2") == "198.51.100.2"
    email = staff(demo, 1)[0]
    answers = [
        attempt(demo, email, "Summer2015!", f"2001:db8:1:2::{n:x}")  # a new address each time
        for n in range(1, accounts.MAX_FAILURES + 3)
    ]
    assert answers.count("wrong") == accounts.MAX_FAILURES
    assert answers[-1] != "wrong"  # refused: the /64 is one client
    assert attempt(demo, email, DEMO_PASSWORD, "2001:db8:9:9::1") == "in"  # another one is not
