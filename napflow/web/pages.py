"""The pages: log in and out, the dashboard, a plan's page and its actions.

Every page checks the session on the server; every form carries the session's CSRF token;
every action goes through the same service as the CLI, which checks the person's role.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from napflow import i18n, inputs, services
from napflow.errors import (
    ConflictError,
    InputError,
    NapflowError,
    NotAllowedError,
    RefusedError,
)
from napflow.i18n import N_, _
from napflow.i18n.jinja import install as install_i18n
from napflow.i18n.translate import set_locale
from napflow.runtime import Runtime
from napflow.services import accounts, audit, choices, feeds, plan_list, workflows
from napflow.services.accounts import Session
from napflow.services.workflows import ACTION_KINDS
from napflow.timezones import to_local
from napflow.web.downloads import draft_download
from napflow.web.http import status_for
from napflow.web.language import LOCALE_COOKIE
from napflow.web.svg_timeline import journey_svg

COOKIE = "napflow_session"
#: how many of a plan's queued reminders its page lists (the soonest)
REMINDERS_SHOWN = 20
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
install_i18n(templates.env)
templates.env.filters["local"] = lambda when, zone: f"{to_local(when, zone):%Y-%m-%d %H:%M}"
router = APIRouter(include_in_schema=False)


templates.env.filters["number"] = i18n.format_number
#: a moment as the day it was where the plan is ("30 July 2015")
templates.env.filters["local_day"] = lambda when, zone: i18n.format_date(
    to_local(when, zone).date()
)


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def _user(request: Request) -> Session | None:
    """Return who is logged in, and write the rest of this request in their language.

    (Until now it was the language the request asks for: napflow.web.language.)
    """
    user = accounts.session_for(_rt(request), request.cookies.get(COOKIE))
    if user is not None and user.locale in i18n.AVAILABLE:
        set_locale(user.locale)
    return user


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def _render(
    request: Request, name: str, user: Session | None, code: int = 200, **extra: Any
) -> HTMLResponse:
    # where the language switch returns: this page, unless it answers a form
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    context = {"user": user, "here": _local_path(here) if request.method == "GET" else "/"}
    context.update(extra)
    response = templates.TemplateResponse(request, name, context, status_code=code)
    response.headers["Content-Language"] = i18n.current_locale()
    return response


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """Render an error as a page (the API answers problem+json instead).

    ``message`` is in the reader's language already, or is one of napflow's own messages in
    English (N_), translated here once the logged-in person's language is known.
    """
    user = _user(request) if status != 503 else None  # a 503 may be the session lookup's own
    # the language switch returns home, not to a link that may carry a secret
    return _render(request, "error.html", user, status, status=status, message=_(message), here="/")


def _local_path(target: str | None) -> str:
    """Return ``target`` if it is a path on this site, else the dashboard (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


LOGIN_COOKIE = "napflow_login"


def _login_form(
    request: Request, code: int = 200, next_path: str = "/", **context: Any
) -> HTMLResponse:
    """Render the login form with a fresh CSRF token, also set as a cookie (double submit)."""
    token = secrets.token_urlsafe(32)
    response = _render(
        request, "login.html", None, code, next=_local_path(next_path), login_csrf=token, **context
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    """Show the login form."""
    return _login_form(request, next_path=next)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
    login_csrf: Annotated[str, Form()] = "",
) -> Response:
    """Check the password, open a new session, go where the person was heading.

    The form's token must match the cookie set with it, so another site cannot log a
    visitor in to an account of its choosing.
    """
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not accounts.same_token(expected, login_csrf):
        message = _("This login form has expired; please log in again.")
        return _login_form(request, 403, next, error=message, email=email)
    try:
        client = request.client.host if request.client else ""
        session = accounts.log_in(_rt(request), email, password, client)
    except NapflowError as exc:
        return _login_form(request, status_for(exc), next, error=exc.message, email=email)
    response = RedirectResponse(_local_path(next), status_code=303)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    response.set_cookie(
        COOKIE,
        session.token,
        max_age=accounts.SESSION_HOURS * 3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """End the session on the server and forget the cookie."""
    user = _user(request)
    if user is not None and not accounts.csrf_matches(user, csrf):
        return error_page(request, 403, _("This form has expired; reload the page and try again."))
    accounts.log_out(_rt(request), request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.post("/language")
def choose_language(
    request: Request,
    locale: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Switch the language of the pages (logged in: the account's language).

    Logged in, the choice is the account's (the form carries the session's token);
    otherwise it is kept in a cookie. A form another site sent is refused either way:
    the session cookie does not come with it (SameSite), so the token cannot be asked
    for, but the browser says where the form came from.
    """
    user = _user(request)
    if request.headers.get("sec-fetch-site") == "cross-site":
        message = _("This form has expired; reload the page and try again.")
        return error_page(request, 403, message)
    try:
        language = inputs.locale(locale)
    except InputError as exc:  # in the reader's language
        return error_page(request, 400, exc.message)
    response = RedirectResponse(_local_path(next), status_code=303)
    if user is not None:
        if not accounts.csrf_matches(user, csrf):
            message = _("This form has expired; reload the page and try again.")
            return error_page(request, 403, message)
        services.people.choose_language(_rt(request), user.email, language)
    response.set_cookie(
        LOCALE_COOKIE,
        language,
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.get("/me", response_class=HTMLResponse)
def my_settings(request: Request, saved: str = "") -> Response:
    """Show the person's own settings: how they get mail, and their language."""
    user = _user(request)
    if user is None:
        return _to_login(request)
    return _me(request, user, saved=bool(saved))


def _me(request: Request, user: Session, code: int = 200, **extra: Any) -> HTMLResponse:
    person = services.people.show_person(_rt(request), user.email, user.email)
    language = i18n.language_name(i18n.current_locale())
    return _render(request, "me.html", user, code, person=person, language_name=language, **extra)


@router.post("/me/mail", response_class=HTMLResponse)
def choose_mail(
    request: Request, digest: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = ""
) -> Response:
    """Choose one mail per message, or a daily digest (the person themselves)."""
    user = _user(request)
    if user is None:
        return _to_login(request)
    if not accounts.csrf_matches(user, csrf):
        return error_page(request, 403, _("This form has expired; reload the page and try again."))
    try:
        services.people.choose_digest(_rt(request), user.email, digest)
    except InputError as exc:
        return _me(request, user, status_for(exc), error=exc.message)
    return RedirectResponse("/me?saved=1", status_code=303)


@router.get("/", response_class=HTMLResponse)
def my_work(request: Request) -> Response:
    """Show the home page, My work: what one can do now, what is coming, what plans wait for.

    The dashboard that was here became the plans list: its old links go there.
    """
    user = _user(request)
    if user is None:
        return _to_login(request)
    if request.url.query and {"country", "state"} & set(request.query_params):
        return RedirectResponse(f"/plans?{request.url.query}", status_code=303)
    return _render(request, "work.html", user, work=services.work.my_work(_rt(request), user.email))


@router.get("/work")
def my_work_link(request: Request) -> Response:
    """My work's first address: the home page now."""
    return RedirectResponse("/", status_code=308)


@router.get("/plans", response_class=HTMLResponse)
def plans_list(
    request: Request,
    q: Annotated[str, Query(max_length=200)] = "",
    state: Annotated[str, Query(max_length=63)] = "",
    country: Annotated[str, Query(max_length=200)] = "",
    overdue: Annotated[str, Query(max_length=5)] = "",
    role: Annotated[str, Query(max_length=63)] = "",
    sort: Annotated[str, Query(max_length=16)] = "deadline",
    page: Annotated[int, Query(ge=1, le=10**6)] = 1,
) -> Response:
    """Show the plans list: search, filters, sorting, pages of 50; titles and names, not ids."""
    user = _user(request)
    if user is None:
        return _to_login(request)
    query = plan_list.PlanQuery(
        text=q,
        state=state,
        country=country.strip().upper(),
        overdue=overdue in ("1", "true", "on"),
        role=role,
        sort=sort or "deadline",
        page=page,
    )
    found = plan_list.find_plans(_rt(request), user.email, query)

    def link(**changes: str | int) -> str:
        """Return this list's address with ``changes`` (another page, sort...)."""
        asked = {k: v for k, v in request.query_params.items() if v and k != "page"}
        asked.update({k: str(v) for k, v in changes.items()})
        return "/plans?" + urlencode({k: v for k, v in asked.items() if v and v != "1"})

    return _render(
        request,
        "plans.html",
        user,
        found=found,
        now=_rt(request).clock.now(),
        sorts=_SORTS,
        link=link,
    )


#: the sorts of the plans list, as its menu names them
_SORTS = (
    ("deadline", N_("Next deadline")),
    ("changed", N_("Last change")),
    ("country", N_("Country")),
    ("key", N_("Key")),
)


def _plan_page(
    request: Request, user: Session, key: str, typed: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    """Return the plan page's context; ``typed`` the form the person sent (kept on refusal)."""
    rt = _rt(request)
    plan = services.show_plan(rt, key, user.email)
    history = services.plan_history(rt, plan.key, viewer=user.email)
    records = history.records
    diagram = workflows.workflow_diagram(rt, plan.workflow, plan.state, plan.workflow_version)
    holders = {e for emails in plan.roles.values() for e in emails}
    names = services.people.names_of(rt, {r.actor for r in records if r.actor} | holders)
    actions_only = request.query_params.get("history") == "actions"
    shown = [r for r in reversed(records) if not actions_only or r.kind in ACTION_KINDS]
    offered = choices.plan_choices(rt, plan.key, user.email)
    definition = rt.catalog.get(plan.workflow, plan.workflow_version)
    deadlines = services.list_deadlines(rt, plan.key, viewer=user.email)
    # what napflow will do by itself, and when (a timer transition of the stage)
    upcoming = services.timers.list_timers(rt, viewer=user.email, key=plan.key)
    return {
        "here": f"/plans/{plan.key}",  # the language switch returns here, after a form too
        "deadline_titles": workflows.deadline_titles(rt, plan.workflow, plan.workflow_version),
        "plan": plan,
        "state_title": workflows.state_title(rt, plan.workflow, plan.state, plan.workflow_version),
        "actions": offered.actions,
        "progress": offered.round,
        "typed": typed or {},
        "holder_names": names,
        "role_title": definition.role_title,
        "records": shown,
        "timeline": list(zip(shown, workflows.history_lines(rt, shown, names), strict=True)),
        "actions_only": actions_only,
        "seen_seq": records[-1].seq if records else 0,
        "deadlines": deadlines,
        "upcoming": upcoming,
        "journey_svg": journey_svg(rt, plan, records, deadlines),
        "reminders": services.list_messages(
            rt, "pending", plan.key, viewer=user.email, limit=REMINDERS_SHOWN
        ),
        "diagram": Markup(diagram),  # noqa: S704 - its texts are escaped
        "feed": feeds.plan_feed_url(rt, plan.key, user.email),
        "drafts": services.drafts.list_drafts(rt, plan.key, viewer=user.email),
        "last_acted": services.drafts.last_acted_version(rt, plan.key, viewer=user.email),
        **extra,
    }


@router.get("/plans/{key}", response_class=HTMLResponse)
def plan_page(request: Request, key: str) -> Response:
    """Show one plan: state, what this person may do now, round, deadlines, history."""
    user = _user(request)
    if user is None:
        return _to_login(request)
    return _render(request, "plan.html", user, **_plan_page(request, user, key))


@router.get("/plans/{key}/drafts/{version}")
def draft_file(request: Request, key: str, version: int) -> Response:
    """Download draft ``version`` of the plan (for those who see it)."""
    user = _user(request)
    if user is None:
        return _to_login(request)
    return draft_download(_rt(request), key, version, user.email)


@router.get("/plans/{key}/drafts/{old}/diff/{new}", response_class=HTMLResponse)
def draft_diff(request: Request, key: str, old: int, new: int) -> Response:
    """Show what changed from draft ``old`` to ``new``: the text, insertions and deletions marked.

    Two drafts that cannot be compared word by word (a PDF of scanned pages) are said so.
    """
    user = _user(request)
    if user is None:
        return _to_login(request)
    rt = _rt(request)
    plan = services.show_plan(rt, key, user.email)
    found = services.drafts.diff_drafts(rt, plan.key, old, new, viewer=user.email)
    return _render(request, "draft_diff.html", user, plan=plan, diff=found)


@router.get("/plans/{key}/changes", response_class=HTMLResponse)
def draft_changes(
    request: Request,
    key: str,
    since: Annotated[int | None, Query(alias="from")] = None,
    until: Annotated[int | None, Query(alias="to")] = None,
) -> Response:
    """Go to what changed in the draft since the version this person last acted on.

    From that version to the current draft if they acted on an older one, else from the
    version before the current one; ``from`` and ``to`` choose the versions instead. A plan
    with fewer than two drafts gets a page saying there is nothing to compare yet.
    """
    user = _user(request)
    if user is None:
        return _to_login(request)
    rt = _rt(request)
    plan = services.show_plan(rt, key, user.email)
    versions = [d.version for d in services.drafts.list_drafts(rt, plan.key, viewer=user.email)]
    if until is None and (not versions or (since is None and len(versions) < 2)):
        return _render(request, "draft_diff.html", user, plan=plan, diff=None, versions=versions)
    to = versions[-1] if until is None else until
    if since is None:
        last = services.drafts.last_acted_version(rt, plan.key, viewer=user.email)
        since = last if last is not None and last < to else to - 1
    return RedirectResponse(f"/plans/{quote(plan.key)}/drafts/{since}/diff/{to}", status_code=303)


@router.get("/plans/{key}/diagram.svg")
def diagram(request: Request, key: str) -> Response:
    """Return the plan's workflow diagram with its current state highlighted."""
    user = _user(request)
    if user is None:
        return _to_login(request)
    plan = services.show_plan(_rt(request), key, user.email)
    svg = workflows.workflow_diagram(_rt(request), plan.workflow, plan.state, plan.workflow_version)
    return Response(svg, media_type="image/svg+xml")


_ICS = "text/calendar; charset=utf-8"


@router.get("/calendar/plans/{key}.ics")
def plan_calendar(request: Request, key: str, token: str = "") -> Response:
    """Serve a plan's deadlines to calendar programs (the token in the URL is the key)."""
    return Response(feeds.plan_feed(_rt(request), key, token), media_type=_ICS)


@router.get("/calendar/people/{person}-{token}.ics")
def person_calendar(request: Request, person: int, token: str) -> Response:
    """Serve the deadlines of a person's plans to calendar programs."""
    return Response(feeds.person_feed(_rt(request), person, token), media_type=_ICS)


@router.get("/deadlines", response_class=HTMLResponse)
def deadlines_page(request: Request) -> Response:
    """Show every deadline by month, with its plan and status (overdue in red)."""
    user = _user(request)
    if user is None:
        return _to_login(request)
    months: dict[str, list[services.DeadlineView]] = {}
    for deadline in services.list_deadlines(_rt(request), viewer=user.email):
        months.setdefault(i18n.format_month(deadline.due_on), []).append(deadline)
    feed = feeds.person_feed_url(_rt(request), user.email)
    return _render(request, "deadlines.html", user, months=list(months.items()), feed=feed)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request) -> Response:
    """Show the last verification (after checking what was added since), the head, the export.

    Records added since the last verification are checked incrementally; the whole ledger
    is hashed again only by the form's full verification (POST /audit/verify).
    """
    user = _user(request)
    if user is None:
        return _to_login(request)
    rt = _rt(request)
    try:
        verification = audit.verify_new_records(rt, user.email)
        error = None
    except NotAllowedError:
        raise  # not an administrator or auditor: the error page says why (403)
    except NapflowError as exc:  # a missing or wrong audit key
        verification, error = None, exc.message
    zone = services.people.show_person(rt, user.email, user.email).timezone
    ran_by = verification.ran_by if verification is not None else None
    return _render(
        request,
        "audit.html",
        user,
        verification=verification,
        ran_by=services.people.names_of(rt, {ran_by}).get(ran_by, ran_by) if ran_by else None,
        report=verification.report if verification is not None else None,
        zone=zone or rt.settings.default_timezone,
        error=error,
        head=audit.ledger_head(rt, viewer=user.email),
    )


@router.post("/audit/verify", response_class=HTMLResponse)
def audit_verify(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """Verify the whole ledger again now (administrators and auditors), then show the result."""
    user = _user(request)
    if user is None:
        return _to_login(request)
    if not accounts.csrf_matches(user, csrf):
        return error_page(request, 403, _("This form has expired; reload the page and try again."))
    try:
        audit.verify_and_record(_rt(request), user.email)
    except NotAllowedError:
        raise  # not an administrator or auditor: the error page says why (403)
    except NapflowError as exc:  # a missing or wrong audit key
        return error_page(request, status_for(exc), exc.message)
    return RedirectResponse("/audit", status_code=303)


@router.get("/audit/bundle.json")
def audit_bundle(request: Request) -> Response:
    """Download the audit bundle of the whole ledger (`napflow audit verify --bundle`)."""
    user = _user(request)
    if user is None:
        return _to_login(request)
    text, _done = audit.build_bundle(_rt(request), viewer=user.email)
    stamp = f"{_rt(request).clock.now():%Y%m%dT%H%M%SZ}"
    return Response(
        text,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="napflow-audit-{stamp}.json"'},
    )


@router.post("/plans/{key}/advance", response_class=HTMLResponse)
def advance(
    request: Request,
    key: str,
    trigger: Annotated[str, Form(max_length=63)],
    csrf: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
    expect_version: Annotated[int | None, Form()] = None,
    draft: Annotated[int | None, Form(ge=1, le=2**31 - 1)] = None,
    seen_seq: Annotated[int, Form()] = 0,
    confirmed: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Fire a trigger as the logged-in person; the service checks their role again.

    An action that undoes work (a return, a withdrawal) is first restated on a page of its
    own, which asks for the confirmation; what the person typed survives that page, a
    refusal and a conflict.
    """
    user = _user(request)
    if user is None:
        return _to_login(request)
    if not accounts.csrf_matches(user, csrf):
        return error_page(request, 403, _("This form has expired; reload the page and try again."))
    rt = _rt(request)
    typed = {"trigger": trigger, "comment": comment}
    form = {
        "trigger": trigger,
        "comment": comment,
        "expect_version": expect_version,
        "draft": draft,
        "seen_seq": seen_seq,
    }
    offered = {a.trigger: a for a in choices.plan_choices(rt, key, user.email).actions}
    chosen = offered.get(trigger)
    if chosen is not None and chosen.destructive and confirmed != "yes":
        plan = services.show_plan(rt, key, user.email)
        return _render(
            request,
            "confirm.html",
            user,
            plan=plan,
            action=chosen,
            form=form,
            here=f"/plans/{plan.key}",
        )
    try:
        services.advance_plan(rt, key, trigger, user.email, comment or None, expect_version, draft)
    except ConflictError as exc:
        return _changed(request, user, key, seen_seq, form, offered, exc)
    except NapflowError as exc:
        context = _plan_page(request, user, key, typed, error=_refusal(rt, key, user, typed, exc))
        return _render(request, "plan.html", user, status_for(exc), **context)
    return RedirectResponse(f"/plans/{quote(key.upper())}", status_code=303)


def _refusal(rt: Runtime, key: str, user: Session, typed: dict[str, str], exc: NapflowError) -> str:
    """Say why an action was refused in the web's words (the service speaks the CLI's)."""
    if not isinstance(exc, RefusedError):
        return exc.message
    found = choices.plan_choices(rt, key, user.email, comment=typed["comment"])
    chosen = next((a for a in found.actions if a.trigger == typed["trigger"]), None)
    if chosen is None:
        return _("This was not done: none of your roles on this plan allows it at this stage.")
    if chosen.reasons:
        return _("This was not done: %(reasons)s.") % {"reasons": "; ".join(chosen.reasons)}
    return exc.message


def _changed(
    request: Request,
    user: Session,
    key: str,
    seen_seq: int,
    form: dict[str, Any],
    offered: dict[str, choices.ActionChoice],
    exc: ConflictError,
) -> Response:
    """Say that the plan changed under the person's form: what happened, their text kept."""
    rt = _rt(request)
    facts = exc.data()
    read, found_draft = facts.get("expected_draft"), facts.get("found_draft")
    if read is not None and read != found_draft:
        message = (
            _(
                "A newer draft, v%(found)d, was added after you opened the page (you read "
                "v%(read)d), so what you submitted was not recorded. Read the new draft first."
            )
            % {"found": found_draft, "read": read}
            if found_draft
            else _("The plan has no draft v%(read)d, so what you submitted was not recorded.")
            % {"read": read}
        )
    else:
        message = _(
            "Someone changed this plan after you opened its page, so what you submitted "
            "was not recorded."
        )
    plan = services.show_plan(rt, key, user.email)
    found = services.plan_history(rt, plan.key, viewer=user.email).records
    records = [r for r in found if r.seq > seen_seq]
    names = services.people.names_of(rt, {r.actor for r in records if r.actor})
    now = {a.trigger: a for a in choices.plan_choices(rt, plan.key, user.email).actions}
    drafts = services.drafts.list_drafts(rt, plan.key, viewer=user.email)
    return _render(
        request,
        "changed.html",
        user,
        409,
        plan=plan,
        message=message,
        records=list(zip(records, workflows.history_lines(rt, records, names), strict=True)),
        deadline_titles=workflows.deadline_titles(rt, plan.workflow, plan.workflow_version),
        form=form,
        # the same action, if it is still open: offered again, on the plan as it is now
        again=now.get(form["trigger"]) or offered.get(form["trigger"]),
        still_open=form["trigger"] in now and now[form["trigger"]].allowed,
        seen_seq=found[-1].seq if found else 0,
        draft_now=drafts[-1].version if drafts else None,
        here=f"/plans/{plan.key}",
    )
