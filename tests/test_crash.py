"""Crash safety: `napflow advance` and `napflow scheduler` killed (SIGKILL) at random moments.

tests/crash_loop.py forks the real CLI and kills it, hundreds of times within a time
budget (NAPFLOW_CRASH_SECONDS, default 15 per test and engine). Afterwards every plan is
either before or after each action, never between, and its ledger verifies; every due
message is sent, each exactly once except one in flight at a kill, which may go twice with
the same Message-ID.
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


def crash_loop(mode: str, db_url: str, key: str, env: dict[str, str] | None = None) -> list[Any]:
    """Run tests/crash_loop.py; return its runs (one JSON object each)."""
    seed = random.randrange(2**32)
    script = str(REPO / "tests" / "crash_loop.py")
    done = subprocess.run(
        [sys.executable, script, mode, db_url, key, str(SECONDS), str(seed)],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=SECONDS * 4 + 120,
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
    key = queue_notices(rt, 60)
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
    runs = crash_loop("scheduler", db_url, key, env)
    messages = [m for m in services.list_messages(rt, key=key) if m.kind == "notice"]
    assert {m.status for m in messages} == {"sent"}, runs
    kills = sum(r["killed"] for r in runs)
    counts = Counter(smtp.sink.ids())
    print(f"{len(runs)} daemons, {kills} killed, {sum(counts.values()) - len(counts)} repeats")
    assert len(counts) == 60  # every message arrived
    assert max(counts.values()) <= 2  # none more than twice
    assert sum(n - 1 for n in counts.values()) <= kills  # a repeat only for a kill
    assert kills >= 2, runs
    history = services.plan_history(rt, key).records
    sent_records = Counter((r.payload or {})["outbox"] for r in history if r.kind == "mail_sent")
    assert len(sent_records) == 60 and set(sent_records.values()) == {1}
    report = verify_ledger(rt)
    assert report.ok, report.problems
