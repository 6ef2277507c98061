"""The scheduler daemon as its own process: sends everything, survives SIGKILL, shares work."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import daemon_env, queue_notices, queue_reminders
from smtp_sink import SmtpServer

from napflow import services
from napflow.runtime import Runtime


@pytest.fixture
def start_daemon(
    db_url: str, smtp: SmtpServer, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(**extra: str) -> subprocess.Popen[str]:
        env = daemon_env(db_url, smtp, **extra)
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
def test_three_daemons_share_5000_reminders_and_send_each_once(
    rt: Runtime, smtp: SmtpServer, start_daemon: Callable[..., subprocess.Popen[str]]
) -> None:
    daemons = [start_daemon(NAPFLOW_BATCH_SIZE="50") for _ in range(3)]
    for daemon in daemons:  # all up and polling (every second) before the work arrives
        wait_for(lambda d=daemon: "scheduler started" in d.log.read_text())  # type: ignore[attr-defined]
    # all due at once (October 2015 by the daemons' clock): more than one daemon sends in a
    # poll interval, so each wakes to a share of it
    queued = queue_reminders(rt, people=100, sessions=17)
    assert queued >= 5000
    wait_for(lambda: len(smtp.sink.messages) >= queued, seconds=300)
    time.sleep(1.5)  # a double would arrive now
    for daemon in daemons:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    ids = smtp.sink.ids()
    assert len(ids) == len(set(ids)) == queued
    messages = services.list_messages(rt, key="TJK-S")
    assert len(messages) == queued and {m.status for m in messages} == {"sent"}
    for daemon in daemons:  # each did part of the work, and nothing went wrong
        log = daemon.log.read_text()  # type: ignore[attr-defined]
        assert "sent " in log and "Traceback" not in log


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


@pytest.mark.slow
def test_sigterm_stops_after_the_batch_in_progress_and_leaves_the_rest_queued(
    rt: Runtime, smtp: SmtpServer, start_daemon: Callable[..., subprocess.Popen[str]]
) -> None:
    queue_notices(rt, 200)
    smtp.sink.delay = 0.02  # 4 s for the whole backlog
    daemon = start_daemon(NAPFLOW_BATCH_SIZE="10")
    wait_for(lambda: len(smtp.sink.messages) >= 15)
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0
    sent = len(smtp.sink.messages)
    assert sent < 100  # it finished a batch, not the backlog
    notices = [m for m in services.list_messages(rt, key="TJK-L") if m.kind == "notice"]
    assert len(notices) == 200
    assert sorted({m.status for m in notices}) == ["pending", "sent"]  # none left claimed
    assert sum(m.status == "sent" for m in notices) == sent
    assert "stopping after the batch in progress" in daemon.log.read_text()  # type: ignore[attr-defined]
