"""Administration pages (people, accounts, plans, site access); plan role and deadline forms.

Like every page (napflow.web.pages): the session is checked on the server, every form
carries the session's CSRF token, every change goes through the same service as the CLI
with the logged-in person as its actor. The administration pages are for holders of the
admin site grant: anyone else is answered 403 by every page and form, and the services
check again. The role and deadline forms on a plan's page are shown to the holders of the
roles its workflow names (``manage_roles``, ``manage_deadlines``) and to administrators;
the services decide who may, whoever posts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import pass_context
from jinja2.runtime import Context

from napflow import services
from napflow.errors import NapflowError, NotAllowedError, NotFoundError
from napflow.i18n import N_, _, pgettext
from napflow.runtime import Runtime
from napflow.services import accounts, feeds
from napflow.services.accounts import Session
from napflow.web.http import status_for

# pages.py's helpers, shared within the web package (private to it, not to pages.py)
from napflow.web.pages import _plan_page, _render, _rt, _to_login, _user, error_page, templates

router = APIRouter(include_in_schema=False)

_EXPIRED = N_("This form has expired; reload the page and try again.")
#: what a page says after a change that has nothing else to show (by the ?done= value)
_DONE = {
    "password": N_(
        "The new password is set; every session of theirs has ended. Give it to them "
        "by a safe channel."
    ),
    "feed": N_("The calendar feed has a new link; the old one no longer works."),
}


def _done(request: Request) -> str | None:
    """Return what the page says after the change its ``?done=`` names, in the reader's words."""
    said = _DONE.get(request.query_params.get("done", ""))
    return _(said) if said else None


def _path(email: str) -> str:
    """Return an e-mail address as a segment of a page's path."""
    return quote(email, safe="@")


def _plan_url(key: str) -> str:
    return f"/plans/{quote(key.upper())}"


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _acting(request: Request, csrf: str) -> Session | Response:
    """Return the person posting a form, or the answer when there is none or the token is wrong."""
    user = _user(request)
    if user is None:
        return _to_login(request)
    if not accounts.csrf_matches(user, csrf):
        return error_page(request, 403, _(_EXPIRED))
    return user


def _is_admin(rt: Runtime, email: str) -> bool:
    try:
        return services.access.viewer(rt, email).is_admin
    except NapflowError:  # gone meanwhile (unregistered, deactivated): not an administrator
        return False


def _require_admin(request: Request, user: Session, refusal: str, **values: str) -> None:
    """Refuse (403, in the services' words) unless ``user`` holds the admin site grant.

    Every administration page and form asks this first, so that nobody else learns even
    whether their input was well formed; the services ask again when they change anything.
    ``refusal`` and ``values`` as services.access.require_admin takes them.
    """
    services.access.check_admin(_rt(request), user.email, refusal, **values)


def _countries(text: str) -> list[str]:
    """Split a list of country codes typed with commas or spaces."""
    return [code for code in re.split(r"[\s,;]+", text) if code]


# --- what every page's templates may ask ---------------------------------------------------


def _grant_title(grant: str) -> str:
    """Return the name of a site grant in the reader's language ("admin" in English)."""
    titles = {
        "admin": pgettext("site grant", "admin"),
        "auditor": pgettext("site grant", "auditor"),
        "reader": pgettext("site grant", "reader"),
    }
    return titles.get(grant, grant)


@pass_context
def _admin_link(context: Context) -> bool:
    """Tell base.html whether the logged-in person is an administrator (one lookup a page)."""
    user, request = context.get("user"), context.get("request")
    if user is None or request is None:
        return False
    known = getattr(request.state, "napflow_is_admin", None)
    if known is None:
        known = request.state.napflow_is_admin = _is_admin(request.app.state.rt, user.email)
    return bool(known)


@dataclass(frozen=True)
class PlanManagement:
    """The role and deadline forms a plan's page offers the logged-in person."""

    roles: bool
    deadlines: bool
    role_names: tuple[str, ...]
    #: (name, title) of the deadline kinds added by hand (not those a state starts)
    kinds: tuple[tuple[str, str], ...]
    #: False in a final state (and in one its workflow lacks): no deadline can be added
    takes_deadlines: bool


@pass_context
def _plan_management(context: Context, plan: services.PlanView) -> PlanManagement | None:
    """Return the forms plan.html shows ``plan``'s viewer, or None for none.

    For the holders of a role the workflow lets manage roles or deadlines, and for
    administrators; whoever posts, the service decides.
    """
    user, request = context.get("user"), context.get("request")
    if user is None or request is None:
        return None
    rt: Runtime = request.app.state.rt
    try:
        definition = rt.catalog.get(plan.workflow, plan.workflow_version)
    except NapflowError:  # a workflow version napflow does not have: nothing to manage by
        return None
    held = {role for role, emails in plan.roles.items() if user.email in emails}
    admin = bool(_admin_link(context))
    roles = admin or bool(held & set(definition.manage_roles))
    deadlines = admin or bool(held & set(definition.manage_deadlines))
    if not (roles or deadlines):
        return None
    return PlanManagement(
        roles=roles,
        deadlines=deadlines,
        role_names=definition.role_names,
        kinds=tuple((k.name, k.title_in()) for k in definition.deadlines if not k.relative),
        takes_deadlines=plan.state in definition.state_names
        and not definition.is_final(plan.state),
    )


templates.env.globals["is_admin"] = _admin_link
templates.env.globals["plan_management"] = _plan_management
templates.env.filters["pathpart"] = _path
templates.env.filters["grant"] = _grant_title


# --- administration: the index -------------------------------------------------------------


@router.get("/admin", response_class=HTMLResponse)
def admin_index(request: Request) -> Response:
    """Show what an administrator manages, with counts, and the messages that failed."""
    user = _user(request)
    if user is None:
        return _to_login(request)
    _require_admin(
        request, user, N_("Cannot open the administration pages as %(actor)s: %(reason)s.")
    )
    return _admin_index(request, user)


def _admin_index(request: Request, user: Session, code: int = 200, **extra: Any) -> Response:
    rt = _rt(request)
    people = services.list_people(rt, actor=user.email)
    return _render(
        request,
        "admin_index.html",
        user,
        code,
        active=sum(1 for p in people if p.active),
        deactivated=sum(1 for p in people if not p.active),
        plans=len(services.list_plans(rt, viewer=user.email)),
        grants=len(services.access.list_access(rt, actor=user.email)),
        failed=services.list_messages(rt, "failed", viewer=user.email),
        **extra,
    )


@router.post("/admin/messages/{message}/retry", response_class=HTMLResponse)
def retry_message(
    request: Request,
    message: int,
    csrf: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    """Send a message that failed for good again (recorded in its plan's history)."""
    user = _acting(request, csrf)
    if not isinstance(user, Session):
        return user
    try:
        services.reminders.retry_message(_rt(request), message, user.email, comment or None)
    except NotAllowedError:
        raise
    except NapflowError as exc:
        return _admin_index(request, user, status_for(exc), error=exc.message)
    return _redirect("/admin")


# --- people --------------------------------------------------------------------------------


def _people_page(request: Request, user: Session, code: int = 200, **extra: Any) -> Response:
    people = services.list_people(_rt(request), actor=user.email)
    return _render(
        request,
        "admin_people.html",
        user,
        code,
        active=[p for p in people if p.active],
        departed=[p for p in people if not p.active],
        **{"form": {}, **extra},
    )


@router.get("/admin/people", response_class=HTMLResponse)
def people_page(request: Request) -> Response:
    """List everyone registered, active and deactivated, with the form to add a person."""
    user = _user(request)
    if user is None:
        return _to_login(request)
    _require_admin(request, user, N_("Cannot list people as %(actor)s: %(reason)s."))
    return _people_page(request, user)


@router.post("/admin/people", response_class=HTMLResponse)
def add_person(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
) -> Response:
    """Register a person."""
    user = _acting(request, csrf)
    if not isinstance(user, Session):
        return user
    _require_admin(request, user, N_("Cannot add people as %(actor)s: %(reason)s."))
    try:
        person = services.add_person(
            _rt(request), email, name, timezone.strip() or None, actor=user.email
        )
    except NotAllowedError:
        raise
    except NapflowError as exc:
        form = {"email": email, "name": name, "timezone": timezone}
        return _people_page(request, user, status_for(exc), error=exc.message, form=form)
    return _redirect(f"/admin/people/{_path(person.email)}")


def _person_page(
    request: Request, user: Session, email: str, code: int = 200, **extra: Any
) -> Response:
    rt = _rt(request)
    person = services.people.show_person(rt, email, actor=user.email)
    grants = [
        g for g in services.access.list_access(rt, actor=user.email) if g.email == person.email
    ]
    form = {"name": person.name, "timezone": person.timezone or "", "email": person.email}
    return _render(
        request,
        "admin_person.html",
        user,
        code,
        person=person,
        grants=grants,
        done=_done(request),
        **{"form": form, **extra},
    )


@router.get("/admin/people/{email:path}", response_class=HTMLResponse)
def person_page(request: Request, email: str) -> Response:
    """Show one person with the forms to edit, deactivate or activate them, set a password."""
    user = _user(request)
    if user is None:
        return _to_login(request)
    _require_admin(request, user, N_("Cannot see other people's details as %(actor)s: %(reason)s."))
    return _person_page(request, user, email)


@router.post("/admin/people/{email:path}/edit", response_class=HTMLResponse)
def edit_person(
    request: Request,
    email: str,
    csrf: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
    new_email: Annotated[str, Form()] = "",
) -> Response:
    """Change a person's name, time zone (empty: each plan's) or e-mail address."""
    user = _acting(request, csrf)
    if not isinstance(user, Session):
        return user
    _require_admin(request, user, N_("Cannot edit people as %(actor)s: %(reason)s."))
    try:
        person = services.people.edit_person(
            _rt(request),
            email,
            name=name,
            timezone=timezone,
            new_email=new_email,
            actor=user.email,
        )
    except NotAllowedError:
        raise
    except NapflowError as exc:
        form = {"name": name, "timezone": timezone, "email": new_email}
        return _person_page(request, user, email, status_for(exc), error=exc.message, form=form)
    return _redirect(f"/admin/people/{_path(person.email)}")


def _leave_or_return(
    request: Request, email: str, csrf: str, comment: str, leave: bool
) -> Response:
    user = _acting(request, csrf)
    if not isinstance(user, Session):
        return user
    _require_admin(
        request,
        user,
        N_("Cannot deactivate people as %(actor)s: %(reason)s.")
        if leave
        else N_("Cannot activate people as %(actor)s: %(reason)s."),
    )
    change = services.people.deactivate_person if leave else services.people.activate_person
    try:
        person = change(_rt(request), email, user.email, comment or None)
    except NotAllowedError:
        raise
    except NapflowError as exc:
        return _person_page(
            request, user, email, status_for(exc), error=exc.message, comment=comment
        )
    return _redirect(f"/admin/people/{_path(person.email)}")


@router.post("/admin/people/{email:path}/deactivate", response_class=HTMLResponse)
def deactivate_person(
    request: Request,
    email: str,
    csrf: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    """Let a person leave: their sessions and API tokens end now; their records stay."""
    return _leave_or_return(request, email, csrf, comment, leave=True)


@router.post("/admin/people/{email:path}/activate", response_class=HTMLResponse)
def activate_person(
    request: Request,
    email: str,
    csrf: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    """Let a deactivated person back in."""
    return _leave_or_return(request, email, csrf, comment, leave=False)


@router.post("/admin/people/{email:path}/password", response_class=HTMLResponse)
def set_password(
    request: Request,
    email: str,
    csrf: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Give a person a new (temporary) password typed by the administrator; their sessions end."""
    user = _acting(request, csrf)
    if not isinstance(user, Session):
        return user
    _require_admin(request, user, N_("Cannot set passwords as %(actor)s: %(reason)s."))
    rt = _rt(request)
    person = services.people.show_person(rt, email, actor=user.email)
    try:
        if password != confirm:
            message = _("The two passwords differ; type the same one twice.")
            return _person_page(request, user, email, 400, error=message)
        accounts.set_password(rt, person.email, password, actor=user.email)
    except NapflowError as exc:  # the password is never echoed back
        return _person_page(request, user, email, status_for(exc), error=exc.message)
    return _redirect(f"/admin/people/{_path(person.email)}?done=password")


# --- plans ---------------------------------------------------------------------------------


def _plans_page(request: Request, user: Session, code: int = 200, **extra: Any) -> Response:
    rt = _rt(request)
    workflows = [w for w in services.workflows.list_workflows(rt) if not w.problems]
    form = {"workflow": "nap", "timezone": rt.settings.default_timezone}
    return _render(
        request,
        "admin_plans.html",
        user,
        code,
        plans=services.list_plans(rt, viewer=user.email),
        workflows=workflows,
        **{"form": form, **extra},
    )


@router.get("/admin/plans", response_class=HTMLResponse)
def plans_page(request: Request) -> Response:
    """List every plan, with the form to create one."""
    user = _user(request)
    if user is None:
        return _to_login(request)
    _require_admin(request, user, N_("Cannot manage plans as %(actor)s: %(reason)s."))
    return _plans_page(request, user)


@router.post("/admin/plans", response_class=HTMLResponse)
def create_plan(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    country: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    workflow: Annotated[str, Form()] = "nap",
    timezone: Annotated[str, Form()] = "",
    key: Annotated[str, Form()] = "",
) -> Response:
    """Create a plan in its workflow's first state."""
    user = _acting(request, csrf)
    if not isinstance(user, Session):
        return user
    _require_admin(request, user, N_("Cannot create plans as %(actor)s: %(reason)s."))
    try:
        plan = services.create_plan(
            _rt(request),
            country,
            title,
            workflow=workflow,
            timezone=timezone.strip() or None,
            key=key.strip() or None,
            actor=user.email,
        )
    except NotAllowedError:
        raise
    except NapflowError as exc:
        form = {
            "country": country,
            "title": title,
            "workflow": workflow,
            "timezone": timezone,
            "key": key,
        }
        return _plans_page(request, user, status_for(exc), error=exc.message, form=form)
    return _redirect(f"/admin{_plan_url(plan.key)}")


def _plan_admin_page(
    request: Request, user: Session, key: str, code: int = 200, **extra: Any
) -> Response:
    rt = _rt(request)
    plan = services.show_plan(rt, key, user.email)
    return _render(
        request,
        "admin_plan.html",
        user,
        code,
        plan=plan,
        state_title=services.workflows.state_title(
            rt, plan.workflow, plan.state, plan.workflow_version
        ),
        feed=feeds.plan_feed_url(rt, plan.key),
        done=_done(request),
        **{"form": {"title": plan.title, "timezone": plan.timezone}, **extra},
    )


@router.get("/admin/plans/{key}", response_class=HTMLResponse)
def plan_admin_page(request: Request, key: str) -> Response:
    """Show a plan's settings: title, time zone, calendar feed link."""
    user = _user(request)
    if user is None:
        return _to_login(request)
    _require_admin(request, user, N_("Cannot edit %(key)s as %(actor)s: %(reason)s."), key=key)
    return _plan_admin_page(request, user, key)


@router.post("/admin/plans/{key}/edit", response_class=HTMLResponse)
def edit_plan(
    request: Request,
    key: str,
    csrf: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
) -> Response:
    """Change a plan's title or time zone (recorded in its history)."""
    user = _acting(request, csrf)
    if not isinstance(user, Session):
        return user
    _require_admin(request, user, N_("Cannot edit %(key)s as %(actor)s: %(reason)s."), key=key)
    try:
        plan = services.edit_plan(
            _rt(request), key, title=title, timezone=timezone, actor=user.email
        )
    except NotAllowedError:
        raise
    except NapflowError as exc:
        form = {"title": title, "timezone": timezone}
        return _plan_admin_page(request, user, key, status_for(exc), error=exc.message, form=form)
    return _redirect(f"/admin{_plan_url(plan.key)}")


@router.post("/admin/plans/{key}/feed", response_class=HTMLResponse)
def reset_plan_feed(request: Request, key: str, csrf: Annotated[str, Form()] = "") -> Response:
    """Give the plan's calendar feed a new link; the old one stops working at once."""
    user = _acting(request, csrf)
    if not isinstance(user, Session):
        return user
    _require_admin(
        request,
        user,
        N_("Cannot reset the calendar feed of %(key)s as %(actor)s: %(reason)s."),
        key=key,
    )
    rt = _rt(request)
    plan = services.show_plan(rt, key, user.email)  # a plan key, never a person's address
    feeds.reset_feed(rt, plan.key, actor=user.email)
    return _redirect(f"/admin{_plan_url(plan.key)}?done=feed")


# --- site access ---------------------------------------------------------------------------


def _access_page(request: Request, user: Session, code: int = 200, **extra: Any) -> Response:
    rt = _rt(request)
    return _render(
        request,
        "admin_access.html",
        user,
        code,
        grants=services.access.list_access(rt, actor=user.email),
        people=services.list_people(rt, actor=user.email),
        kinds=services.access.GRANTS,
        **{"form": {"grant": "reader"}, **extra},
    )


@router.get("/admin/access", response_class=HTMLResponse)
def access_page(request: Request) -> Response:
    """List the site grants, with the forms to grant and revoke them."""
    user = _user(request)
    if user is None:
        return _to_login(request)
    _require_admin(request, user, N_("Cannot list site access as %(actor)s: %(reason)s."))
    return _access_page(request, user)


def _change_access(
    request: Request,
    csrf: str,
    form: dict[str, str],
    give: bool,
) -> Response:
    user = _acting(request, csrf)
    if not isinstance(user, Session):
        return user
    _require_admin(
        request,
        user,
        N_("Cannot grant site access as %(actor)s: %(reason)s.")
        if give
        else N_("Cannot revoke site access as %(actor)s: %(reason)s."),
    )
    change = services.access.grant_access if give else services.access.revoke_access
    try:
        change(
            _rt(request),
            form["email"],
            form["grant"],
            _countries(form["countries"]),
            actor=user.email,
            comment=form["comment"] or None,
        )
    except NotAllowedError:
        raise
    except NapflowError as exc:
        return _access_page(request, user, status_for(exc), error=exc.message, form=form)
    return _redirect("/admin/access")


@router.post("/admin/access/grant", response_class=HTMLResponse)
def grant_access(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    grant: Annotated[str, Form()] = "",
    countries: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    """Give a person a site grant: admin, or auditor or reader of every country or some."""
    form = {"email": email, "grant": grant, "countries": countries, "comment": comment}
    return _change_access(request, csrf, form, give=True)


@router.post("/admin/access/revoke", response_class=HTMLResponse)
def revoke_access(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    grant: Annotated[str, Form()] = "",
    countries: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    """Take a site grant (every country's of that kind when no country is named)."""
    form = {"email": email, "grant": grant, "countries": countries, "comment": comment}
    return _change_access(request, csrf, form, give=False)


# --- a plan's roles and deadlines, from its page -------------------------------------------


def _on_plan_page(
    request: Request, user: Session, key: str, exc: NapflowError, form: dict[str, Any]
) -> Response:
    """Show the plan's page again with the refusal and what was typed (the status its own)."""
    context = _plan_page(request, user, key, error=exc.message, manage_form=form)
    return _render(request, "plan.html", user, status_for(exc), **context)


def _change_role(
    request: Request, key: str, csrf: str, email: str, role: str, comment: str, give: bool
) -> Response:
    user = _acting(request, csrf)
    if not isinstance(user, Session):
        return user
    change = services.grant_role if give else services.revoke_role
    try:
        change(_rt(request), key, email, role, actor=user.email, comment=comment or None)
    except NapflowError as exc:
        which = "grant" if give else "revoke"
        form = {"which": which, "email": email, "role": role, "comment": comment}
        return _on_plan_page(request, user, key, exc, form)
    return _redirect(_plan_url(key))


@router.post("/plans/{key}/roles/grant", response_class=HTMLResponse)
def grant_role(
    request: Request,
    key: str,
    csrf: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    """Give a registered person a role on the plan (its workflow says who may)."""
    return _change_role(request, key, csrf, email, role, comment, give=True)


@router.post("/plans/{key}/roles/revoke", response_class=HTMLResponse)
def revoke_role(
    request: Request,
    key: str,
    csrf: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    """Take a role on the plan away from a person."""
    return _change_role(request, key, csrf, email, role, comment, give=False)


@router.post("/plans/{key}/deadlines", response_class=HTMLResponse)
def add_deadline(
    request: Request,
    key: str,
    csrf: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    on: Annotated[str, Form()] = "",
    end: Annotated[str, Form()] = "",
    at: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    location: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    """Give the plan a deadline of a kind its workflow declares (its workflow says who may)."""
    user = _acting(request, csrf)
    if not isinstance(user, Session):
        return user
    try:
        services.add_deadline(
            _rt(request),
            key,
            kind,
            on,
            end=end or None,
            at=at or None,
            timezone=timezone.strip() or None,
            title=title.strip() or None,
            location=location.strip() or None,
            actor=user.email,
            comment=comment or None,
        )
    except NapflowError as exc:
        form = {
            "which": "add",
            "kind": kind,
            "on": on,
            "end": end,
            "at": at,
            "timezone": timezone,
            "title": title,
            "location": location,
            "comment": comment,
        }
        return _on_plan_page(request, user, key, exc, form)
    return _redirect(_plan_url(key))


def _check_on_plan(request: Request, user: Session, key: str, deadline_id: int) -> None:
    """Refuse a deadline that is not the plan's (as missing), or a plan the person does not see."""
    found = services.list_deadlines(_rt(request), key, viewer=user.email)
    if all(d.id != deadline_id for d in found):
        raise NotFoundError(
            _("Plan %(key)s has no deadline %(id)s.") % {"key": key.upper(), "id": deadline_id},
            missing="deadline",
            key=deadline_id,
        )


@router.post("/plans/{key}/deadlines/{deadline_id}/move", response_class=HTMLResponse)
def move_deadline(
    request: Request,
    key: str,
    deadline_id: int,
    csrf: Annotated[str, Form()] = "",
    on: Annotated[str, Form()] = "",
    at: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    """Move a pending deadline to another date (and time); its reminders move with it."""
    user = _acting(request, csrf)
    if not isinstance(user, Session):
        return user
    try:
        _check_on_plan(request, user, key, deadline_id)
        services.move_deadline(
            _rt(request), deadline_id, on, at or None, actor=user.email, comment=comment or None
        )
    except NapflowError as exc:
        form = {"which": "move", "id": deadline_id, "on": on, "at": at, "comment": comment}
        return _on_plan_page(request, user, key, exc, form)
    return _redirect(_plan_url(key))


@router.post("/plans/{key}/deadlines/{deadline_id}/cancel", response_class=HTMLResponse)
def cancel_deadline(
    request: Request,
    key: str,
    deadline_id: int,
    csrf: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    """Cancel a pending deadline and every reminder queued for it."""
    user = _acting(request, csrf)
    if not isinstance(user, Session):
        return user
    try:
        _check_on_plan(request, user, key, deadline_id)
        services.cancel_deadline(
            _rt(request), deadline_id, actor=user.email, comment=comment or None
        )
    except NapflowError as exc:
        form = {"which": "cancel", "id": deadline_id, "comment": comment}
        return _on_plan_page(request, user, key, exc, form)
    return _redirect(_plan_url(key))
