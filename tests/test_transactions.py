"""Transactions on the service connections: commit failures, busy databases, stored times."""

from __future__ import annotations

import re
import signal
import sqlite3
import threading
from pathlib import Path

import pytest
from helpers import CAST
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from napflow import services
from napflow.clock import VirtualClock
from napflow.errors import ConflictError, InputError
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.storage.fastpath import driver_execute

COORD = CAST["coordinator"][0]
BAD_ROLE = (
    "INSERT INTO roles (plan_id, person_id, role, granted_at) VALUES (999, 999, 'x', '2015-01-01')"
)


@pytest.mark.sqlite_only
@pytest.mark.parametrize("through", ["sqlalchemy", "driver"])
def test_a_failed_commit_rolls_back_and_the_next_action_works(
    rt: Runtime, nap_plan: str, through: str
) -> None:
    """A commit refused by the database (a deferred foreign key here) leaves nothing held."""
    refused = pytest.raises(IntegrityError, match="FOREIGN KEY constraint failed")
    with refused, rt.db.write() as conn:
        driver_execute(conn, "PRAGMA defer_foreign_keys = ON")
        if through == "sqlalchemy":
            conn.execute(text(BAD_ROLE))
        else:
            driver_execute(conn, BAD_ROLE)
    with rt.db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM roles WHERE plan_id = 999")).scalar() == 0
    done = services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    assert done.to_state == "working_group_review"
    # and another process can write too: no lock was left behind
    other = sqlite3.connect(rt.db.sqlite_path, timeout=1)
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()


@pytest.mark.sqlite_only
def test_a_database_kept_busy_gives_a_conflict_and_writes_nothing(
    tmp_path: Path, nap_plan: str, rt: Runtime
) -> None:
    impatient = build_runtime(
        Settings(database_url=rt.db.url, busy_timeout_ms=200), clock=VirtualClock(rt.clock.now())
    )
    blocker = sqlite3.connect(rt.db.sqlite_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(ConflictError, match="stayed busy past the busy timeout"):
            services.advance_plan(impatient, nap_plan, "submit_for_review", COORD)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert services.show_plan(rt, nap_plan).state == "drafting"
    assert services.advance_plan(impatient, nap_plan, "submit_for_review", COORD).version
    impatient.db.dispose()


@pytest.mark.sqlite_only
def test_times_are_stored_alike_by_every_path(rt: Runtime, nap_plan: str) -> None:
    """The advance path writes times in the same text form as SQLAlchemy does."""
    services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    with rt.db.read() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT at FROM history ORDER BY seq"))]
        stored += [r[0] for r in conn.execute(text("SELECT updated_at FROM plans"))]
    form = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")
    assert all(isinstance(s, str) and form.fullmatch(s) for s in stored), stored


class Interrupted(BaseException):
    """Stands for Ctrl-C or a signal arriving while napflow waits for the write lock."""


@pytest.mark.sqlite_only
def test_an_interrupt_while_waiting_for_the_lock_leaves_nothing_held(
    rt: Runtime, nap_plan: str
) -> None:
    """The interrupt lands just after BEGIN IMMEDIATE finally got the lock."""
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        blocker = sqlite3.connect(rt.db.sqlite_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(timeout=10)
        blocker.execute("ROLLBACK")
        blocker.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    locked.wait(timeout=10)

    def interrupt(_signum: int, _frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.2)  # arrives while napflow waits for the lock
    threading.Timer(0.5, release.set).start()  # the lock is free again a little later
    try:
        with pytest.raises(Interrupted), rt.db.write():
            pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        release.set()
        holder.join(timeout=10)
    assert services.advance_plan(rt, nap_plan, "submit_for_review", COORD).version
    other = sqlite3.connect(rt.db.sqlite_path, timeout=1)
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()


def test_many_threads_share_one_runtime(rt: Runtime, nap_plan: str) -> None:
    """Each thread holds its own connections; twenty threads do not exhaust anything."""
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            services.show_plan(rt, nap_plan)
            services.add_person(rt, f"t{i}@example.org", f"Thread {i}")
            services.grant_role(rt, nap_plan, f"t{i}@example.org", "observer")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            rt.db.dispose_thread()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    records = services.plan_history(rt, nap_plan).records
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    assert len(services.show_plan(rt, nap_plan).roles["observer"]) == 21


@pytest.mark.sqlite_only
def test_a_processs_own_writers_queue_instead_of_timing_out_on_sqlite(db_url: str) -> None:
    """With a busy timeout of 1 ms, SQLite gives up at once on a lock another connection
    holds: the threads of one process still all get their turn (a web server's logins)."""
    busy = build_runtime(Settings(database_url=db_url, busy_timeout_ms=1))
    services.init_database(busy)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for n in range(10):
                services.add_person(busy, f"w{i}-{n}@example.org", f"Writer {i}")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            busy.db.dispose_thread()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        busy.db.dispose()
    assert errors == []
    assert len(services.list_people(busy)) == 120


@pytest.mark.postgresql_only
def test_a_value_postgresql_cannot_hold_is_bad_input_not_a_broken_database(rt: Runtime) -> None:
    with pytest.raises(InputError, match=r"does not fit the database \(.*out of range"):
        services.move_deadline(rt, 2**40, "2016-01-01")  # past a 32-bit integer column


@pytest.mark.postgresql_only
def test_a_deadlock_is_a_conflict_to_retry_not_a_broken_database(rt: Runtime) -> None:
    from sqlalchemy import create_engine

    from napflow.storage.schema import people

    for email in ("a@example.org", "b@example.org"):
        services.add_person(rt, email, email)
    ready = threading.Barrier(2)
    other = create_engine(rt.settings.database_url)

    def lock_b_then_a() -> None:
        with other.begin() as conn:
            # the other side waits long before looking for a deadlock: napflow's side finds it
            conn.execute(text("SET LOCAL deadlock_timeout = '20s'"))
            conn.execute(select(people).where(people.c.email == "b@example.org").with_for_update())
            ready.wait(timeout=30)
            conn.execute(select(people).where(people.c.email == "a@example.org").with_for_update())

    worker = threading.Thread(target=lock_b_then_a)
    worker.start()
    try:
        with pytest.raises(ConflictError, match="got in the way"), rt.db.write() as conn:
            conn.execute(select(people).where(people.c.email == "a@example.org").with_for_update())
            ready.wait(timeout=30)
            conn.execute(select(people).where(people.c.email == "b@example.org").with_for_update())
    finally:
        worker.join(timeout=60)
        other.dispose()
    assert not worker.is_alive()
