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
2. Web. A demo database (``services.init_database`` and ``services.load_demo``, what ``napflow
   init --demo`` does), with ``--plans`` (200) more plans added through the services so the
   pages have some weight (each with the demo cast, a round of review returned with a comment,
   and a follow-up session), and an API token per demo person (what ``napflow token create``
   makes). ``napflow serve --workers 2`` serves it in its own process. Locust
   (bench/locustfile.py, ``pip install -e '.[bench]'``) runs ``--users`` (50) users, all started
   at once, for ``--seconds`` (60): each logs in as a demo person, then clicks through
   My work, the plans list, a random plan page, the deadlines page and the API plan list with
   no pause, each from an address of its own (``--one-address``: all from one, an office
   behind NAT). Measured:
   requests, errors (a 5xx, a connection error, an unexpected status, a page without what it
   must show; each with the server's message), p50 and p99 latency and requests/s, overall and
   per click, from locust's CSV; tracebacks in the server's log. PASS: no error at all (latency
   is reported, not judged: on a 2-core machine shared by locust, the server and its database it
   is mostly queueing; logins are slow by design, an argon2 hash each).

Each part gets a new database: a SQLite file in a temporary directory, or a new database on
PostgreSQL (a throwaway server from tests/pg_server.py, or an existing one named with
``--pg-url``). A summary with PASS or FAIL per part ends the output; the exit status is 1 if
either part failed. Every process and server started here is stopped at the end, also on
Ctrl-C or SIGTERM. With the defaults it takes about 12 minutes on SQLite on a 2-core machine.

    python bench/load.py [--engine sqlite|postgresql] [--reminders 100000] [--daemons 2]
        [--users 50] [--seconds 60] [--timeout 900] [--batch-size N] [--plans 200]
        [--workers 2] [--one-address] [--skip reminders|web]
        [--pg-url postgresql+psycopg://user@host:5432/postgres] [--small]

``--small`` is the same run in miniature, to show the benchmark works (tests/test_bench.py):
1,000 reminders with 2 daemons, then 4 users for 4 s on 2 workers with 5 plans added to the
demo (about 15 s on SQLite). The same checks apply and decide PASS or FAIL; its memory and
latency figures are noise more than measurement.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
from napflow.clock import SystemClock, VirtualClock  # noqa: E402
from napflow.ledger.record import Kind  # noqa: E402
from napflow.runtime import Runtime  # noqa: E402
from napflow.runtime.bootstrap import build_runtime  # noqa: E402
from napflow.runtime.settings import Settings  # noqa: E402
from napflow.services import accounts  # noqa: E402
from napflow.services.demo import DEMO_PASSWORD  # noqa: E402
from napflow.storage.schema import Status, history, outbox  # noqa: E402

#: flat memory: a daemon's peak RSS at most this many times its RSS after the first 10%
MEMORY_LIMIT = 1.25
#: locust gets this long past --seconds to stop its users and write its report
LOCUST_GRACE = 120
#: --small: the defaults of a run of seconds (flags given still win)
SMALL = {
    "reminders": 1000,
    "daemons": 2,
    "timeout": 120,
    "users": 4,
    "seconds": 4,
    "plans": 5,
    "workers": 2,
}


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
        services.init_database(rt)
        services.load_demo(rt)
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
        for email in logins:  # each follows every plan (a reader of all), as the pages expect
            services.access.grant_access(rt, email, "reader")
        tokens = {email: accounts.create_api_token(rt, email, "load run") for email in logins}
        return keys, logins, tokens
    finally:
        rt.db.dispose()


def run_web(url: str, args: argparse.Namespace, tmp: Path) -> Part:
    """Serve a demo database with ``--workers``; let locust's ``--users`` click through it."""
    part = Part("web")
    began = time.monotonic()
    keys, logins, tokens = build_web_database(url, args.plans)
    say(
        f"  demo database with {len(keys)} plans, {len(logins)} demo logins, built in "
        f"{time.monotonic() - began:.0f}s"
    )
    run_dir = Path(tempfile.mkdtemp(prefix="load-web-", dir=tmp))
    data = run_dir / "users.json"
    data.write_text(
        json.dumps(
            {
                "keys": keys,
                "logins": logins,
                "tokens": tokens,
                "password": DEMO_PASSWORD,
                "one_address": args.one_address,
            }
        )
    )
    env = {**os.environ, "NAPFLOW_DATABASE_URL": url}
    env.pop("NAPFLOW_CONFIG", None)
    with serving("--workers", str(args.workers), cwd=run_dir, env=env) as (base, server, log):
        command = [
            str(Path(sys.executable).with_name("locust")),
            *("-f", str(BENCH / "locustfile.py"), "--headless", "--host", base),
            *("--users", str(args.users), "--spawn-rate", str(args.users)),
            *("--run-time", f"{args.seconds}s", "--stop-timeout", "10"),
            *("--csv", str(run_dir / "locust"), "--only-summary", "--loglevel", "WARNING"),
        ]
        started = time.monotonic()
        try:
            locust = subprocess.run(
                command,
                env={**os.environ, "NAPFLOW_LOAD_DATA": str(data)},
                capture_output=True,
                text=True,
                timeout=args.seconds + LOCUST_GRACE,
                check=False,
            )
        except subprocess.TimeoutExpired:
            part.problems.append("locust did not end in time")
            return part
        took = time.monotonic() - started
        if server.poll() is not None:
            part.problems.append(f"napflow serve exited with {server.returncode} during the run")
        time.sleep(0.5)  # the server's last log lines
        server_log = log.read_text(errors="replace")
    report_web(part, run_dir / "locust", took, server_log)
    if locust.returncode != 0:  # 1: some request failed (listed above); else locust broke
        part.problems.append(f"locust exited with {locust.returncode}")
        if locust.returncode != 1:
            part.problems.extend(f"  {line[:200]}" for line in locust.stderr.splitlines()[-5:])
    return part


def report_web(part: Part, csv_prefix: Path, took: float, server_log: str) -> None:
    """Add locust's request counts, latencies and failures to ``part``, and server trouble."""
    with Path(f"{csv_prefix}_stats.csv").open(newline="") as stats_file:
        rows = list(csv.DictReader(stats_file))
    clicks = [row for row in rows if row["Name"] != "Aggregated"]
    [total] = [row for row in rows if row["Name"] == "Aggregated"] or [None]
    if total is None or not int(total["Request Count"]):
        part.problems.append("no requests were made")
        return
    requests, failures = int(total["Request Count"]), int(total["Failure Count"])
    part.lines.append(
        f"{requests:,} requests in {took:.1f}s: {float(total['Requests/s']):,.1f} requests/s, "
        f"{failures} errors; latency p50 {total['50%']} ms, p99 {total['99%']} ms"
    )
    part.lines.append(f"  {'click':<12}{'requests':>10}{'errors':>8}{'p50 ms':>10}{'p99 ms':>10}")
    for row in clicks:
        part.lines.append(
            f"  {row['Name']:<12}{int(row['Request Count']):>10,}{row['Failure Count']:>8}"
            f"{row['50%']:>10}{row['99%']:>10}"
        )
    with Path(f"{csv_prefix}_failures.csv").open(newline="") as failures_file:
        kinds = list(csv.DictReader(failures_file))
    if failures or kinds:
        part.problems.append(f"{failures} errors:")
        for kind in sorted(kinds, key=lambda k: -int(k["Occurrences"]))[:8]:
            part.problems.append(f"{kind['Occurrences']} x {kind['Name']}: {kind['Error'][:200]}")
    trouble = [
        line
        for line in server_log.splitlines()
        if any(word in line for word in ("Traceback", "ERROR", "Error", "CRITICAL"))
    ]
    if trouble:
        part.problems.append(f"{len(trouble)} lines of trouble in the server's log, e.g.:")
        part.problems.extend(f"  {line[:200]}" for line in trouble[:5])


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
    parser.add_argument("--small", action="store_true", help=f"a run of seconds: {SMALL}")
    args = parser.parse_args()
    if args.small:
        parser.set_defaults(**SMALL)
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
