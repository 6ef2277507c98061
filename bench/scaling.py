"""How napflow scales with processes, on SQLite (a file) and on PostgreSQL.

1. Advances: 1, 4 and 16 OS processes (multiprocessing "spawn"), each advancing a plan of
   its own on the national_report workflow back and forth through the service layer
   (submit_for_clearance as the coordinator, request_changes as the chair), ``--advances``
   each. Every process builds its runtime and makes one warm-up round trip, then all are
   released together by a barrier; the time runs from the release to the last process
   finishing, and the rate is all advances over that time. Plans are not shared, so this
   measures throughput, not refusals (tests/test_race.py covers those).
2. Dispatch: 1 and 3 ``napflow scheduler`` daemons (own processes, polling every second,
   ``--batch-size`` rows per claim) against a local aiosmtpd sink in a process of its own.
   The daemons are started first and wait until they log "scheduler started"; then
   ``--messages`` reminders are queued, all due at once (tests/helpers.py queue_reminders:
   a plan with a working group and follow-up sessions in October 2015, on a virtual clock
   in July 2015, while the daemons run on today's). The sink stamps each message as it
   accepts it; the rate is the messages after the first over the time from the first to
   the last (the second of polling before the first, and the queueing, are not dispatch
   throughput). Also shown: how long the queueing took, how many messages went out
   meanwhile (the reminders are queued last, so few if any), and each daemon's share.
   Daemon logs are checked for tracebacks, errors, retries and failures.

Each run gets a new database: a SQLite file in a temporary directory, or a new database on
PostgreSQL (a throwaway server from tests/pg_server.py, started and stopped here, or an
existing one named with ``--pg-url``, whose maintenance database is used to CREATE and DROP
them). The runs alternate in order across rounds (reversed every other round) so machine
noise hits all alike; the absolute rates are shown for information only, the results are
ratios, per round, and their medians:

- per engine, advances/s with 4 and 16 processes over advances/s with 1;
- PostgreSQL over SQLite at each process count;
- per engine, dispatch with 3 daemons over dispatch with 1.

Interpretation. On a machine with C cores the ideal for P processes is min(P, C) times the
rate of one (this box has 2: ~2x at 4 and at 16), less what the benchmark and the database
server need for themselves. SQLite serialises writers (one BEGIN IMMEDIATE at a time, each
commit fsynced), so more processes add no advances and may lose some to lock handoffs: a
ratio near 1 is its expected result, well below 1 a problem. PostgreSQL takes row locks, so
writers on different plans proceed in parallel: its ratios should approach the core count.
For dispatch, a daemon mostly waits on the mail server, so 3 daemons should send up to ~3x
as fast where the database lets them claim and mark in parallel (PostgreSQL; SKIP LOCKED),
and close to 1x on SQLite. Note the throwaway PostgreSQL server runs with fsync=off (test
settings) while napflow's SQLite fsyncs each durable commit; where fsync is costly, name a
durably configured server with ``--pg-url`` for a like-for-like PostgreSQL/SQLite ratio.

    python bench/scaling.py [--rounds 3] [--advances 200] [--processes 1,4,16]
        [--messages 1500] [--daemons 1,3] [--batch-size 50] [--engines sqlite,postgresql]
        [--pg-url postgresql+psycopg://user@host:5432/postgres] [--json] [--small]

``--small`` is the same run in miniature, to show the benchmark works (tests/test_bench.py):
one round, 50 advances with 1 and 2 processes, 60 reminders with 1 and 2 daemons, on SQLite
alone unless ``--engines`` is given (about 10 s; PostgreSQL adds about as much). Its numbers
are noise more than measurement.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))  # test infrastructure: the sink, the PostgreSQL server, helpers

from helpers import START, queue_reminders  # noqa: E402
from pg_server import PgServer  # noqa: E402
from smtp_sink import free_port  # noqa: E402

from napflow import services  # noqa: E402
from napflow.clock import SystemClock, VirtualClock  # noqa: E402
from napflow.runtime.bootstrap import build_runtime  # noqa: E402
from napflow.runtime.settings import Settings  # noqa: E402
from napflow.storage.schema import outbox  # noqa: E402

COORD = "coord@example.org"
CHAIR = "chair@example.org"
ENGINES = ("sqlite", "postgresql")
#: --small: the defaults of a run of seconds (flags given still win)
SMALL: dict[str, Any] = {
    "rounds": 1,
    "advances": 50,
    "processes": [1, 2],
    "messages": 60,
    "daemons": [1, 2],
    "engines": ["sqlite"],
}

# The sink's process: aiosmtpd via tests/smtp_sink.py, stamping each accepted message with
# time.monotonic() (one clock for every process on the machine). Commands on stdin, one a
# line: "count" answers how many it accepted, "times" their stamps (JSON), "reset" forgets.
SINK = """
import json, sys, time
from dataclasses import dataclass, field
sys.path.insert(0, sys.argv[2])
from aiosmtpd.controller import Controller
from smtp_sink import Sink

@dataclass
class TimedSink(Sink):
    times: list = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        if reply.startswith("250"):
            self.times.append(time.monotonic())
        return reply

sink = TimedSink(keep=False)
controller = Controller(sink, hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
for line in sys.stdin:
    command = line.strip()
    if command == "count":
        print(len(sink.times), flush=True)
    elif command == "times":
        print(json.dumps(sink.times), flush=True)
    elif command == "reset":
        sink.times.clear()
        print("ok", flush=True)
controller.stop()
"""


# ---------------------------------------------------------------------------- output


class Output:
    """Progress and tables on stdout; with ``--json``, on stderr, and stdout gets the JSON."""

    def __init__(self, as_json: bool) -> None:
        self.stream = sys.stderr if as_json else sys.stdout

    def say(self, text: str = "") -> None:
        """Print one line of progress or of a table."""
        print(text, file=self.stream, flush=True)


# ---------------------------------------------------------------------------- databases


class PgHost:
    """A PostgreSQL server to make a new database on per run: a throwaway one, or ``url``'s."""

    def __init__(self, url: str | None) -> None:
        self.server: PgServer | None = None
        if url is None:
            self.server = PgServer().start()
            self.admin = make_url(self.server.url()).set(drivername="postgresql")
        else:
            self.admin = make_url(url).set(drivername="postgresql")

    def _execute(self, sql: str) -> None:
        conninfo = self.admin.render_as_string(hide_password=False)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql)

    @contextmanager
    def database(self) -> Iterator[str]:
        """Yield the SQLAlchemy URL of a new, empty database; drop it afterwards."""
        name = f"napflow_bench_{uuid.uuid4().hex[:12]}"
        self._execute(f"CREATE DATABASE {name}")
        try:
            yield self.admin.set(drivername="postgresql+psycopg", database=name).render_as_string(
                hide_password=False
            )
        finally:
            self._execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the throwaway server, if this started one."""
        if self.server is not None:
            self.server.stop()


@contextmanager
def new_database(engine: str, tmp: Path, pg: PgHost | None) -> Iterator[str]:
    """Yield the URL of a new, empty database on ``engine`` (not yet initialised)."""
    if engine == "sqlite":
        yield f"sqlite:///{tmp / f'napflow-{uuid.uuid4().hex[:12]}.db'}"
        return
    assert pg is not None
    with pg.database() as url:
        yield url


# ---------------------------------------------------------------------------- advances


@dataclass
class Outcome:
    """What one run measured: its rate, and anything that went wrong on the way."""

    rate: float
    detail: str = ""
    problems: list[str] = field(default_factory=list)


def setup_plans(url: str, count: int) -> list[str]:
    """Create the schema and ``count`` national_report plans with their coordinator and chair."""
    rt = build_runtime(Settings(database_url=url), clock=SystemClock())
    try:
        services.init_database(rt)
        for email in (COORD, CHAIR):
            services.add_person(rt, email, email)
        keys = []
        for n in range(count):
            key = services.create_plan(rt, "TJK", f"Report {n}", workflow="national_report").key
            services.grant_role(rt, key, COORD, "coordinator")
            services.grant_role(rt, key, CHAIR, "wg_chair")
            keys.append(key)
        return keys
    finally:
        rt.db.dispose()


def advance_worker(url: str, key: str, advances: int, barrier: Any, results: Any) -> None:
    """Advance plan ``key`` back and forth ``advances`` times once every process is ready.

    Reports ``(start, end, advances done, first errors, error count)``, times from
    time.monotonic() taken right after the barrier and after the last advance.
    """
    rt = build_runtime(Settings(database_url=url), clock=SystemClock())
    # warm up: connect, load the workflow, build the statements
    services.advance_plan(rt, key, "submit_for_clearance", COORD)
    services.advance_plan(rt, key, "request_changes", CHAIR, "Warm-up: please revise.")
    moves = [
        ("submit_for_clearance", COORD, None),
        ("request_changes", CHAIR, "Please revise."),
    ]
    done, errors = 0, []
    barrier.wait(timeout=600)
    start = time.monotonic()
    for i in range(advances):
        trigger, actor, comment = moves[i % 2]
        try:
            services.advance_plan(rt, key, trigger, actor, comment)
            done += 1
        except Exception as exc:  # counted and shown, not fatal: the others go on
            errors.append(f"{type(exc).__name__}: {exc}")
    end = time.monotonic()
    rt.db.dispose()
    results.put((start, end, done, errors[:3], len(errors)))


def run_advances(url: str, processes: int, advances: int) -> Outcome:
    """Run ``processes`` advance workers at once on a new database; return advances/s."""
    keys = setup_plans(url, processes)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=advance_worker, args=(url, key, advances, barrier, results))
        for key in keys
    ]
    try:
        for p in procs:
            p.start()
        outcomes = collect(results, procs, timeout=900)
        for p in procs:
            p.join(timeout=60)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(timeout=30)
    start = min(o[0] for o in outcomes)
    end = max(o[1] for o in outcomes)
    done = sum(o[2] for o in outcomes)
    problems = [e for o in outcomes for e in o[3]]
    failed = sum(o[4] for o in outcomes)
    if failed:
        problems.insert(0, f"{failed} of {processes * advances} advances failed")
    return Outcome(done / (end - start), f"{done} advances in {end - start:.2f}s", problems)


def collect(results: Any, procs: list[Any], timeout: float) -> list[Any]:
    """Return one result per process; raise if one died without reporting, or on time-out."""
    outcomes: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(outcomes) < len(procs):
        try:
            outcomes.append(results.get(timeout=1))
            continue
        except Exception:  # queue.Empty: see whether a process died meanwhile
            pass
        dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
        if dead:
            raise RuntimeError(f"a worker process exited with code {dead[0]} (see above)")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(procs) - len(outcomes)} workers did not finish in time")
    return outcomes


# ---------------------------------------------------------------------------- dispatch


class Sink:
    """The timed aiosmtpd sink in its own process (so it shares no GIL with anything)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-c", SINK, str(self.port), str(TESTS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self._read() != "ready":
            self.stop()
            raise RuntimeError("the SMTP sink did not start")

    def _read(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def ask(self, command: str) -> str:
        """Send one command; return the sink's one-line answer."""
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def count(self) -> int:
        """Return how many messages the sink accepted since the last reset."""
        return int(self.ask("count"))

    def times(self) -> list[float]:
        """Return the time.monotonic() stamps of the messages accepted since the last reset."""
        stamps: list[float] = json.loads(self.ask("times"))
        return stamps

    def stop(self) -> None:
        """Close the sink's stdin and wait for it to end (kill it if it does not)."""
        try:
            self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)


def reminder_shape(messages: int) -> tuple[int, int]:
    """Return (people, sessions) for queue_reminders to queue at least ``messages``.

    Each person gets three reminders per session; sessions are days of October (<= 31).
    """
    sessions = min(31, max(1, math.ceil(messages / 300)))
    people = max(3, math.ceil(messages / (3 * sessions)))
    return people, sessions


def start_daemon(url: str, sink: Sink, batch_size: int, log: Path) -> subprocess.Popen[str]:
    """Start one ``napflow scheduler`` against ``url``, sending to ``sink``; stderr to ``log``."""
    env = {
        **os.environ,
        "NAPFLOW_DATABASE_URL": url,
        "NAPFLOW_MAIL_TRANSPORT": "smtp",
        "NAPFLOW_SMTP_HOST": "127.0.0.1",
        "NAPFLOW_SMTP_PORT": str(sink.port),
        "NAPFLOW_MAIL_FROM": "napflow@napflow.example",
        "NAPFLOW_POLL_SECONDS": "1",
        "NAPFLOW_BATCH_SIZE": str(batch_size),
    }
    env.pop("NAPFLOW_CONFIG", None)
    with log.open("w") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "napflow", "scheduler"],
            cwd=log.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll ``condition`` every 20 ms until it holds; raise TimeoutError after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


def stop_daemons(daemons: list[subprocess.Popen[str]]) -> list[int | None]:
    """SIGTERM each daemon still running and wait; kill any that does not stop in 30 s."""
    for d in daemons:
        if d.poll() is None:
            d.send_signal(signal.SIGTERM)
    codes: list[int | None] = []
    for d in daemons:
        try:
            codes.append(d.wait(timeout=30))
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait(timeout=30)
            codes.append(None)
    return codes


def run_dispatch(
    url: str, daemons: int, messages: int, batch_size: int, sink: Sink, tmp: Path
) -> Outcome:
    """Queue ``messages`` due reminders with ``daemons`` daemons running; return messages/s."""
    rt = build_runtime(Settings(database_url=url), clock=VirtualClock(START))
    services.init_database(rt)
    run_dir = Path(tempfile.mkdtemp(prefix="daemons-", dir=tmp))
    started: list[subprocess.Popen[str]] = []
    problems: list[str] = []
    try:
        logs = [run_dir / f"daemon-{n}.log" for n in range(daemons)]
        started.extend(start_daemon(url, sink, batch_size, log) for log in logs)
        pairs = list(zip(started, logs, strict=True))
        wait_for(  # all up and polling before the work arrives
            lambda: all(
                d.poll() is not None or "scheduler started" in log.read_text() for d, log in pairs
            ),
            120,
            "the daemons to start",
        )
        for d, log in pairs:
            if d.poll() is not None:
                raise RuntimeError(f"a daemon exited at start:\n{log.read_text()}")
        sink.ask("reset")
        people, sessions = reminder_shape(messages)
        queue_start = time.monotonic()
        queued = queue_reminders(rt, people=people, sessions=sessions)
        queue_end = time.monotonic()
        wait_for(lambda: sink.count() >= queued, max(300.0, queued / 5), "the sink to get all")
        times = sink.times()
        codes = stop_daemons(started)
        with rt.db.read() as conn:
            sent = conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.status == "sent")
            ).scalar_one()
        if len(sink.times()) != queued:
            problems.append(f"the sink got {len(sink.times())} messages for {queued} queued")
        if sent != queued:
            problems.append(f"{sent} of {queued} outbox rows are marked sent")
        if any(code != 0 for code in codes):
            problems.append(f"daemon exit codes {codes}")
        shares = []
        for log in logs:
            sent_here, said = read_log(log)
            shares.append(sent_here)
            problems.extend(said)
    finally:
        stop_daemons(started)
        rt.db.dispose()
    during = sum(t <= queue_end for t in times)
    span = times[-1] - times[0]
    detail = (
        f"{queued} in {span:.2f}s first to last; queueing took {queue_end - queue_start:.2f}s "
        f"({during} sent meanwhile); first message {times[0] - queue_start:.2f}s after queueing "
        f"began, last {times[-1] - queue_end:.2f}s after it ended; shares {shares}"
    )
    return Outcome((len(times) - 1) / span, detail, problems)


SENT_LINE = re.compile(
    r"napflow\.scheduler: sent (\d+) \((\d+) late\), (\d+) to retry, (\d+) failed"
)


def read_log(log: Path) -> tuple[int, list[str]]:
    """Return how many messages a daemon says it sent, and the lines that show trouble.

    Trouble: a traceback, an error, a failed pass, or a pass with retries or failures.
    """
    sent, trouble = 0, []
    for line in log.read_text().splitlines():
        found = SENT_LINE.search(line)
        if found:
            sent += int(found[1])
            if int(found[3]) or int(found[4]):
                trouble.append(f"{log.name}: {line.strip()}")
        elif any(word in line for word in ("Traceback", "Error", "ERROR", "failed", "WARNING")):
            trouble.append(f"{log.name}: {line.strip()[:300]}")
    return sent, trouble


# ---------------------------------------------------------------------------- rounds


@dataclass(frozen=True)
class Run:
    """One measurement: ``what`` ("advance" or "dispatch"), on ``engine``, with ``n`` processes."""

    what: str
    n: int
    engine: str

    def label(self) -> str:
        """Return the row label of the table."""
        unit = "processes" if self.what == "advance" else "daemons"
        return f"{self.what} {self.engine:<10} {self.n:>2} {unit}"


def plan_runs(args: argparse.Namespace) -> list[Run]:
    """Return the runs of one round, engines interleaved at each count."""
    runs = [Run("advance", n, e) for n in args.processes for e in args.engines]
    runs += [Run("dispatch", n, e) for n in args.daemons for e in args.engines]
    return runs


def ratio_rows(args: argparse.Namespace, rates: dict[Run, float]) -> dict[str, float]:
    """Return the round's ratios by name, from its rates."""
    out: dict[str, float] = {}
    for what, ns, unit in (
        ("advance", args.processes, "processes"),
        ("dispatch", args.daemons, "daemons"),
    ):
        for e in args.engines:
            for n in ns[1:]:
                out[f"{what} {e}: {n} / {ns[0]} {unit}"] = (
                    rates[Run(what, n, e)] / rates[Run(what, ns[0], e)]
                )
        if len(args.engines) == 2:
            for n in ns:
                out[f"{what} {n:>2} {unit}: postgresql / sqlite"] = (
                    rates[Run(what, n, "postgresql")] / rates[Run(what, n, "sqlite")]
                )
    return out


def counts(text: str) -> list[int]:
    """Parse a comma-separated list of positive counts (argparse type); "" is none."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError("give whole numbers, e.g. 1,4,16") from exc
    if values and min(values) < 1:
        raise argparse.ArgumentTypeError("give positive whole numbers, e.g. 1,4,16")
    return values


def engines(text: str) -> list[str]:
    """Parse a comma-separated list of engines (argparse type)."""
    values = [v.strip() for v in text.split(",")]
    if not values or any(v not in ENGINES for v in values):
        raise argparse.ArgumentTypeError("engines are sqlite and postgresql")
    return values


def main() -> None:
    """Run the rounds and print the rates and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--advances", type=int, default=200, help="per process and run")
    parser.add_argument(
        "--processes", type=counts, default=[1, 4, 16], help="first is the base; '' skips"
    )
    parser.add_argument("--messages", type=int, default=1500, help="reminders per dispatch run")
    parser.add_argument(
        "--daemons", type=counts, default=[1, 3], help="first is the base; '' skips"
    )
    parser.add_argument("--batch-size", type=int, default=50, help="NAPFLOW_BATCH_SIZE")
    parser.add_argument("--engines", type=engines, default=list(ENGINES))
    parser.add_argument("--pg-url", help="an existing server's maintenance database URL")
    parser.add_argument("--json", action="store_true", help="results as JSON on stdout")
    parser.add_argument("--small", action="store_true", help=f"a run of seconds: {SMALL}")
    args = parser.parse_args()
    if args.small:
        parser.set_defaults(**SMALL)
        args = parser.parse_args()
    out = Output(args.json)
    # SIGTERM (a CI time-out, kill) unwinds like Ctrl-C, so servers and processes are stopped
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    began, load = time.monotonic(), os.getloadavg()[0]
    runs = plan_runs(args)
    rates: dict[Run, list[float]] = {run: [] for run in runs}
    ratios: dict[str, list[float]] = {}
    problems: list[str] = []
    sink: Sink | None = None
    pg: PgHost | None = None
    try:
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir)
            if "postgresql" in args.engines:
                pg = PgHost(args.pg_url)
            if args.daemons:
                sink = Sink()
            if args.processes:  # unmeasured: first connections, caches, a fresh server's files
                for engine in args.engines:
                    with new_database(engine, tmp, pg) as url:
                        run_advances(url, 2, 50)
            for r in range(args.rounds):
                order = runs if r % 2 == 0 else runs[::-1]
                out.say(f"round {r + 1} of {args.rounds}")
                this_round: dict[Run, float] = {}
                for run in order:
                    with new_database(run.engine, tmp, pg) as url:
                        if run.what == "advance":
                            outcome = run_advances(url, run.n, args.advances)
                        else:
                            assert sink is not None
                            outcome = run_dispatch(
                                url, run.n, args.messages, args.batch_size, sink, tmp
                            )
                    this_round[run] = outcome.rate
                    rates[run].append(outcome.rate)
                    out.say(f"  {run.label()}: {outcome.rate:8.1f}/s  ({outcome.detail})")
                    for problem in outcome.problems:
                        out.say(f"    ! {problem}")
                        problems.append(f"round {r + 1}, {run.label()}: {problem}")
                for name, value in ratio_rows(args, this_round).items():
                    ratios.setdefault(name, []).append(value)
    finally:
        if sink is not None:
            sink.stop()
        if pg is not None:
            pg.stop()
    report(out, args, rates, ratios, problems, time.monotonic() - began, load)


def report(
    out: Output,
    args: argparse.Namespace,
    rates: dict[Run, list[float]],
    ratios: dict[str, list[float]],
    problems: list[str],
    seconds: float,
    load: float,
) -> None:
    """Print the table of rates, the ratios (the result), and the JSON with ``--json``."""
    out.say()
    out.say("rates per second (information only: absolute times are not comparable)")
    head = "".join(f"  round {r + 1:>2}" for r in range(args.rounds))
    out.say(f"  {'':<35}{head}    median")
    for run, values in rates.items():
        cells = "".join(f"{v:>10.1f}" for v in values)
        out.say(f"  {run.label():<35}{cells}{statistics.median(values):>10.1f}")
    out.say()
    out.say("ratios (the result; median of the per-round ratios)")
    for name, values in ratios.items():
        cells = "  ".join(f"{v:.2f}" for v in values)
        out.say(f"  {name:<45} {statistics.median(values):5.2f}   (rounds: {cells})")
    out.say()
    out.say(
        f"{len(problems)} problems; {seconds:.0f}s in all; {os.cpu_count()} CPUs; load average "
        f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (other work on the "
        "machine gets its share of the CPUs too: compare ratios only from quiet runs)"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "benchmark": "scaling",
                    "rounds": args.rounds,
                    "advances_per_process": args.advances,
                    "messages": args.messages,
                    "batch_size": args.batch_size,
                    "cpus": os.cpu_count(),
                    "median_rates": {
                        run.label(): round(statistics.median(v), 1) for run, v in rates.items()
                    },
                    "median_ratios": {
                        name: round(statistics.median(v), 3) for name, v in ratios.items()
                    },
                    "problems": problems,
                    "seconds": round(seconds, 1),
                    "load_average": [round(load, 2), round(os.getloadavg()[0], 2)],
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
