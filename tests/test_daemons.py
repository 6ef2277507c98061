"""The scheduler daemon as its own process: sends everything, survives SIGKILL, shares work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from smtp_sink import SmtpServer

from napflow import services
from napflow.runtime import Runtime

COORD, CHAIR = "coord@example.org", "chair@example.org"


def queue_notices(rt: Runtime, count: int) -> None:
    """A plan with ``count`` experts, sent to them: ``count`` notices are due at once."""
    for email in (COORD, CHAIR, "member@example.org"):
        services.add_person(rt, email, email)
    key = services.create_plan(rt, "TJK", "Load", key="TJK-L").key
    services.grant_role(rt, key, COORD, "coordinator")
    services.grant_role(rt, key, CHAIR, "wg_chair")
    services.grant_role(rt, key, "member@example.org", "wg_member")
    for i in range(count):
        services.add_person(rt, f"expert{i}@example.org", f"Expert {i}")
        services.grant_role(rt, key, f"expert{i}@example.org", "expert")
    services.advance_plan(rt, key, "submit_for_review", COORD)
    services.advance_plan(rt, key, "endorse", "member@example.org")
    services.advance_plan(rt, key, "send_to_experts", CHAIR)


@pytest.fixture
def start_daemon(
    db_url: str, smtp: SmtpServer, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(**extra: str) -> subprocess.Popen[str]:
        env = {
            **os.environ,
            "NAPFLOW_DATABASE_URL": db_url,
            "NAPFLOW_MAIL_TRANSPORT": "smtp",
            "NAPFLOW_SMTP_HOST": "127.0.0.1",
            "NAPFLOW_SMTP_PORT": str(smtp.port),
            "NAPFLOW_MAIL_FROM": "napflow@napflow.example",
            "NAPFLOW_POLL_SECONDS": "1",
            **extra,
        }
        env.pop("NAPFLOW_CONFIG", None)
        log = tmp_path / f"daemon-{len(started)}.log"
        with log.open("w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "napflow", "scheduler"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                text=True,
            )
        process.log = log  # type: ignore[attr-defined]
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_daemon_sends_everything_due_and_stops_on_sigterm(
    rt: Runtime, smtp: SmtpServer, start_daemon: Callable[..., subprocess.Popen[str]]
) -> None:
    queue_notices(rt, 40)
    daemon = start_daemon()
    wait_for(lambda: len(smtp.sink.messages) >= 40)
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0
    log = daemon.log.read_text()  # type: ignore[attr-defined]
    assert "napflow scheduler started" in log and "Traceback" not in log
    assert len(set(smtp.sink.ids())) == len(smtp.sink.ids()) == 40
    assert {m.status for m in services.list_messages(rt, key="TJK-L") if m.kind == "notice"} == {
        "sent"
    }


@pytest.mark.slow
def test_two_daemons_never_send_a_row_twice(
    rt: Runtime, smtp: SmtpServer, start_daemon: Callable[..., subprocess.Popen[str]]
) -> None:
    first = start_daemon(NAPFLOW_BATCH_SIZE="20")
    second = start_daemon(NAPFLOW_BATCH_SIZE="20")
    for daemon in (first, second):  # both up and polling (every second) before work arrives
        wait_for(lambda d=daemon: "scheduler started" in d.log.read_text())  # type: ignore[attr-defined]
    # more than one daemon sends in a poll interval, so the other wakes to a share of it
    queue_notices(rt, 1000)
    wait_for(lambda: len(smtp.sink.messages) >= 1000)
    time.sleep(1.5)  # a double would arrive now
    for daemon in (first, second):
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    ids = smtp.sink.ids()
    assert len(ids) == len(set(ids)) == 1000
    for daemon in (first, second):  # both did part of the work
        assert "sent " in daemon.log.read_text()  # type: ignore[attr-defined]


@pytest.mark.slow
def test_killed_mid_batch_a_new_daemon_sends_the_rest_at_most_one_twice(
    rt: Runtime, smtp: SmtpServer, start_daemon: Callable[..., subprocess.Popen[str]]
) -> None:
    queue_notices(rt, 120)
    smtp.sink.delay = 0.02
    victim = start_daemon(NAPFLOW_BATCH_SIZE="60")
    wait_for(lambda: len(smtp.sink.messages) >= 15)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    survivor = start_daemon(NAPFLOW_LEASE_SECONDS="2")
    wait_for(lambda: len(set(smtp.sink.ids())) >= 120)
    time.sleep(1.5)
    survivor.send_signal(signal.SIGTERM)
    assert survivor.wait(timeout=30) == 0
    counts = Counter(smtp.sink.ids())
    assert len(counts) == 120
    assert sum(counts.values()) - len(counts) <= 1  # only the message in flight at the kill
    assert {m.status for m in services.list_messages(rt, key="TJK-L") if m.kind == "notice"} == {
        "sent"
    }
