"""The runtime layer: settings and secrets, wiring, and the :class:`Runtime` services are handed.

:mod:`~napflow.runtime.settings` reads ``config.toml`` and ``NAPFLOW_*`` variables once;
:mod:`~napflow.runtime.bootstrap` wires settings into a Runtime (database, workflow catalog,
clock, mailer); :mod:`~napflow.runtime.logs` sets up logging for the daemons.

May import napflow's foundation modules, :mod:`napflow.workflow`, :mod:`napflow.storage`
and :mod:`napflow.notifications`. Importing this package is cheap: the Runtime's parts are
named for type checkers only, so the CLI can name a Runtime without loading SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from napflow.runtime.secrets import Secrets

if TYPE_CHECKING:
    from napflow.clock import Clock
    from napflow.notifications.mailer import Mailer
    from napflow.runtime.settings import Settings
    from napflow.storage.database import Database
    from napflow.workflow.catalog import WorkflowCatalog


@dataclass
class Runtime:
    """The database, the workflows, the clock, the settings and secrets, for one process."""

    settings: Settings
    db: Database
    catalog: WorkflowCatalog
    clock: Clock
    #: renders and delivers messages; None where nothing is sent (see bootstrap)
    mailer: Mailer | None = None
    #: read from the environment once, when the Runtime is wired (required: a Runtime made
    #: without them would seal records without the audit key)
    secrets: Secrets = field(kw_only=True)
