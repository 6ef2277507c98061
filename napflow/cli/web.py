"""Commands for the web app: serve it, give people passwords, make API tokens."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from napflow import services
from napflow.cli.context import ROW_ID, AppState, pass_state
from napflow.cli.output import View, present


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes serving requests (each with its own database connections).",
)
@click.option(
    "--with-scheduler",
    is_flag=True,
    help="Also send reminders, from this process only (never from the workers); "
    "else run `napflow scheduler` beside it.",
)
@pass_state
def serve(state: AppState, host: str, port: int, workers: int, with_scheduler: bool) -> None:
    """Serve the web app and the JSON API (/api/v1, schema at /api/v1/openapi.json)."""
    import uvicorn

    from napflow.scheduler.daemon import start_background
    from napflow.web import create_app
    from napflow.web.worker import settle

    rt = state.runtime()
    rt.db.require_current_schema()  # a missing or outdated database fails here, not per request
    from napflow.runtime import logs

    logs.configure()
    where = f"http://{host}:{port}/"
    if workers == 1:
        target: Any = create_app(rt)
        settle()  # each worker does the same once its app is built
        click.echo(f"napflow serves {rt.db.describe()} at {where} (Ctrl-C stops it).")
    else:
        # the workers are new processes (uvicorn spawns them): they build their own Runtime
        # from these settings (napflow.web.worker), and never a scheduler
        os.environ["NAPFLOW_DATABASE_URL"] = rt.settings.database_url
        if state.config is not None:
            os.environ["NAPFLOW_CONFIG"] = str(Path(state.config).resolve())
        target = "napflow.web.worker:create_worker_app"
        click.echo(
            f"napflow serves {rt.db.describe()} at {where} with {workers} worker processes "
            "(Ctrl-C stops them)."
        )
    scheduler = start_background(rt, rt.settings.poll_seconds) if with_scheduler else None
    if scheduler is not None:
        click.echo("Reminders are sent from this process (one scheduler, not one per worker).")
    try:
        uvicorn.run(
            target,
            host=host,
            port=port,
            workers=workers,  # never None: uvicorn would read WEB_CONCURRENCY instead
            factory=workers > 1,
            log_level="warning",
            # the app reads X-Forwarded-For/-Proto itself, from [web] trusted_proxies
            # (napflow.web.proxies); uvicorn's own handling would trust
            # $FORWARDED_ALLOW_IPS (even "*") and rewrite the client before the app sees it
            proxy_headers=False,
        )
    finally:
        if scheduler is not None:
            scheduler.shutdown()


@click.group("user")
def user_group() -> None:
    """Manage accounts for the web app."""


@user_group.command("set-password")
@click.argument("email")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (scripts)."
)
@pass_state
def set_password(state: AppState, email: str, password_stdin: bool) -> None:
    """Let EMAIL (a registered person) log in to the web app with a password."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    services.accounts.set_password(state.runtime(), email, password)
    click.echo(f"{email} can log in to the web app now; their other sessions were ended.")


@click.group("token")
def token_group() -> None:
    """Create API tokens for scripts."""


@token_group.command("create")
@click.argument("email")
@click.option("--label", default="api", show_default=True, help="What the token is for.")
@pass_state
def token_create(state: AppState, email: str, label: str) -> None:
    """Create an API token acting as EMAIL; it is printed once and stored only hashed."""
    click.echo(services.accounts.create_api_token(state.runtime(), email, label))


@token_group.command("list")
@click.argument("email", required=False)
@pass_state
def token_list(state: AppState, email: str | None) -> None:
    """List API tokens (of EMAIL): id, owner, label, created, last used."""
    found = services.accounts.list_api_tokens(state.runtime(), email)
    present(
        found,
        "table",
        View(
            "API tokens",
            [
                ("id", lambda t: t.id),
                ("email", lambda t: t.email),
                ("label", lambda t: t.label),
                ("created", lambda t: t.created_at),
                ("last used", lambda t: t.last_used_at),
            ],
            # the address is not echoed: the list shows the owners it found, and only them
            empty="No API tokens." if email is None else "That person has no API tokens.",
        ),
    )


@token_group.command("revoke")
@click.argument("token_id", metavar="ID", type=ROW_ID)
@pass_state
def token_revoke(state: AppState, token_id: int) -> None:
    """Revoke API token ID: requests that carry it are refused from now on."""
    gone = services.accounts.revoke_api_token(state.runtime(), token_id)
    click.echo(f"Revoked API token {gone.id} ({gone.label}) of {gone.email}.")


COMMANDS = [serve, user_group, token_group]
