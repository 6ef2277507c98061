"""What the browser tests share: Debian's Chromium under Playwright, axe-core, a phone's width.

Chromium is Debian's (``/usr/bin/chromium``; installed with apt-get when missing, as CI's
setup does). axe-core is the npm package pinned in ``tests/a11y/package.json``; the first
test that needs it installs it there with ``npm ci`` (the registry is reachable from CI and
here; workers take turns on a lock so only one installs). It is injected into each page with
Playwright's ``add_script_tag``, in a browser context that bypasses the page's
Content-Security-Policy (napflow's pages allow no scripts at all, rightly).
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO, apt_install
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# flags for a machine without a network or a screen (see the machine notes)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: the phone the pages must fit: an iPhone 12 to 15's CSS width
PHONE = {"width": 390, "height": 844}
AXE_DIR = REPO / "tests" / "a11y"
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
#: the impacts a page must not have (axe-core's scale: minor, moderate, serious, critical)
BLOCKING = ("serious", "critical")


def ensure_chromium() -> None:
    """Install Debian's Chromium when it is missing (as CI's setup does), or fail clearly."""
    if Path(CHROMIUM).exists():
        return
    apt_install("chromium", Path(CHROMIUM).exists)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get).")


@contextmanager
def chromium() -> Iterator[Browser]:
    """Start headless Chromium for the block."""
    ensure_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def submit_login(page: Page, email: str, password: str) -> None:
    """Fill in the login form the page shows and send it, as a person does."""
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def axe_script() -> Path:
    """Return axe-core's script, installing the pinned version with npm first if needed."""
    if AXE_SCRIPT.exists():
        return AXE_SCRIPT
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is missing: install Node.js and npm (Debian's nodejs and npm packages).")
    with open("/tmp/napflow-tests-npm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not AXE_SCRIPT.exists():
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--silent"],
                cwd=AXE_DIR,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if done.returncode != 0 or not AXE_SCRIPT.exists():
                pytest.fail(f"npm ci in {AXE_DIR} failed: {done.stderr.strip()[-400:]}")
    return AXE_SCRIPT


def blocking_violations(page: Page) -> list[str]:
    """Run axe-core on the page as it is now; return its serious and critical violations.

    Every rule of WCAG 2.0, 2.1 and 2.2 at levels A and AA and axe's best practices; each
    violation as "rule (impact): help: the first offending elements". The page's context
    must have been made with ``bypass_csp=True`` (the script is injected).
    """
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_script()))
    tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
    result: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", tags
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']}: "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]


def sideways_overflow(page: Page) -> list[str]:
    """Return what sticks out sideways on the page as shown now (empty when nothing does).

    The document must not be wider than the window (no sideways scrolling of the page);
    an element that scrolls inside its own box (the diagram's card, a wide table's wrapper)
    is allowed. Each offender as "tag.class: right edge px".
    """
    width = page.evaluate("() => window.innerWidth")
    if page.evaluate("() => document.documentElement.scrollWidth") <= width:
        return []
    found: list[str] = page.evaluate(
        """width => [...document.querySelectorAll('body *')]
          .filter(e => e.getBoundingClientRect().right > width + 0.5)
          .filter(e => ![...document.querySelectorAll('body *')].some(
              p => p !== e && p.contains(e) && getComputedStyle(p).overflowX !== 'visible'))
          .slice(0, 5)
          .map(e => `${e.tagName.toLowerCase()}.${e.className}: ${
              Math.round(e.getBoundingClientRect().right)}px`)""",
        width,
    )
    return found or [f"the document is {page.evaluate('document.documentElement.scrollWidth')}px"]


def header_lines(page: Page) -> int:
    """Return how many lines the page's header takes: the distinct rows its links sit on."""
    tops: list[float] = page.evaluate(
        """() => [...document.querySelectorAll('header a, header button, header select')]
          .filter(e => e.getClientRects().length > 0)
          .map(e => e.getBoundingClientRect())
          .map(r => r.top + r.height / 2)"""
    )
    rows: list[float] = []
    for middle in sorted(tops):
        if not rows or middle - rows[-1] > 8:
            rows.append(middle)
    return len(rows)
