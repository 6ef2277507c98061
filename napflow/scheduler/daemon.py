"""The scheduler daemon: one APScheduler job that sends what is due.

Reminders are rows in the outbox, not scheduler jobs (see docs/pitfalls.md: a persistent job
store loses or doubles jobs). So the daemon keeps one in-memory interval job: each run sends
everything due, then sets the job's next run to the next row's time when that comes before
the next poll. Any number of daemons may run against one database; claiming makes sure each
row goes out once. SIGTERM or Ctrl-C stops it after the batch in progress (at most
``batch_size`` messages).
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from napflow.errors import NapflowError
from napflow.runtime import Runtime
from napflow.services.dispatch import next_due, send_due

log = logging.getLogger("napflow.scheduler")
JOB_ID = "dispatch"
#: the job that sends the day's checkpoint to the witnesses (when [audit] names any)
CHECKPOINT_JOB_ID = "checkpoint"


class _Dispatch:
    """The one dispatch job of a scheduler, and how to stop it cleanly.

    Stopping sets a flag the pass looks at after each batch, stops the scheduler without
    waiting inside it, then waits for the pass in progress here. (APScheduler's
    ``shutdown(wait=True)`` waits while holding its job-store lock, which the pass needs to
    move its next run earlier: waiting there would hang a daemon stopped mid-backlog.)
    """

    def __init__(self, scheduler: BaseScheduler, rt: Runtime, poll_seconds: int) -> None:
        self.scheduler, self.rt, self.poll_seconds = scheduler, rt, poll_seconds
        self.stopping = threading.Event()
        self.running = threading.Lock()  # held by the pass in progress
        scheduler.add_job(
            self.tick, "interval", seconds=poll_seconds, id=JOB_ID, next_run_time=datetime.now(UTC)
        )
        if rt.settings.witnesses or rt.settings.witness_dir:
            # hourly, from start-up: the first run of a day (UTC) in any daemon sends it
            scheduler.add_job(
                self.checkpoint,
                "interval",
                hours=1,
                id=CHECKPOINT_JOB_ID,
                next_run_time=datetime.now(UTC),
            )

    def tick(self) -> None:
        """One pass: send what is due, then wake again for the next due row or poll."""
        with self.running:
            if self.stopping.is_set():
                return
            upcoming = self._send()
            wake = datetime.now(UTC) + timedelta(seconds=self.poll_seconds)
            if upcoming is not None and upcoming < wake and not self.stopping.is_set():
                self.scheduler.modify_job(JOB_ID, next_run_time=max(upcoming, datetime.now(UTC)))

    def _send(self) -> datetime | None:
        rt = self.rt
        try:
            result = send_due(rt, self.stopping.is_set)
            if result.claimed:
                log.info(
                    "sent %d (%d late), %d to retry, %d failed",
                    result.sent,
                    result.late,
                    result.retrying,
                    result.failed,
                )
            return next_due(rt)
        except NapflowError as exc:  # a refusal napflow explains (the audit key): one line
            log.error("dispatch pass refused: %s Trying again at the next poll.", exc)
            return None
        except Exception:  # keep the daemon alive; the rows stay queued for the next pass
            log.exception("dispatch pass failed; trying again at the next poll")
            return None
        finally:
            rt.db.dispose_thread()

    def checkpoint(self) -> None:
        """Send the day's checkpoint to the witnesses, unless a daemon already has today.

        The day is claimed in the database (napflow.services.checkpoints.daily_checkpoint),
        so of several daemons exactly one sends it.
        """
        from napflow.services.checkpoints import daily_checkpoint  # only where it is used

        with self.running:
            if self.stopping.is_set():
                return
            try:
                done = daily_checkpoint(self.rt)
                if done is not None:
                    log.info("%s", "; ".join(done.lines()))
            except NapflowError as exc:  # a bad signing key, say: one line, again in an hour
                log.error("checkpoint refused: %s Trying again in an hour.", exc)
            except Exception:
                log.exception("checkpoint failed; trying again in an hour")
            finally:
                self.rt.db.dispose_thread()

    def request_stop(self) -> None:
        """Let the pass in progress end after its batch, and run no more (does not wait)."""
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def stop(self) -> None:
        """Stop after the batch in progress, and wait for it."""
        self.request_stop()
        with self.running:  # the pass in progress has ended
            pass


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
    dispatch = _Dispatch(scheduler, rt, poll_seconds)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %d; stopping after the batch in progress", signum)
        dispatch.request_stop()  # start() returns; the pass is waited for below

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("napflow scheduler started: polling every %ds", poll_seconds)
    scheduler.start()
    dispatch.stop()
    log.info("napflow scheduler stopped")


class Background:
    """The dispatch job running in a thread of this process; ``shutdown()`` stops it."""

    def __init__(self, dispatch: _Dispatch) -> None:
        self._dispatch = dispatch

    def shutdown(self) -> None:
        """Stop after the batch in progress, and wait for it."""
        self._dispatch.stop()


def start_background(rt: Runtime, poll_seconds: int) -> Background:
    """Start the dispatch job in a thread of this process (``napflow serve --with-scheduler``).

    Call ``shutdown()`` on the result to stop it after the batch in progress.
    """
    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(1)},
        **_OPTIONS,
    )
    dispatch = _Dispatch(scheduler, rt, poll_seconds)
    scheduler.start()
    return Background(dispatch)
