"""A load run, bounded in time: a big backlog of reminders, then many web users at once.

1. Reminders. ``--reminders`` (100,000) reminders are queued, all due at once
   (tests/helpers.py queue_reminders on a virtual clock at START: a plan whose working group
   has ``people`` members and ``sessions`` follow-up sessions, three reminders each), then
   ``--daemons`` (2) ``napflow scheduler`` daemons are started (polling every second, the
   default batch size from napflow's settings unless ``--batch-size``), sending to an
   aiosmtpd sink in a process of its own that only counts (keep=False) and stamps each
   message. Every second each daemon's resident memory (VmRSS in /proc/PID/status) is
   sampled, until no row is left pending or sending (or ``--timeout``). Measured:
   messages/s (first to last message at the sink); errors in the daemon logs (tracebacks,
   errors, warnings, "failed" passes, passes with retries or failures) and their exit codes;
   duplicates, from the database (the sink only counts): every outbox row 'sent' with
   attempts == 1, as many 'mail_sent' history records as rows, one per outbox key, and the
   sink's count equal to the rows; and memory: each daemon's RSS once the first 10% of the
   messages were accepted ("early"), its peak from then on, and at the end, as ratios to
   early (a start-up peak, before any message, is shown but not judged).
   PASS: all sent in time, no error, no duplicate, and peak/early <= 1.25 for every daemon
   (flat memory; growth beyond a quarter over the remaining 90% of the run is a leak worth
   a look).
2. Web. A demo database (``services.init_database(demo=True)``, what ``napflow init --demo``
   does), with ``--plans`` (200) more plans added through the services so the pages have
   some weight (each with the demo cast, a round of review returned with a comment, and a
   follow-up session), and an API token per demo person (what ``napflow token create``
   makes). ``napflow serve --workers 2`` serves it in its own process. ``--users`` (50)
   simulated users, one thread and one kept-alive connection each, all start together: each
   opens the login form, logs in as a demo person (round robin over the 17; a failed login
   is tried again after a second), then clicks through the dashboard, a random plan page,
   the deadlines page and the API plan list (with the person's token), with no pause
   between clicks (a closed loop: the load is as high as the server allows), for
   ``--seconds`` (60). Each user comes from an address of its own, given in
   X-Forwarded-For as the reverse proxy of docs/deployment.md does (uvicorn trusts it from
   loopback), so the login limits per client address apply per user; ``--one-address``
   sends all from one address instead (an office behind one NAT address). Measured:
   requests, errors (a 5xx, a connection error or time-out, an unexpected 4xx or redirect,
   a page without what it must show; each with the server's message), p50 and p99 latency
   and requests/s, overall and per click; tracebacks in the server's log. PASS: no error at
   all (latency is reported, not judged: on a 2-core machine shared by 50 clients, the
   server and its database it is mostly queueing; logins are slow by design, an argon2
   hash each).

Each part gets a new database: a SQLite file in a temporary directory, or a new database on
PostgreSQL (a throwaway server from tests/pg_server.py, or an existing one named with
``--pg-url``). A summary with PASS or FAIL per part ends the output; the exit status is 1 if
either part failed. Every process and server started here is stopped at the end, also on
Ctrl-C or SIGTERM. With the defaults it takes about 12 minutes on SQLite on a 2-core machine.

    python bench/load.py [--engine sqlite|postgresql] [--reminders 100000] [--daemons 2]
        [--users 50] [--seconds 60] [--timeout 900] [--batch-size N] [--plans 200]
        [--workers 2] [--one-address] [--skip reminders|web]
        [--pg-url postgresql+psycopg://user@host:5432/postgres]
"""

from __future__ import annotations

import argparse
import html
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from sqlalchemy import func, select

BENCH = Path(__file__).resolve().parent
TESTS = BENCH.parent / "tests"
sys.path[:0] = [str(BENCH), str(TESTS)]  # bench/scaling.py's pieces, the test helpers

from helpers import START, queue_reminders, serving  # noqa: E402
from scaling import (  # noqa: E402
    PgHost,
    Sink,
    new_database,
    read_log,
    reminder_shape,
    start_daemon,
    stop_daemons,
)

from napflow import services  # noqa: E402
from napflow.bootstrap import build_runtime  # noqa: E402
from napflow.clock import SystemClock, VirtualClock  # noqa: E402
from napflow.demo import DEMO_PASSWORD  # noqa: E402
from napflow.models import Kind, Status, history, outbox  # noqa: E402
from napflow.runtime import Runtime  # noqa: E402
from napflow.services import accounts  # noqa: E402
from napflow.settings import Settings  # noqa: E402

#: flat memory: a daemon's peak RSS at most this many times its RSS after the first 10%
MEMORY_LIMIT = 1.25
#: a client gives up on a request after this long (counted as an error)
REQUEST_TIMEOUT = 60.0


def say(text: str = "") -> None:
    """Print one line of progress or of the summary, at once."""
    print(text, flush=True)


@dataclass
class Part:
    """The outcome of one part: its report lines and the problems that make it FAIL."""

    name: str
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: bool = False

    @property
    def passed(self) -> bool:
        """Tell whether the part ran and found no problem."""
        return not self.problems and not self.skipped


# ---------------------------------------------------------------------------- reminders


def rss_kib(pid: int) -> int | None:
    """Return the resident memory of process ``pid`` in KiB, or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


@dataclass
class Sample:
    """One second of the reminder run: when, how many the sink had, each daemon's RSS."""

    at: float
    accepted: int
    rss: list[int | None]


def open_rows(rt: Runtime) -> int:
    """Return how many outbox rows are still pending or being sent."""
    with rt.db.read() as conn:
        found: int = conn.execute(
            select(func.count())
            .select_from(outbox)
            .where(outbox.c.status.in_([Status.PENDING, Status.SENDING]))
        ).scalar_one()
    return found


def run_reminders(url: str, args: argparse.Namespace, tmp: Path) -> Part:
    """Queue the backlog, let the daemons send it, check every row went out once."""
    rt = build_runtime(Settings(database_url=url), clock=VirtualClock(START))
    try:
        return send_backlog(rt, url, args, tmp)
    finally:
        rt.db.dispose()


def send_backlog(rt: Runtime, url: str, args: argparse.Namespace, tmp: Path) -> Part:
    """Run part 1 on the new database ``url``, through ``rt`` (on the virtual clock)."""
    part = Part("reminders")
    services.init_database(rt)
    people, sessions = reminder_shape(args.reminders)
    began = time.monotonic()
    queued = queue_reminders(rt, people=people, sessions=sessions)
    say(
        f"  queued {queued:,} reminders ({people} people x {sessions} sessions x 3) in "
        f"{time.monotonic() - began:.0f}s"
    )
    run_dir = Path(tempfile.mkdtemp(prefix="load-daemons-", dir=tmp))
    logs = [run_dir / f"daemon-{n}.log" for n in range(args.daemons)]
    sink: Sink | None = None
    daemons: list[subprocess.Popen[str]] = []
    samples: list[Sample] = []
    try:
        sink = Sink()
        start = time.monotonic()
        daemons = [start_daemon(url, sink, args.batch_size, log) for log in logs]
        finished = sample_until_sent(rt, sink, daemons, queued, start, args.timeout, samples)
        stamps = sink.times()
        took = time.monotonic() - start
        codes = stop_daemons(daemons)
    finally:
        stop_daemons(daemons)  # again, if something above failed: none is left running
        if sink is not None:
            sink.stop()
    if not finished:
        part.problems.append(finished.reason)
    if any(code != 0 for code in codes):
        part.problems.append(f"daemon exit codes {codes} (0 expected after SIGTERM)")
    shares = []
    for log in logs:
        sent_here, trouble = read_log(log)
        shares.append(sent_here)
        part.problems.extend(trouble[:10])
        if len(trouble) > 10:
            part.problems.append(f"{log.name}: {len(trouble) - 10} more lines of trouble")
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    part.lines.append(
        f"sent {len(stamps):,} of {queued:,} in {took:.0f}s from the daemons' start: "
        f"{rate:,.0f} messages/s first to last at the sink "
        f"({len(stamps) / took:,.0f}/s including start-up); per daemon (their logs) {shares}"
    )
    check_once(rt, queued, len(stamps), part)
    check_memory(samples, queued, part)
    return part


class Finished:
    """Whether the run ended with everything sent; falsy, with the reason, if not."""

    def __init__(self, reason: str = "") -> None:
        self.reason = reason

    def __bool__(self) -> bool:
        return not self.reason


def sample_until_sent(
    rt: Runtime,
    sink: Sink,
    daemons: list[subprocess.Popen[str]],
    queued: int,
    start: float,
    timeout: float,
    samples: list[Sample],
) -> Finished:
    """Sample the sink's count and each daemon's RSS every second until nothing is left.

    The outbox is asked (a count) only once the sink has them all, or every 10 s, so the
    sampling hardly adds to the database's load.
    """
    tick = 0
    while True:
        tick += 1
        accepted = sink.count()
        memory = [rss_kib(d.pid) for d in daemons]
        samples.append(Sample(time.monotonic() - start, accepted, memory))
        if (accepted >= queued or tick % 10 == 0) and open_rows(rt) == 0:
            return Finished()
        if tick % 15 == 0:
            previous = samples[-16] if len(samples) > 15 else samples[0]
            rate = (accepted - previous.accepted) / (samples[-1].at - previous.at or 1)
            mib = ", ".join(f"{r / 1024:.0f}" if r else "-" for r in memory)
            say(
                f"  {samples[-1].at:4.0f}s: {accepted:>7,} sent ({rate:,.0f}/s lately), "
                f"daemons' RSS {mib} MiB"
            )
        dead = [d.pid for d in daemons if d.poll() is not None]
        if dead:
            return Finished(f"daemon(s) {dead} exited during the run; see their logs")
        if time.monotonic() - start > timeout:
            return Finished(
                f"timed out after {timeout:.0f}s with {accepted:,} of {queued:,} accepted"
            )
        time.sleep(max(0.0, start + tick - time.monotonic()))


def check_once(rt: Runtime, queued: int, accepted: int, part: Part) -> None:
    """Check from the database that every row went out exactly once, and was recorded so."""
    with rt.db.read() as conn:
        by_status = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        statuses: dict[str, int] = {row[0]: row[1] for row in conn.execute(by_status)}
        by_attempts = select(outbox.c.attempts, func.count()).group_by(outbox.c.attempts)
        attempts: dict[int, int] = {row[0]: row[1] for row in conn.execute(by_attempts)}
        keys = Counter(
            payload.get("outbox")
            for payload in conn.execute(
                select(history.c.payload).where(history.c.kind == Kind.MAIL_SENT)
            ).scalars()
        )
        failed = conn.execute(
            select(func.count()).select_from(history).where(history.c.kind == Kind.MAIL_FAILED)
        ).scalar_one()
    recorded = sum(keys.values())
    repeated = sum(1 for n in keys.values() if n > 1)
    part.lines.append(
        f"outbox: {dict(sorted(statuses.items()))}; attempts per row "
        f"{dict(sorted(attempts.items()))}; history: {recorded:,} mail_sent for "
        f"{len(keys):,} outbox keys, {failed} mail_failed; sink accepted {accepted:,}"
    )
    if statuses.get(Status.SENT, 0) != queued or len(statuses) != 1:
        part.problems.append(f"{statuses.get(Status.SENT, 0):,} of {queued:,} rows are 'sent'")
    if set(attempts) != {1}:
        more = sum(n for a, n in attempts.items() if a != 1)
        part.problems.append(f"{more:,} rows took other than one attempt: {attempts}")
    if recorded != queued or len(keys) != queued or repeated:
        part.problems.append(
            f"{recorded:,} mail_sent records for {len(keys):,} keys ({repeated} repeated), "
            f"{queued:,} expected"
        )
    if failed:
        part.problems.append(f"{failed} mail_failed records")
    if accepted != queued:
        part.problems.append(f"the sink accepted {accepted:,} messages for {queued:,} rows")


def check_memory(samples: list[Sample], queued: int, part: Part) -> None:
    """Compare each daemon's RSS after the first 10% of messages with its peak and its end.

    The peak is taken from then on: what a daemon needs while it starts (imports, the
    schema check) and fills its caches is not growth.
    """
    first = next((i for i, s in enumerate(samples) if s.accepted >= queued / 10), None)
    if first is None or len(samples) < 3:
        part.problems.append("too few samples to judge memory (the first 10% never went out)")
        return
    early_at = samples[first]
    part.lines.append(
        f"memory (VmRSS, {len(samples)} samples a second apart; early = at "
        f"{early_at.accepted:,} sent, {early_at.at:.0f}s; peak = the highest from then on; "
        f"flat if peak/early <= {MEMORY_LIMIT}):"
    )
    for n in range(len(early_at.rss)):
        later = [s for s in samples[first:] if s.rss[n]]
        early = early_at.rss[n]
        if not early or not later:
            part.problems.append(f"daemon {n}: no memory sample after the first 10%")
            continue
        top = max(later, key=lambda s: s.rss[n] or 0)
        peak, end = top.rss[n] or 0, later[-1].rss[n] or 0
        before = max((s.rss[n] or 0 for s in samples[:first]), default=0)
        part.lines.append(
            f"  daemon {n}: early {early / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB (at "
            f"{top.at:.0f}s, {top.accepted:,} sent), end {end / 1024:.0f} MiB: peak/early "
            f"{peak / early:.2f}, end/early {end / early:.2f}; highest before early "
            f"{before / 1024:.0f} MiB"
        )
        tenths = [
            next((s.rss[n] for s in samples if s.accepted >= queued * k / 10 and s.rss[n]), None)
            for k in range(1, 11)
        ]
        part.lines.append(
            "    at 10%, 20%, ... 100% sent: "
            + " ".join(f"{r / 1024:.0f}" if r else "-" for r in tenths)
            + " MiB"
        )
        if peak / early > MEMORY_LIMIT:
            part.problems.append(
                f"daemon {n}: memory grew: peak {peak / 1024:.0f} MiB is {peak / early:.2f}x "
                f"the {early / 1024:.0f} MiB after the first 10% (limit {MEMORY_LIMIT})"
            )


# ---------------------------------------------------------------------------- web

COUNTRIES = ("TJK", "KGZ", "KAZ", "TKM", "UZB", "AFG", "MNG", "ARM")
# the demo people who play each role on the added plans
CAST = {
    "coordinator": "f.rahimov@cbrn.tj.example",
    "wg_chair": "s.nazarova@president.tj.example",
    "wg_member": "d.saidov@medt.tj.example",
    "expert": "e.huber@osce.example",
    "approver": "minister@mfa.tj.example",
    "observer": "observer@unrcpd.example",
}


def build_web_database(url: str, plans: int) -> tuple[list[str], list[str], dict[str, str]]:
    """Load the demo and ``plans`` more plans; return the plan keys, logins, API tokens."""
    rt = build_runtime(Settings(database_url=url), clock=SystemClock())
    try:
        services.init_database(rt, demo=True)
        logins = [p.email for p in services.list_people(rt)]  # the demo people, all of them
        today = datetime.now(UTC).date()
        for n in range(plans):
            key = services.create_plan(rt, COUNTRIES[n % len(COUNTRIES)], f"Load plan {n}").key
            for role, email in CAST.items():
                services.grant_role(rt, key, email, role)
            services.advance_plan(rt, key, "submit_for_review", CAST["coordinator"])
            services.advance_plan(
                rt, key, "request_changes", CAST["wg_chair"], f"Round {n}: please revise annex B."
            )
            session = today + timedelta(days=30 + n % 300)
            services.add_deadline(rt, key, "follow_up_session", session.isoformat(), at="10:00")
        keys = [p.key for p in services.list_plans(rt)]
        tokens = {email: accounts.create_api_token(rt, email, "load run") for email in logins}
        return keys, logins, tokens
    finally:
        rt.db.dispose()


@dataclass
class Hit:
    """One request a simulated user made: which click, its status (0: none), how long."""

    click: str
    status: int
    seconds: float
    error: str = ""


class User:
    """A simulated user: one kept-alive connection, a session cookie, a token, a loop."""

    def __init__(
        self,
        base: str,
        email: str,
        token: str,
        keys: list[str],
        plans: int,
        seed: int,
        address: str | None,
    ) -> None:
        where = urlsplit(base)
        # napflow serve (uvicorn) trusts X-Forwarded-For from loopback, as from the reverse
        # proxy of docs/deployment.md: each user then has an address of its own
        self.forwarded = {"X-Forwarded-For": address} if address else {}
        self.host, self.port = where.hostname or "127.0.0.1", where.port or 80
        self.email, self.token, self.keys, self.plans = email, token, keys, plans
        self.rng = random.Random(seed)
        self.conn = self._connect()
        self.cookies: dict[str, str] = {}
        self.hits: list[Hit] = []
        self.body = ""  # of the last answer, to say why it was an error

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)

    def request(
        self, click: str, method: str, path: str, body: str | None = None, **headers: str
    ) -> tuple[int, str, http.client.HTTPResponse | None]:
        """Make one request, time it; return status (0 on a failure), body, response."""
        headers.update(self.forwarded)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body, headers)
            response = self.conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:
            elapsed = time.perf_counter() - started
            self.hits.append(Hit(click, 0, elapsed, f"{type(exc).__name__}: {exc}"))
            self.conn.close()
            self.conn = self._connect()
            return 0, "", None
        elapsed = time.perf_counter() - started
        self.body = text
        for value in response.headers.get_all("set-cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        self.hits.append(Hit(click, response.status, elapsed))
        return response.status, text, response

    def expect(self, status: int, wanted: int, ok: bool, what: str) -> bool:
        """Mark the last hit an error unless it had status ``wanted`` and ``ok``."""
        hit = self.hits[-1]
        if hit.error:
            return False
        if status != wanted:
            hit.error = f"{hit.click}: status {status}: {reason(self.body)}"
            return False
        if not ok:
            hit.error = f"{hit.click}: status {status}, {what}"
            return False
        return True

    def log_in(self) -> bool:
        """Open the login form and log in, as a browser does; say whether it worked."""
        status, page, _ = self.request("login form", "GET", "/login")
        marker = 'name="login_csrf" value="'
        if not self.expect(status, 200, marker in page, "no login_csrf field"):
            return False
        csrf = page.split(marker, 1)[1].split('"', 1)[0]
        form = {"email": self.email, "password": DEMO_PASSWORD, "next": "/", "login_csrf": csrf}
        status, _, response = self.request("log in", "POST", "/login", urlencode(form))
        moved = response is not None and response.getheader("location") == "/"
        return self.expect(
            status, 303, moved and "napflow_session" in self.cookies, "no session or redirect"
        )

    def click_through(self, until: float) -> None:
        """Log in, then visit the four pages in turn until ``until`` (time.monotonic())."""
        while not self.log_in():
            if time.monotonic() >= until:
                return
            time.sleep(1)  # a real user would try again, after a moment
        auth = {"Authorization": f"Bearer {self.token}"}
        while time.monotonic() < until:
            status, page, _ = self.request("dashboard", "GET", "/")
            self.expect(status, 200, 'href="/plans/TJK-2015"' in page, "no demo plan listed")
            key = self.rng.choice(self.keys)
            status, page, _ = self.request("plan page", "GET", f"/plans/{key}")
            self.expect(status, 200, key in page and "<svg" in page, "no key or diagram")
            status, page, _ = self.request("deadlines", "GET", "/deadlines")
            self.expect(status, 200, "Follow-up session" in page, "no follow-up session")
            status, text, _ = self.request("api plans", "GET", "/api/v1/plans", **auth)
            self.expect(status, 200, self._all_plans(text), "not every plan")

    def _all_plans(self, text: str) -> bool:
        try:
            return len(json.loads(text)) == self.plans
        except (ValueError, TypeError):
            return False

    def run(self, until: float) -> None:
        """The thread's body: click through; any exception is one more error, not a crash."""
        try:
            self.click_through(until)
        except Exception as exc:  # counted: a bug here must not hide as a quiet thread
            self.hits.append(Hit("user thread", 0, 0.0, f"{type(exc).__name__}: {exc}"))
        finally:
            self.conn.close()


def reason(body: str) -> str:
    """Return the message of an error page or of a problem+json answer (else its start)."""
    marker = 'class="error" role="alert">'
    if marker in body:
        return html.unescape(body.split(marker, 1)[1].split("</p>", 1)[0])
    try:
        return str(json.loads(body)["detail"])
    except (ValueError, KeyError, TypeError):
        return " ".join(body.split())[:120]


def percentile(values: list[float], q: float) -> float:
    """Return the ``q`` quantile of ``values`` (nearest rank), 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_web(url: str, args: argparse.Namespace, tmp: Path) -> Part:
    """Serve a demo database with ``--workers`` and let ``--users`` click through it."""
    part = Part("web")
    began = time.monotonic()
    keys, logins, tokens = build_web_database(url, args.plans)
    say(
        f"  demo database with {len(keys)} plans, {len(logins)} demo logins, built in "
        f"{time.monotonic() - began:.0f}s"
    )
    run_dir = Path(tempfile.mkdtemp(prefix="load-web-", dir=tmp))
    env = {**os.environ, "NAPFLOW_DATABASE_URL": url}
    env.pop("NAPFLOW_CONFIG", None)
    with serving("--workers", str(args.workers), cwd=run_dir, env=env) as (base, server, log):
        users = [
            User(
                base,
                email,
                tokens[email],
                keys,
                len(keys),
                seed=n,
                address=None if args.one_address else f"10.{n // 250}.{n % 250}.1",
            )
            for n, email in enumerate(logins[n % len(logins)] for n in range(args.users))
        ]
        start = time.monotonic()
        until = start + args.seconds
        threads = [
            threading.Thread(target=u.run, args=(until,), name=f"user-{n}", daemon=True)
            for n, u in enumerate(users)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.seconds + REQUEST_TIMEOUT + 60)
        took = time.monotonic() - start
        if any(t.is_alive() for t in threads):
            part.problems.append("some users were still waiting for an answer at the end")
        if server.poll() is not None:
            part.problems.append(f"napflow serve exited with {server.returncode} during the run")
        time.sleep(0.5)  # the server's last log lines
        server_log = log.read_text(errors="replace")
    report_web(part, users, took, server_log)
    return part


def report_web(part: Part, users: list[User], took: float, server_log: str) -> None:
    """Add the request counts, latencies and errors of the web run to ``part``."""
    hits = [h for u in users for h in u.hits]
    errors = [h for h in hits if h.error]
    part.lines.append(
        f"{len(users)} users, {len(hits):,} requests in {took:.1f}s: "
        f"{len(hits) / took:,.1f} requests/s, {len(errors)} errors; latency p50 "
        f"{percentile([h.seconds for h in hits], 0.5) * 1000:,.0f} ms, p99 "
        f"{percentile([h.seconds for h in hits], 0.99) * 1000:,.0f} ms"
    )
    part.lines.append(f"  {'click':<12}{'requests':>10}{'errors':>8}{'p50 ms':>10}{'p99 ms':>10}")
    for click in dict.fromkeys(h.click for h in hits):
        these = [h for h in hits if h.click == click]
        times = [h.seconds for h in these]
        part.lines.append(
            f"  {click:<12}{len(these):>10,}{sum(1 for h in these if h.error):>8}"
            f"{percentile(times, 0.5) * 1000:>10,.0f}{percentile(times, 0.99) * 1000:>10,.0f}"
        )
    if errors:
        kinds = Counter(
            "5xx" if 500 <= h.status < 600 else "connection" if h.status == 0 else "unexpected"
            for h in errors
        )
        part.problems.append(f"{len(errors)} errors: {dict(kinds)}")
        for text, n in Counter(h.error for h in errors).most_common(8):
            part.problems.append(f"{n} x {text[:200]}")
    statuses = Counter(h.status for h in hits)
    part.lines.append(f"statuses: {dict(sorted(statuses.items()))}")
    trouble = [
        line
        for line in server_log.splitlines()
        if any(word in line for word in ("Traceback", "ERROR", "Error", "CRITICAL"))
    ]
    if trouble:
        part.problems.append(f"{len(trouble)} lines of trouble in the server's log, e.g.:")
        part.problems.extend(f"  {line[:200]}" for line in trouble[:5])
    if not hits:
        part.problems.append("no requests were made")


# ---------------------------------------------------------------------------- main


def main() -> int:
    """Run both parts (or the one not skipped), print the summary; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--reminders", type=int, default=100_000, help="due at once")
    parser.add_argument("--daemons", type=int, default=2, help="napflow scheduler processes")
    parser.add_argument(
        "--batch-size", type=int, default=Settings().batch_size, help="NAPFLOW_BATCH_SIZE"
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds to send them all")
    parser.add_argument("--users", type=int, default=50, help="simulated web users at once")
    parser.add_argument("--seconds", type=int, default=60, help="how long the users click")
    parser.add_argument("--plans", type=int, default=200, help="plans added to the demo")
    parser.add_argument("--workers", type=int, default=2, help="napflow serve --workers")
    parser.add_argument(
        "--one-address",
        action="store_true",
        help="all users from one client address (an office behind NAT), not one each",
    )
    parser.add_argument("--skip", choices=("reminders", "web"), help="run only the other part")
    parser.add_argument("--pg-url", help="an existing server's maintenance database URL")
    args = parser.parse_args()
    if min(args.reminders, args.daemons, args.users, args.seconds, args.workers) < 1:
        parser.error("counts and times must be positive")
    # SIGTERM (a CI time-out, kill) unwinds like Ctrl-C, so servers and processes are stopped
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    began, load = time.monotonic(), os.getloadavg()[0]
    say(
        f"napflow load run on {args.engine}: {args.reminders:,} reminders with {args.daemons} "
        f"daemons (batch size {args.batch_size}), then {args.users} web users for "
        f"{args.seconds}s on {args.workers} workers; {os.cpu_count()} CPUs, load {load:.1f}"
    )
    parts = [Part("reminders", skipped=True), Part("web", skipped=True)]
    pg: PgHost | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="napflow-load-") as tmp_dir:
            tmp = Path(tmp_dir)
            if args.engine == "postgresql":
                pg = PgHost(args.pg_url)
            for n, (name, run) in enumerate((("reminders", run_reminders), ("web", run_web))):
                if args.skip == name:
                    continue
                say(f"{n + 1}. {name}")
                part_began = time.monotonic()
                with new_database(args.engine, tmp, pg) as url:
                    parts[n] = run(url, args, tmp)
                parts[n].lines.append(f"part took {time.monotonic() - part_began:.0f}s")
    finally:
        if pg is not None:
            pg.stop()
    say()
    say("summary")
    for part in parts:
        verdict = "SKIPPED" if part.skipped else "PASS" if part.passed else "FAIL"
        say(f"{part.name}: {verdict}")
        for line in part.lines:
            say(f"  {line}")
        for problem in part.problems:
            say(f"  ! {problem}")
    failed = any(not p.skipped and not p.passed for p in parts)
    say(
        f"{'FAIL' if failed else 'PASS'}; {time.monotonic() - began:.0f}s in all; load average "
        f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
