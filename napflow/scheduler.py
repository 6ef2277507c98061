"""The scheduler daemon: one APScheduler job that sends what is due.

Reminders are rows in the outbox, not scheduler jobs (see docs/pitfalls: a persistent job
store loses or doubles jobs). So the daemon keeps one in-memory interval job: each run sends
everything due, then sets the job's next run to the next row's time when that comes before
the next poll. Any number of daemons may run against one database; claiming makes sure each
row goes out once. SIGTERM or Ctrl-C stops it after the pass in progress.
"""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from napflow.runtime import Runtime
from napflow.services.dispatch import next_due, send_due

log = logging.getLogger("napflow.scheduler")
JOB_ID = "dispatch"


def _configure(scheduler: BaseScheduler, rt: Runtime, poll_seconds: int) -> None:
    """Add the one dispatch job to ``scheduler``."""

    def tick() -> None:
        try:
            result = send_due(rt)
            if result.claimed:
                log.info(
                    "sent %d (%d late), %d to retry, %d failed",
                    result.sent,
                    result.late,
                    result.retrying,
                    result.failed,
                )
            upcoming = next_due(rt)
        except Exception:  # keep the daemon alive; the rows stay queued for the next pass
            log.exception("dispatch pass failed; trying again at the next poll")
            return
        finally:
            rt.db.dispose_thread()
        wake = datetime.now(UTC) + timedelta(seconds=poll_seconds)
        if upcoming is not None and upcoming < wake:
            scheduler.modify_job(JOB_ID, next_run_time=max(upcoming, datetime.now(UTC)))

    scheduler.add_job(
        tick, "interval", seconds=poll_seconds, id=JOB_ID, next_run_time=datetime.now(UTC)
    )


_OPTIONS: dict[str, Any] = {
    "timezone": UTC,
    "job_defaults": {"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
}


def run_scheduler(rt: Runtime, poll_seconds: int) -> None:
    """Run the daemon until SIGTERM or SIGINT."""
    scheduler = BlockingScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(1)},
        **_OPTIONS,
    )
    _configure(scheduler, rt, poll_seconds)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %d; stopping after the pass in progress", signum)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("napflow scheduler started: polling every %ds", poll_seconds)
    scheduler.start()
    log.info("napflow scheduler stopped")


def start_background(rt: Runtime, poll_seconds: int) -> BackgroundScheduler:
    """Start the dispatch job in a thread of this process (``napflow serve --with-scheduler``).

    Call ``shutdown()`` on the result to stop it after the pass in progress.
    """
    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(1)},
        **_OPTIONS,
    )
    _configure(scheduler, rt, poll_seconds)
    scheduler.start()
    return scheduler
