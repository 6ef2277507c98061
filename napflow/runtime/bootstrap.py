"""The one wiring place: settings in, a ready :class:`Runtime` out.

Only here does napflow look up the packaged ``workflows`` directory; everything else receives
what it needs from the Runtime.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from napflow.clock import Clock, SystemClock
from napflow.notifications.compose import build_message
from napflow.notifications.eml import FileTransport
from napflow.notifications.ics import deadline_calendar, deadline_feed
from napflow.notifications.mailer import Mailer, Transport
from napflow.notifications.render import JinjaRenderer
from napflow.runtime import Runtime
from napflow.runtime.secrets import Secrets, read_secrets
from napflow.runtime.settings import Settings
from napflow.runtime.stored_workflows import stored_lookup
from napflow.storage.database import Database
from napflow.workflow.catalog import WorkflowCatalog


def builtin_workflow_dir() -> Path:
    """Return the directory of the workflow files shipped with napflow."""
    return Path(str(files("napflow.workflow") / "builtin"))


def build_mailer(settings: Settings, secrets: Secrets) -> Mailer:
    """Wire the renderer and the transport [mail] names (the SMTP password from ``secrets``)."""
    transport: Transport
    if settings.mail_transport == "smtp":
        from napflow.notifications.smtp import SmtpTransport  # smtplib and ssl: only here

        transport = SmtpTransport(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_security,
            settings.smtp_username,
            secrets.smtp_password,
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
    settings: Settings,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    secrets: Secrets | None = None,
) -> Runtime:
    """Wire a Runtime from validated settings (the system clock unless one is given).

    The secrets are read from the environment here, once, unless given.
    """
    secrets = read_secrets() if secrets is None else secrets
    builtin = builtin_workflow_dir()
    catalog = WorkflowCatalog((builtin, *settings.workflow_dirs), released=builtin / "released")
    db = Database(settings.database_url, settings.busy_timeout_ms, settings.fast_path)
    catalog.attach(stored_lookup(db))
    return Runtime(
        settings=settings,
        db=db,
        catalog=catalog,
        clock=clock or SystemClock(),
        mailer=mailer or build_mailer(settings, secrets),
        secrets=secrets,
    )
