"""Page latency of the web app at scale, next to a bare route on the same server in the same run.

Builds a SQLite database of 10,000 plans of about 100 history records each (about 1,000,000
records), serves it with uvicorn in a separate process together with a bare FastAPI route
that returns a static string, logs in as a browser does (opens the login form, then posts
it with the form's login token and the cookie set with it), and requests in turn, one at a
time over kept-alive connections:

- **my work** (``/``) and **plan page** (``/plans/KEY``, a plan of about 100 records) as a
  person who holds roles (coordinator, working-group chair or member) on 20 plans, as a
  real coordinator does;
- **plans list** (``/plans?q=tajik``: a search by country name, the first page of 50 rows
  sorted by next deadline) as a site-wide reader, who sees all 10,000 plans;
- the **bare route**.

Prints p50 and p99 of each, and each page's as a multiple of the bare route's in the same
run (lower is better; the bare route is the server's and client's own cost). Targets: p50
<= 10x, p99 <= 20x.

How the database is built, quickly and as napflow would have made it: twelve plans are
built through the services (two of each end state: drafting, working-group review, expert
review, submitted, approved, withdrawn; cast granted, drafts added, rounds of submission,
endorsements and returns with comments, deadlines added by the coordinator), in virtual
time a year and more ago. Every other plan copies one of them at SQL level, with its own
key, country (twelve real ones, so the search by country name works), title, cast (from a
pool of people, each holding about 20 roles), and its times shifted by whole days (so
deadlines fall both overdue and ahead): its history is re-sealed record by record with
napflow's own ledger code (``napflow.ledger.chain.seal``, each chained to the one before,
the first to its own key), and its roles, deadlines, queued reminders and notices, and
drafts are copied with the same substitutions. ``--small`` runs ``napflow audit verify``
(chains, plan rows, drafts, and the replay of every record's authority) on the result and
fails unless it verifies: the fast path is faithful.

    python bench/web.py [--plans 10000] [--records-per-plan 100] [--requests 300] [--small]

``--small`` (40 plans of about 20 records, 50 requests each; seconds) is the same run in
miniature, to show the benchmark works (tests/test_bench.py); its numbers are noisier.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import random
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from napflow import services
from napflow.clock import VirtualClock
from napflow.ledger import chain
from napflow.ledger.record import SiteKind
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.services import access, accounts, audit
from napflow.services._site_ledger import append_site
from napflow.storage.schema import people
from napflow.storage.text import plan_search_text

PASSWORD = "bench-password-1540"
#: the person whose My work and plan page are measured, and the site-wide reader
WORKER = "nodira.karimova@mfa.tj.example"
READER = "reader@unrcpd.example"
#: --small: the defaults of a run of seconds (flags given still win)
SMALL = {"plans": 40, "records_per_plan": 20, "requests": 50}
#: the roles of each plan's cast, one person per slot (three working-group members)
SLOTS = ("coordinator", "wg_chair", "wg_member", "wg_member", "wg_member", "expert")
SLOTS += ("approver", "observer")
#: about how many roles each person of the pool holds, and the worker's (role: plans)
ROLES_EACH = 20
WORKER_ROLES = {"coordinator": 10, "wg_chair": 5, "wg_member": 5}
#: the states the template plans end in (two templates each, of different lengths)
END_STATES = (
    "drafting",
    "working_group_review",
    "expert_review",
    "submitted",
    "approved",
    "withdrawn",
)
COUNTRIES = ("TJK", "KGZ", "KAZ", "UZB", "TKM", "AFG", "MNG", "ARM", "GEO", "AZE", "PAK", "IRQ")
TOPICS = (
    "National 1540 implementation",
    "Export control",
    "Border security",
    "Biosecurity and biosafety",
    "Nuclear security",
    "Chemical safety",
    "Counter-proliferation financing",
    "Transport security",
)
FIRST = ("Nodira", "Davron", "Aziz", "Malika", "Rustam", "Zarina", "Timur", "Gulnora", "Bakhtiyor")
LAST = ("Saidov", "Kurbonova", "Rahimov", "Nazarova", "Yusupov", "Aliyeva", "Ismoilov")
#: the search the plans list is measured with (a country's name, in any case)
SEARCH = "tajik"
SERVER = """
import sys
import uvicorn
from fastapi.responses import PlainTextResponse
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.web import create_app
from napflow.web.worker import settle

app = create_app(build_runtime(Settings(database_url=sys.argv[1])))
settle()  # as `napflow serve` does

@app.get("/bench/static")
def static() -> PlainTextResponse:
    return PlainTextResponse("ok")

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


class Cast:
    """Who holds which slot on which plan: a pool of people, each on about ROLES_EACH plans.

    Plan ``i``'s slot ``s`` goes to pool person ``(i * STEP + s * pool // 8) % pool``: no one
    twice on a plan, every role spread over everyone. The worker replaces the pool's person
    in WORKER_ROLES' slots on plans spread over the range.
    """

    STEP = 7919  # a prime: plans next to each other get different people

    def __init__(self, plans: int) -> None:
        self.size = max(len(SLOTS) * 4, plans * len(SLOTS) // ROLES_EACH)
        self.emails = [f"person{n}@gov.example" for n in range(self.size)]
        mine = min(sum(WORKER_ROLES.values()), max(1, plans // 2))
        picks = [role for role, n in WORKER_ROLES.items() for _ in range(n)]
        spread = [picks[k * len(picks) // mine] for k in range(mine)]
        self.worker_slots = {
            (k * plans) // mine: SLOTS.index(role) + k % 3 * (role == "wg_member")
            for k, role in enumerate(spread)
        }

    def of(self, plan: int) -> list[str]:
        """Return the emails of plan ``plan``'s cast, slot by slot."""
        cast = [
            self.emails[(plan * self.STEP + s * (self.size // len(SLOTS))) % self.size]
            for s in range(len(SLOTS))
        ]
        if plan in self.worker_slots:
            cast[self.worker_slots[plan]] = WORKER
        return cast


def name_of(n: int) -> str:
    return f"{FIRST[n % len(FIRST)]} {LAST[n // len(FIRST) % len(LAST)]}"


def add_people(rt: Runtime, cast: Cast) -> None:
    """Register the pool, the worker and the reader, as add_person does, in one transaction."""
    everyone = [(WORKER, "Nodira Karimova"), (READER, "Site Reader")]
    everyone += [(email, name_of(n)) for n, email in enumerate(cast.emails)]
    with rt.db.write() as conn:
        for email, name in everyone:
            now = rt.clock.now()
            conn.execute(people.insert().values(email=email, name=name, created_at=now))
            append_site(
                conn,
                audit_key=rt.secrets.audit_key,
                kind=SiteKind.PERSON_ADDED,
                at=now,
                actor=None,
                payload={"person": email, "name": name, "timezone": None},
            )
    access.grant_access(rt, READER, "reader")
    for email in (WORKER, READER):
        accounts.set_password(rt, email, PASSWORD)


def plan_seq(rt: Runtime, key: str) -> int:
    return services.plan_history(rt, key).records[-1].seq


def tail_length(end: str) -> int:
    """Return about how many records a journey's ending after its rounds takes."""
    return {
        "drafting": 0,
        "working_group_review": 3,
        "expert_review": 7,
        "submitted": 10,
        "approved": 12,
        "withdrawn": 8,
    }[end]


def journey(
    rt: Runtime, clock: VirtualClock, key: str, cast: list[str], end: str, target: int
) -> None:
    """Build plan ``key`` through the services: about ``target`` records, ending in ``end``."""
    coordinator, chair, *members = cast[:5]
    expert, approver = cast[5], cast[6]
    rng = random.Random(key)

    def wait(low: float, high: float) -> None:
        clock.advance(timedelta(hours=rng.uniform(low, high)))

    def act(trigger: str, actor: str, comment: str | None = None) -> None:
        wait(2, 40)
        services.advance_plan(rt, key, trigger, actor, comment)

    def draft(version: int) -> None:
        wait(4, 30)
        text = f"# {key}: national action plan\n\nDraft {version}.\n"
        services.drafts.add_draft(
            rt, key, io.BytesIO(text.encode()), f"plan-v{version}.md", coordinator
        )

    for slot, email in zip(SLOTS, cast, strict=True):
        services.grant_role(rt, key, email, slot)
    draft(1)
    session = clock.now().date() + timedelta(days=rng.randint(60, 200))
    services.add_deadline(rt, key, "follow_up_session", session.isoformat(), actor=coordinator)
    rounds = 0
    while plan_seq(rt, key) < target - tail_length(end) - 6:
        rounds += 1
        if rounds % 3 == 0:
            draft(rounds // 3 + 1)
        act("submit_for_review", coordinator)
        for n, member in enumerate(members[: 1 + rounds % 3]):
            comment = "Agreed, with the changes to section 3 on export controls." if n else None
            act("endorse", member, comment)
        act("request_changes", chair, f"Round {rounds}: section 4 needs the customs text.")
        wait(24, 200)
    if end == "drafting":
        return
    act("submit_for_review", coordinator)
    if end == "working_group_review":
        act("endorse", members[0])
        return
    for member in members:
        act("endorse", member)
    act("send_to_experts", chair)
    if end == "expert_review":
        return
    if end == "withdrawn":
        act("withdraw", coordinator, "Superseded by the regional plan.")
        return
    act("endorse", expert, "No objection.")
    due = clock.now().date() + timedelta(days=rng.randint(20, 60))
    services.add_deadline(rt, key, "approval", due.isoformat(), actor=coordinator)
    act("submit_for_approval", coordinator)
    if end == "approved":
        act("approve", approver)


def build_templates(
    rt: Runtime, clock: VirtualClock, cast: Cast, per_plan: int
) -> list[tuple[int, str]]:
    """Build the template plans (plans 0, 1, ...) through the services; return (index, key)."""
    found = []
    for n in range(2 * len(END_STATES)):
        end = END_STATES[n % len(END_STATES)]
        target = per_plan * 4 // 5 if n < len(END_STATES) else per_plan * 6 // 5
        clock.set(START[0] + timedelta(days=n))
        key = services.create_plan(rt, COUNTRIES[n % len(COUNTRIES)], title_of(n)).key
        journey(rt, clock, key, cast.of(n), end, target)
        found.append((n, key))
    return found


def title_of(n: int) -> str:
    return f"{TOPICS[n % len(TOPICS)]} action plan {2024 + n % 3}"


#: the virtual time the build starts at (set by build(): a year and more before now)
START: list[datetime] = []
_OUTBOX_KEY = re.compile(r"^([dnv])(\d+)\.(\d+):(.*)$")
#: the columns of each table a copy writes (the plan row and deadlines: all of them)
_HISTORY = (
    'plan_id, seq, kind, "trigger", from_state, to_state, actor, role, comment, at, workflow, '
    "workflow_version, payload, prev_hash, hash"
)
_OUTBOX = (
    "key, deadline_id, kind, rung, recipient, send_at, status, attempts, next_attempt_at, "
    "claimed_at, last_error, sent_at, message_id, late, payload, created_at"
)
_DRAFTS = "version, content_id, file_name, media_type, note, added_by, added_at, seq"
#: the columns holding times and days, shifted in a copy
_TIMES = frozenset(
    {"created_at", "updated_at", "granted_at", "due_on", "ends_on", "due_at", "send_at"}
    | {"next_attempt_at", "claimed_at", "sent_at", "added_at", "at"}
)
#: payload keys that name a deadline's id and days (the rest: emails are swapped)
_DAY_KEYS = ("due_on", "ends_on")


def parsed(name: str, value: Any) -> Any:
    """Return a stored column's value, a time or day as a datetime or date."""
    if name not in _TIMES or value is None:
        return value
    return date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)


def stored(value: Any, delta: timedelta) -> Any:
    """Return a parsed value ``delta`` later (if a time or day), in its stored form."""
    if isinstance(value, datetime):
        return (value + delta).isoformat(" ", "microseconds")
    if isinstance(value, date):
        return (value + delta).isoformat()
    return value


def mentions(value: Any, emails: frozenset[str]) -> bool:
    """Tell whether a JSON value names a deadline, a day or one of ``emails`` anywhere."""
    if isinstance(value, dict):
        return any(k in ("deadline", *_DAY_KEYS) or mentions(v, emails) for k, v in value.items())
    if isinstance(value, list):
        return any(mentions(v, emails) for v in value)
    return isinstance(value, str) and value in emails


def rewrite(value: Any, swap: Callable[[str, Any], Any]) -> Any:
    """Return a JSON value with ``swap(key, value)`` applied to every scalar below a key."""
    if isinstance(value, dict):
        return {k: rewrite(swap(k, v), swap) for k, v in value.items()}
    if isinstance(value, list):
        return [rewrite(swap("", v), swap) for v in value]
    return value


class Template:
    """One template plan as stored, read raw from the SQLite file, parsed once to be copied.

    Payloads that name no deadline, day or person of its cast are copied as they are.
    """

    def __init__(self, db: sqlite3.Connection, key: str, cast: list[str]) -> None:
        self.key, self.cast = key, cast
        emails = frozenset(cast)
        (self.id,) = db.execute("SELECT id FROM plans WHERE key = ?", (key,)).fetchone()
        self.plan = self._rows(db, "SELECT * FROM plans WHERE id = ?")[0]
        self.history = []
        for row in self._rows(db, f"SELECT {_HISTORY} FROM history WHERE plan_id = ? ORDER BY seq"):
            text = row.pop("payload")
            payload = None if text is None else json.loads(text)
            # a payload to rewrite for each copy, else its stored text as it is
            row["payload"] = payload if mentions(payload, emails) else text
            row.pop("plan_id"), row.pop("prev_hash"), row.pop("hash")
            self.history.append(row)
        self.roles = self._rows(
            db,
            "SELECT p.email, r.role, r.granted_at FROM roles r JOIN people p "
            "ON p.id = r.person_id WHERE r.plan_id = ?",
        )
        self.deadlines = self._rows(db, "SELECT * FROM deadlines WHERE plan_id = ? ORDER BY id")
        self.outbox = self._rows(db, f"SELECT {_OUTBOX} FROM outbox WHERE plan_id = ? ORDER BY id")
        for row in self.outbox:
            row["key"] = _OUTBOX_KEY.match(row["key"]).groups()  # type: ignore[union-attr]
            row["payload"] = None if row["payload"] is None else json.loads(row["payload"])
        self.drafts = self._rows(
            db, f"SELECT {_DRAFTS} FROM drafts WHERE plan_id = ? ORDER BY version"
        )
        self.last_at = self.history[-1]["at"].replace(tzinfo=UTC)

    def _rows(self, db: sqlite3.Connection, query: str) -> list[dict[str, Any]]:
        cursor = db.execute(query, (self.id,))
        names = [d[0] for d in cursor.description]
        return [{n: parsed(n, v) for n, v in zip(names, row, strict=True)} for row in cursor]


class Copier:
    """Copies template plans into new plans at SQL level, every record sealed again."""

    def __init__(self, db: sqlite3.Connection, audit_key: bytes | None) -> None:
        self.db, self.audit_key = db, audit_key
        self.person_ids = dict(db.execute("SELECT email, id FROM people"))
        self.next_plan = db.execute("SELECT max(id) FROM plans").fetchone()[0] + 1
        self.next_deadline = (db.execute("SELECT max(id) FROM deadlines").fetchone()[0] or 0) + 1
        self.rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)

    def copy(
        self, template: Template, key: str, country: str, title: str, cast: list[str], days: int
    ) -> None:
        """Copy ``template`` as plan ``key``: its cast swapped for ``cast``, ``days`` later."""
        plan_id = self.next_plan
        self.next_plan += 1
        delta = timedelta(days=days)
        emails = dict(zip(template.cast, cast, strict=True))
        deadline_ids = {}
        for row in template.deadlines:
            deadline_ids[row["id"]] = self.next_deadline
            self.next_deadline += 1

        def swap(field: str, value: Any) -> Any:
            if field == "deadline" and isinstance(value, int):
                return deadline_ids[value]
            if field in _DAY_KEYS and isinstance(value, str):
                return (date.fromisoformat(value) + delta).isoformat()
            if isinstance(value, str):
                return emails.get(value, value)
            return value

        prev = chain.genesis(key)
        for row in template.history:
            record = dict(row)
            record["at"] = row["at"].replace(tzinfo=UTC) + delta
            record["actor"] = emails.get(row["actor"], row["actor"])
            payload = row["payload"]
            if row["kind"] == "created":
                zone = template.plan["timezone"]
                payload = chain.payload_text({"country": country, "timezone": zone, "title": title})
            elif payload is not None and not isinstance(payload, str):
                payload = chain.payload_text(rewrite(payload, swap))
            record["payload"] = payload
            record["prev_hash"] = prev
            digest = chain.seal(record, self.audit_key)
            record["at"] = chain.at_text(record["at"])
            self.rows["history"].append((plan_id, *record.values(), digest))
            prev = digest
        plan = {name: stored(value, delta) for name, value in template.plan.items()}
        plan.update(id=plan_id, key=key, country=country, title=title, head_hash=prev)
        plan.update(search=plan_search_text(key, title))
        self.rows["plans"].append(tuple(plan.values()))
        for row in template.roles:
            person = self.person_ids[emails.get(row["email"], row["email"])]
            at = stored(row["granted_at"], delta)
            self.rows["roles"].append((plan_id, person, row["role"], at))
        for row in template.deadlines:
            values = {name: stored(value, delta) for name, value in row.items()}
            values.update(id=deadline_ids[row["id"]], plan_id=plan_id)
            self.rows["deadlines"].append(tuple(values.values()))
        for row in template.outbox:
            values = {name: stored(value, delta) for name, value in row.items()}
            kind, number, rest, recipient = row["key"]
            number = deadline_ids[int(number)] if kind == "d" else plan_id
            values["key"] = f"{kind}{number}.{rest}:{emails.get(recipient, recipient)}"
            values["deadline_id"] = deadline_ids.get(row["deadline_id"])
            values["recipient"] = emails.get(row["recipient"], row["recipient"])
            if row["payload"] is not None:
                values["payload"] = json.dumps(rewrite(row["payload"], swap))
            self.rows["outbox"].append((plan_id, *values.values()))
        for row in template.drafts:
            values = {name: stored(value, delta) for name, value in row.items()}
            values["added_by"] = emails.get(row["added_by"], row["added_by"])
            self.rows["drafts"].append((plan_id, *values.values()))

    def flush(self) -> None:
        """Insert what was copied so far (one transaction)."""
        plan_columns = len(self.db.execute("SELECT * FROM plans LIMIT 0").description)
        deadline_columns = len(self.db.execute("SELECT * FROM deadlines LIMIT 0").description)

        def marks(n: int) -> str:
            return ", ".join("?" * n)

        statements = {
            "plans": f"INSERT INTO plans VALUES ({marks(plan_columns)})",
            "history": f"INSERT INTO history ({_HISTORY}) VALUES ({marks(15)})",
            "roles": "INSERT INTO roles (plan_id, person_id, role, granted_at) "
            f"VALUES ({marks(4)})",
            "deadlines": f"INSERT INTO deadlines VALUES ({marks(deadline_columns)})",
            "outbox": f"INSERT INTO outbox (plan_id, {_OUTBOX}) VALUES ({marks(17)})",
            "drafts": f"INSERT INTO drafts (plan_id, {_DRAFTS}) VALUES ({marks(9)})",
        }
        self.db.execute("BEGIN")
        for table, statement in statements.items():
            self.db.executemany(statement, self.rows[table])
        self.db.execute("COMMIT")
        self.rows.clear()


def build(path: Path, plans: int, per_plan: int) -> tuple[str, str, int, int]:
    """Build the database; return its URL, the plan page's key, its record count and how
    many plans the search finds."""
    url = f"sqlite:///{path}"
    START[:] = [datetime.now(UTC).replace(microsecond=0) - timedelta(days=420)]
    clock = VirtualClock(START[0] - timedelta(days=1))
    rt = build_runtime(Settings(database_url=url), clock=clock)
    services.init_database(rt)
    cast = Cast(plans)
    add_people(rt, cast)
    templates = build_templates(rt, clock, cast, per_plan)
    audit_key = rt.secrets.audit_key
    rt.db.dispose()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA cache_size = -262144")  # 256 MiB while loading
    made = [Template(db, key, cast.of(n)) for n, key in templates]
    copier = Copier(db, audit_key)
    numbers = defaultdict(int)
    for n, _key in templates:
        numbers[COUNTRIES[n % len(COUNTRIES)]] += 1
    rng = random.Random(1540)
    latest = datetime.now(UTC) - timedelta(days=3)
    for n in range(len(made), plans):
        template = made[rng.randrange(len(made))]
        country = COUNTRIES[n % len(COUNTRIES)]
        numbers[country] += 1
        days = rng.randint(0, max(0, (latest - template.last_at).days))
        copier.copy(
            template, f"{country}-{numbers[country]}", country, title_of(n), cast.of(n), days
        )
        if len(copier.rows["history"]) >= 200_000:
            copier.flush()
    copier.flush()
    records = db.execute("SELECT count(*) FROM history").fetchone()[0]
    mine = db.execute(
        "SELECT p.key, p.seq FROM plans p JOIN roles r ON r.plan_id = p.id "
        "JOIN people x ON x.id = r.person_id WHERE x.email = ? AND r.role = 'coordinator'",
        (WORKER,),
    ).fetchall()
    db.close()
    key, _seq = min(mine, key=lambda row: (abs(row[1] - per_plan), row[0]))
    return url, key, records, numbers[COUNTRIES[0]]


def verify(url: str) -> str:
    """Run ``napflow audit verify``'s service on the database; fail unless it verifies."""
    rt = build_runtime(Settings(database_url=url))
    try:
        report = audit.verify_ledger(rt)
    finally:
        rt.db.dispose()
    if not report.ok or not report.replayed:
        shown = "; ".join(str(p) for p in report.problems[:5])
        raise SystemExit(f"the database built does not verify: {shown}")
    return report.summary()


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


def log_in(conn: http.client.HTTPConnection, email: str) -> str:
    """Log in as ``email`` as a browser does; return the session's Cookie header.

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
    body = urlencode({"email": email, "password": PASSWORD, "next": "/", "login_csrf": token})
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"napflow_login={login_cookie}",
    }
    conn.request("POST", "/login", body, headers)
    response = conn.getresponse()
    response.read()
    session = cookies(response).get("napflow_session")
    if response.status != 303 or not session:
        raise SystemExit(f"logging in as {email} failed: status {response.status}, no session")
    return f"napflow_session={session}"


def fetch(conn: http.client.HTTPConnection, path: str, cookie: str) -> tuple[float, str]:
    """Request ``path``; return how long it took and the page (it must answer 200)."""
    start = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": cookie})
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - start
    if response.status != 200:
        raise SystemExit(f"{path} answered {response.status}")
    return elapsed, body.decode()


def check_pages(pages: dict[str, str], key: str, found: int) -> None:
    """Refuse a run whose pages do not show what is measured (an empty list is quick).

    The search must list a page of ``found`` plans (50 at most), all of the country
    searched for; my work some plans; the plan page plan ``key``'s history.
    """
    listed = re.findall(r'href="/plans/([A-Z]{3})-\d+"', pages["plans list"])
    if len(listed) != min(50, found) or set(listed) != {COUNTRIES[0]}:
        raise SystemExit(f"the search listed {len(listed)} plans of {set(listed)}, not {found}")
    if not re.search(r'href="/plans/[A-Z]{3}-\d+"', pages["my work"]):
        raise SystemExit("my work lists no plan")
    if key not in pages["plan page"] or "Submit the draft" not in pages["plan page"]:
        raise SystemExit(f"the plan page of {key} does not show its history")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=10_000)
    parser.add_argument("--records-per-plan", type=int, default=100)
    parser.add_argument("--requests", type=int, default=300, help="of each path")
    parser.add_argument("--small", action="store_true", help=f"a run of seconds: {SMALL}")
    args = parser.parse_args()
    if args.small:
        parser.set_defaults(**SMALL)
        args = parser.parse_args()
    if args.plans < 2 * len(END_STATES) or args.records_per_plan < 15:
        parser.error(f"--plans must be >= {2 * len(END_STATES)}, --records-per-plan >= 15")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        url, key, records, found = build(Path(tmp) / "web.db", args.plans, args.records_per_plan)
        built = time.perf_counter() - started
        print(f"built {args.plans:,} plans, {records:,} history records in {built:.1f}s")
        if args.small:
            print(f"audit verify: {verify(url)}")
        port = free_port()
        server = subprocess.Popen([sys.executable, "-c", SERVER, url, str(port)])
        try:
            wait_for(port)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            worker, reader = log_in(conn, WORKER), log_in(conn, READER)
            paths = {
                "bare route": ("/bench/static", worker),
                "my work": ("/", worker),
                "plans list": ("/plans?" + urlencode({"q": SEARCH}), reader),
                "plan page": (f"/plans/{key}", worker),
            }
            pages = {name: fetch(conn, path, who)[1] for name, (path, who) in paths.items()}
            check_pages(pages, key, found)
            times: dict[str, list[float]] = {name: [] for name in paths}
            for _ in range(args.requests):
                for name, (path, who) in paths.items():
                    times[name].append(fetch(conn, path, who)[0])
            conn.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    bare50, bare99 = percentile(times["bare route"], 0.5), percentile(times["bare route"], 0.99)
    result: dict[str, object] = {
        "benchmark": "web",
        "plans": args.plans,
        "records": records,
        "build_s": round(built, 1),
        "plan_key": key,
    }
    print(f"plan page: {key}; plans list: {paths['plans list'][0]}")
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
    print("targets: p50 <= 10x, p99 <= 20x the bare route's")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
