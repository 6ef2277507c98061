"""Page latency of the web app, next to a bare route on the same server in the same run.

Builds a SQLite database of 1,000 plans and about 100,000 history records through the
services (each plan: its cast, then submissions and returns with comments), serves it with
uvicorn in a separate process together with a bare FastAPI route that returns a static
string, logs in as a browser does (opens the login form, then posts it with the form's
login token and the cookie set with it), and requests the dashboard, a plan page and the
bare route in turn, one request at a time over a kept-alive connection. Prints p50 and p99
of each, and each page's p50 and p99 as a multiple of the bare route's (lower is better;
the bare route is the server's and client's own cost).

    python bench/web.py [--plans 1000] [--records-per-plan 100] [--requests 300] [--small]

``--small`` (20 plans of 20 records, 50 requests each; a few seconds) is the same run in
miniature, to show the benchmark works (tests/test_bench.py); its numbers are noisier.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from napflow import services
from napflow.clock import SystemClock
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.services import accounts

CAST = {
    "coordinator": "coord@mfa.tj.example",
    "wg_chair": "chair@president.tj.example",
    "wg_member": "member@customs.tj.example",
    "expert": "expert@osce.example",
    "approver": "minister@mfa.tj.example",
    "observer": "observer@unrcpd.example",
}
PASSWORD = "bench-password-1540"
#: --small: the defaults of a run of seconds (flags given still win)
SMALL = {"plans": 20, "records_per_plan": 20, "requests": 50}
SERVER = """
import sys
import uvicorn
from fastapi.responses import PlainTextResponse
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.web import create_app

app = create_app(build_runtime(Settings(database_url=sys.argv[1])))

@app.get("/bench/static")
def static() -> PlainTextResponse:
    return PlainTextResponse("ok")

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def build(path: Path, plans: int, per_plan: int) -> str:
    url = f"sqlite:///{path}"
    rt = build_runtime(Settings(database_url=url), clock=SystemClock())
    services.init_database(rt)
    for email in CAST.values():
        services.add_person(rt, email, email.split("@")[0].title())
    accounts.set_password(rt, CAST["observer"], PASSWORD)
    countries = ["TJK", "KGZ", "KAZ", "TKM", "UZB", "AFG", "MNG", "ARM"]
    for n in range(plans):
        key = services.create_plan(rt, countries[n % len(countries)], f"Plan {n}").key
        for role, email in CAST.items():
            services.grant_role(rt, key, email, role)
        for i in range((per_plan - 1 - len(CAST)) // 2):
            services.advance_plan(rt, key, "submit_for_review", CAST["coordinator"])
            services.advance_plan(
                rt, key, "request_changes", CAST["wg_chair"], f"Round {i}: revise annex B."
            )
        if n % 100 == 0:
            print(f"  built {n} plans", file=sys.stderr)
    rt.db.dispose()
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    """Return the cookies a response sets (name: value; a deleted one has the value "")."""
    jar: SimpleCookie = SimpleCookie()
    for header in response.msg.get_all("Set-Cookie") or []:
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def log_in(conn: http.client.HTTPConnection) -> str:
    """Log in as a browser does; return the session's Cookie header.

    The login form carries a token that must come back with the cookie set alongside it
    (napflow/web/pages.py: login CSRF, double submit).
    """
    conn.request("GET", "/login")
    form = conn.getresponse()
    page = form.read().decode()
    marker = 'name="login_csrf" value="'
    login_cookie = cookies(form).get("napflow_login")
    if form.status != 200 or marker not in page or not login_cookie:
        raise SystemExit(f"the login form: status {form.status}, no login token or cookie")
    token = page.split(marker, 1)[1].split('"', 1)[0]
    body = urlencode(
        {"email": CAST["observer"], "password": PASSWORD, "next": "/", "login_csrf": token}
    )
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"napflow_login={login_cookie}",
    }
    conn.request("POST", "/login", body, headers)
    response = conn.getresponse()
    response.read()
    session = cookies(response).get("napflow_session")
    if response.status != 303 or not session:
        raise SystemExit(f"logging in failed: status {response.status}, no session cookie")
    return f"napflow_session={session}"


def timed(conn: http.client.HTTPConnection, path: str, cookie: str) -> float:
    start = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": cookie})
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - start
    assert response.status == 200, (path, response.status)
    return elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=1000)
    parser.add_argument("--records-per-plan", type=int, default=100)
    parser.add_argument("--requests", type=int, default=300, help="of each path")
    parser.add_argument("--small", action="store_true", help=f"a run of seconds: {SMALL}")
    args = parser.parse_args()
    if args.small:
        parser.set_defaults(**SMALL)
        args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = build(Path(tmp) / "web.db", args.plans, args.records_per_plan)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-c", SERVER, url, str(port)])
        try:
            wait_for(port)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            cookie = log_in(conn)
            paths = {"bare route": "/bench/static", "dashboard": "/", "plan page": "/plans/TJK-1"}
            for path in paths.values():  # warm up
                timed(conn, path, cookie)
            times: dict[str, list[float]] = {name: [] for name in paths}
            for _ in range(args.requests):
                for name, path in paths.items():
                    times[name].append(timed(conn, path, cookie))
            conn.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    bare50, bare99 = percentile(times["bare route"], 0.5), percentile(times["bare route"], 0.99)
    result: dict[str, object] = {"benchmark": "web", "plans": args.plans}
    print(f"{'':10}  {'p50 ms':>8}  {'p99 ms':>8}  {'p50 / bare':>10}  {'p99 / bare':>10}")
    for name, values in times.items():
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        print(
            f"{name:10}  {p50 * 1000:8.2f}  {p99 * 1000:8.2f}  {p50 / bare50:9.1f}x  "
            f"{p99 / bare99:9.1f}x"
        )
        result[name.replace(" ", "_")] = {
            "p50_ms": round(p50 * 1000, 2),
            "p99_ms": round(p99 * 1000, 2),
            "mean_ms": round(statistics.mean(values) * 1000, 2),
            "p50_ratio": round(p50 / bare50, 2),
            "p99_ratio": round(p99 / bare99, 2),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
