"""Workflow versions: stored on first use, plans pinned, moved only by a sealed migration.

The story of issue 19: plans in flight on the NAP workflow v1; the file becomes v2 with a
renamed state. `workflow check --db` names the plans it would strand and the mapping;
`migrate --dry-run` lists them; `migrate --map-state` moves one, whose reminders are derived
again and sent; its history, pages, reports and `audit verify` still read every v1
record; the plan not migrated goes on under v1. On both engines, through the CLI, the API
and the web pages, with mail through a real SMTP server on loopback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import CAST, EVERYONE, PASSWORD, Result, log_in, mail_runtime, web_client
from smtp_sink import SmtpServer
from sqlalchemy import select

from napflow import services
from napflow.clock import VirtualClock
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.services import accounts
from napflow.services.dispatch import dispatch_due
from napflow.storage.schema import history, outbox, plans, workflow_versions

REPO = Path(__file__).resolve().parents[1]
#: the story's v1: the NAP workflow as napflow first released it
NAP = (REPO / "workflows" / "released" / "nap.v1.toml").read_text(encoding="utf-8")
COORD, MEMBERS, ADMIN = CAST["coordinator"][0], CAST["wg_member"], "admin@example.org"
Cli = Callable[..., Result]


def nap_v2(directory: Path) -> Path:
    """Write NAP v2: working_group_review renamed wg_review, with a title of its own."""
    text = NAP.replace("version = 1", "version = 2", 1).replace("working_group_review", "wg_review")
    text = text.replace(
        '[states.wg_review]\ntitle = "Working-group review"',
        '[states.wg_review]\ntitle = "Review by the working group"',
    )
    assert "Review by the working group" in text and "working_group_review" not in text
    directory.mkdir(exist_ok=True)
    path = directory / "nap.toml"
    path.write_text(text, encoding="utf-8")
    return path


def migrate_tjk(cli: Cli, *more: str) -> Result:
    """Move TJK-2015 to v2 through the CLI, its renamed state mapped."""
    return cli(
        "workflow", "migrate", "nap", "--to", "2", "--plan", "TJK-2015",
        "--map-state", "working_group_review=wg_review", *more,
    )  # fmt: skip


def cast_plan(rt: Runtime, key: str, country: str) -> None:
    """A NAP plan with the whole cast, sent to the working group (a 30-day review window)."""
    services.create_plan(rt, country, f"Plan {key}", timezone="Asia/Dushanbe", key=key)
    for role, emails in CAST.items():
        for email in emails:
            services.grant_role(rt, key, email, role)
    services.advance_plan(rt, key, "submit_for_review", COORD)


@pytest.fixture
def runtimes() -> Iterator[list[Runtime]]:
    """The runtimes a test wires (each process of a site has its own), closed after it."""
    made: list[Runtime] = []
    yield made
    for rt in made:
        rt.db.dispose()


@pytest.fixture
def flight(
    db_url: str,
    clock: VirtualClock,
    smtp: SmtpServer,
    runtimes: list[Runtime],
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Runtime:
    """Two NAP v1 plans in working-group review, TJK-2015 and KGZ-2015; an administrator.

    The NAP file is v1 (as napflow first released it) for this runtime and for the CLI,
    until a test gives them another.
    """
    first = tmp_path / "v1"
    first.mkdir()
    (first / "nap.toml").write_text(NAP, encoding="utf-8")
    monkeypatch.setenv("NAPFLOW_WORKFLOW_DIRS", str(first))
    rt = mail_runtime(db_url, clock, smtp, workflow_dirs=(first,))
    runtimes.append(rt)
    for email in [*EVERYONE, ADMIN]:
        services.add_person(rt, email, email.split("@")[0].title())
    services.access.grant_access(rt, ADMIN, "admin")
    accounts.set_password(rt, ADMIN, PASSWORD)
    cast_plan(rt, "TJK-2015", "TJK")
    cast_plan(rt, "KGZ-2015", "KGZ")
    return rt


def another(
    rt: Runtime, directory: Path, clock: VirtualClock, smtp: SmtpServer, made: list[Runtime]
) -> Runtime:
    """A runtime on the same database whose workflow files are in ``directory``.

    The NAP file there replaces the built-in one (v1's file is gone).
    """
    found = mail_runtime(rt.settings.database_url, clock, smtp, workflow_dirs=(directory,))
    made.append(found)
    return found


def plan_row(rt: Runtime, key: str) -> tuple[int, str, int]:
    with rt.db.read() as conn:
        row = conn.execute(
            select(plans.c.workflow_version, plans.c.state, plans.c.version).where(
                plans.c.key == key
            )
        ).one()
    return row.workflow_version, row.state, row.version


def test_the_first_plan_stores_its_version_sealed(flight: Runtime, cli: Cli) -> None:
    with flight.db.read() as conn:
        stored = conn.execute(select(workflow_versions)).all()
    assert [(r.name, r.version) for r in stored] == [("nap", 1)]
    assert stored[0].source == NAP  # the file's text, as it was
    versions = json.loads(cli("workflow", "versions", "nap", "--format", "json").out)
    assert [(v["version"], v["in_file"], v["plans"]) for v in versions] == [(1, True, 2)]
    assert versions[0]["digest"] == stored[0].digest and versions[0]["stored_at"]
    # the site ledger sealed it: a swapped text is named by audit verify
    assert cli("audit", "verify").code == 0
    with flight.db.write() as conn:
        conn.execute(
            workflow_versions.insert().values(
                name="nap",
                version=7,
                digest=stored[0].digest,
                source=NAP,
                path=stored[0].path,
                stored_at=stored[0].stored_at,
                seq=stored[0].seq + 1,  # a site record that sealed something else
            )
        )
    found = cli("audit", "verify")
    assert found.code == 1
    assert "workflow nap v7 is stored as" in found.out and "was swapped" in found.out


def test_a_plan_in_flight_moves_to_v2_and_keeps_its_v1_records(
    flight: Runtime,
    cli: Cli,
    clock: VirtualClock,
    smtp: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    runtimes: list[Runtime],
) -> None:
    file = nap_v2(tmp_path / "workflows")
    # `workflow check --db`: the plans v2 would strand, and the mapping that moves them
    checked = cli("workflow", "check", str(file), "--db")
    assert checked.code == 0, checked.err
    for key in ("KGZ-2015", "TJK-2015"):
        assert (
            f"stranded: {key} (v1) is in 'working_group_review', which v2 does not have; move "
            f"it with: napflow workflow migrate nap --to 2 --map-state "
            f"working_group_review=wg_review --plan {key}"
        ) in checked.out
    monkeypatch.setenv("NAPFLOW_WORKFLOW_DIRS", str(file.parent))
    # a dry run without the mapping lists every plan it would refuse, and writes nothing
    dry = cli("workflow", "migrate", "nap", "--to", "2", "--all", "--dry-run", "--format", "json")
    assert dry.code == 1
    refused = json.loads(dry.out)["refused"]
    assert [r["key"] for r in refused] == ["KGZ-2015", "TJK-2015"]
    assert (
        "which nap v2 does not have; give --map-state working_group_review=NEW"
        in (refused[0]["reason"])
    )
    dry = cli(
        "workflow", "migrate", "nap", "--to", "2", "--all", "--dry-run",
        "--map-state", "working_group_review=wg_review", "--format", "json",
    )  # fmt: skip
    assert dry.code == 0 and [m["key"] for m in json.loads(dry.out)["moved"]] == [
        "KGZ-2015",
        "TJK-2015",
    ]
    before = plan_row(flight, "TJK-2015")
    assert before[:2] == (1, "working_group_review")
    with flight.db.read() as conn:
        sent_before = conn.execute(select(outbox.c.id).where(outbox.c.status == "pending")).all()
    # the move itself: one plan, sealed, as the administrator
    moved = migrate_tjk(cli, "--as", ADMIN)
    assert moved.code == 0, moved.err
    assert "TJK-2015" in moved.out and "v2 wg_review" in moved.out
    assert plan_row(flight, "TJK-2015") == (2, "wg_review", before[2] + 1)
    assert plan_row(flight, "KGZ-2015")[:2] == (1, "working_group_review")
    record = services.plan_history(flight, "TJK-2015").records[-1]
    assert (record.kind, record.from_state, record.to_state, record.actor) == (
        "migrated",
        "working_group_review",
        "wg_review",
        ADMIN,
    )
    assert record.workflow_version == 2
    assert record.payload == {"from_version": 1, "map": {"working_group_review": "wg_review"}}
    # its reminders were derived again (under v2) in that transaction
    with flight.db.read() as conn:
        pending = conn.execute(
            select(outbox.c.id, outbox.c.recipient, outbox.c.send_at)
            .join(plans, plans.c.id == outbox.c.plan_id)
            .where(plans.c.key == "TJK-2015", outbox.c.status == "pending")
        ).all()
    assert {r.recipient for r in pending} >= set(MEMBERS)
    assert len(sent_before) > 0

    v2 = another(flight, file.parent, clock, smtp, runtimes)
    # the plan not migrated goes on under v1 (whose file is gone: the stored text serves)
    services.advance_plan(v2, "KGZ-2015", "endorse", MEMBERS[0])
    assert plan_row(v2, "KGZ-2015")[:2] == (1, "working_group_review")
    assert services.show_plan(v2, "KGZ-2015").workflow_version == 1
    # the migrated one works under v2: its members endorse in wg_review
    services.advance_plan(v2, "TJK-2015", "endorse", MEMBERS[0])
    assert plan_row(v2, "TJK-2015")[:2] == (2, "wg_review")
    # the reminders go out, in words of v2, none failing
    clock.advance(timedelta(days=30))
    result = dispatch_due(v2)
    assert result.sent > 0 and result.failed == 0
    with v2.db.read() as conn:
        failed = conn.execute(select(outbox.c.last_error).where(outbox.c.status == "failed")).all()
    assert failed == []
    to_member = [m for m in smtp.sink.messages if MEMBERS[1] in m["To"]]
    assert any("TJK-2015" in m["Subject"] for m in to_member)
    # history, reports and audit verify read every v1 record
    records = services.plan_history(v2, "TJK-2015").records
    lines = services.workflows.history_lines(v2, records, {})
    moves = [line.moved for line in lines if line.moved]
    assert moves == [
        ("Drafting", "Working-group review"),  # sent to the working group, under v1
        ("Working-group review", "Review by the working group"),  # the migration
    ]
    shown = cli("history", "TJK-2015", "--format", "csv")
    assert shown.code == 0
    assert "moved from workflow v1 to v2, state working_group_review as wg_review" in shown.out
    report = cli("report", "durations", "--format", "json")
    assert report.code == 0, report.err
    assert cli("audit", "verify").code == 0
    assert cli("audit", "verify", "--incremental").code == 0
    # the plan's page: v1's words for its v1 records, v2's for now
    with web_client(v2) as http:
        log_in(http, ADMIN)
        page = http.get("/plans/TJK-2015")
        assert page.status_code == 200
        assert "Review by the working group" in page.text  # its state now (v2's title)
        assert "Working-group review" in page.text  # the v1 record that sent it there
        assert "Moved from version 1 to version 2 of the workflow" in page.text
        assert http.get("/plans/KGZ-2015").status_code == 200
        assert http.get("/plans/TJK-2015/diagram.svg").status_code == 200


def test_a_file_changed_without_a_new_version_is_refused_and_plans_go_on(
    flight: Runtime,
    cli: Cli,
    clock: VirtualClock,
    smtp: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    runtimes: list[Runtime],
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    edited = folder / "nap.toml"
    edited.write_text(NAP.replace('title = "Approve the plan"', 'title = "Approve it"'))
    checked = cli("workflow", "check", str(edited), "--db")
    assert checked.code == 2
    assert "workflow nap v1 differs from the v1 this database stores" in checked.err
    assert "(version = 2)" in checked.err
    assert cli("workflow", "check", str(edited)).code == 0  # alone, the file is valid
    monkeypatch.setenv("NAPFLOW_WORKFLOW_DIRS", str(folder))
    listed = json.loads(cli("workflow", "list", "--format", "json").out)
    nap = next(w for w in listed if w["name"] == "nap")
    assert (
        nap["version"] is None
        and "was changed after the database stored it" in (nap["problems"][0])
    )
    created = cli("plan", "create", "--country", "UZB", "--title", "New")
    assert created.code == 2 and "was changed after the database stored it" in created.err
    # the plans of v1 go on under the text the database stored
    v1_edited = another(flight, folder, clock, smtp, runtimes)
    services.advance_plan(v1_edited, "TJK-2015", "endorse", MEMBERS[0])
    offered = services.choices.plan_choices(v1_edited, "KGZ-2015", COORD).actions
    assert offered  # the coordinator still has their actions, in the stored words
    assert cli("audit", "verify").code == 0


def test_migrating_is_an_administrators_change(
    flight: Runtime, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = nap_v2(tmp_path / "workflows")
    monkeypatch.setenv("NAPFLOW_WORKFLOW_DIRS", str(file.parent))
    refused = cli(
        "workflow", "migrate", "nap", "--to", "2", "--all",
        "--map-state", "working_group_review=wg_review", "--as", COORD,
    )  # fmt: skip
    assert refused.code == 1
    assert f"Cannot migrate plans as {COORD}: only an administrator may" in refused.err
    bad = cli("workflow", "migrate", "nap", "--to", "2", "--all", "--map-state", "x")
    assert bad.code == 2 and "--map-state takes OLD=NEW" in bad.err
    bad = cli("workflow", "migrate", "nap", "--to", "2", "--all", "--map-state", "x=nowhere")
    assert bad.code == 2 and "'nowhere' is not a state of nap v2" in bad.err
    neither = cli("workflow", "migrate", "nap", "--to", "2")
    assert neither.code == 2 and "--plan KEY or --all" in neither.err
    missing = cli("workflow", "migrate", "nap", "--to", "9", "--all")
    assert missing.code == 1 or missing.code == 2
    assert "Workflow nap v9 is not stored in this database, and its file is v2" in missing.err
    assert plan_row(flight, "TJK-2015")[0] == 1  # nothing moved


def test_the_api_lists_diffs_and_migrates(
    flight: Runtime,
    clock: VirtualClock,
    smtp: SmtpServer,
    tmp_path: Path,
    runtimes: list[Runtime],
) -> None:
    file = nap_v2(tmp_path / "workflows")
    v2 = another(flight, file.parent, clock, smtp, runtimes)
    admin = {"Authorization": f"Bearer {accounts.create_api_token(v2, ADMIN)}"}
    coord = {"Authorization": f"Bearer {accounts.create_api_token(v2, COORD)}"}
    with TestClient(web_client(v2).app) as http:
        versions = http.get("/api/v1/workflows/nap/versions", headers=coord).json()["items"]
        assert [(v["version"], v["in_file"], v["plans"]) for v in versions] == [
            (1, False, 2),
            (2, True, 0),
        ]
        diff = http.get("/api/v1/workflows/nap/diff/1/2", headers=coord).json()
        changes = {(c["section"], c["name"], c["how"]) for c in diff["changes"]}
        assert ("states", "working_group_review", "removed") in changes
        assert ("states", "wg_review", "added") in changes
        assert ("deadlines", "review_window", "changed") in changes
        body = {"to": 2, "all": True, "map_state": {"working_group_review": "wg_review"}}
        denied = http.post("/api/v1/workflows/nap/migrate", json=body, headers=coord)
        assert denied.status_code == 403
        dry = http.post(
            "/api/v1/workflows/nap/migrate", json={**body, "dry_run": True}, headers=admin
        )
        assert dry.status_code == 200 and len(dry.json()["moved"]) == 2
        assert plan_row(v2, "TJK-2015")[0] == 1
        done = http.post("/api/v1/workflows/nap/migrate", json=body, headers=admin).json()
        assert [(m["key"], m["to_state"]) for m in done["moved"]] == [
            ("KGZ-2015", "wg_review"),
            ("TJK-2015", "wg_review"),
        ]
        assert done["refused"] == []
        listed = http.get("/api/v1/workflows", headers=coord).json()["items"]
        assert {w["name"]: w["version"] for w in listed}["nap"] == 2
    assert services.audit.verify_ledger(v2).ok


def test_a_forged_migration_is_named_by_the_replay(
    flight: Runtime, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration record whose state its own mapping does not give is not allowed."""
    file = nap_v2(tmp_path / "workflows")
    monkeypatch.setenv("NAPFLOW_WORKFLOW_DIRS", str(file.parent))
    assert migrate_tjk(cli).code == 0
    assert cli("audit", "verify").code == 0
    # sealed through napflow's own append, by a non-administrator, to another state
    from napflow.services._records import append, load_plan

    with flight.db.write() as conn:
        plan = load_plan(conn, "KGZ-2015")
        append(
            conn,
            plan,
            audit_key=flight.secrets.audit_key,
            kind="migrated",
            at=flight.clock.now(),
            to_state="expert_review",
            actor=COORD,
            payload={"from_version": 1, "map": {"working_group_review": "wg_review"}},
            workflow_version=2,
        )
        seq = conn.execute(
            select(history.c.seq).where(history.c.plan_id == plan.id).order_by(history.c.seq.desc())
        ).first()
    assert seq is not None
    found = cli("audit", "verify")
    assert found.code == 1
    assert (
        f"KGZ-2015 seq {seq[0]}: unauthorized: migrated by {COORD} to expert_review, which "
        "its own mapping does not name"
    ) in found.out


def test_the_audit_bundle_carries_every_stored_version(
    flight: Runtime, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = nap_v2(tmp_path / "workflows")
    monkeypatch.setenv("NAPFLOW_WORKFLOW_DIRS", str(file.parent))
    assert migrate_tjk(cli).code == 0
    out = tmp_path / "bundle.json"
    assert cli("audit", "export", "--out", str(out)).code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    versions = data["workflows"]["nap"]["versions"]
    assert sorted(versions) == ["1", "2"]
    assert versions["1"]["source"] == NAP and "wg_review" in versions["2"]["source"]
    assert cli("audit", "verify", "--bundle", str(out)).code == 0
    versions["1"]["source"] += "\n# edited\n"
    out.write_text(json.dumps(data), encoding="utf-8")
    found = cli("audit", "verify", "--bundle", str(out))
    assert found.code == 1 and "workflow nap: edited: its v1 does not match its SHA-256" in (
        found.out
    )


def test_a_plan_on_a_version_never_stored_is_served_by_the_released_text(
    db_url: str, clock: VirtualClock, runtimes: list[Runtime], tmp_path: Path
) -> None:
    """A database from before stored versions has NAP v1 plans and nothing stored: after
    the upgrade (the file is v2 now) the released v1 serves them, and is stored on their
    first action; then they can be moved to v2."""
    first = tmp_path / "v1"
    first.mkdir()
    (first / "nap.toml").write_text(NAP, encoding="utf-8")
    old = build_runtime(Settings(database_url=db_url, workflow_dirs=(first,)), clock=clock)
    runtimes.append(old)
    services.init_database(old)
    services.add_person(old, COORD, "Coordinator")
    services.create_plan(old, "TJK", "Old plan", key="TJK-OLD")
    services.grant_role(old, "TJK-OLD", COORD, "coordinator")
    with old.db.write() as conn:  # what such a database holds: no stored versions
        table = "workflow_versions"
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"DROP TRIGGER {table}_append_only_delete")
        else:
            conn.exec_driver_sql(f"DROP TRIGGER {table}_append_only ON {table}")
        conn.exec_driver_sql(f"DELETE FROM {table}")
    now = build_runtime(Settings(database_url=db_url), clock=clock)  # the built-in v2
    runtimes.append(now)
    assert now.catalog.get("nap").version == 2
    assert services.show_plan(now, "TJK-OLD").workflow_version == 1
    # read once, its Machine built once, however many pages ask before it is stored
    assert now.catalog.engine("nap", 1) is now.catalog.engine("nap", 1)
    assert "submit_for_review" in services.show_plan(now, "TJK-OLD", COORD).allowed
    services.advance_plan(now, "TJK-OLD", "submit_for_review", COORD)
    with now.db.read() as conn:
        stored = conn.execute(select(workflow_versions.c.version, workflow_versions.c.source)).all()
    assert [(v, s == NAP) for v, s in stored] == [(1, True)]
    moved = services.workflow_versions.migrate_plans(now, "nap", 2, key="TJK-OLD")
    assert [(m.key, m.old, m.new, m.to_state) for m in moved.moved] == [
        ("TJK-OLD", 1, 2, "working_group_review")
    ]
    kinds = {k.name for k in now.catalog.get("nap", 2).deadlines}
    assert "working_group_meeting" in kinds
    services.add_deadline(
        now, "TJK-OLD", "working_group_meeting", "2015-07-29", end="2015-07-30", location="Dushanbe"
    )
    meeting = [
        d for d in services.list_deadlines(now, "TJK-OLD") if d.kind == "working_group_meeting"
    ]
    assert [(str(d.due_on), str(d.ends_on), d.location) for d in meeting] == [
        ("2015-07-29", "2015-07-30", "Dushanbe")
    ]
