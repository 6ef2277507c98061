"""What every command is handed: the parsed root options, and the Runtime built on first use.

Importing this is cheap: the settings, the wiring and the database are loaded only when a
command asks for them (``napflow --help`` loads none of them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from napflow.runtime import Runtime
    from napflow.runtime.secrets import Secrets
    from napflow.runtime.settings import Settings


class AppState:
    """What the root command parsed; the secrets and the Runtime are read on first use."""

    def __init__(self, db_url: str | None = None, config: str | None = None) -> None:
        self.db_url = db_url
        self.config = config
        self._runtime: Runtime | None = None
        self._secrets: Secrets | None = None

    def secrets(self) -> Secrets:
        """Return the secrets, read from the environment once, without wiring anything.

        For commands that need a secret but no database or configuration (checking an
        audit bundle on an auditor's machine); the Runtime gets the same secrets.
        """
        if self._secrets is None:
            from napflow.runtime.secrets import read_secrets

            self._secrets = read_secrets()
        return self._secrets

    def settings(self) -> Settings:
        """Return the settings with the --db flag applied."""
        from napflow.runtime.settings import load_settings

        settings = load_settings(self.config)
        if self.db_url is not None:
            settings = dataclasses.replace(settings, database_url=self.db_url)
        return settings

    def runtime(self) -> Runtime:
        """Return the Runtime, wiring it on first use."""
        if self._runtime is None:
            from napflow.runtime.bootstrap import build_runtime

            self._runtime = build_runtime(self.settings(), secrets=self.secrets())
        return self._runtime

    def close(self) -> None:
        """Close the database connections, if any were opened."""
        if self._runtime is not None:
            self._runtime.db.dispose()
            self._runtime = None


pass_state = click.make_pass_decorator(AppState)

_Command = TypeVar("_Command", bound=Callable[..., Any])


def acting_as(what: str) -> Callable[[_Command], _Command]:
    """Return the ``--as EMAIL`` option of a change a workflow lets some roles make.

    ``what`` names the change ("manage roles"); without the option the change is the
    administrator's (the CLI on the database host).
    """
    return click.option(
        "--as",
        "as_email",
        metavar="EMAIL",
        help=f"Make the change as this person, who must hold a role the workflow lets {what} "
        "(recorded as theirs); else it is the administrator's.",
    )


#: ``--as EMAIL`` on a read: see only what that person sees (their roles and site grants)
viewing_as = click.option(
    "--as",
    "as_email",
    metavar="EMAIL",
    help="Show only what this person may see (the plans they are on or a site grant "
    "covers); else everything, as the administrator.",
)

#: ``--as EMAIL`` on an administrator's change (people, site access, plans)
admin_as = click.option(
    "--as",
    "as_email",
    metavar="EMAIL",
    help="Make the change as this person, who must hold the admin site grant (recorded as "
    "theirs); else it is the administrator's at the CLI.",
)

#: the id of a row (a deadline, a token): the databases keep them as 32-bit integers
ROW_ID = click.IntRange(1, 2**31 - 1)
