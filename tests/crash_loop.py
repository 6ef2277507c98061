"""Kill napflow at random moments, again and again: the crash half of tests/test_crash.py.

Run as its own process (single-threaded, so forking is safe): it forks a child that runs
the real CLI (`napflow advance ...` or `napflow scheduler`), sends it SIGKILL after a random
delay, waits for it, and prints one JSON line per run with what it saw before and after.
It holds no database connection across a fork.

    python tests/crash_loop.py advance DB_URL KEY SECONDS SEED
    python tests/crash_loop.py scheduler DB_URL KEY SECONDS SEED   (SMTP settings in env)
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sys
import time
from collections.abc import Callable

from sqlalchemy import func, select

from napflow import services
from napflow.cli import run
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.storage.schema import outbox, plans

COORD, CHAIR = "coord@example.org", "chair@example.org"
#: seconds between one dispatcher's end and the next one's start
QUIET = 0.1


def kill_at_random(argv: list[str], delay: float | None) -> tuple[bool, int]:
    """Fork, run napflow ARGV in the child, SIGKILL it after ``delay`` seconds (None: let
    it finish).

    Returns (killed, exit code): killed is False when it finished first.
    """
    pid = os.fork()
    if pid == 0:  # the child: the CLI, its output thrown away
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        code = 70
        try:
            code = run(argv)
        finally:
            os._exit(code)
    if delay is not None:
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return True, -os.WTERMSIG(status)
    return False, os.WEXITSTATUS(status)


def looking(db_url: str, look: Callable[[Runtime], dict[str, object]]) -> dict[str, object]:
    """Look at the database through a runtime that is closed again before the next fork."""
    rt = build_runtime(Settings(database_url=db_url))
    try:
        return look(rt)
    finally:
        rt.db.dispose()


def advances(db_url: str, key: str, seconds: float, rng: random.Random) -> None:
    """Advance a national_report plan back and forth, each advance killed at random.

    The first three advances run unkilled and are timed; the kills then fall anywhere from
    the start of the child to half as long again as the quickest of those took, so some
    land before the transaction, some inside it, some after it.
    """
    end = time.monotonic() + seconds
    timed: list[float] = []
    span: float | None = None
    while time.monotonic() < end:
        before = looking(db_url, lambda rt: _plan(rt, key))
        if before["state"] == "drafting":
            argv = ["advance", key, "submit_for_clearance", "--as", COORD]
        else:
            argv = ["advance", key, "request_changes", "--as", CHAIR, "--comment", "Again."]
        delay = None if span is None else rng.uniform(0, 1.5 * span)
        started = time.monotonic()
        killed, code = kill_at_random(["--db", db_url, *argv], delay)
        if span is None:
            timed.append(time.monotonic() - started)
            span = min(timed) if len(timed) == 3 else None
        after = looking(db_url, lambda rt: _plan(rt, key))
        print(json.dumps({"before": before, "after": after, "killed": killed, "code": code}))


def _plan(rt: Runtime, key: str) -> dict[str, object]:
    plan = services.show_plan(rt, key)
    return {"state": plan.state, "version": plan.version}


def dispatches(db_url: str, key: str, seconds: float, rng: random.Random) -> None:
    """Run `napflow scheduler`, killed at random, while messages of plan KEY are unsent and
    the time lasts; then, as after any crash, let `napflow reminders send-due` finish."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        left = looking(db_url, lambda rt: _unsent(rt, key))
        if not left["unsent"]:
            return
        # a daemon sends its first message about 0.1 s after the fork: the kills fall on
        # its start, its claims, its sends and its marks
        _one_at_a_time(["--db", db_url, "scheduler"], rng.uniform(0.05, 0.6), left)
    for _ in range(10):
        left = looking(db_url, lambda rt: _unsent(rt, key))
        if not left["unsent"]:
            return
        time.sleep(1.1)  # past the lease of the last killed daemon's claims
        _one_at_a_time(["--db", db_url, "reminders", "send-due"], None, left)


def _one_at_a_time(argv: list[str], delay: float | None, left: dict[str, object]) -> None:
    """Run (and kill) one dispatcher; print the run with when it began and ended (wall
    clock, to compare with the SMTP sink's arrival times: no two runs overlap, and a quiet
    gap after each lets the sink take in what a killed one sent before the next begins)."""
    began = time.time()
    killed, code = kill_at_random(argv, delay)
    ended = time.time()
    time.sleep(QUIET)
    print(
        json.dumps({"left": left, "killed": killed, "code": code, "began": began, "ended": ended})
    )


def _unsent(rt: Runtime, key: str) -> dict[str, object]:
    with rt.db.read() as conn:
        unsent = conn.execute(
            select(func.count())
            .select_from(outbox.join(plans, plans.c.id == outbox.c.plan_id))
            .where(plans.c.key == key, outbox.c.status != "sent")
        ).scalar_one()
    return {"unsent": unsent}


if __name__ == "__main__":
    mode, url, plan_key, budget, seed = sys.argv[1:6]
    loop = advances if mode == "advance" else dispatches
    loop(url, plan_key, float(budget), random.Random(int(seed)))
