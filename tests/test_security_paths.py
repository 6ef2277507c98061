"""Security: path traversal, on a real database (SQLite and PostgreSQL) and a real
`napflow serve` process (nothing of napflow is mocked).

Every web route with a path parameter, /static and the API documentation's files (raw
requests, encoded dots and slashes, to a real server) give 400/404, never a file; the CLI's
file options never print the content of a file they cannot use.

A finding of the first run (a scenario name reaching outside the shipped scenarios) was
fixed; its test stays.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from helpers import KEY, PASSWORD, VIEWER, Cli, serving, snapshot

from napflow import services
from napflow.clock import VirtualClock
from napflow.runtime import Runtime
from napflow.services import accounts
from napflow.services.scenario import SCENARIOS
from napflow.web import create_app

TRAVERSALS = [
    "..",
    "%2e%2e",
    "%2E%2E",
    "../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%5c..%5cetc%5cpasswd",
    "%252e%252e%252fetc%252fpasswd",
    "%c0%ae%c0%ae%2fapp.py",
    f"{KEY}%2f..%2f..%2fweb%2fapp.py",
    "..%00",
    "....//....//etc/passwd",
]
KEYED_ROUTES = [
    "/plans/{}",
    "/plans/{}/diagram.svg",
    "/calendar/plans/{}.ics?token=0",
    "/calendar/people/{}-0.ics",
    "/calendar/people/1-{}.ics",
    "/api/v1/plans/{}",
    "/api/v1/plans/{}/history",
    "/api/v1/plans/{}/deadlines",
    "/api/v1/plans/{}/reminders",
    "/api/v1/plans/{}/roles",
    "/api/v1/people/{}",
    "/admin/plans/{}",
    "/admin/people/{}",
]
STATIC = [
    "/static/../app.py",
    "/static/..%2fapp.py",
    "/static/%2e%2e/app.py",
    "/static/%2e%2e%2fapp.py",
    "/static/%2E%2E%2Fapp.py",
    "/static/..%5capp.py",
    "/static/....//app.py",
    "/static/%252e%252e%252fapp.py",
    "/static/..;/app.py",
    "/static/%c0%ae%c0%ae/app.py",
    "/static/../templates/base.html",
    "/static/..%2ftemplates%2fbase.html",
    "/static/" + "../" * 12 + "etc/passwd",
    "/static/" + "%2e%2e%2f" * 12 + "etc/passwd",
    "/static/" + "..%2f" * 12 + "etc/passwd",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/audit/bundle.json/..%2f..%2fapp.py",
]
# the API documentation's Swagger UI files are a second mount of static files
STATIC += [p.replace("/static/", "/api/v1/docs/assets/", 1) for p in STATIC if "/static/" in p]


def raw_request(
    port: int, method: str, target: str, headers: dict[str, str], body: str = ""
) -> Any:
    """Send one request exactly as written (no client normalises the path); (status, body)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body:
        lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    request = ("\r\n".join(lines) + "\r\n\r\n" + body).encode("latin-1")
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(request)
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    head, _, content = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), content


@pytest.mark.slow
def test_no_path_reaches_a_file_outside_and_every_traversal_is_a_404_or_400(
    cast: Runtime, db_url: str, clock: VirtualClock, tmp_path: Path
) -> None:
    from napflow.services import feeds

    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-MARKER-4711\n")
    web = Path(create_app.__code__.co_filename).parent
    forbidden = [b"SECRET-MARKER-4711", b"SECURITY_HEADERS", b"{% block main %}", b"root:x:0:0"]
    assert b"SECURITY_HEADERS" in (web / "app.py").read_bytes()  # the markers are real
    assert b"{% block main %}" in (web / "templates" / "base.html").read_bytes()
    accounts.set_password(cast, VIEWER, PASSWORD)
    services.access.grant_access(cast, VIEWER, "admin")  # every route, the admin pages too
    clock.set(datetime.now(UTC))  # the server runs on the real clock: a session valid now
    session = accounts.log_in(cast, VIEWER, PASSWORD)
    cookie = {"Cookie": f"napflow_session={session.token}"}
    bearer = {"Authorization": f"Bearer {accounts.create_api_token(cast, VIEWER)}"}
    to_secret = "%2e%2e%2f" * 12 + quote(str(secret).lstrip("/"))
    asks: list[tuple[str, str, dict[str, str], str]] = [
        ("GET", path, cookie, "") for path in [*STATIC, f"/static/{to_secret}"]
    ]
    for traversal in [*TRAVERSALS, to_secret]:
        for route in KEYED_ROUTES:
            asks.append(("GET", route.format(traversal), cookie | bearer, ""))
        form = f"csrf={session.csrf}&trigger=endorse"
        asks.append(("POST", f"/plans/{traversal}/advance", cookie, form))
    env = {**os.environ, "NAPFLOW_DATABASE_URL": db_url}
    for var in ("NAPFLOW_CONFIG", "NAPFLOW_WORKFLOW_DIRS"):
        env.pop(var, None)
    with serving(cwd=tmp_path, env=env) as (url, _process, _log):
        port = int(url.rsplit(":", 1)[1])
        # the routes answer when nothing is wrong: the refusals below are about the paths
        for path in (
            "/static/napflow.css",
            f"/plans/{KEY}",
            f"/plans/{KEY}/diagram.svg",
            feeds.plan_feed_url(cast, KEY),
            f"/api/v1/plans/{KEY}",
            "/audit/bundle.json",
        ):
            assert raw_request(port, "GET", path, cookie | bearer)[0] == 200, path
        for method, target, headers, body in asks:
            status, content = raw_request(port, method, target, headers, body)
            assert status in (400, 404), (method, target, status, content[:200])
            for marker in forbidden:
                assert marker not in content, (method, target)


SIMULATE = ["simulate", "--from", "2015-07-01", "--to", "2015-07-02", "--out", "mail"]
#: the CLI's options that read a file named on the command line
FILE_OPTIONS = {
    "simulate --scenario": [*SIMULATE, "--scenario"],
    "audit verify --bundle": ["audit", "verify", "--bundle"],
    "workflow check": ["workflow", "check"],
    "--config": ["--config"],
}


@pytest.mark.parametrize("option", list(FILE_OPTIONS))
def test_a_file_option_never_prints_a_file_it_cannot_use(
    cast: Runtime, cli: Cli, tmp_path: Path, option: str
) -> None:
    """Each option reads the file it is given (by design: the CLI runs with its user's
    rights); what it cannot use is a clear error (exit 2) that shows none of its content."""
    plain = tmp_path / "secret.txt"
    plain.write_text("root:x:0:0:SECRET-MARKER-4711:/root:/bin/bash\n")
    toml = tmp_path / "secret.toml"
    toml.write_text('password = "SECRET-MARKER-4711"\n[smtp]\nkey = "SECRET-MARKER-4711"\n')
    up = "../" * 12
    targets = [
        str(plain),
        str(toml),
        up + str(plain).lstrip("/"),
        up + str(toml).lstrip("/"),
        "/etc/passwd",
        up + "etc/passwd",
        str(tmp_path),  # a directory
        up + "no/such/file",
    ]
    before = snapshot(cast)
    for target in targets:
        args = [*FILE_OPTIONS[option], target]
        if option == "--config":
            args += ["plan", "list"]
        done = cli(*args)
        assert done.code == 2, (option, target, done)
        assert "SECRET-MARKER" not in done.out + done.err, (option, target)
        assert "root:x" not in done.out + done.err, (option, target)
        assert done.err.startswith("napflow: "), (option, target)
    assert snapshot(cast) == before


def test_a_scenario_name_cannot_leave_the_shipped_scenarios(
    cast: Runtime, cli: Cli, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere" / "settings.toml"
    outside.parent.mkdir()
    outside.write_text('smtp_password = "SECRET-MARKER-4711"\n')
    name = os.path.relpath(outside.with_suffix(""), SCENARIOS)
    assert not Path(name).exists()  # from the working directory, this path leads nowhere
    done = cli(*FILE_OPTIONS["simulate --scenario"], name)
    assert done.code == 2
    assert "smtp_password" not in done.err, done.err  # the file was not read
