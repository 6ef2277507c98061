"""The web users of bench/load.py, for locust: each logs in, then clicks through the plans.

bench/load.py runs it (``locust --headless``) against ``napflow serve`` with what it built
in a JSON file named by NAPFLOW_LOAD_DATA: the demo logins, an API token per login, the
number of plans, and whether all users come from one address. Each user logs in as a demo
person (round robin; a failed login is tried again after a second), then visits their home
page (My work), the plans list, a random plan page, the deadlines page and the API plan list
(with the person's token) in turn, with no pause between clicks (a closed loop: the load
is as high as the server allows). Each user comes from an address of its own, given in
X-Forwarded-For as the reverse proxy of docs/deployment.md does (uvicorn trusts it from
loopback), so the login limits per client address apply per user, unless ``one_address``
is set.

Every answer is checked for what the page must show; a wrong status or a missing part is a
locust failure named after the click, with the server's own message.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import random
from pathlib import Path
from typing import Any

import gevent
from locust import HttpUser, constant, task

DATA: dict[str, Any] = json.loads(Path(os.environ["NAPFLOW_LOAD_DATA"]).read_text())
PASSWORD: str = DATA["password"]
_numbers = itertools.count()


def reason(body: str) -> str:
    """Return the message of an error page or of a problem+json answer (else its start)."""
    marker = 'class="error" role="alert">'
    if marker in body:
        return html.unescape(body.split(marker, 1)[1].split("</p>", 1)[0])
    try:
        return str(json.loads(body)["detail"])
    except (ValueError, KeyError, TypeError):
        return " ".join(body.split())[:120]


class PlanReader(HttpUser):
    """Someone taking part in a plan: logs in, then reads pages and the API, no pause."""

    wait_time = constant(0)

    def on_start(self) -> None:
        """Pick a login and an address; log in (again after a second until it works)."""
        number = next(_numbers)
        logins: list[str] = DATA["logins"]
        self.email = logins[number % len(logins)]
        self.token: str = DATA["tokens"][self.email]
        self.keys: list[str] = DATA["keys"]
        self.rng = random.Random(number)
        if not DATA["one_address"]:
            self.client.headers["X-Forwarded-For"] = f"10.{number // 250}.{number % 250}.1"
        while not self.log_in():
            gevent.sleep(1)  # a real user would try again, after a moment

    def check(self, click: str, path: str, *must_show: str, **kwargs: Any) -> str:
        """GET ``path``; a failure unless it answers 200 showing all of ``must_show``."""
        with self.client.get(path, name=click, catch_response=True, **kwargs) as answer:
            missing = [part for part in must_show if part not in answer.text]
            if answer.status_code != 200:
                answer.failure(f"status {answer.status_code}: {reason(answer.text)}")
            elif missing:
                answer.failure(f"status 200 without {missing[0]!r}")
            return str(answer.text)

    def log_in(self) -> bool:
        """Open the login form and log in, as a browser does; say whether it worked."""
        marker = 'name="login_csrf" value="'
        page = self.check("login form", "/login", marker)
        if marker not in page:
            return False
        csrf = page.split(marker, 1)[1].split('"', 1)[0]
        form = {"email": self.email, "password": PASSWORD, "next": "/", "login_csrf": csrf}
        with self.client.post(
            "/login", data=form, name="log in", allow_redirects=False, catch_response=True
        ) as answer:
            if answer.status_code != 303 or answer.headers.get("location") != "/":
                answer.failure(f"status {answer.status_code}: {reason(answer.text)}")
                return False
            if "napflow_session" not in self.client.cookies:
                answer.failure("status 303 without a session cookie")
                return False
            answer.success()
        return True

    @task
    def click_through(self) -> None:
        """My work, the plans list, a plan page, the deadlines page and the API plan list."""
        self.check("my work", "/", "<h1>My work</h1>")
        self.check("plans list", "/plans", 'href="/plans/TJK-2015"')
        key = self.rng.choice(self.keys)
        self.check("plan page", f"/plans/{key}", key, "<svg")
        self.check("deadlines", "/deadlines", "Follow-up session")
        auth = {"Authorization": f"Bearer {self.token}"}
        with self.client.get(
            "/api/v1/plans",
            params={"limit": 500},  # one page: a load run has fewer plans
            name="api plans",
            headers=auth,
            catch_response=True,
        ) as answer:
            if answer.status_code != 200:
                answer.failure(f"status {answer.status_code}: {reason(answer.text)}")
                return
            try:
                body = answer.json()
                # the first page of the list: its items (a bare list before pagination)
                listed = len(body["items"] if isinstance(body, dict) else body)
            except (ValueError, KeyError, TypeError):
                listed = -1
            if listed != len(self.keys):
                answer.failure(f"status 200 with {listed} plans, not {len(self.keys)}")
