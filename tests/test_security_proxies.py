"""Security: behind a reverse proxy, only the hop the proxy appended is the client.

The login limiter counts failures per address and client. An auditor rotated the
X-Forwarded-For header through a trusted proxy and got unlimited guesses: the server took
a value the client wrote as the client. napflow left the header to uvicorn, which trusted
its own list ($FORWARDED_ALLOW_IPS, "*" in many deployments: then the left-most value, the
client's own, is the client) and never [web] trusted_proxies. Run before the fix, the
tests below held with uvicorn's defaults and failed with FORWARDED_ALLOW_IPS=* and with a
proxy named in trusted_proxies.

`napflow serve` runs as its own process (both engines) and the test's own connections play
the proxy ([web] trusted_proxies names their address) or a client that reaches the app
directly; loopback has many addresses, so 127.0.0.2 can be a proxy that 127.0.0.1 is not.
"""

from __future__ import annotations

import http.client
import os
from pathlib import Path
from urllib.parse import urlencode

import pytest
from helpers import CHAIR, PASSWORD, serving

from napflow import services
from napflow.runtime import Runtime
from napflow.services import accounts
from napflow.web.proxies import TrustedProxies, forwarded_client

pytestmark = pytest.mark.slow

WRONG, REFUSED, IN = 401, 429, 303
#: what a login sees for MAX_FAILURES + 3 wrong guesses from one client
HELD = [WRONG] * accounts.MAX_FAILURES + [REFUSED] * 3


def login(
    port: int,
    password: str,
    forwarded_for: str | None = None,
    source: str = "127.0.0.1",
    email: str = CHAIR,
) -> int:
    """Log in as a browser does (the form, its token and cookie), from ``source``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    try:
        headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
        conn.request("GET", "/login", headers=headers)
        form = conn.getresponse()
        page = form.read().decode()
        token = page.split('name="login_csrf" value="', 1)[1].split('"', 1)[0]
        cookie = str(form.getheader("set-cookie")).split(";", 1)[0]
        body = urlencode({"email": email, "password": password, "next": "/", "login_csrf": token})
        headers |= {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
        conn.request("POST", "/login", body, headers)
        done = conn.getresponse()
        done.read()
        return done.status
    finally:
        conn.close()


def login_cookie(port: int, source: str, proto: str) -> str:
    """The Set-Cookie of the login form, asked for with X-Forwarded-Proto ``proto``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    try:
        conn.request("GET", "/login", headers={"X-Forwarded-Proto": proto})
        answer = conn.getresponse()
        answer.read()
        return str(answer.getheader("set-cookie"))
    finally:
        conn.close()


@pytest.fixture
def serve(rt: Runtime, db_url: str) -> dict[str, str]:
    """The environment `napflow serve` gets; the chair has a password."""
    services.add_person(rt, CHAIR, "Sitora Nazarova")
    accounts.set_password(rt, CHAIR, PASSWORD)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NAPFLOW_", "FORWARDED_"))}
    env["NAPFLOW_DATABASE_URL"] = db_url
    return env


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


# uvicorn's own proxy handling trusts $FORWARDED_ALLOW_IPS ("*": everyone) whatever
# napflow is told; a deployment that set it for uvicorn must not undo trusted_proxies, in
# the one process or in worker processes
@pytest.mark.parametrize(
    ("uvicorn_env", "workers"),
    [(None, "1"), ("*", "1"), ("*", "2")],
    ids=["uvicorn-default", "allow-ips-star", "allow-ips-star-2-workers"],
)
def test_rotating_the_forwarded_for_a_client_wrote_gives_no_more_guesses(
    serve: dict[str, str], tmp_path: Path, uvicorn_env: str | None, workers: str
) -> None:
    env = dict(serve)
    if uvicorn_env is not None:
        env["FORWARDED_ALLOW_IPS"] = uvicorn_env
    with serving("--workers", workers, cwd=tmp_path, env=env) as (url, _process, log):
        port = port_of(url)
        # the proxy (127.0.0.1, trusted by default) appends the address it was reached
        # from, 198.51.100.7, to the X-Forwarded-For the client sent, a new one each time
        guesses = [
            login(port, f"guess {n}", f"203.0.113.{n}, 198.51.100.7") for n in range(len(HELD))
        ]
        assert guesses == HELD, log.read_text()
        # the chair, through the same proxy from elsewhere, is not locked out
        assert login(port, PASSWORD, "198.51.100.8") == IN
        # from the guessing address even the right password waits out the window
        assert login(port, PASSWORD, "203.0.113.99, 198.51.100.7") == REFUSED


def test_only_the_proxies_napflow_is_told_of_are_believed(
    serve: dict[str, str], tmp_path: Path
) -> None:
    env = {**serve, "NAPFLOW_TRUSTED_PROXIES": "127.0.0.2"}
    with serving(cwd=tmp_path, env=env) as (url, _process, log):
        port = port_of(url)
        # 127.0.0.1 is no proxy now: what it writes in X-Forwarded-For is not believed
        direct = [login(port, f"guess {n}", f"203.0.113.{n}") for n in range(len(HELD))]
        assert direct == HELD, log.read_text()
        # through the proxy, each client is the hop it appended, not the proxy itself
        proxy = "127.0.0.2"
        through = [
            login(port, f"guess {n}", f"203.0.113.{n}, 198.51.100.9", proxy)
            for n in range(len(HELD))
        ]
        assert through == HELD
        assert login(port, PASSWORD, "198.51.100.10", proxy) == IN
        # the scheme the proxy says it was reached by marks cookies Secure; nobody else's
        assert "Secure" in login_cookie(port, proxy, "https")
        assert "Secure" not in login_cookie(port, "127.0.0.1", "https")


PROXY = TrustedProxies(("127.0.0.1", "10.0.0.0/8", "2001:db8::/32"))


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        # a peer that is no proxy: the header is not read at all
        ("198.51.100.7", ["203.0.113.1"], None),
        (None, ["203.0.113.1"], None),
        ("testclient", ["203.0.113.1"], None),
        # the right-most address that is no proxy; whatever the client wrote before it
        ("127.0.0.1", ["203.0.113.1"], "203.0.113.1"),
        ("127.0.0.1", ["evil, 203.0.113.1, 198.51.100.7"], "198.51.100.7"),
        ("127.0.0.1", ["203.0.113.1", "198.51.100.7"], "198.51.100.7"),  # two header lines
        ("127.0.0.1", ["203.0.113.1, 198.51.100.7, 10.1.2.3"], "198.51.100.7"),
        ("::ffff:127.0.0.1", ["198.51.100.7"], "198.51.100.7"),  # a dual-stack listener
        ("127.0.0.1", ["198.51.100.7:4711"], "198.51.100.7"),
        ("127.0.0.1", ["[2001:DB9::0001]:443"], "2001:db9::1"),  # one address, one spelling
        ("127.0.0.1", ["2001:db8::1, 2001:0db9:0:0::1"], "2001:db9::1"),
        # no usable hop: the nearest proxy that is known stands for the client
        ("127.0.0.1", [], None),
        ("127.0.0.1", [""], None),
        ("127.0.0.1", ["203.0.113.1, unknown"], None),
        ("127.0.0.1", ["203.0.113.1, unknown, 10.0.0.5"], "10.0.0.5"),
        # every hop a proxy: the farthest of them
        ("127.0.0.1", ["10.0.0.9, 10.0.0.5"], "10.0.0.9"),
    ],
)
def test_the_client_is_the_right_most_hop_that_is_no_trusted_proxy(
    peer: str | None, forwarded_for: list[str], client: str | None
) -> None:
    assert forwarded_client(peer, forwarded_for, PROXY) == client
