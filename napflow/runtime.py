"""The Runtime: what every service is handed explicitly (built by napflow.bootstrap)."""

from __future__ import annotations

from dataclasses import dataclass

from napflow.catalog import WorkflowCatalog
from napflow.clock import Clock
from napflow.db import Database
from napflow.delivery import Mailer
from napflow.settings import Settings


@dataclass
class Runtime:
    """The database, the workflows, the clock and the settings, for one process."""

    settings: Settings
    db: Database
    catalog: WorkflowCatalog
    clock: Clock
    #: renders and delivers messages; None where nothing is sent (see bootstrap)
    mailer: Mailer | None = None
