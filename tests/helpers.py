"""Constants and helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi.testclient import TestClient
    from smtp_sink import SmtpServer

    from napflow.clock import VirtualClock
    from napflow.runtime import Runtime

REPO = Path(__file__).resolve().parent.parent
START = datetime(2015, 7, 1, 4, 0, tzinfo=UTC)
#: when the `demo` fixture finds the demo plans: TJK-2015 mid working-group review
DEMO_NOW = datetime(2015, 10, 10, 6, 0, tzinfo=UTC)

# The cast of a NAP plan: role -> people holding it.
CAST = {
    "coordinator": ["coord@example.org"],
    "wg_chair": ["chair@example.org"],
    "wg_member": ["member1@example.org", "member2@example.org"],
    "expert": ["expert@example.org"],
    "approver": ["minister@example.org"],
    "observer": ["observer@example.org"],
}
EVERYONE = sorted({e for emails in CAST.values() for e in emails} | {"outsider@example.org"})


@dataclass
class Result:
    """What a CLI run returned and printed."""

    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


def napflow_process(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run napflow as its own process, as a user or a script would."""
    return subprocess.run(
        [sys.executable, "-m", "napflow", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(
    *args: str, cwd: Path, env: dict[str, str]
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """Run `napflow serve ARGS` as its own process until the block ends (SIGTERM).

    Yields the base URL once the port answers, the process, and the file its output goes to.
    """
    port = free_port()
    log_path = cwd / f"serve-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "napflow", "serve", "--port", str(port), *args],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(
                            f"napflow serve did not start: {log_path.read_text()}"
                        ) from None
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}", process, log_path
        finally:
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def race_worker(argv: list[str], barrier: Any, results: Any) -> None:
    """Run the CLI in a child process once every racer is ready; report code and stderr."""
    import contextlib
    import io

    from napflow.cli import run

    err, out = io.StringIO(), io.StringIO()
    barrier.wait(timeout=60)
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = run(argv)
    results.put((code, out.getvalue(), err.getvalue()))


def advance_loop_worker(
    db_url: str, keys: list[str], rounds: int, seed: int, barrier: Any, results: Any
) -> None:
    """Advance plans on the national_report workflow back and forth in a child process.

    Each round picks a plan, reads it, and fires what its state allows (submit_for_clearance
    as the coordinator, request_changes as the chair); every other round with the version
    it read (--expect-version). Reports ``(successes, refusals, errors)``: successes as
    ``(key, new version, from state, to state)``, refusals counted, anything else (a crash,
    an unexpected error) as text.
    """
    import random

    from napflow import services
    from napflow.errors import RefusedError
    from napflow.runtime.bootstrap import build_runtime
    from napflow.runtime.settings import Settings

    rt = build_runtime(Settings(database_url=db_url))
    rng = random.Random(seed)
    successes: list[tuple[str, int, str, str]] = []
    refusals, errors = 0, []
    barrier.wait(timeout=120)
    for i in range(rounds):
        key = rng.choice(keys)
        try:
            plan = services.show_plan(rt, key)
            if plan.state == "drafting":
                trigger, actor, comment = "submit_for_clearance", "coord@example.org", None
            else:
                trigger, actor, comment = "request_changes", "chair@example.org", f"round {i}"
            done = services.advance_plan(
                rt, key, trigger, actor, comment, expect_version=plan.version if i % 2 else None
            )
            successes.append((key, done.version, done.from_state, done.to_state))
        except RefusedError:
            refusals += 1
        except Exception as exc:  # reported, so the test shows it
            errors.append(f"{type(exc).__name__}: {exc}")
    rt.db.dispose()
    results.put((successes, refusals, errors))


def refuse_history_inserts(rt: Any, condition: str) -> None:
    """Make the database fail inserts of history records matching ``condition`` (on NEW).

    Tests use it to break a transaction half-way; the failure is an integrity error on
    both engines.
    """
    from sqlalchemy import text

    with rt.db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(
                text(
                    f"CREATE TRIGGER refuse_history BEFORE INSERT ON history WHEN {condition} "
                    "BEGIN SELECT RAISE(ABORT, 'history write failed'); END"
                )
            )
            return
        conn.execute(
            text(
                "CREATE FUNCTION refuse_history() RETURNS trigger AS $$ BEGIN "
                f"IF {condition} THEN RAISE EXCEPTION 'history write failed' "
                "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER refuse_history BEFORE INSERT ON history "
                "FOR EACH ROW EXECUTE FUNCTION refuse_history()"
            )
        )


def apt_install(package: str, installed: Callable[[], bool]) -> None:
    """Install a Debian package the tests need, when running as root with apt-get.

    Test workers (pytest -n) may all find it missing at once, and apt refuses a second
    install while one holds its lock: they take turns on a lock file of their own, and each
    asks ``installed()`` again once it has the lock, so only the first one installs.
    """
    import fcntl
    import os
    import shutil

    if not (shutil.which("apt-get") and os.geteuid() == 0):
        return
    with open("/tmp/napflow-tests-apt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed():
            return
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", package], check=True, env=env, timeout=1200
        )


def queue_notices(rt: Any, count: int) -> str:
    """A plan with ``count`` experts, sent to them: ``count`` notices are due at once.

    Returns the plan's key (TJK-L).
    """
    from napflow import services

    coord, chair, member = "coord@example.org", "chair@example.org", "member@example.org"
    for email in (coord, chair, member):
        services.add_person(rt, email, email)
    key: str = services.create_plan(rt, "TJK", "Load", key="TJK-L").key
    services.grant_role(rt, key, coord, "coordinator")
    for i in range(count):
        services.add_person(rt, f"expert{i}@example.org", f"Expert {i}")
        services.grant_role(rt, key, f"expert{i}@example.org", "expert")
    services.advance_plan(rt, key, "submit_for_review", coord)
    # the working group joins after the draft reached it: no notice of that for them
    services.grant_role(rt, key, chair, "wg_chair")
    services.grant_role(rt, key, member, "wg_member")
    services.advance_plan(rt, key, "endorse", member)
    services.advance_plan(rt, key, "send_to_experts", chair)
    return key


def queue_reminders(rt: Any, people: int, sessions: int) -> int:
    """A plan with ``people`` on its working group and ``sessions`` follow-up sessions in
    October 2015: three reminders per person and session (21, 7 and 1 days before), all
    due by now. Returns how many were queued.
    """
    from sqlalchemy import func, select

    from napflow import services
    from napflow.storage.schema import outbox

    key: str = services.create_plan(rt, "TJK", "Sessions", key="TJK-S").key
    roles = ["coordinator", "wg_chair"] + ["wg_member"] * (people - 2)
    for i, role in enumerate(roles):
        services.add_person(rt, f"person{i}@example.org", f"Person {i}")
        services.grant_role(rt, key, f"person{i}@example.org", role)
    for day in range(1, sessions + 1):
        services.add_deadline(rt, key, "follow_up_session", f"2015-10-{day:02d}", at="10:00")
    with rt.db.read() as conn:
        queued: int = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
    return queued


def daemon_env(db_url: str, smtp: Any, **extra: str) -> dict[str, str]:
    """The environment of a `napflow scheduler` process on ``db_url`` sending to ``smtp``."""
    import os

    env = {
        **os.environ,
        "NAPFLOW_DATABASE_URL": db_url,
        "NAPFLOW_MAIL_TRANSPORT": "smtp",
        "NAPFLOW_SMTP_HOST": "127.0.0.1",
        "NAPFLOW_SMTP_PORT": str(smtp.port),
        "NAPFLOW_MAIL_FROM": "napflow@napflow.example",
        "NAPFLOW_POLL_SECONDS": "1",
        **extra,
    }
    env.pop("NAPFLOW_CONFIG", None)
    return env


def mail_runtime(db_url: str, clock: Any, smtp: Any, **settings: Any) -> Any:
    """A runtime on ``db_url`` that sends through ``smtp``, with any other ``settings``."""
    from napflow import services
    from napflow.runtime.bootstrap import build_runtime
    from napflow.runtime.settings import Settings

    values: dict[str, Any] = {
        "database_url": db_url,
        "mail_transport": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_timeout_s": 5,
        "mail_from": "napflow@napflow.example",
        **settings,
    }
    runtime = build_runtime(Settings(**values), clock=clock)
    services.init_database(runtime)
    return runtime


def report_plans(rt: Any, count: int) -> list[str]:
    """``count`` plans on the national_report workflow, coord@ and chair@example.org
    holding its coordinator and wg_chair roles; returns their keys."""
    from napflow import services

    for email in ("coord@example.org", "chair@example.org"):
        services.add_person(rt, email, email)
    keys = []
    for n in range(count):
        key: str = services.create_plan(rt, "TJK", f"Report {n}", workflow="national_report").key
        services.grant_role(rt, key, "coord@example.org", "coordinator")
        services.grant_role(rt, key, "chair@example.org", "wg_chair")
        keys.append(key)
    return keys


# --- the security tests (test_security_*.py) ---------------------------------------------------

#: the security tests' people, plan and password
VIEWER = "coord@example.org"
CHAIR = "chair@example.org"
MEMBER = "member@example.org"
MINISTER = "minister@example.org"
KEY = "TJK-X"
PASSWORD = "a long enough password"
#: the `cli` fixture (conftest.py): runs the CLI in-process with these arguments
Cli = Callable[..., Result]
#: the cast of the security tests' plan (the `cast` fixtures): e-mail -> (name, role)
MAIL_CAST = {
    VIEWER: ("Farrukh Rahimov", "coordinator"),
    CHAIR: ("Sitora Nazarova", "wg_chair"),
    MEMBER: ("Alisher Sharipov", "wg_member"),
    MINISTER: ("Minister of Foreign Affairs", "approver"),
}


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def escaped_forms(shown: str) -> set[str]:
    """How ``shown`` looks escaped: by Jinja (markupsafe) or by html.escape (the SVG)."""
    import html

    import markupsafe

    return {str(markupsafe.escape(shown)), html.escape(shown), html.escape(shown, quote=False)}


def assert_escaped(body: str, shown: list[str], where: str) -> None:
    forms = {form for text_ in shown for form in escaped_forms(text_)}
    assert any(form in body for form in forms), f"{where}: the escaped text is not shown"


def login_form_token(http: TestClient) -> str:
    form = http.get("/login").text
    return form.split('name="login_csrf" value="', 1)[1].split('"', 1)[0]


def log_in(http: TestClient, email: str, password: str = PASSWORD) -> None:
    token = login_form_token(http)
    data = {"email": email, "password": password, "next": "/", "login_csrf": token}
    done = http.post("/login", data=data)
    assert done.status_code == 303, done.text


def csrf_of(http: TestClient) -> str:
    page = http.get("/").text
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def web_client(rt: Runtime) -> TestClient:
    """A test client of the web app on ``rt``: redirects not followed, a 500 as a response."""
    from fastapi.testclient import TestClient

    from napflow.web import create_app

    return TestClient(create_app(rt), follow_redirects=False, raise_server_exceptions=False)


def hostile_workflow(directory: Path, title: Callable[[str], str]) -> Path:
    """Write a copy of the nap workflow named ``hostile`` whose every title is ``title(old)``."""
    import re

    source = (REPO / "workflows" / "nap.toml").read_text(encoding="utf-8")
    source = source.replace('name = "nap"', 'name = "hostile"', 1)

    def retitle(match: re.Match[str]) -> str:
        return f"title = {json.dumps(title(match.group(1)))}"

    source = re.sub(r'^title = "(.*)"$', retitle, source, flags=re.MULTILINE)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hostile.toml").write_text(source, encoding="utf-8")
    return directory


def runtime_with(
    db_url: str,
    clock: VirtualClock,
    smtp: SmtpServer,
    tmp_path: Path,
    title: Callable[[str], str] | None = None,
) -> tuple[Runtime, str]:
    """A runtime sending through ``smtp``, and the workflow for the plan: ``nap``, or with
    ``title``, the ``hostile`` copy of it (see hostile_workflow)."""
    if title is None:
        return mail_runtime(db_url, clock, smtp), "nap"
    folder = hostile_workflow(tmp_path / "workflows", title)
    return mail_runtime(db_url, clock, smtp, workflow_dirs=(folder,)), "hostile"


def review_plan(rt: Runtime) -> Runtime:
    """Plan KEY in working-group review, with MAIL_CAST in their roles; returns ``rt``.

    What the security tests' `cast` fixtures give.
    """
    from napflow import services

    for email, (name, _role) in MAIL_CAST.items():
        services.add_person(rt, email, name)
    services.create_plan(rt, "TJK", "National Action Plan", timezone="UTC", key=KEY)
    for email, (_name, role) in MAIL_CAST.items():
        services.grant_role(rt, KEY, email, role)
    services.advance_plan(rt, KEY, "submit_for_review", VIEWER)
    return rt


def snapshot(rt: Runtime) -> dict[str, Any]:
    """Every table's row count, the plans, and whether the ledger verifies."""
    from sqlalchemy import func, select

    from napflow import services
    from napflow.services import audit
    from napflow.storage.schema import metadata

    with rt.db.read() as conn:
        counts = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in metadata.sorted_tables
        }
    plans = [(p.key, p.state, p.version, p.title) for p in services.list_plans(rt)]
    return {"counts": counts, "plans": plans, "ledger_ok": audit.verify_ledger(rt).ok}


#: the newest schema revision this napflow's migrations build (their file names' numbers)
SCHEMA_HEAD = max(
    path.name[:4]
    for path in (REPO / "napflow" / "storage" / "migrations" / "versions").glob("[0-9]*.py")
)


# --- draft files, as the libraries users write them with make them ----------------------------


def docx_bytes(*paragraphs: str) -> bytes:
    """A Word document with these paragraphs, as python-docx writes one."""
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def odt_bytes(*paragraphs: str) -> bytes:
    """An OpenDocument text with these paragraphs, as odfdo writes one."""
    from odfdo import Document, Paragraph

    document = Document("text")
    for text in paragraphs:
        document.body.append(Paragraph(text))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def blank_pdf() -> bytes:
    """A PDF of one blank page: no text, as a scan would have."""
    from pypdf import PdfWriter

    writer, out = PdfWriter(), io.BytesIO()
    writer.add_blank_page(595, 842)
    writer.write(out)
    return out.getvalue()


def flip_byte_in_zip(source: Path, target: Path, member: str, at: int) -> None:
    """Copy the ZIP bundle ``source`` to ``target`` with byte ``at`` of ``member`` changed."""
    import zipfile

    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            data = old.read(name)
            if name == member:
                data = data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]
            new.writestr(name, data)


class Attacker:
    """Someone at the database itself, with the driver; ``?`` placeholders on both engines.

    ``drop`` names the append-only triggers dropped first, by engine ("sqlite",
    "postgresql"; on PostgreSQL as "TRIGGER ON TABLE").
    """

    def __init__(self, rt: Runtime, drop: dict[str, list[str]] | None = None) -> None:
        import sqlite3

        import psycopg
        from sqlalchemy import make_url

        self.postgresql = rt.db.sqlite_path is None
        self.conn: Any
        if self.postgresql:
            url = make_url(rt.settings.database_url).set(drivername="postgresql")
            self.conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
            self.conn.execute("SET TIME ZONE 'UTC'")
        else:
            self.conn = sqlite3.connect(rt.db.sqlite_path, isolation_level=None)
        for trigger in (drop or {}).get("postgresql" if self.postgresql else "sqlite", []):
            self.conn.execute(f"DROP TRIGGER {trigger}")

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """Run ``sql`` with ``?`` placeholders on either engine."""
        if self.postgresql:
            return self.conn.execute(sql.replace("?", "%s"), params)
        return self.conn.execute(sql, params)


def run_until(rt: Any, clock: Any, until: datetime) -> None:
    """Let the dispatcher run at every due moment up to ``until``, like the daemon would."""
    from napflow import services
    from napflow.services.dispatch import send_due

    while True:
        due = [m.next_attempt_at for m in services.list_messages(rt, "pending")]
        due = [t for t in due if t <= until]
        if not due:
            clock.set(until)
            return
        clock.set(max(min(due), clock.now()))
        send_due(rt)
