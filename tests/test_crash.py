"""Crash safety: `napflow advance` and `napflow scheduler` killed (SIGKILL) at random moments.

tests/crash_loop.py forks the real CLI and kills it, hundreds of times within a time
budget (NAPFLOW_CRASH_SECONDS, default 15 per test and engine; twice that for the
scheduler). Afterwards every plan is either before or after each action, never between,
and its ledger verifies; every due message is sent, each exactly once except the one in
flight at each kill, which goes again with the same Message-ID.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from helpers import REPO, queue_notices, report_plans
from smtp_sink import SmtpServer

from napflow import services
from napflow.runtime import Runtime
from napflow.services.audit import verify_ledger

SECONDS = float(os.environ.get("NAPFLOW_CRASH_SECONDS", "15"))
#: notices due at once for the killed schedulers: about as many as they send in the time
NOTICES = 400


def crash_loop(
    mode: str, db_url: str, key: str, env: dict[str, str] | None = None, seconds: float = SECONDS
) -> list[Any]:
    """Run tests/crash_loop.py for ``seconds``; return its runs (one JSON object each)."""
    seed = random.randrange(2**32)
    script = str(REPO / "tests" / "crash_loop.py")
    done = subprocess.run(
        [sys.executable, script, mode, db_url, key, str(seconds), str(seed)],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=seconds * 4 + 120,
        check=False,
    )
    assert done.returncode == 0, f"seed {seed}: {done.stderr}"
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.slow
def test_a_killed_advance_leaves_the_plan_before_or_after_never_between(
    rt: Runtime, db_url: str
) -> None:
    (key,) = report_plans(rt, 1)
    runs = crash_loop("advance", db_url, key)
    for run in runs:
        before, after = run["before"], run["after"]
        moved = after["version"] == before["version"] + 1
        assert moved or after == before, run  # one whole action, or none of it
        if moved:
            assert after["state"] == ("clearance" if before["state"] == "drafting" else "drafting")
        if not run["killed"]:
            assert run["code"] == 0 and moved, run
    outcomes = Counter((r["killed"], r["after"] != r["before"]) for r in runs)
    print(f"{len(runs)} runs: (killed, moved) -> count {dict(outcomes)}")
    # some kills came before the commit, some runs finished first
    assert outcomes[(True, False)] and outcomes[(False, True)], outcomes
    report = verify_ledger(rt)
    assert report.ok, report.problems
    history = services.plan_history(rt, key).records
    moves = [r for r in history if r.kind == "transition"]
    assert len(moves) == sum(r["after"] != r["before"] for r in runs)
    last = services.show_plan(rt, key)  # and nothing was left locked
    if last.state == "drafting":
        done = services.advance_plan(rt, key, "submit_for_clearance", "coord@example.org")
    else:
        done = services.advance_plan(rt, key, "request_changes", "chair@example.org", "Again.")
    assert done.version == last.version + 1


@pytest.mark.slow
def test_a_killed_scheduler_loses_nothing_and_repeats_only_the_message_in_flight(
    rt: Runtime, db_url: str, smtp: SmtpServer
) -> None:
    key = queue_notices(rt, NOTICES)
    smtp.sink.delay = 0.01
    env = {
        "NAPFLOW_MAIL_TRANSPORT": "smtp",
        "NAPFLOW_SMTP_HOST": "127.0.0.1",
        "NAPFLOW_SMTP_PORT": str(smtp.port),
        "NAPFLOW_MAIL_FROM": "napflow@napflow.example",
        "NAPFLOW_POLL_SECONDS": "1",
        "NAPFLOW_LEASE_SECONDS": "1",  # a killed daemon's claims return quickly
        "NAPFLOW_BATCH_SIZE": "10",
    }
    # a daemon's run is short (killed within 0.6 s): twice the time gives over a hundred
    runs = crash_loop("scheduler", db_url, key, env, seconds=2 * SECONDS)
    messages = [m for m in services.list_messages(rt, key=key) if m.kind == "notice"]
    assert {m.status for m in messages} == {"sent"}, runs
    kills = sum(r["killed"] for r in runs)
    counts = Counter(smtp.sink.ids())
    repeats = sum(counts.values()) - len(counts)
    print(f"{len(runs)} daemons, {kills} killed, {repeats} repeats, most {max(counts.values())}")
    assert len(counts) == NOTICES  # every message arrived
    assert kills >= 2, runs
    # A delivery followed by another of the same message was never marked sent: its daemon
    # must have been killed with it in flight, and a daemon has one message in flight at a
    # time. (One message can be in flight at two kills in a row, and so arrive three times.)
    runs.sort(key=lambda r: r["began"])
    arrivals = smtp.sink.arrivals()
    unmarked: Counter[int] = Counter()
    for n, (at, message_id) in enumerate(arrivals):
        if any(later == message_id for _, later in arrivals[n + 1 :]):
            # the sink may take in a killed daemon's last message a moment after the kill
            run = max(i for i, r in enumerate(runs) if r["began"] <= at)
            unmarked[run] += 1
    assert all(runs[i]["killed"] for i in unmarked), [runs[i] for i in unmarked]
    assert max(unmarked.values(), default=0) <= 1, unmarked
    history = services.plan_history(rt, key).records
    sent_records = Counter((r.payload or {})["outbox"] for r in history if r.kind == "mail_sent")
    assert len(sent_records) == NOTICES and set(sent_records.values()) == {1}
    report = verify_ledger(rt)
    assert report.ok, report.problems
