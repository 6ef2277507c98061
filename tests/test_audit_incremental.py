"""Stored verifications: a full run hashes everything, an incremental one only what is new.

Every verification of the database is stored (when, by whom, full or incremental, what it
found) with how far it found each chain intact; an incremental run goes on from there. The
proofs count: a record edited deep in what was verified is not seen by an incremental run
(it did not hash it) but is by a full one; a new record tampered with, or the verified head
itself rewritten, is named incrementally; a run that finds a problem moves no head. The
audit page shows the last result and checks only what was added since; its full-run
button is for administrators and auditors, behind the CSRF token; the API and the CLI do
the same. The attacker drops the append-only triggers and edits the database directly.
Both engines.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from helpers import CAST, Attacker, Result
from sqlalchemy import func, select
from test_web import MEMBER, OBSERVER, log_in

from napflow import services
from napflow.clock import VirtualClock
from napflow.errors import NotAllowedError
from napflow.ledger import chain
from napflow.ledger.record import Record
from napflow.ledger.verification import Verified
from napflow.runtime import Runtime
from napflow.services import _verifications, accounts, audit
from napflow.storage.schema import plans, verifications
from napflow.web import create_app

Cli = Callable[..., Result]
PLAN = "TJK-2015"
#: the append-only triggers dropped before editing, by engine
DROPS = {
    "postgresql": [
        "history_append_only ON history",
        "draft_chunks_append_only ON draft_chunks",
    ],
    "sqlite": [
        "history_append_only_update",
        "history_append_only_delete",
        "draft_chunks_append_only_update",
    ],
}
EDITED = "edited: its content no longer matches its digest"
_FIELDS = ", ".join(f'"{name}"' for name in Record._fields)

_OPEN: dict[int, Attacker] = {}


@pytest.fixture(autouse=True)
def _close_attackers() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.popitem()[1].conn.close()


def attacker(rt: Runtime) -> Attacker:
    """Someone at the database itself, the append-only triggers dropped (once a test)."""
    if id(rt) not in _OPEN:
        _OPEN[id(rt)] = Attacker(rt, DROPS)
    return _OPEN[id(rt)]


def edit(rt: Runtime, key: str, seq: int, comment: str | None) -> str | None:
    """Rewrite a record's comment in place, its digest left as it was; return the old one."""
    conn = attacker(rt)
    where = "WHERE seq = ? AND plan_id = (SELECT id FROM plans WHERE key = ?)"
    old = conn.execute(f"SELECT comment FROM history {where}", (seq, key)).fetchone()[0]
    conn.execute(f"UPDATE history SET comment = ? {where}", (comment, seq, key))
    return old  # type: ignore[no-any-return]


def plan_end(rt: Runtime, key: str = PLAN) -> tuple[int, str, int]:
    """The plan row's seq, head digest and version."""
    with rt.db.read() as conn:
        row = conn.execute(
            select(plans.c.seq, plans.c.head_hash, plans.c.version).where(plans.c.key == key)
        ).one()
    return row.seq, row.head_hash, row.version


def last_seq(rt: Runtime, key: str = PLAN) -> int:
    return plan_end(rt, key)[0]


def add_records(rt: Runtime, count: int, key: str = PLAN) -> None:
    """Append ``count`` records to a plan's history: a role given and taken, in turn."""
    for n in range(count):
        if n % 2 == 0:
            services.grant_role(rt, key, MEMBER, "observer")
        else:
            services.revoke_role(rt, key, MEMBER, "observer")


def verified(rt: Runtime) -> dict[str, Verified]:
    """Every chain's verified head, as stored."""
    with rt.db.read() as conn:
        found = _verifications.verified_heads_of(conn, None)
    return {name: head.verified for name, head in found.items()}


def stored_runs(rt: Runtime) -> int:
    with rt.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(verifications)).scalar_one())


def named(found: audit.Verification) -> list[str]:
    return [str(p) for p in found.report.problems]


# --- what an incremental run hashes, and what it finds ---------------------------------------


def test_an_incremental_run_hashes_only_what_was_added(demo: Runtime) -> None:
    full = audit.verify_and_record(demo)
    assert full.ok and not full.incremental and full.report.records == 59
    assert full.id is not None and full.not_stored is None
    assert verified(demo)[PLAN] == Verified(*plan_end(demo))
    edit(demo, PLAN, 4, "Approved without reservations")  # deep in what was verified
    add_records(demo, 2)
    increment = audit.verify_and_record(demo, incremental=True)
    # it hashed the 2 new records (and each chain's verified head), not record 4
    assert increment.ok and increment.incremental, named(increment)
    assert (increment.report.records, increment.report.site_records) == (2, 0)
    assert increment.report.summary().startswith(
        "OK: 3 plans, 2 new records checked since the last verification, each chain linked "
        "to the head verified then, every action allowed; head sha256:"
    )
    assert increment.report.head == audit.ledger_head(demo).head
    assert verified(demo)[PLAN].seq == 25  # moved on to where it found the chain ending
    again = audit.verify_and_record(demo)  # a full run hashes everything again
    assert named(again) == [f"{PLAN} seq 4: {EDITED}"]
    assert again.report.records == 61


def test_a_tampered_new_record_is_named_and_no_head_moves(demo: Runtime) -> None:
    audit.verify_and_record(demo)
    before = verified(demo)
    add_records(demo, 1)
    edit(demo, PLAN, 24, "rewritten after the fact")
    for _ in range(2):  # the failed run moved nothing: the next one checks the same again
        found = audit.verify_and_record(demo, incremental=True)
        assert named(found) == [f"{PLAN} seq 24: {EDITED}"]
        assert found.report.records == 1 and not found.ok
        assert found.report.summary().startswith(
            "FAILED: 1 problem in 1 of 3 plans, 1 new record checked since the last "
            "verification; head sha256:"
        )
        assert verified(demo) == before
    shown = audit.last_verification(demo)
    assert shown.id == found.id and named(shown) == named(found) and shown.incremental


def test_a_rewritten_verified_head_is_named_incrementally(demo: Runtime) -> None:
    audit.verify_and_record(demo)
    head = verified(demo)[PLAN]
    edit(demo, PLAN, 23, "edited in place")  # the verified head: its digest left alone
    found = audit.verify_and_record(demo, incremental=True)
    assert named(found) == [f"{PLAN} seq 23: {EDITED}"] and found.report.records == 0
    # the head replaced, content and digest, and the plan's row pointed at it: each record
    # seals itself, so only the digest verified before tells
    conn = attacker(demo)
    row = conn.execute(
        f"SELECT {_FIELDS} FROM history WHERE seq = 23 AND plan_id = "
        "(SELECT id FROM plans WHERE key = ?)",
        (PLAN,),
    ).fetchone()
    values = [chain.at_text(v) if isinstance(v, datetime) else v for v in row]
    forged = Record(*values)._replace(comment="Approved by the minister")
    digest = chain.reseal(forged, None)
    conn.execute(
        "UPDATE history SET comment = ?, hash = ? WHERE seq = 23 AND plan_id = "
        "(SELECT id FROM plans WHERE key = ?)",
        (forged.comment, digest, PLAN),
    )
    conn.execute("UPDATE plans SET head_hash = ? WHERE key = ?", (digest, PLAN))
    assert audit.verify_ledger(demo).ok  # a full run alone sees an intact chain
    found = audit.verify_and_record(demo, incremental=True)
    assert named(found) == [
        f"{PLAN} seq 23: forged: it is {digest}, but it was verified as {head.hash}: the "
        "verified history was rewritten (a full verification names every record that "
        "changed)"
    ]


def test_a_chain_a_full_run_found_broken_is_checked_whole_until_it_is_intact(
    demo: Runtime,
) -> None:
    audit.verify_and_record(demo)
    sealed = edit(demo, PLAN, 4, "Approved without reservations")
    assert audit.verify_and_record(demo, incremental=True).ok  # it does not read seq 4
    broken = audit.verify_and_record(demo)
    assert named(broken) == [f"{PLAN} seq 4: {EDITED}"]
    assert verified(demo)[PLAN] == Verified(0, "", 0)  # nothing of it counts as verified
    assert verified(demo)["KGZ-2021"].seq > 0  # the others keep their heads
    found = audit.verify_and_record(demo, incremental=True)
    assert named(found) == [f"{PLAN} seq 4: {EDITED}"]
    assert found.report.records == 23  # that plan's whole chain, nothing of the others
    edit(demo, PLAN, 4, sealed)  # put back as it was sealed
    assert audit.verify_and_record(demo, incremental=True).ok
    assert verified(demo)[PLAN].seq == 23


def test_drafts_added_since_are_hashed_and_older_ones_are_not(rt: Runtime, nap_plan: str) -> None:
    coordinator = CAST["coordinator"][0]
    old = services.drafts.add_draft(
        rt, nap_plan, io.BytesIO(b"# NAP\n\nv1\n"), "v1.md", coordinator
    )
    audit.verify_and_record(rt)
    new = services.drafts.add_draft(
        rt, nap_plan, io.BytesIO(b"# NAP\n\nv2\n"), "v2.md", coordinator
    )
    conn = attacker(rt)
    for draft in (old, new):
        conn.execute(
            "UPDATE draft_chunks SET data = ? WHERE content_id = "
            "(SELECT content_id FROM drafts WHERE plan_id = (SELECT id FROM plans "
            "WHERE key = ?) AND version = ?)",
            (b"# NAP\n\nswapped\n", nap_plan, draft.version),
        )
    found = audit.verify_and_record(rt, incremental=True)
    assert named(found) == [
        f"{nap_plan} seq {new.seq}: edited: the stored bytes of draft v2 no longer match "
        f"its sealed digest {new.sha256}"
    ]
    assert len(named(audit.verify_and_record(rt))) == 2  # a full run hashes v1 too


def test_overlapping_runs_never_move_a_head_back(demo: Runtime) -> None:
    """Storing is a compare-and-swap per chain: a run that began before another stored
    leaves that chain's head alone, but a chain a full run found broken is always reset."""
    audit.verify_and_record(demo)
    with demo.db.read() as conn:  # what a run that begins now reads
        seen = _verifications.verified_heads_of(conn, None)
    old_end = verified(demo)[PLAN]
    add_records(demo, 1)
    assert audit.verify_and_record(demo, incremental=True).ok  # stored meanwhile
    newer = verified(demo)[PLAN]
    assert newer.seq == old_end.seq + 1

    def finish(ok: bool, incremental: bool, broken: set[str]) -> None:
        run = _verifications.Run(
            None, demo.clock.now(), None, incremental, "*", ok, 3, 0, 0, 0, "", 0, 0, []
        )
        with demo.db.write() as conn:
            _verifications.store(conn, run, seen, {PLAN: old_end} if ok else {}, broken)

    finish(True, True, set())  # the earlier run, done last: moves nothing back
    assert verified(demo)[PLAN] == newer
    finish(False, False, {PLAN})  # a full run that found the chain broken
    assert verified(demo)[PLAN] == Verified(0, "", 0)


def test_two_incremental_runs_at_once_both_store_and_agree(demo: Runtime) -> None:
    audit.verify_and_record(demo)
    add_records(demo, 3)
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: audit.verify_and_record(demo, incremental=True), [1, 2]))
    assert all(r.ok and r.id is not None for r in runs), [named(r) for r in runs]
    assert len({r.id for r in runs}) == 2 and stored_runs(demo) == 3
    assert verified(demo)[PLAN] == Verified(*plan_end(demo))
    assert audit.verify_and_record(demo, incremental=True).report.records == 0


def test_an_auditor_of_some_countries_verifies_and_sees_those_plans_only(demo: Runtime) -> None:
    services.access.grant_access(demo, OBSERVER, "auditor", ["TJK"])
    mine = audit.verify_and_record(demo, OBSERVER)
    assert mine.ok and mine.countries == ("TJK",) and mine.report.plans == 1
    assert set(verified(demo)) == {PLAN}  # the other chains were not verified by it
    everyone = audit.verify_and_record(demo)
    assert everyone.report.plans == 3
    assert audit.last_verification(demo, OBSERVER).id == mine.id  # not the operator's
    with pytest.raises(NotAllowedError, match="administrators and auditors"):
        audit.verify_and_record(demo, MEMBER)


# --- the audit page ----------------------------------------------------------------------------


@pytest.fixture
def client(demo: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(demo), follow_redirects=False) as http:
        yield http


def page_csrf(page: str) -> str:
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_the_page_shows_the_last_result_and_checks_only_what_is_new(
    client: TestClient, demo: Runtime, clock: VirtualClock
) -> None:
    services.access.grant_access(demo, OBSERVER, "auditor")
    services.people.edit_person(demo, OBSERVER, timezone="Asia/Dushanbe")  # UTC+5
    clock.set(datetime(2015, 10, 10, 6, 0, tzinfo=UTC))
    audit.verify_and_record(demo)  # the nightly `napflow audit verify`
    log_in(client, OBSERVER)
    page = client.get("/audit").text
    assert stored_runs(demo) == 1  # nothing was added since: nothing hashed, nothing run
    when = re.search(r'<p class="when">(.*?)</p>', page, re.S)
    assert when is not None and " ".join(when.group(1).split()) == (
        'Full verification, <time datetime="2015-10-10T06:00:00+00:00">10 October 2015, '
        "11:00</time> (Asia/Dushanbe), run from the command line."
    )
    assert '<p class="ok">OK: 3 plans, 59 records and ' in page
    assert 'action="/audit/verify"' in page and "Run a full verification" in page
    add_records(demo, 1)
    clock.advance(timedelta(minutes=90))
    page = client.get("/audit").text
    assert stored_runs(demo) == 2
    when = re.search(r'<p class="when">(.*?)</p>', page, re.S)
    assert when is not None and "Incremental verification" in when.group(1)
    assert (
        "10 October 2015, 12:30</time>" in when.group(1)
        and "run by UNRCPD liaison (observer)" in page
    )
    assert (
        '<p class="ok">OK: 3 plans, 1 new record checked since the last verification, each '
        "chain linked to the head verified then, every action allowed; head "
        f"{audit.ledger_head(demo).head}</p>"
    ) in page
    client.get("/audit")
    assert stored_runs(demo) == 2  # and again nothing new


def test_the_page_shows_a_failed_run_and_keeps_naming_the_problem(
    client: TestClient, demo: Runtime
) -> None:
    services.access.grant_access(demo, OBSERVER, "auditor")
    audit.verify_and_record(demo)
    add_records(demo, 1)
    edit(demo, PLAN, 24, "rewritten")
    log_in(client, OBSERVER)
    page = client.get("/audit").text
    assert '<p class="error" role="alert">FAILED: 1 problem in 1 of 3 plans, 1 new record' in page
    assert f"<li>{PLAN} seq 24: {EDITED}</li>" in page
    client.get("/audit")
    assert stored_runs(demo) == 2  # shown again, not run again: nothing was added


def test_the_full_run_button_is_for_auditors_and_needs_the_form_token(
    client: TestClient, demo: Runtime
) -> None:
    services.access.grant_access(demo, OBSERVER, "auditor")
    log_in(client, OBSERVER)
    csrf = page_csrf(client.get("/audit").text)  # the first visit ever: a full run
    assert stored_runs(demo) == 1
    for token in ("", "not-the-token"):
        refused = client.post("/audit/verify", data={"csrf": token})
        assert refused.status_code == 403 and "This form has expired" in refused.text
    assert stored_runs(demo) == 1
    edit(demo, PLAN, 4, "Approved without reservations")
    done = client.post("/audit/verify", data={"csrf": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/audit"
    last = audit.last_verification(demo)
    assert stored_runs(demo) == 2 and not last.incremental and last.ran_by == OBSERVER
    page = client.get("/audit").text
    assert "run by UNRCPD liaison (observer)" in page and "Full verification" in page
    assert f"<li>{PLAN} seq 4: {EDITED}</li>" in page
    with TestClient(create_app(demo), follow_redirects=False) as member:
        log_in(member, MEMBER)
        plan_page = member.get(f"/plans/{PLAN}").text
        answer = member.post("/audit/verify", data={"csrf": page_csrf(plan_page)})
        assert answer.status_code == 403 and "administrators and auditors" in answer.text
    assert stored_runs(demo) == 2


# --- the API and the CLI ---------------------------------------------------------------------


def test_the_api_reads_the_last_verification_and_runs_one(
    client: TestClient, demo: Runtime
) -> None:
    services.access.grant_access(demo, OBSERVER, "auditor")
    auditor = {"Authorization": f"Bearer {accounts.create_api_token(demo, OBSERVER)}"}
    member = {"Authorization": f"Bearer {accounts.create_api_token(demo, MEMBER)}"}
    none_yet = client.get("/api/v1/audit/verification", headers=auditor)
    assert none_yet.status_code == 404 and none_yet.json()["missing"] == "verification"
    full = client.post("/api/v1/audit/verification", headers=auditor)
    assert full.status_code == 200
    body = full.json()
    assert body["ok"] and not body["incremental"] and body["ran_by"] == OBSERVER
    assert (body["plans"], body["records"], body["countries"]) == (3, 59, None)
    assert body["summary"].startswith("OK: 3 plans, 59 records and ")
    assert client.get("/api/v1/audit/verification", headers=auditor).json() == body
    add_records(demo, 1)
    edit(demo, PLAN, 24, "rewritten")
    again = client.post("/api/v1/audit/verification", headers=auditor, json={"full": False})
    found = again.json()
    assert again.status_code == 200 and found["incremental"] and not found["ok"]
    assert found["records"] == 1 and found["id"] == body["id"] + 1
    assert found["problems"] == [
        {"plan": PLAN, "seq": 24, "kind": "edited", "detail": EDITED.split(": ", 1)[1]}
    ]
    for method in (client.get, client.post):
        refused = method("/api/v1/audit/verification", headers=member)
        assert refused.status_code == 403 and "administrators and auditors" in refused.text
    services.access.grant_access(demo, MEMBER, "auditor", ["KGZ"])
    scoped = client.post("/api/v1/audit/verification", headers=member, json={"full": True})
    assert (scoped.json()["countries"], scoped.json()["plans"]) == (["KGZ"], 1)


def test_the_cli_stores_its_full_runs_and_checks_incrementally(demo: Runtime, cli: Cli) -> None:
    whole = cli("audit", "verify")
    assert whole.code == 0 and whole.out.startswith("OK: 3 plans, 59 records and ")
    assert len(whole.out.splitlines()) == 1 and whole.err == ""  # as it always printed
    stored = audit.last_verification(demo)
    assert stored.ran_by is None and not stored.incremental and stored.ok
    add_records(demo, 2)
    added = cli("audit", "verify", "--incremental")
    assert added.code == 0 and added.out.startswith(
        "OK: 3 plans, 2 new records checked since the last verification, each chain linked "
        "to the head verified then, every action allowed; head sha256:"
    )
    nothing = cli("audit", "verify", "--incremental", "--format", "json").json()
    assert nothing["ok"] and nothing["records"] == 0 and nothing["site_records"] == 0
    assert nothing["verification"]["incremental"] and nothing["verification"]["stored"]
    assert nothing["verification"]["ran_by"] is None
    assert nothing["verification"]["id"] == audit.last_verification(demo).id
    add_records(demo, 1)
    edit(demo, PLAN, last_seq(demo), "rewritten")
    failed = cli("audit", "verify", "--incremental")
    assert failed.code == 1
    assert failed.out.splitlines()[0] == f"{PLAN} seq {last_seq(demo)}: {EDITED}"
    for args in (("--incremental", PLAN), ("--incremental", "--bundle", "b.json")):
        usage = cli("audit", "verify", *args)
        assert usage.code == 2 and "--incremental verifies the whole database" in usage.err
