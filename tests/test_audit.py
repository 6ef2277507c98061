"""The tamper-evident ledger: every kind of tampering is named, and the database refuses it.

The attacker here has direct access to the database (the SQLite file with sqlite3, or a
PostgreSQL connection), as someone with access to the server would: they drop the
append-only triggers by hand, then edit, delete, reorder and forge.
Each test checks the quick scan of the CLI and the record-by-record path used on other
engines, and that both name the same records.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import helpers
import psycopg
import pytest
from helpers import SCHEMA_HEAD, Result, napflow_process
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napflow import services
from napflow.clock import VirtualClock
from napflow.ledger import chain
from napflow.ledger.verification import scan_sqlite
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.services import audit

Cli = Callable[..., Result]
KEY = "correct horse battery staple"
UNKEYED = (
    "it is sealed with plain SHA-256, not with the audit key: it was written by someone "
    "without the key"
)


@pytest.fixture
def demo(rt: Runtime) -> Runtime:
    services.init_database(rt)
    services.load_demo(rt)
    return rt


@pytest.fixture
def keyed_rt(
    db_url: str, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    """The demo, sealed with an audit key (NAPFLOW_AUDIT_KEY set for the whole test)."""
    monkeypatch.setenv("NAPFLOW_AUDIT_KEY", KEY)
    runtime = build_runtime(Settings(database_url=db_url), clock=clock)
    services.init_database(runtime)
    services.load_demo(runtime)
    yield runtime
    runtime.db.dispose()


_OPEN: list[Attacker] = []


@pytest.fixture(autouse=True)
def _close_attackers() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().conn.close()


#: the append-only triggers that refuse UPDATE and DELETE on history, by engine
_DROPS = {
    "postgresql": ["history_append_only ON history"],
    "sqlite": ["history_append_only_update", "history_append_only_delete"],
}


class Attacker(helpers.Attacker):
    """Someone at the database itself; closed when the test ends."""

    def __init__(self, rt: Runtime, drop_triggers: bool = True) -> None:
        super().__init__(rt, _DROPS if drop_triggers else None)
        _OPEN.append(self)


def attacker(rt: Runtime) -> Attacker:
    """Connect to the database directly and drop the append-only triggers."""
    return Attacker(rt)


def canonical(values: list[Any]) -> bytes:
    """The canonical bytes of a record's FIELDS as read back by the driver."""
    return chain.canonical([chain.at_text(v) if isinstance(v, datetime) else v for v in values])


def plan_id(conn: Attacker, key: str) -> int:
    return int(conn.execute("SELECT id FROM plans WHERE key = ?", (key,)).fetchone()[0])


def problems(rt: Runtime, cli: Cli) -> list[str]:
    """Verify through the CLI; check the record-by-record path finds exactly the same."""
    result = cli("audit", "verify")
    lines = result.out.strip().splitlines()
    generic = audit._verify_generic(rt, rt.secrets.audit_key, None, False)
    assert [str(p) for p in generic.problems] == lines[:-1]
    if lines[:-1]:
        assert result.code == 1 and lines[-1].startswith("FAILED:")
    else:
        assert result.code == 0 and lines[-1].startswith("OK:")
    return lines[:-1]


def test_an_untouched_ledger_verifies_with_its_head(demo: Runtime, cli: Cli) -> None:
    result = cli("audit", "verify")
    head = cli("audit", "head").out.strip()
    assert result.code == 0
    people = len(services.list_people(demo))  # each added with a site ledger record
    # and the NAP workflow's version, stored (and sealed) when the first plan was created
    stored = len(services.workflow_versions.list_versions(demo, "nap"))
    assert stored == 1
    assert result.out == (
        f"OK: 3 plans, 59 records and {people + stored} site records, every chain intact, "
        f"every action allowed; head {head}\n"
    )
    assert head.startswith("sha256:") and len(head) == len("sha256:") + 64
    assert cli("audit", "verify", "--head", head).code == 0
    assert cli("audit", "verify", "TJK-2015").out.startswith("OK: 1 plans, ")


def test_the_database_refuses_update_and_delete_while_the_triggers_stand(demo: Runtime) -> None:
    conn = Attacker(demo, drop_triggers=False)
    statements = [
        "UPDATE history SET comment = 'rewritten'",
        "DELETE FROM history WHERE seq = 2",
        "DELETE FROM history",
    ]
    if conn.postgresql:
        statements.append("TRUNCATE history")
    for sql in statements:
        with pytest.raises(Exception, match="history is append-only") as refused:
            conn.execute(sql)
        assert isinstance(refused.value, sqlite3.DatabaseError | psycopg.Error)
    assert conn.execute("SELECT count(*) FROM history").fetchone()[0] == 59


def test_an_edited_record_is_named(demo: Runtime, cli: Cli) -> None:
    conn = attacker(demo)
    conn.execute(
        "UPDATE history SET comment = 'Approved without reservations' "
        "WHERE plan_id = ? AND seq = 4",
        (plan_id(conn, "TJK-2015"),),
    )
    assert problems(demo, cli) == [
        "TJK-2015 seq 4: edited: its content no longer matches its digest"
    ]


def test_a_deleted_record_is_named_in_the_middle_and_at_the_end(demo: Runtime, cli: Cli) -> None:
    conn = attacker(demo)
    tjk, kgz = plan_id(conn, "TJK-2015"), plan_id(conn, "KGZ-2021")
    conn.execute("DELETE FROM history WHERE plan_id = ? AND seq = 5", (tjk,))
    last = conn.execute("SELECT max(seq) FROM history WHERE plan_id = ?", (kgz,)).fetchone()[0]
    conn.execute("DELETE FROM history WHERE plan_id = ? AND seq = ?", (kgz, last))
    assert problems(demo, cli) == [
        f"KGZ-2021 seq {last}: missing: record seq {last} was removed from the end",
        "TJK-2015 seq 5: missing: record seq 5 was removed from the history",
    ]


def test_reordered_records_are_named(demo: Runtime, cli: Cli) -> None:
    conn = attacker(demo)
    tjk = plan_id(conn, "TJK-2015")
    for old, new in ((6, -1), (7, 6), (-1, 7)):  # swap seq 6 and 7
        conn.execute("UPDATE history SET seq = ? WHERE plan_id = ? AND seq = ?", (new, tjk, old))
    found = problems(demo, cli)
    assert found[:2] == [
        "TJK-2015 seq 6: reordered: it was written right after the record now at seq 7",
        "TJK-2015 seq 7: reordered: it was written right after the record now at seq 5",
    ]
    assert all(": reordered: " in line for line in found)


def test_a_state_changed_behind_the_ledgers_back_is_named(demo: Runtime, cli: Cli) -> None:
    conn = attacker(demo)
    conn.execute("UPDATE plans SET state = 'approved' WHERE key = 'TKM-2018'")
    assert problems(demo, cli) == [
        "TKM-2018: changed: its state is 'approved' but its history leads to 'submitted': "
        "the state was changed behind the ledger's back"
    ]


def _forge_last(conn: Attacker, key: str, comment: str) -> int:
    """Rewrite a plan's last record and recompute its digest, as far as one can without the
    audit key; keep the plan's head pointing at it. Return its seq."""
    pid = plan_id(conn, key)
    row = conn.execute(
        'SELECT seq, kind, "trigger", from_state, to_state, actor, role, comment, at, workflow, '
        "workflow_version, payload, prev_hash FROM history WHERE plan_id = ? "
        "ORDER BY seq DESC LIMIT 1",
        (pid,),
    ).fetchone()
    values = list(row)
    values[7] = comment
    forged = chain.digest(canonical(values), None)
    conn.execute(
        "UPDATE history SET comment = ?, hash = ? WHERE plan_id = ? AND seq = ?",
        (comment, forged, pid, row[0]),
    )
    conn.execute("UPDATE plans SET head_hash = ? WHERE id = ?", (forged, pid))
    return int(row[0])


def test_a_record_resealed_without_the_key_is_forged(keyed_rt: Runtime, cli: Cli) -> None:
    conn = attacker(keyed_rt)
    seq = _forge_last(conn, "TJK-2015", "All ministries agree.")
    assert problems(keyed_rt, cli) == [f"TJK-2015 seq {seq}: forged: {UNKEYED}"]


def test_a_record_resealed_with_a_guessed_key_is_named(keyed_rt: Runtime, cli: Cli) -> None:
    conn = attacker(keyed_rt)
    pid = plan_id(conn, "TJK-2015")
    guessed = chain.digest(b"anything", b"a guessed key")
    conn.execute(
        "UPDATE history SET comment = 'Rewritten', hash = ? WHERE plan_id = ? AND seq = 2",
        (guessed, pid),
    )
    assert problems(keyed_rt, cli) == [
        "TJK-2015 seq 2: edited: its content no longer matches its digest",
        "TJK-2015 seq 3: edited: its link to the record before it was changed",
    ]


def test_a_replaced_record_is_caught_by_the_record_after_it(demo: Runtime, cli: Cli) -> None:
    # Without a key anyone can recompute a digest; the next record still remembers the old one.
    conn = attacker(demo)
    pid = plan_id(conn, "TJK-2015")
    row = conn.execute(
        'SELECT seq, kind, "trigger", from_state, to_state, actor, role, comment, at, workflow, '
        "workflow_version, payload, prev_hash FROM history WHERE plan_id = ? AND seq = 3",
        (pid,),
    ).fetchone()
    values = [*row[:7], "Forged remark", *row[8:]]
    conn.execute(
        "UPDATE history SET comment = ?, hash = ? WHERE plan_id = ? AND seq = 3",
        ("Forged remark", chain.digest(canonical(values), None), pid),
    )
    assert problems(demo, cli) == [
        "TJK-2015 seq 3: forged: its content and digest were both replaced: the record after "
        "it was sealed onto a different digest"
    ]


def test_a_record_appended_without_the_key_is_forged(keyed_rt: Runtime, cli: Cli) -> None:
    seq = append_plain(
        attacker(keyed_rt),
        "TKM-2018",
        ["endorse", "submitted", "submitted", "minister@example.org", "approver", "Approved."],
    )
    assert problems(keyed_rt, cli) == [f"TKM-2018 seq {seq}: forged: {UNKEYED}"]


def append_plain(conn: Attacker, key: str, fields: list[str | None]) -> int:
    """Append an action (trigger, from, to, actor, role, comment) sealed with plain SHA-256,
    as someone without the key would, and move the plan's head onto it. Return its seq."""
    pid = plan_id(conn, key)
    seq, head = conn.execute("SELECT seq, head_hash FROM plans WHERE id = ?", (pid,)).fetchone()
    values = [seq + 1, "action", *fields, "2025-12-01 09:00:00.000000", "nap", 1, None, head]
    digest = chain.digest(canonical(values), None)
    conn.execute(
        'INSERT INTO history (plan_id, seq, kind, "trigger", from_state, to_state, actor, role, '
        "comment, at, workflow, workflow_version, payload, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (pid, *values, digest),
    )
    conn.execute(
        "UPDATE plans SET seq = ?, head_hash = ?, version = version + 1 WHERE id = ?",
        (seq + 1, digest, pid),
    )
    return int(seq + 1)


def test_a_keyed_ledger_needs_the_key_and_refuses_a_wrong_one(
    keyed_rt: Runtime, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("audit", "verify").code == 0
    monkeypatch.delenv("NAPFLOW_AUDIT_KEY")
    missing = cli("audit", "verify")
    assert missing.code == 2 and "set NAPFLOW_AUDIT_KEY" in missing.err and not missing.out
    monkeypatch.setenv("NAPFLOW_AUDIT_KEY", "not the key")
    wrong = cli("audit", "verify")
    assert wrong.code == 1 and not wrong.out
    assert "No record verifies with this NAPFLOW_AUDIT_KEY (0 of 59" in wrong.err


def test_verify_head_proves_nothing_changed_since(demo: Runtime, cli: Cli) -> None:
    head = cli("audit", "head").out.strip()
    assert cli("audit", "verify", "--head", head).code == 0
    services.advance_plan(demo, "TJK-2015", "endorse", "n.kurbonov@kchs.tj.example")
    later = cli("audit", "verify", "--head", head)
    assert later.code == 1
    assert later.out.startswith("ledger: changed: the head digest is sha256:")
    assert f"not {head}: the ledger changed since that digest was taken" in later.out


def test_a_bundle_verifies_on_a_machine_without_the_database(
    demo: Runtime, cli: Cli, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle.json"
    exported = cli("audit", "export", "--out", str(bundle))
    head = cli("audit", "head").out.strip()
    assert exported.code == 0 and exported.out == (
        f"Wrote 59 records of 3 plans to {bundle}; head {head}.\n"
    )
    elsewhere = tmp_path / "auditor"
    elsewhere.mkdir()
    checked = napflow_process("audit", "verify", "--bundle", str(bundle), cwd=elsewhere)
    assert checked.returncode == 0, checked.stderr
    assert (
        checked.stdout
        == f"OK: 3 plans, 59 records, every chain intact; head {head}\n"  # (no replay offline)
    )
    assert not (elsewhere / "var").exists()  # no database was created or needed
    # nor any configuration: an auditor's napflow set up for something else, or not at all
    (elsewhere / "config.toml").write_text("not [valid toml", encoding="utf-8")
    unusable = {**os.environ, "NAPFLOW_DATABASE_URL": "postgresql+nosuch://auditor@nowhere/x"}
    for env in (unusable, {**unusable, "NAPFLOW_CONFIG": str(elsewhere / "config.toml")}):
        again = napflow_process("audit", "verify", "--bundle", str(bundle), cwd=elsewhere, env=env)
        assert (again.returncode, again.stdout, again.stderr) == (0, checked.stdout, "")
    data = json.loads(bundle.read_text(encoding="utf-8"))
    source = data["workflows"]["nap"]["source"]
    assert data["workflows"]["nap"]["sha256"] == hashlib.sha256(source.encode()).hexdigest()


def test_a_tampered_bundle_names_the_record_and_the_workflow(
    demo: Runtime, cli: Cli, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle.json"
    assert cli("audit", "export", "TJK-2015", "--out", str(bundle)).code == 0
    data = json.loads(bundle.read_text(encoding="utf-8"))
    data["plans"][0]["records"][2]["actor"] = "someone.else@example.org"
    data["workflows"]["nap"]["source"] += "\n# edited\n"
    bundle.write_text(json.dumps(data), encoding="utf-8")
    result = cli("audit", "verify", "--bundle", str(bundle))
    assert result.code == 1
    assert result.out.splitlines()[:2] == [
        "TJK-2015 seq 3: edited: its content no longer matches its digest",
        "workflow nap: edited: its definition does not match its SHA-256",
    ]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "There is no file"),
        ("not json", "is not a napflow audit bundle: it cannot be read as JSON"),
        ('{"plans": []}', 'is not a napflow audit bundle: it lacks "format"'),
        ('{"format": "napflow-audit-bundle/1", "plans": {}}', 'needs a "plans" list'),
        (
            '{"format": "napflow-audit-bundle/1", "workflows": {}, "plans": [{"key": "X"}]}',
            "a plan lacks 'state' or it has the wrong type",
        ),
        (
            '{"format": "napflow-audit-bundle/1", "workflows": {"nap": 1}, "plans": [{"key": '
            '"X", "state": "s", "version": 1, "seq": 1, "head_hash": "h", "workflow": "nap", '
            '"records": [{"seq": "1"}]}]}',
            "a record lacks 'seq' or it has the wrong type",
        ),
    ],
)
def test_a_bad_bundle_is_a_one_line_error(
    cli: Cli, tmp_path: Path, content: str | None, fragment: str
) -> None:
    path = tmp_path / "b.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = cli("audit", "verify", "--bundle", str(path))
    assert result.code == 2 and fragment in result.err
    assert len(result.err.splitlines()) == 1 and not result.out


def test_export_refuses_a_path_it_cannot_write_and_leaves_nothing(
    demo: Runtime, cli: Cli, tmp_path: Path
) -> None:
    result = cli("audit", "export", "--out", str(tmp_path / "no" / "such" / "b.json"))
    assert result.code == 2 and "give a file path in an existing directory" in result.err
    assert cli("audit", "export", "--out", str(tmp_path)).code == 2
    unwritable = cli("audit", "export", "--out", "/proc/napflow-bundle.json")
    assert unwritable.code == 2 and "Cannot write the bundle to '/proc/napflow-bundle.json'" in (
        unwritable.err
    )
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("napflow.db")] == []


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(comment=st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=300))
def test_any_comment_text_seals_and_verifies(nap_plan: str, rt: Runtime, comment: str) -> None:
    """The bytes the scan reads from SQLite are the bytes the record was sealed over."""
    services.advance_plan(rt, nap_plan, "submit_for_review", "coord@example.org")
    services.advance_plan(rt, nap_plan, "request_changes", "chair@example.org", f"x{comment}")
    report = audit.verify_ledger(rt)
    assert report.ok, report.problems


def _ledger_from_before_the_chain(db_url: str) -> sqlite3.Connection:
    """A SQLite database at schema 0002 (before the chain) holding one plan's three records."""
    from napflow.storage.database import Database

    old = Database(db_url)
    old.upgrade("0002")
    assert old.sqlite_path is not None
    conn = sqlite3.connect(old.sqlite_path, isolation_level=None)
    conn.execute(
        "INSERT INTO plans (id, key, country, title, workflow, workflow_version, state, "
        "version, entered_seq, timezone, created_at, updated_at) VALUES (1, 'TJK-2015', 'TJK', "
        "'Plan', 'nap', 1, 'working_group_review', 3, 3, 'Asia/Dushanbe', "
        "'2015-07-01 04:00:00.000000', '2015-07-02 04:00:00.000000')"
    )
    conn.execute(
        "INSERT INTO history (plan_id, seq, kind, to_state, at, workflow, workflow_version, "
        "payload) VALUES (1, 1, 'created', 'drafting', '2015-07-01 04:00:00.000000', 'nap', 1, "
        '\'{"title": "Plan", "country": "TJK", "timezone": "Asia/Dushanbe"}\')'
    )
    conn.execute(  # the coordinator's role, as napflow has recorded grants from the start
        "INSERT INTO history (plan_id, seq, kind, at, workflow, workflow_version, payload) "
        "VALUES (1, 2, 'role_granted', '2015-07-01 04:00:00.000000', 'nap', 1, "
        '\'{"person": "coord@example.org", "role": "coordinator"}\')'
    )
    conn.execute(
        'INSERT INTO history (plan_id, seq, kind, "trigger", from_state, to_state, actor, role, '
        "at, workflow, workflow_version) VALUES (1, 3, 'transition', 'submit_for_review', "
        "'drafting', 'working_group_review', 'coord@example.org', 'coordinator', "
        "'2015-07-02 04:00:00.000000', 'nap', 1)"
    )
    old.dispose()
    return conn


@pytest.mark.sqlite_only
def test_upgrading_a_database_from_before_the_chain_seals_what_it_holds(
    db_url: str, clock: VirtualClock, cli: Cli
) -> None:
    conn = _ledger_from_before_the_chain(db_url)
    assert cli("init").code == 0
    result = cli("audit", "verify")
    assert result.code == 0 and result.out.startswith("OK: 1 plans, 3 records, ")
    stored = conn.execute("SELECT payload FROM history WHERE seq = 1").fetchone()[0]
    assert stored == '{"country":"TJK","timezone":"Asia/Dushanbe","title":"Plan"}'
    assert conn.execute("SELECT version, seq FROM plans").fetchone() == (3, 3)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM history")


@pytest.mark.sqlite_only
def test_worker_processes_find_what_one_process_finds(demo: Runtime, tmp_path: Path) -> None:
    conn = attacker(demo)
    conn.execute("UPDATE history SET actor = 'x@example.org' WHERE plan_id = 2 AND seq = 3")
    path = demo.db.sqlite_path
    assert path is not None
    alone = scan_sqlite(path, None, workers=1)
    shared = scan_sqlite(path, None, workers=3)
    assert shared == alone
    assert alone.records == 59 and alone.suspects == ["TKM-2018"] and len(alone.heads) == 3
    # and through `python -m napflow`, whose worker processes import it again
    result = napflow_process(
        "--db", demo.settings.database_url, "audit", "verify", "--workers", "2", cwd=tmp_path
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[0] == (
        "TKM-2018 seq 3: edited: its content no longer matches its digest"
    )


def _reseal_plan_plain(conn: Attacker, key: str) -> int:
    """Rewrite a plan's whole chain with plain SHA-256 after editing one comment."""
    pid = plan_id(conn, key)
    rows = conn.execute(
        'SELECT id, seq, kind, "trigger", from_state, to_state, actor, role, comment, at, '
        "workflow, workflow_version, payload FROM history WHERE plan_id = ? ORDER BY seq",
        (pid,),
    ).fetchall()
    prev = chain.genesis(key)
    for row_id, *values in rows:
        if values[0] == 2:
            values[7] = "Rewritten by someone without the key"
        digest = chain.digest(canonical([*values, prev]), None)
        conn.execute(
            "UPDATE history SET comment = ?, prev_hash = ?, hash = ? WHERE id = ?",
            (values[7], prev, digest, row_id),
        )
        prev = digest
    conn.execute("UPDATE plans SET head_hash = ? WHERE id = ?", (prev, pid))
    return len(rows)


def test_a_whole_chain_resealed_without_the_key_is_forged(keyed_rt: Runtime, cli: Cli) -> None:
    count = _reseal_plan_plain(attacker(keyed_rt), "TKM-2018")
    found = problems(keyed_rt, cli)
    assert found == [f"TKM-2018 seq {n}: forged: {UNKEYED}" for n in range(1, count + 1)]


def test_a_ledger_keyed_after_it_began_verifies_with_allow_unkeyed(
    demo: Runtime, cli: Cli, monkeypatch: pytest.MonkeyPatch, db_url: str, clock: VirtualClock
) -> None:
    monkeypatch.setenv("NAPFLOW_AUDIT_KEY", KEY)
    keyed = build_runtime(Settings(database_url=db_url), clock=clock)
    services.advance_plan(keyed, "TJK-2015", "endorse", "n.kurbonov@kchs.tj.example")
    keyed.db.dispose()
    strict = cli("audit", "verify")
    assert strict.code == 1 and f"TJK-2015 seq 1: forged: {UNKEYED}" in strict.out
    assert cli("audit", "verify", "--allow-unkeyed").code == 0
    # a plain record after the first keyed one is still forged
    wg = "working_group_review"
    seq = append_plain(
        attacker(demo),
        "TJK-2015",
        ["endorse", wg, wg, "d.saidov@medt.tj.example", "wg_member", None],
    )
    lenient = cli("audit", "verify", "--allow-unkeyed")
    assert lenient.code == 1
    assert lenient.out.startswith(f"TJK-2015 seq {seq}: forged: it is sealed with plain")


def test_plan_rows_that_disagree_with_their_history_are_named(demo: Runtime, cli: Cli) -> None:
    conn = attacker(demo)
    conn.execute("UPDATE plans SET seq = seq - 1 WHERE key = 'TKM-2018'")
    conn.execute(  # a plan added behind the ledger's back: no triggers needed for this
        "INSERT INTO plans (key, country, title, workflow, workflow_version, state, version, "
        "seq, head_hash, entered_seq, timezone, created_at, updated_at) VALUES ('UZB-2020', "
        "'UZB', 'Smuggled', 'nap', 1, 'approved', 0, 0, '', 0, 'UTC', '2020-01-01', '2020-01-01')"
    )
    found = problems(demo, cli)
    assert found == [
        "TKM-2018: changed: the plan says its history ends at seq 12, but it goes on to seq 13",
        "UZB-2020 seq 1: missing: the plan has no history at all: its records were removed, "
        "or the plan was added behind the ledger's back",
    ]


@pytest.mark.sqlite_only
def test_a_rewritten_time_format_is_an_edit(demo: Runtime, cli: Cli) -> None:
    conn = attacker(demo)
    conn.execute(
        "UPDATE history SET at = replace(at, ' ', 'T') WHERE plan_id = ? AND seq = 14",
        (plan_id(conn, "TJK-2015"),),
    )
    assert problems(demo, cli) == [
        "TJK-2015 seq 14: edited: its content no longer matches its digest"
    ]


@pytest.mark.sqlite_only
def test_history_of_a_removed_plan_and_odd_values_are_reported(demo: Runtime, cli: Cli) -> None:
    conn = attacker(demo)
    conn.execute("PRAGMA foreign_keys = OFF")
    kgz = plan_id(conn, "KGZ-2021")
    for table in ("roles", "deadlines", "outbox", "plans"):
        conn.execute(
            f"DELETE FROM {table} WHERE {'id' if table == 'plans' else 'plan_id'} = ?", (kgz,)
        )
    conn.execute(
        "UPDATE history SET seq = '2x' WHERE plan_id = ? AND seq = 2", (plan_id(conn, "TKM-2018"),)
    )
    expected = [
        "TKM-2018: edited: its history holds values napflow never writes",
        f"plan id {kgz}: missing: 23 history records belong to a plan that was removed",
    ]
    for workers in ("1", "2"):
        result = cli("audit", "verify", "--workers", workers)
        lines = result.out.splitlines()
        assert result.code == 1 and len(lines) == 3
        assert all(line.startswith(start) for line, start in zip(lines, expected, strict=False))


@pytest.mark.sqlite_only
def test_an_upgrade_with_the_audit_key_seals_the_older_records_with_it(
    db_url: str, clock: VirtualClock, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the key reaches the migration that seals older records as an argument, from the one
    # place that reads it
    conn = _ledger_from_before_the_chain(db_url)
    monkeypatch.setenv("NAPFLOW_AUDIT_KEY", KEY)
    assert cli("init").code == 0
    seals = [row[0] for row in conn.execute("SELECT hash FROM history ORDER BY seq")]
    assert len(seals) == 3 and all(s.startswith("hmac-sha256:") for s in seals), seals
    assert cli("audit", "verify").out.startswith("OK: 1 plans, 3 records, ")
    monkeypatch.setenv("NAPFLOW_AUDIT_KEY", "not the key")
    assert cli("audit", "verify").code == 1


@pytest.mark.sqlite_only
def test_a_database_path_with_a_hash_sign(tmp_path: Path, clock: VirtualClock) -> None:
    path = tmp_path / "ledger #1.db"
    rt = build_runtime(Settings(database_url=f"sqlite:///{path}"), clock=clock)
    services.init_database(rt)
    services.load_demo(rt)
    assert audit.verify_ledger(rt).ok
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("ledger #1")) == []
    rt.db.dispose()


def test_verify_on_a_database_before_the_ledger_says_to_upgrade(db_url: str, cli: Cli) -> None:
    from napflow.storage.database import Database

    old = Database(db_url)
    old.upgrade("0002")
    old.dispose()
    result = cli("audit", "verify")
    needs = f"is at schema 0002, this napflow needs {SCHEMA_HEAD}"
    assert result.code == 2 and needs in result.err
