"""Commands on people and site access: parse, call one service, present."""

from __future__ import annotations

import click

from napflow import services
from napflow.cli.context import AppState, admin_as, pass_state
from napflow.cli.output import View, local_time, present

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    help="table for people, json for scripts.",
)
COMMENT = click.option("--comment", help="Why (kept in the site ledger).")


@click.group("person")
def person_group() -> None:
    """Register people who take part in plans; change their details; let them leave."""


@person_group.command("add")
@click.argument("email")
@click.option("--name", required=True, help="Display name, e.g. 'Sitora Nazarova (MFA)'.")
@click.option(
    "--timezone", metavar="ZONE", help="IANA zone for their reminders, e.g. Asia/Dushanbe."
)
@click.option(
    "--locale",
    metavar="LANG",
    help="The language of their pages, e.g. ru (default: their browser's).",
)
@admin_as
@pass_state
def person_add(
    state: AppState,
    email: str,
    name: str,
    timezone: str | None,
    locale: str | None,
    as_email: str | None,
) -> None:
    """Register a person by e-mail address."""
    person = services.add_person(state.runtime(), email, name, timezone, locale, actor=as_email)
    click.echo(f"Added {person.email} ({person.name}).")


@person_group.command("edit")
@click.argument("email")
@click.option("--name", help="A new display name.")
@click.option(
    "--timezone", metavar="ZONE", help="A new zone for their reminders; '' to follow each plan's."
)
@click.option("--email", "new_email", metavar="EMAIL", help="A new e-mail address.")
@click.option(
    "--locale",
    metavar="LANG",
    help="The language of their pages and mail, e.g. ru; '' to follow their browser's.",
)
@click.option(
    "--digest",
    metavar="daily|none",
    help="daily: one mail a day listing their messages (urgent ones still go at once); "
    "none: each message as it happens.",
)
@admin_as
@pass_state
def person_edit(
    state: AppState,
    email: str,
    name: str | None,
    timezone: str | None,
    new_email: str | None,
    locale: str | None,
    digest: str | None,
    as_email: str | None,
) -> None:
    """Change a person's name, time zone, e-mail address (recorded), language or mail."""
    person = services.people.edit_person(
        state.runtime(),
        email,
        name=name,
        timezone=timezone,
        new_email=new_email,
        locale=locale,
        digest=digest,
        actor=as_email,
    )
    zone = person.timezone or "each plan's zone"
    language = person.locale or "their browser's language"
    mail = "one mail a day" if person.digest else "each message as it happens"
    click.echo(f"{person.email}: {person.name}, reminders in {zone}, in {language}, {mail}.")


@person_group.command("deactivate")
@click.argument("email")
@COMMENT
@admin_as
@pass_state
def person_deactivate(
    state: AppState, email: str, comment: str | None, as_email: str | None
) -> None:
    """Let a person leave: their sessions and tokens end now, logins and reminders stop.

    Their roles and every record they made stay; `person activate` undoes it.
    """
    person = services.people.deactivate_person(state.runtime(), email, as_email, comment)
    click.echo(
        f"Deactivated {person.email}: sessions and API tokens ended; no logins, actions or "
        "reminders until `napflow person activate`."
    )


@person_group.command("activate")
@click.argument("email")
@COMMENT
@admin_as
@pass_state
def person_activate(state: AppState, email: str, comment: str | None, as_email: str | None) -> None:
    """Let a deactivated person log in, act and be reminded again."""
    person = services.people.activate_person(state.runtime(), email, as_email, comment)
    click.echo(
        f"Activated {person.email} again: they may log in with their password, act and be "
        "reminded again (API tokens ended with the deactivation: create new ones)."
    )


@person_group.command("list")
@admin_as
@FORMAT
@pass_state
def person_list(state: AppState, as_email: str | None, fmt: str) -> None:
    """List everyone registered."""
    found = services.list_people(state.runtime(), as_email)
    present(
        found,
        fmt,
        View(
            "People",
            [
                ("email", lambda p: p.email),
                ("name", lambda p: p.name),
                ("time zone", lambda p: p.timezone),
                ("language", lambda p: p.locale),
                (
                    "active",
                    lambda p: "yes" if p.active else f"no, since {p.deactivated_at:%Y-%m-%d}",
                ),
            ],
            empty="No people are registered.",
        ),
    )


@click.group("access")
def access_group() -> None:
    """Site access not tied to one plan: admin, auditor, reader."""


_GRANT = click.Choice(["admin", "auditor", "reader"], case_sensitive=False)
_COUNTRY = click.option(
    "--country",
    "countries",
    metavar="ISO3",
    multiple=True,
    help="Only this country's plans (repeat for several); else every country.",
)


@access_group.command("grant")
@click.argument("email")
@click.argument("grant", type=_GRANT)
@_COUNTRY
@COMMENT
@admin_as
@pass_state
def access_grant(
    state: AppState,
    email: str,
    grant: str,
    countries: tuple[str, ...],
    comment: str | None,
    as_email: str | None,
) -> None:
    """Give EMAIL a site grant: admin (everything), auditor or reader (read only).

    An auditor reads every record of the plans covered and downloads their audit bundles;
    a reader reads those plans. Neither acts.
    """
    done = services.access.grant_access(state.runtime(), email, grant, countries, as_email, comment)
    click.echo(_said(done, "Granted", "already held"))


@access_group.command("revoke")
@click.argument("email")
@click.argument("grant", type=_GRANT)
@_COUNTRY
@COMMENT
@admin_as
@pass_state
def access_revoke(
    state: AppState,
    email: str,
    grant: str,
    countries: tuple[str, ...],
    comment: str | None,
    as_email: str | None,
) -> None:
    """Take a site grant from EMAIL (every country's, or those of --country)."""
    done = services.access.revoke_access(
        state.runtime(), email, grant, countries, as_email, comment
    )
    click.echo(_said(done, "Revoked", "not held"))


def _said(done: services.access.AccessChange, verb: str, unchanged: str) -> str:
    where = ", ".join("every country" if c == "*" else c for c in done.changed)
    if not done.changed:
        return f"{done.email}: {done.grant} {unchanged}; nothing changed."
    return f"{verb} {done.grant} ({where}) for {done.email} (site record {done.seq})."


@access_group.command("list")
@admin_as
@FORMAT
@pass_state
def access_list(state: AppState, as_email: str | None, fmt: str) -> None:
    """List every site grant."""
    found = services.access.list_access(state.runtime(), as_email)
    present(
        found,
        fmt,
        View(
            "Site access",
            [
                ("email", lambda a: a.email),
                ("name", lambda a: a.name),
                ("grant", lambda a: a.grant),
                ("country", lambda a: "every country" if a.country == "*" else a.country),
                ("since (UTC)", lambda a: local_time(a.granted_at, "UTC")),
            ],
            empty="No site access is granted: the CLI on this host is the only administrator.",
        ),
    )


COMMANDS = [person_group, access_group]
