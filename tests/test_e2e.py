"""End to end in a real browser: Playwright drives Debian's Chromium against `napflow serve`.

A plan with the demo's Tajik cast goes from drafting to expert review by clicks alone: the
coordinator submits it, every working-group member endorses, the chair sends it to the
experts; the timeline and the diagram follow; the observer sees no buttons. Screenshots of
the dashboard and of the plan page are saved in test-artifacts/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from browsing import chromium, submit_login
from helpers import REPO, napflow_process, serving
from i18n_text import database_text, english_left, latin_phrases, visible_text
from playwright.sync_api import Browser, Page, expect

from napflow import services
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings

ARTIFACTS = REPO / "test-artifacts"
COORD = "f.rahimov@cbrn.tj.example"
CHAIR = "s.nazarova@president.tj.example"
MEMBERS = [
    "d.saidov@medt.tj.example",
    "m.karimova@mfa.tj.example",
    "a.sharipov@customs.tj.example",
    "n.kurbonov@kchs.tj.example",
]
OBSERVER = "observer@unrcpd.example"
PASSWORD = "napflow-demo"
#: the demo's names of the members (the history names people, not addresses)
NAMES = {
    "d.saidov@medt.tj.example": "Davron Saidov",
    "m.karimova@mfa.tj.example": "Malika Karimova",
    "a.sharipov@customs.tj.example": "Alisher Sharipov",
    "n.kurbonov@kchs.tj.example": "Nurullo Kurbonov",
}
#: each running server's database, for the checks made beside the browser
SERVER_DB: dict[str, str] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`napflow serve` on a demo database with a fresh plan in drafting for the Tajik cast."""
    home = tmp_path_factory.mktemp("e2e")
    env = {**os.environ, "NAPFLOW_DATABASE_URL": f"sqlite:///{home / 'napflow.db'}"}
    env.pop("NAPFLOW_CONFIG", None)

    def run(*args: str) -> str:
        done = napflow_process(*args, cwd=home, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("init", "--demo")
    key = run(
        "plan",
        "create",
        "--country",
        "TJK",
        "--title",
        "NAP update (e2e)",
        "--timezone",
        "Asia/Dushanbe",
        "--key",
        "TJK-E2E",
    ).strip()
    for email, role in [(COORD, "coordinator"), (CHAIR, "wg_chair"), (OBSERVER, "observer")] + [
        (m, "wg_member") for m in MEMBERS
    ]:
        run("role", "grant", key, email, role)
    with serving(cwd=home, env=env) as (url, _process, _log):
        SERVER_DB[url] = env["NAPFLOW_DATABASE_URL"]
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium for the module."""
    with chromium() as started:
        yield started


def log_in(browser: Browser, server: str, email: str) -> Page:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.set_default_timeout(15_000)
    page.goto(f"{server}/plans/TJK-E2E")
    submit_login(page, email, PASSWORD)
    expect(page.locator("h1")).to_have_text("NAP update (e2e)")
    return page


def current_state(page: Page) -> str:
    return str(page.locator("svg.diagram g.state.current").get_attribute("data-state"))


def test_a_plan_goes_to_the_experts_by_clicks(browser: Browser, server: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    coordinator = log_in(browser, server, COORD)
    assert current_state(coordinator) == "drafting"
    coordinator.get_by_role("button", name="Submit the draft to the working group").click()
    expect(coordinator.locator(".stateline")).to_contain_text("Working-group review")
    assert current_state(coordinator) == "working_group_review"
    coordinator.close()

    for email in MEMBERS:
        member = log_in(browser, server, email)
        member.get_by_role("button", name="Endorse the draft for the working group").click()
        expect(member.locator(".timeline")).to_contain_text(f"by {NAMES[email]}")
        # once a round: the button stays, disabled, and says why
        expect(member.get_by_role("button", name="Endorse the draft")).to_be_disabled()
        expect(member.locator(".why")).to_contain_text("you have done this already")
        member.close()

    chair = log_in(browser, server, CHAIR)
    expect(chair.locator("ul.done li")).to_have_count(4)  # everyone endorsed, by name
    expect(chair.locator("ul.missing")).to_have_count(0)
    chair.get_by_role("button", name="Send the endorsed draft to the experts").click()
    expect(chair.locator(".stateline")).to_contain_text("Expert review")
    assert current_state(chair) == "expert_review"
    expect(chair.locator(".timeline")).to_contain_text("Send the endorsed draft to the experts")
    moved = chair.locator('.timeline li[data-kind="transition"]').first
    expect(moved).to_contain_text("Working-group review → Expert review")
    chair.screenshot(path=str(ARTIFACTS / "plan-page.png"), full_page=True)
    chair.goto(server + "/")
    expect(chair.locator("h1")).to_have_text("My work")
    chair.goto(server + "/plans")
    expect(chair.locator("h1")).to_have_text("Plans")
    expect(chair.get_by_role("link", name="TJK-E2E")).to_be_visible()
    chair.screenshot(path=str(ARTIFACTS / "plans.png"), full_page=True)
    chair.close()
    assert (ARTIFACTS / "plan-page.png").stat().st_size > 10_000
    assert (ARTIFACTS / "plans.png").stat().st_size > 10_000


def test_the_observer_sees_everything_and_no_buttons(browser: Browser, server: str) -> None:
    observer = log_in(browser, server, OBSERVER)
    expect(observer.locator(".timeline li").first).to_be_visible()
    expect(observer.locator("form.action")).to_have_count(0)
    expect(observer.get_by_text("your roles on this plan allow no action")).to_be_visible()
    observer.close()


def test_the_api_documentation_runs_from_napflow_alone(browser: Browser, server: str) -> None:
    """Swagger UI renders every operation with no request elsewhere and nothing blocked by
    its Content-Security-Policy (a wrong script hash would stop it from starting)."""
    page = browser.new_page()
    page.set_default_timeout(15_000)
    blocked: list[str] = []
    elsewhere: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.on(
        "request",
        lambda request: (
            None if request.url.startswith((server, "data:")) else elsewhere.append(request.url)
        ),
    )
    page.goto(f"{server}/api/v1/docs")
    paths = page.locator(".opblock-summary-path")
    expect(paths.filter(has_text="/api/v1/plans/{key}/advance")).to_be_visible()
    schema = page.request.get(f"{server}/api/v1/openapi.json").json()
    operations = sum(len(methods) for methods in schema["paths"].values())
    assert operations > 20  # the whole API, not a few routes
    expect(paths).to_have_count(operations)  # every operation rendered
    page.close()
    assert blocked == [] and elsewhere == [], (blocked, elsewhere)


RU_READER = "minister@mfa.tj.example"
#: the pages a Russian reader reaches from the menu and the plan, by clicking
RU_PAGES = ("Моя работа", "Планы", "Сроки", "Аудит", "Мои настройки")


def test_every_page_of_a_russian_reader_is_russian(
    browser: Browser, server: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The minister (their account in Russian) clicks through every page: all of it Russian.

    The English is napflow's own messages (tests/i18n_text.py, extracted with Babel); what
    people typed (names, titles, comments) and the workflows' ids are taken out first.
    """
    rt = build_runtime(Settings(database_url=SERVER_DB[server]))
    try:
        services.people.edit_person(rt, RU_READER, locale="ru")
        data = database_text(rt)
    finally:
        rt.db.dispose()
    page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="en-GB")
    page.set_default_timeout(15_000)
    page.goto(f"{server}/")
    submit_login(page, RU_READER, PASSWORD)  # the browser speaks English
    seen = []

    def check() -> None:
        assert page.locator("html").get_attribute("lang") == "ru", page.url
        text = visible_text(page.content())
        assert english_left(text, data) == [], (page.url, english_left(text, data))
        assert latin_phrases(text, data) == [], (page.url, latin_phrases(text, data))
        seen.append(page.url)

    expect(page.locator("h1")).to_have_text("Моя работа")
    check()
    page.locator("header nav").get_by_role("link", name="Планы").click()
    expect(page.locator("h1")).to_have_text("Планы")
    check()
    page.get_by_role("link", name="TJK-2015").first.click()
    expect(page.locator("h2", has_text="Доступные вам действия")).to_be_visible()
    check()
    for name in RU_PAGES:
        page.locator("header nav").get_by_role("link", name=name).click()
        expect(page.locator("h1")).to_be_visible()
        check()
    page.goto(f"{server}/plans/NOPE-1")  # an error page too
    check()
    page.close()
    assert len(seen) == 3 + len(RU_PAGES) + 1
