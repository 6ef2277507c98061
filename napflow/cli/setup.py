"""``napflow init``: create or upgrade the database."""

from __future__ import annotations

import click

from napflow import services
from napflow.cli.context import AppState, pass_state


@click.command("init")
@click.option(
    "--demo", is_flag=True, help="Also load the demo plans (Tajikistan 2015 and two more)."
)
@pass_state
def init_command(state: AppState, demo: bool) -> None:
    """Create the database, or upgrade it to the newest schema."""
    result = services.init_database(state.runtime())
    demo_loaded = services.load_demo(state.runtime()) if demo else None
    if result.revision_before == result.revision_after:
        click.echo(f"Database {result.database} is up to date (schema {result.revision_after}).")
    else:
        click.echo(f"Database {result.database} is at schema {result.revision_after}.")
    if demo_loaded is True:
        click.echo("Loaded the demo plans: TJK-2015, TKM-2018, KGZ-2021.")
        password = services.demo.DEMO_PASSWORD
        click.echo(f"Demo logins for the web app (`napflow serve`), password {password!r}:")
        for plan, role, email in services.demo.demo_logins(state.runtime()):
            click.echo(f"  {role:<12} {email}  ({plan})")
    elif demo_loaded is False:
        click.echo("The demo plans were loaded already; nothing added.")


COMMANDS = [init_command]
