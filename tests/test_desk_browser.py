"""The desk in a real browser, for every person of the demo (Chromium driven by Playwright).

- Each person's home page (My work) shows exactly the actions their roles allow them now,
  plan by plan (the withdrawal every state offers is a way out, not work), and the
  coordinators and chairs see whom each plan waits for: the same people the plan page lists
  as not having acted yet.
- A blocked action is shown disabled with its reason; a withdrawal happens only after its
  confirmation page; a form sent after the plan changed keeps the typed comment and can be
  sent again.
- Every page, at a phone's width (390 px), does not scroll sideways, its header fits two
  lines, and axe-core finds no serious or critical accessibility violation in it; at a
  desktop's width axe-core is run again.

Screenshots of the desk are saved in test-artifacts/ (docs/screenshots/ holds copies).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browsing import (
    PHONE,
    blocking_violations,
    chromium,
    header_lines,
    sideways_overflow,
    submit_login,
)
from helpers import REPO, napflow_process, serving
from playwright.sync_api import Browser, BrowserContext, Page, expect

from napflow import services
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.services import accounts
from napflow.services.demo import DEMO_KEYS, DEMO_PASSWORD

ARTIFACTS = REPO / "test-artifacts"
COORD = "f.rahimov@cbrn.tj.example"
CHAIR = "s.nazarova@president.tj.example"
ADMIN = "admin@napflow.example"
DESKTOP = {"width": 1280, "height": 900}
#: a plan of the Tajik cast made for these tests, in drafting with two drafts
SPARE = "TJK-DESK"


class Site:
    """The server's address and a runtime on its database, for the checks beside the browser."""

    def __init__(self, url: str, rt: Runtime) -> None:
        self.url = url
        self.rt = rt


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """`napflow serve` on the demo, an administrator, and a spare plan with two drafts."""
    home = tmp_path_factory.mktemp("desk")
    env = {**os.environ, "NAPFLOW_DATABASE_URL": f"sqlite:///{home / 'napflow.db'}"}
    env.pop("NAPFLOW_CONFIG", None)
    done = napflow_process("init", "--demo", cwd=home, env=env)
    assert done.returncode == 0, done.stderr
    rt = build_runtime(Settings(database_url=env["NAPFLOW_DATABASE_URL"]))
    services.add_person(rt, ADMIN, "Site Administrator")
    services.access.grant_access(rt, ADMIN, "admin")
    accounts.set_demo_passwords(rt, [ADMIN], DEMO_PASSWORD)
    services.create_plan(rt, "TJK", "Export control annex", key=SPARE, timezone="Asia/Dushanbe")
    for role in services.list_roles(rt, "TJK-2015"):
        services.grant_role(rt, SPARE, role.email, role.role)
    for text in ("Annex B: licensing of dual-use goods.", "Annex B: licensing and brokering."):
        services.drafts.add_draft(rt, SPARE, io.BytesIO(text.encode()), "annex-b.txt", COORD)
    try:
        with serving(cwd=home, env=env) as (url, _process, _log):
            yield Site(url, rt)
    finally:
        rt.db.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as started:
        yield started


def open_as(browser: Browser, site: Site, email: str, **options: Any) -> Page:
    """Log ``email`` in through the form, in a browser context of its own; return the page."""
    context: BrowserContext = browser.new_context(
        viewport=options.pop("viewport", DESKTOP), locale="en-GB", **options
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{site.url}/login")
    submit_login(page, email, DEMO_PASSWORD)
    expect(page.locator("h1")).to_have_text("My work")
    return page


def close(page: Page) -> None:
    page.context.close()


def demo_people(rt: Runtime) -> list[str]:
    """Everyone who holds a role on a demo plan."""
    return sorted({role.email for key in DEMO_KEYS for role in services.list_roles(rt, key)})


def actions_now(rt: Runtime, email: str) -> dict[str, list[str]]:
    """The actions ``email`` may take now, plan by plan, as titles; ways out left out.

    Read from the plans' own rules (what the API's "allowed" says), not from My work.
    """
    expected: dict[str, list[str]] = {}
    for plan in services.list_plans(rt, viewer=email):
        if email not in {r.email for r in services.list_roles(rt, plan.key)}:
            continue  # a plan one only reads is not one's work
        view = services.show_plan(rt, plan.key, email)
        definition = rt.catalog.engine(view.workflow).definition
        titles = [
            definition.action_title(trigger, view.state)
            for trigger in view.allowed or []
            if not definition.is_way_out(view.state, trigger)
        ]
        if titles:
            expected[plan.key] = sorted(titles)
    return expected


def shown_actions(page: Page) -> dict[str, list[str]]:
    """The home page's "You can act now": plan key -> the actions' titles."""
    found: dict[str, list[str]] = {}
    for item in page.locator("#act-now ~ .work-item").all():
        key = item.locator("h3 a").inner_text()
        found[key] = sorted(item.locator("ul.actions a").all_inner_texts())
    return found


def test_each_person_s_home_shows_exactly_their_actions_and_whom_plans_wait_for(
    browser: Browser, site: Site
) -> None:
    people = demo_people(site.rt)
    assert len(people) >= 15
    watched = 0
    for email in people:
        page = open_as(browser, site, email)
        assert shown_actions(page) == actions_now(site.rt, email), email
        for item in page.locator("#watching ~ .work-item").all():
            key = item.locator("h3 a").inner_text()
            waiting = item.inner_text()
            plan = page.context.new_page()
            plan.goto(f"{site.url}/plans/{key}")
            missing = plan.locator("ul.missing li").all_inner_texts()
            done = plan.locator("ul.done li").all_inner_texts()
            plan.close()
            for name in missing:  # the plan page's "not yet" are the ones waited for
                assert name in waiting, (email, key, name, waiting)
            for line in done:
                assert line.split(",")[0] not in waiting.split("waiting for", 1)[-1], (key, line)
            watched += 1
        close(page)
    assert watched >= 3  # the coordinators and chairs of the open plans


def test_the_chair_s_home_says_who_is_missing_by_name(browser: Browser, site: Site) -> None:
    page = open_as(browser, site, CHAIR)
    item = page.locator("#watching ~ .work-item", has=page.locator("h3 a", has_text="TJK-2015"))
    missing = [
        r.email
        for r in services.list_roles(site.rt, "TJK-2015")
        if r.role == "wg_member"
        and "endorse" in (services.show_plan(site.rt, "TJK-2015", r.email).allowed or [])
    ]
    assert 0 < len(missing) < 4
    for person in services.list_people(site.rt):
        if person.email in missing:
            expect(item).to_contain_text(person.name.split(" (")[0])
    # a blocked action on the plan page: disabled, with its reason in the web's words
    page.get_by_role("link", name="TJK-2015").first.click()
    blocked = page.locator("#do-send_to_experts")
    expect(blocked.get_by_role("button")).to_be_disabled()
    expect(blocked.locator(".why")).to_contain_text(f"{len(missing)} missing")
    expect(blocked.locator(".why")).not_to_contain_text("--")
    close(page)


def test_a_withdrawal_happens_only_once_confirmed(browser: Browser, site: Site) -> None:
    page = open_as(browser, site, COORD)
    page.goto(f"{site.url}/plans/{SPARE}")
    form = page.locator("#do-withdraw")
    expect(form).to_have_class("action destructive")
    form.locator("textarea").fill("Merged into the national plan.")
    form.get_by_role("button", name="Withdraw").click()
    # the second page restates what will happen; nothing has happened yet
    expect(page.locator("h1")).to_contain_text("?")
    expect(page.locator(".outcome")).to_be_visible()
    assert services.show_plan(site.rt, SPARE).state == "drafting"
    expect(page.locator("textarea")).to_have_value("Merged into the national plan.")
    page.get_by_role("link", name="No, go back to the plan").click()
    assert services.show_plan(site.rt, SPARE).state == "drafting"
    form.locator("textarea").fill("Merged into the national plan.")
    form.get_by_role("button").click()
    page.get_by_role("button", name="Yes: ").click()
    expect(page.locator(".stateline")).to_contain_text("Withdrawn")
    assert services.show_plan(site.rt, SPARE).state == "withdrawn"
    close(page)


def test_a_conflict_keeps_the_typed_comment(browser: Browser, site: Site) -> None:
    members = [
        r.email
        for r in services.list_roles(site.rt, "TJK-2015")
        if r.role == "wg_member"
        and "endorse" in (services.show_plan(site.rt, "TJK-2015", r.email).allowed or [])
    ]
    assert len(members) >= 2
    page = open_as(browser, site, members[0], viewport=PHONE, bypass_csp=True)
    page.goto(f"{site.url}/plans/TJK-2015")
    # meanwhile another member endorses
    services.advance_plan(site.rt, "TJK-2015", "endorse", members[1], "Agreed.")
    form = page.locator("#do-endorse")
    form.locator("textarea").fill("Agreed, with the customs annex as amended.")
    form.get_by_role("button").click()
    expect(page.locator("h1")).to_have_text("This plan changed")
    expect(page.locator("ol.timeline")).to_contain_text("Endorse")
    again = page.locator("form.action")
    expect(again.locator("textarea")).to_have_value("Agreed, with the customs annex as amended.")
    phone_and_axe(page)  # the conflict page too
    again.get_by_role("button").click()
    expect(page.locator(".timeline").first).to_contain_text(
        "Agreed, with the customs annex as amended."
    )
    close(page)


# --- every page on a phone, and through axe-core ---------------------------------------------


def phone_and_axe(page: Page) -> None:
    """The page as it is now: no sideways scroll, header in two lines, axe clean."""
    assert sideways_overflow(page) == [], page.url
    assert header_lines(page) <= 2, page.url
    assert blocking_violations(page) == [], page.url


def pages_of(site: Site) -> list[tuple[str, str]]:
    """(who, address) of every page: a person's, an administrator's, the logged-out ones."""
    person = [
        "/",
        "/plans",
        "/plans?q=tajik&overdue=1&sort=changed",
        "/plans?q=no+such+plan",
        "/plans/TJK-2015",
        "/plans/TJK-2015?history=actions",
        f"/plans/{SPARE}",
        f"/plans/{SPARE}/drafts/1/diff/2",
        "/plans/TJK-2015/changes",
        "/portfolio",
        "/deadlines",
        "/audit",
        "/me",
        "/plans/NOPE-1",
    ]
    admin = [
        "/admin",
        "/admin/people",
        f"/admin/people/{COORD}",
        "/admin/plans",
        "/admin/plans/TJK-2015",
        "/admin/access",
        "/audit",
    ]
    return [(COORD, path) for path in person] + [(ADMIN, path) for path in admin]


@pytest.mark.parametrize("width", ["phone", "desktop"])
def test_every_page_fits_a_phone_and_passes_axe(browser: Browser, site: Site, width: str) -> None:
    viewport = PHONE if width == "phone" else DESKTOP
    seen = 0
    problems: list[str] = []
    out = browser.new_context(viewport=viewport, locale="en-GB", bypass_csp=True).new_page()
    out.goto(f"{site.url}/login")
    phone_and_axe(out)
    out.context.close()
    pages: dict[str, Page] = {}
    for who, path in pages_of(site):
        if who not in pages:
            pages[who] = open_as(browser, site, who, viewport=viewport, bypass_csp=True)
        page = pages[who]
        page.goto(site.url + path)
        expect(page.locator("h1")).to_be_visible()
        problems += [f"{path}: {found}" for found in blocking_violations(page)]
        if width == "phone":
            problems += [f"{path}: sticks out: {found}" for found in sideways_overflow(page)]
            if header_lines(page) > 2:
                problems.append(f"{path}: the header takes {header_lines(page)} lines")
        seen += 1
    # the confirmation page of a return (the chair's "request changes")
    chair = open_as(browser, site, CHAIR, viewport=viewport, bypass_csp=True)
    chair.goto(f"{site.url}/plans/TJK-2015")
    returning = chair.locator("#do-request_changes")
    returning.locator("textarea").fill("Please revise annex B.")
    returning.get_by_role("button").click()
    expect(chair.get_by_role("button", name="Yes: ")).to_be_visible()
    assert blocking_violations(chair) == []
    if width == "phone":
        assert sideways_overflow(chair) == [] and header_lines(chair) <= 2
        ARTIFACTS.mkdir(exist_ok=True)
        chair.goto(f"{site.url}/plans/TJK-2015")
        chair.screenshot(path=str(ARTIFACTS / "desk-phone.png"))
    for page in [*pages.values(), chair]:
        close(page)
    assert problems == []
    assert seen == len(pages_of(site))


def test_screenshots_of_the_desk(browser: Browser, site: Site) -> None:
    """The pictures in README.md and docs/web.md, made from the running app."""
    ARTIFACTS.mkdir(exist_ok=True)
    shots: dict[str, tuple[str, str]] = {
        "desk-my-work.png": (CHAIR, "/"),
        "desk-plans.png": (ADMIN, "/plans"),
        "desk-plan.png": (CHAIR, "/plans/TJK-2015"),
        "desk-portfolio.png": (ADMIN, "/portfolio"),
    }
    for name, (who, path) in shots.items():
        page = open_as(browser, site, who)
        page.goto(site.url + path)
        expect(page.locator("h1")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / name), full_page=name != "desk-plan.png")
        close(page)
        assert Path(ARTIFACTS / name).stat().st_size > 10_000, name
