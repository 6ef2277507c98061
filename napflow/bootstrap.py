"""The one wiring place: settings in, a ready :class:`Runtime` out.

Only here does napflow look up the packaged ``workflows`` directory; everything else receives
what it needs from the Runtime.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from napflow.catalog import WorkflowCatalog
from napflow.clock import Clock, SystemClock
from napflow.db import Database
from napflow.runtime import Runtime
from napflow.settings import Settings


def builtin_workflow_dir() -> Path:
    """Return the directory of the workflow files shipped with napflow."""
    return Path(str(files("workflows")))


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    """Wire a Runtime from validated settings (the system clock unless one is given)."""
    catalog = WorkflowCatalog((builtin_workflow_dir(), *settings.workflow_dirs))
    db = Database(settings.database_url, settings.busy_timeout_ms)
    return Runtime(settings=settings, db=db, catalog=catalog, clock=clock or SystemClock())
