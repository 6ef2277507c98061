"""The one wiring place: settings in, a ready :class:`Runtime` out.

Only here does napflow look up the packaged ``workflows`` directory; everything else receives
what it needs from the Runtime.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path

from napflow.clock import Clock, SystemClock
from napflow.notifications.mailer import Mailer, Transport
from napflow.runtime import Runtime
from napflow.runtime.settings import SMTP_PASSWORD_ENV, Settings, audit_key
from napflow.storage.database import Database
from napflow.workflow.catalog import WorkflowCatalog


def builtin_workflow_dir() -> Path:
    """Return the directory of the workflow files shipped with napflow."""
    return Path(str(files("napflow.workflow") / "builtin"))


def build_mailer(settings: Settings, env: Mapping[str, str] | None = None) -> Mailer:
    """Wire the renderer and the transport [mail] names; the SMTP password from the env."""
    from napflow.notifications.compose import build_message
    from napflow.notifications.ics import deadline_calendar, deadline_feed
    from napflow.notifications.render import JinjaRenderer
    from napflow.notifications.transports import FileTransport, SmtpTransport

    env = os.environ if env is None else env
    transport: Transport
    if settings.mail_transport == "smtp":
        transport = SmtpTransport(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_security,
            settings.smtp_username,
            env.get(SMTP_PASSWORD_ENV),
            settings.smtp_timeout_s,
            settings.smtp_ca_file,
        )
    else:
        transport = FileTransport(Path(settings.mail_dir))
    return Mailer(
        JinjaRenderer(),
        transport,
        settings.mail_from,
        settings.mail_from_name,
        build_message,
        deadline_calendar,
        deadline_feed,
    )


def build_runtime(
    settings: Settings, clock: Clock | None = None, mailer: Mailer | None = None
) -> Runtime:
    """Wire a Runtime from validated settings (the system clock unless one is given)."""
    catalog = WorkflowCatalog((builtin_workflow_dir(), *settings.workflow_dirs))
    db = Database(settings.database_url, settings.busy_timeout_ms, audit_key())
    return Runtime(
        settings=settings,
        db=db,
        catalog=catalog,
        clock=clock or SystemClock(),
        mailer=mailer or build_mailer(settings),
    )
