"""Services for plans: create one, list them, show one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, func, not_, or_, select, update

from napflow import inputs
from napflow.errors import InputError, RefusedError
from napflow.i18n import N_, _
from napflow.ledger.record import UNVERSIONED_KINDS, Kind
from napflow.runtime import Runtime
from napflow.services._outbox import sync_reminders
from napflow.services._plan_facts import allowed_now, role_holders
from napflow.services._records import append, load_plan, start
from napflow.services._timers import sync_timers
from napflow.services._visibility import load_viewer, plan_for, visible_clause
from napflow.services._workflow_versions import ensure_stored
from napflow.services.access import require_admin
from napflow.services.history import state_changes
from napflow.storage.schema import Status, deadlines, history, plans, roles
from napflow.storage.text import plan_search_text
from napflow.workflow.calendar import day_end


@dataclass(frozen=True)
class PlanView:
    """A plan as shown to users and scripts."""

    key: str
    country: str
    country_name: str
    title: str
    workflow: str
    workflow_version: int
    state: str
    version: int
    timezone: str
    created_at: datetime
    updated_at: datetime
    #: the language of mails to people on the plan who chose none (None: English)
    locale: str | None = None
    allowed: list[str] | None = None
    roles: dict[str, list[str]] = field(default_factory=dict)


def _view(row: Row[Any], **extra: Any) -> PlanView:
    return PlanView(
        key=row.key,
        country=row.country,
        country_name=inputs.country_name(row.country),
        title=row.title,
        workflow=row.workflow,
        workflow_version=row.workflow_version,
        state=row.state,
        version=row.version,
        timezone=row.timezone,
        created_at=row.created_at,
        updated_at=row.updated_at,
        locale=row.locale,
        **extra,
    )


def _next_key(conn: Connection, country: str) -> str:
    count = conn.execute(select(func.count()).where(plans.c.country == country)).scalar_one()
    n = count + 1
    while conn.execute(select(plans.c.id).where(plans.c.key == f"{country}-{n}")).first():
        n += 1
    return f"{country}-{n}"


def create_plan(
    rt: Runtime,
    country: str,
    title: str,
    workflow: str = "nap",
    timezone: str | None = None,
    key: str | None = None,
    actor: str | None = None,
    locale: str | None = None,
) -> PlanView:
    """Create a plan in its workflow's initial state, recording its creation in its history.

    Administrators only (``actor`` None: the operator); the record names who created it.
    ``locale`` is the language of mails to people on the plan who chose none.
    """
    country = inputs.country_code(country)
    title = inputs.plan_title(title)
    zone = inputs.timezone(timezone or rt.settings.default_timezone)
    wanted = inputs.plan_key(key) if key is not None else None
    language = inputs.locale(locale) if locale is not None else None
    definition = rt.catalog.get(workflow)
    now = rt.clock.now()
    with rt.db.write() as conn:
        who = require_admin(conn, actor, N_("Cannot create plans as %(actor)s: %(reason)s."))
        if (
            wanted is not None
            and conn.execute(select(plans.c.id).where(plans.c.key == wanted)).first()
        ):
            raise RefusedError(
                _("A plan with key %(key)s exists already; choose another %(option)s.")
                % {"key": wanted, "option": "--key"}
            )
        plan_key = wanted or _next_key(conn, country)
        ensure_stored(
            conn, rt.catalog, definition, audit_key=rt.secrets.audit_key, at=now, actor=who
        )
        start(
            conn,
            audit_key=rt.secrets.audit_key,
            plan={
                "key": plan_key,
                "country": country,
                "title": title,
                "workflow": definition.name,
                "workflow_version": definition.version,
                "state": definition.initial,
                "timezone": zone,
                "locale": language,
                "created_at": now,
                "updated_at": now,
            },
            kind=Kind.CREATED,
            actor=who,
            to_state=definition.initial,
            payload={
                "title": title,
                "country": country,
                "timezone": zone,
                **({"locale": language} if language else {}),
            },
        )
        row = load_plan(conn, plan_key)
        sync_timers(conn, definition, row, now)  # its first state may have one
    return _view(row)


def edit_plan(
    rt: Runtime,
    key: str,
    *,
    title: str | None = None,
    timezone: str | None = None,
    locale: str | None = None,
    actor: str | None = None,
) -> PlanView:
    """Change a plan's title, time zone or language (an administrator's change), recorded.

    The record keeps each changed value before and after. A new zone moves the reminders of
    everyone who has no zone of their own (they follow the plan's); deadlines keep theirs.
    The language is that of mails to people on the plan who chose none ("" clears it).
    """
    key = inputs.plan_key(key)
    if title is None and timezone is None and locale is None:
        raise InputError(
            _("Nothing to change on %(key)s: give a new %(title)s, %(zone)s or %(locale)s.")
            % {"key": key, "title": "--title", "zone": "--timezone", "locale": "--locale"}
        )
    new_title = inputs.plan_title(title) if title is not None else None
    new_zone = inputs.timezone(timezone) if timezone is not None else None
    new_locale = (inputs.locale(locale) if locale.strip() else "") if locale is not None else None
    now = rt.clock.now()
    with rt.db.write() as conn:
        who = require_admin(
            conn, actor, N_("Cannot edit %(key)s as %(actor)s: %(reason)s."), key=key
        )
        plan = load_plan(conn, key)
        row = conn.execute(select(plans.c.title, plans.c.locale).where(plans.c.id == plan.id)).one()
        changed: dict[str, list[str]] = {}
        if new_title is not None and new_title != row.title:
            changed["title"] = [row.title, new_title]
        if new_zone is not None and new_zone != plan.timezone:
            changed["timezone"] = [plan.timezone, new_zone]
        if new_locale is not None and new_locale != (row.locale or ""):
            changed["locale"] = [row.locale or "", new_locale]
        if changed:
            values: dict[str, Any] = {name: after for name, (_b, after) in changed.items()}
            if "locale" in values:
                values["locale"] = values["locale"] or None
            if "title" in values:
                values["search"] = plan_search_text(plan.key, values["title"])
            conn.execute(update(plans).where(plans.c.id == plan.id).values(values))
            append(
                conn,
                plan,
                audit_key=rt.secrets.audit_key,
                kind=Kind.PLAN_EDITED,
                at=now,
                actor=who,
                payload=changed,
            )
        found = load_plan(conn, key)  # as it is now: the reminders are timed in its zone
        if "timezone" in changed:
            sync_reminders(conn, rt.catalog.get(plan.workflow, plan.workflow_version), found, now)
    return _view(found)


def _missed(rt: Runtime) -> Any:
    """Return the ids of plans with a deadline missed: due, still open, and not a session.

    A session (a deadline kind of type ``event``) whose day has passed took place; it is
    not late (napflow.services.deadlines).
    """
    events = [
        and_(plans.c.workflow == name, deadlines.c.kind.in_(sorted(kinds)))
        for name in rt.catalog.names()
        if (kinds := {k.name for k in rt.catalog.get(name).deadlines if k.type == "event"})
    ]
    missed = (
        select(deadlines.c.plan_id)
        .join(plans, plans.c.id == deadlines.c.plan_id)
        .where(deadlines.c.status == Status.PENDING, deadlines.c.due_at < rt.clock.now())
    )
    return missed.where(not_(or_(*events))) if events else missed


def _check_state(rt: Runtime, state: str) -> None:
    known = sorted({s for n in rt.catalog.names() for s in rt.catalog.get(n).state_names})
    if state not in known:
        raise InputError(
            _("There is no state %(state)r; states: %(states)s.")
            % {"state": state, "states": ", ".join(known)}
        )


def list_plans(
    rt: Runtime,
    state: str | None = None,
    *,
    viewer: str | None = None,
    country: str | None = None,
    role: str | None = None,
    overdue: bool | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[PlanView]:
    """Return the plans ``viewer`` sees (None: the operator, every plan), by key.

    Filters: ``state``; ``country`` (ISO alpha-3); ``role`` the viewer holds on the plan;
    ``overdue`` (a deadline missed and still open, or none). ``after`` a key and ``limit``
    give one page of the list (keys after that one).
    """
    query = select(plans).order_by(plans.c.key)
    if state is not None:
        _check_state(rt, state)
        query = query.where(plans.c.state == state)
    if country is not None:
        query = query.where(plans.c.country == inputs.country_code(country))
    if after is not None:
        query = query.where(plans.c.key > after)
    if overdue is not None:
        late = _missed(rt)
        query = query.where(plans.c.id.in_(late) if overdue else plans.c.id.not_in(late))
    if role is not None:
        known = {r for n in rt.catalog.names() for r in rt.catalog.get(n).role_names}
        if role not in known:
            raise InputError(
                _("There is no role %(role)r; roles: %(roles)s.")
                % {"role": role, "roles": ", ".join(sorted(known))}
            )
    if limit is not None:
        query = query.limit(limit)
    with rt.db.read() as conn:
        who = load_viewer(conn, viewer)
        query = query.where(visible_clause(who))
        if role is not None:
            query = query.where(
                plans.c.id.in_(
                    select(roles.c.plan_id).where(
                        roles.c.person_id == who.person_id, roles.c.role == role
                    )
                )
            )
        return [_view(r) for r in conn.execute(query)]


@dataclass(frozen=True)
class PlanAsOf:
    """Where a plan stood at the end of a day in its zone."""

    key: str
    country: str
    title: str
    workflow: str
    state: str
    version: int
    #: when the plan entered that state
    since: datetime
    timezone: str


def plans_as_of(
    rt: Runtime, day: date, state: str | None = None, *, viewer: str | None = None
) -> list[PlanAsOf]:
    """Return every plan's state at the end of ``day`` in the plan's zone, from its history.

    Plans created later are left out; ``state`` keeps those in that state then; only the
    plans ``viewer`` sees (None: the operator, every plan).
    """
    if state is not None:
        _check_state(rt, state)
    found = []
    with rt.db.read() as conn:
        visible = visible_clause(load_viewer(conn, viewer))
        for row in conn.execute(select(plans).where(visible).order_by(plans.c.key)):
            cutoff = day_end(day, row.timezone)
            changes = state_changes(conn, row.id, before=cutoff)
            if not changes:
                continue
            actions = conn.execute(
                select(func.count()).where(
                    history.c.plan_id == row.id,
                    history.c.at < cutoff,
                    history.c.kind.not_in(sorted(UNVERSIONED_KINDS)),
                )
            ).scalar_one()
            last = changes[-1]
            if state is None or last.to_state == state:
                found.append(
                    PlanAsOf(
                        row.key,
                        row.country,
                        row.title,
                        row.workflow,
                        last.to_state,
                        actions,
                        last.at,
                        row.timezone,
                    )
                )
    return found


def plan_countries(rt: Runtime, *, viewer: str | None = None) -> list[str]:
    """Return the countries of the plans ``viewer`` sees (ISO alpha-3), sorted."""
    with rt.db.read() as conn:
        visible = visible_clause(load_viewer(conn, viewer))
        query = select(plans.c.country).where(visible).distinct()
        return sorted(conn.execute(query).scalars())


def show_plan(rt: Runtime, key: str, as_email: str | None = None) -> PlanView:
    """Return one plan with its roles and the triggers ``as_email`` (or anyone) may fire now.

    ``as_email`` must see the plan (else it is answered as missing); without it, the
    operator sees every plan.
    """
    key = inputs.plan_key(key)
    actor = inputs.email_address(as_email) if as_email is not None else None
    with rt.db.read() as conn:
        row = plan_for(conn, actor, key)
        engine = rt.catalog.engine(row.workflow, row.workflow_version)
        allowed = allowed_now(conn, engine, row, actor)
        holders = role_holders(conn, row.id)
    return _view(
        row,
        allowed=allowed,
        roles={
            role: sorted(holders[role]) for role in engine.definition.role_names if role in holders
        },
    )
