"""The app of each worker process of `napflow serve --workers N`.

uvicorn starts workers as new processes that import an app factory by name, so they cannot
be handed the serving command's Runtime. The command passes its settings down in the
environment (NAPFLOW_CONFIG, NAPFLOW_DATABASE_URL) and each worker builds its own Runtime
here: its own engine and connections, and never a scheduler (reminders are sent by the
supervising process with --with-scheduler, or by `napflow scheduler`).
"""

from __future__ import annotations

from fastapi import FastAPI

from napflow.runtime import logs
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import load_settings
from napflow.web.app import create_app


def create_worker_app() -> FastAPI:
    """Return the web app of one worker, wired from the settings in the environment."""
    logs.configure()
    return create_app(build_runtime(load_settings()))
