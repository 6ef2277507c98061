"""The app of each worker process of `napflow serve --workers N`.

uvicorn starts workers as new processes that import an app factory by name, so they cannot
be handed the serving command's Runtime. The command passes its settings down in the
environment (NAPFLOW_CONFIG, NAPFLOW_DATABASE_URL) and each worker builds its own Runtime
here: its own engine and connections, and never a scheduler (reminders are sent by the
supervising process with --with-scheduler, or by `napflow scheduler`).
"""

from __future__ import annotations

import gc

from fastapi import FastAPI

from napflow.runtime import logs
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import load_settings
from napflow.web.app import create_app


def create_worker_app() -> FastAPI:
    """Return the web app of one worker, wired from the settings in the environment."""
    logs.configure()
    app = create_app(build_runtime(load_settings()))
    settle()
    return app


def settle() -> None:
    """Ready a serving process, its app built: keep what exists now out of full collections.

    What is built before the first request (modules, workflows, catalogues, templates,
    tables) lives as long as the process, yet Python's cyclic garbage collector walks all
    of it on every full pass, and the request that sets one off waits: on bench/web.py a
    plan page's p99 was four times its p50. ``gc.freeze()`` moves those objects to a
    permanent generation that collections skip; what requests make is collected as before.
    """
    gc.collect()
    gc.freeze()
