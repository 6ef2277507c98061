"""Logging of napflow's long-running processes (the scheduler, the web server, its workers).

One format for all, to standard error, which systemd's journal collects.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(name)s: %(message)s"


def configure() -> None:
    """Log napflow's INFO messages and everything's warnings to standard error.

    APScheduler's own INFO lines (every run of the job, twice a poll) are left out.
    """
    logging.basicConfig(level=logging.INFO, format=FORMAT)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
