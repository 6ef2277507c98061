"""Drafts: the versions of a plan's document, stored with the database and sealed in its chain.

Both engines. The bytes go in and out through the services and the CLI as a user's would.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import CAST, Result, blank_pdf, docx_bytes, flip_byte_in_zip, odt_bytes
from sqlalchemy import func, select

from napflow import services
from napflow.clock import VirtualClock
from napflow.errors import ConflictError, InputError, NotAllowedError, NotFoundError, RefusedError
from napflow.runtime import Runtime
from napflow.storage.schema import draft_chunks, draft_contents, drafts, history

COORD, CHAIR, EXPERT = (CAST[r][0] for r in ("coordinator", "wg_chair", "expert"))
MEMBERS = CAST["wg_member"]
V1 = b"# National Action Plan\n\nThe draft of the working group, first reading.\n"
V2 = b"# National Action Plan\n\nThe draft of the working group, second reading.\n"


def add(rt: Runtime, key: str, data: bytes, name: str = "nap.md", actor: str | None = COORD):
    """Add ``data`` as a draft of ``key`` as ``actor``."""
    return services.drafts.add_draft(rt, key, io.BytesIO(data), name, actor)


def read(rt: Runtime, key: str, version: int | None = None) -> bytes:
    """Return the bytes of a draft, as the services stream them."""
    _found, chunks = services.drafts.read_draft(rt, key, version)
    return b"".join(chunks)


def stored(rt: Runtime) -> tuple[int, int, int]:
    """Count the draft rows, stored contents and chunks."""
    with rt.db.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (drafts, draft_contents, draft_chunks)
        )


def test_a_draft_is_stored_once_per_digest_and_read_back_exactly(
    rt: Runtime, nap_plan: str
) -> None:
    big = os.urandom(3 * (1 << 20) + 123)  # several chunks, not a multiple of one
    before = services.show_plan(rt, nap_plan).version
    first = add(rt, nap_plan, big, "annex.bin")
    assert (first.version, first.size) == (1, len(big))
    assert first.sha256 == hashlib.sha256(big).hexdigest()
    assert first.media_type == "application/octet-stream"  # random bytes: no type
    assert read(rt, nap_plan) == big
    add(rt, nap_plan, V1, "nap.md")
    again = add(rt, nap_plan, big, "annex-copy.bin")  # v1's bytes again, under another name
    assert again.version == 3 and again.sha256 == first.sha256
    assert stored(rt) == (3, 2, 5)  # three drafts; v1's bytes once, in four chunks
    listed = services.drafts.list_drafts(rt, nap_plan)
    assert [(d.version, d.file_name) for d in listed] == [
        (1, "annex.bin"),
        (2, "nap.md"),
        (3, "annex-copy.bin"),
    ]
    assert read(rt, nap_plan) == big and read(rt, nap_plan, 2) == V1
    assert services.show_plan(rt, nap_plan).version == before + 3  # a record a draft
    records = services.plan_history(rt, nap_plan).records
    assert [r.kind for r in records[-3:]] == ["draft_added"] * 3
    assert records[-1].payload["sha256"] == first.sha256  # type: ignore[index]
    assert services.audit.verify_ledger(rt).ok


@pytest.mark.parametrize(
    ("name", "data", "refusal"),
    [
        ("empty.md", b"", "is empty"),
        ("lie.docx", b"%PDF-1.4\n%fake\n", "is a PDF document, not a Word document"),
        ("lie.pdf", b"plain words\n", "is plain text, not a PDF document"),
        ("../etc/passwd.txt", V1, "has folder parts"),
        ("C:\\nap.md", V1, "has folder parts"),
        ("nap\x07.md", V1, "without control characters"),
        ("report\u202efdp.exe", V1, "invisible formatting characters"),
        ("", V1, "must not be empty"),
    ],
)
def test_bad_files_are_refused_with_the_reason_and_nothing_stored(
    rt: Runtime, nap_plan: str, name: str, data: bytes, refusal: str
) -> None:
    with pytest.raises(InputError) as refused:
        add(rt, nap_plan, data, name)
    assert refusal in str(refused.value) and "\n" not in str(refused.value)
    assert stored(rt) == (0, 0, 0)
    assert services.show_plan(rt, nap_plan).version == len(
        services.plan_history(rt, nap_plan).records
    )


class Endless(io.RawIOBase):
    """A file that never ends, counting what was read of it."""

    def __init__(self) -> None:
        self.given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        buffer[:] = b"x" * len(buffer)
        self.given += len(buffer)
        return len(buffer)


def test_a_file_over_the_limit_is_refused_before_it_is_read_to_the_end(
    rt: Runtime, nap_plan: str
) -> None:
    limit = rt.settings.draft_max_mb << 20
    source = Endless()
    with pytest.raises(InputError, match="larger than the 50 MB a draft may have"):
        services.drafts.add_draft(rt, nap_plan, io.BufferedReader(source), "huge.txt", COORD)
    assert limit < source.given <= limit + 2 * (1 << 20)  # stopped just past the limit
    assert stored(rt) == (0, 0, 0)


def test_who_may_add_a_draft_and_when_is_the_workflows_to_say(rt: Runtime, nap_plan: str) -> None:
    with pytest.raises(NotAllowedError, match="only a coordinator of the plan may"):
        add(rt, nap_plan, V1, actor=MEMBERS[0])
    with pytest.raises(NotFoundError):  # someone who does not see the plan
        add(rt, nap_plan, V1, actor="outsider@example.org")
    add(rt, nap_plan, V1)
    services.advance_plan(rt, nap_plan, "withdraw", COORD, "Superseded.")
    with pytest.raises(RefusedError, match="in withdrawn: its workflow takes new drafts in"):
        add(rt, nap_plan, V2)
    assert stored(rt) == (1, 1, 1)


def test_a_new_draft_in_review_restarts_the_round_and_binds_every_action(
    rt: Runtime, nap_plan: str, cli: Callable[..., Result]
) -> None:
    add(rt, nap_plan, V1)
    services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    services.advance_plan(rt, nap_plan, "endorse", MEMBERS[0])
    assert [r.actor for r in services.plan_history(rt, nap_plan).current_round()] == MEMBERS[:1]
    add(rt, nap_plan, V2)  # a new draft in review: the endorsement of v1 stops counting
    assert services.plan_history(rt, nap_plan).current_round() == []  # the page's "this round"
    for member in MEMBERS[1:]:
        services.advance_plan(rt, nap_plan, "endorse", member, draft=2)
    refused = cli("advance", nap_plan, "send_to_experts", "--as", CHAIR)
    assert refused.code == 1 and MEMBERS[0] in refused.err  # still waiting for them, on v2
    stale = cli("advance", nap_plan, "endorse", "--as", MEMBERS[0], "--draft", "1")
    assert stale.code == 1 and "draft is v2 now, not v1" in stale.err
    assert cli("advance", nap_plan, "endorse", "--as", MEMBERS[0], "--draft", "2").code == 0
    sent = services.advance_plan(rt, nap_plan, "send_to_experts", CHAIR)
    assert (sent.to_state, sent.version) == (
        "expert_review",
        services.show_plan(rt, nap_plan).version,
    )
    records = services.plan_history(rt, nap_plan).records
    actions = [r for r in records if r.kind in ("action", "transition") and r.seq > 2]
    assert (
        [(r.trigger, r.payload["draft"]["version"]) for r in actions]
        == [  # type: ignore[index]
            ("submit_for_review", 1),
            ("endorse", 1),
            *[("endorse", 2) for _ in MEMBERS[1:]],
            ("endorse", 2),
            ("send_to_experts", 2),
        ]
    )
    v2 = hashlib.sha256(V2).hexdigest()
    assert all(r.payload["draft"]["sha256"] == v2 for r in actions[2:])  # type: ignore[index]
    assert actions[-1].detail == "on draft v2"


def test_an_action_on_an_older_draft_writes_nothing(rt: Runtime, nap_plan: str) -> None:
    with pytest.raises(ConflictError, match="has no draft v1 \\(it has no draft yet\\)"):
        services.advance_plan(rt, nap_plan, "submit_for_review", COORD, draft=1)
    add(rt, nap_plan, V1)
    services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    add(rt, nap_plan, V2)
    before = len(services.plan_history(rt, nap_plan).records)
    with pytest.raises(ConflictError) as conflict:
        services.advance_plan(rt, nap_plan, "endorse", MEMBERS[0], draft=1)
    assert conflict.value.data() | {"found_version": 0} == {
        "key": nap_plan,
        "found_version": 0,
        "state": "working_group_review",
        "expected_draft": 1,
        "found_draft": 2,
    }
    assert len(services.plan_history(rt, nap_plan).records) == before


def test_the_cli_adds_lists_and_gets_drafts(
    rt: Runtime, nap_plan: str, cli: Callable[..., Result], tmp_path: Path
) -> None:
    source = tmp_path / "NAP draft.md"
    source.write_bytes(V1)
    added = cli("draft", "add", nap_plan, str(source), "--as", COORD, "--note", "First reading")
    assert added.code == 0 and added.out.startswith(f"{nap_plan}: draft v1 (NAP draft.md, ")
    listed = cli("draft", "list", nap_plan, "--format", "json").json()
    assert [(d["version"], d["note"], d["media_type"]) for d in listed] == [  # type: ignore[union-attr, index]
        (1, "First reading", "text/markdown")
    ]
    out = tmp_path / "got.md"
    assert cli("draft", "get", nap_plan, "1", "--out", str(out)).code == 0
    assert out.read_bytes() == V1
    missing = cli("draft", "get", nap_plan, "7", "--out", str(out))
    assert missing.code == 1 and "has no draft v7" in missing.err
    hidden = cli("draft", "list", nap_plan, "--as", "outsider@example.org")
    assert hidden.code == 1 and f"There is no plan '{nap_plan}'" in hidden.err


@pytest.mark.sqlite_only
def test_changed_bytes_are_caught_when_read(rt: Runtime, nap_plan: str) -> None:
    add(rt, nap_plan, V1)
    with rt.db.write() as conn:  # behind napflow's back, past the database's own guard
        conn.exec_driver_sql("DROP TRIGGER draft_chunks_append_only_update")
        conn.exec_driver_sql("UPDATE draft_chunks SET data = X'00'")
    with pytest.raises(RefusedError, match="no longer matches its sealed digest"):
        read(rt, nap_plan)
    report = services.audit.verify_ledger(rt)
    assert [(p.plan, p.kind, p.detail) for p in report.problems] == [
        (
            nap_plan,
            "edited",
            "the stored bytes of draft v1 no longer match its sealed digest "
            + hashlib.sha256(V1).hexdigest(),
        )
    ]


def test_a_process_killed_mid_upload_leaves_no_draft_and_no_bytes(
    rt: Runtime, nap_plan: str, db_url: str, tmp_path: Path
) -> None:
    pipe = tmp_path / "upload.md"
    os.mkfifo(pipe)
    env = {**os.environ, "NAPFLOW_DATABASE_URL": db_url}
    adding = subprocess.Popen(
        [sys.executable, "-m", "napflow", "draft", "add", nap_plan, str(pipe), "--as", COORD],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:  # the writing end opens once the process has the file open to read it
        try:
            fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:
            assert adding.poll() is None, "napflow ended before reading the file"
            assert time.monotonic() < deadline, "napflow never opened the file"
            time.sleep(0.05)
    os.set_blocking(fd, True)
    with os.fdopen(fd, "wb") as writer:
        writer.write(b"# Half a draft\n" * 100_000)  # the upload is under way...
        writer.flush()
        time.sleep(0.5)
        adding.send_signal(signal.SIGKILL)  # ...when the process dies
        adding.wait(timeout=30)
    assert adding.returncode == -signal.SIGKILL
    assert stored(rt) == (0, 0, 0)
    with rt.db.read() as conn:
        kinds = conn.execute(select(history.c.kind)).scalars().all()
    assert "draft_added" not in kinds
    assert add(rt, nap_plan, V1).version == 1  # and the next upload goes through


def test_workflow_check_holds_the_drafts_table_to_the_workflow(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    source = (Path(__file__).parent.parent / "workflows" / "nap.toml").read_text()
    bad = source.replace('add = ["coordinator"]', 'add = ["secretary"]').replace(
        'drafting = "keep"', 'drafting = "sometimes"\napproved = "keep"\nnowhere = "keep"'
    )
    path = tmp_path / "bad.toml"
    path.write_text(bad)
    checked = cli("workflow", "check", str(path))
    assert checked.code == 2
    for problem in (
        "drafts.add: unknown role 'secretary'",
        'drafts.states.drafting: must be "restart", "keep" or "refuse", not \'sometimes\'',
        "drafts.states.approved: a final state takes no new drafts",
        "drafts.states.nowhere: unknown state",
    ):
        assert problem in checked.out + checked.err, problem


def test_draft_diff_shows_the_changed_words_or_says_why_it_cannot(
    rt: Runtime, nap_plan: str, cli: Callable[..., Result]
) -> None:
    add(rt, nap_plan, docx_bytes("Export controls: the list of 2014.", "Annex B."), "v1.docx")
    add(rt, nap_plan, docx_bytes("Export controls: the list of 2015.", "Annex B and C."), "v2.docx")
    add(rt, nap_plan, odt_bytes("Export controls: the list of 2015.", "Annex C."), "v3.odt")
    add(rt, nap_plan, blank_pdf(), "scan.pdf")
    assert [d.media_type for d in services.drafts.list_drafts(rt, nap_plan)] == [
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.oasis.opendocument.text",
        "application/pdf",
    ]
    shown = cli("draft", "diff", nap_plan, "1", "2")
    assert shown.code == 0, shown.err
    assert "4 words inserted, 2 deleted" in shown.out  # words with their punctuation
    assert "the list of [-2014.-]{+2015.+}\nAnnex [-B.-]{+B and C.+}" in shown.out
    across = services.drafts.diff_drafts(rt, nap_plan, 2, 3)  # Word to OpenDocument
    assert across.comparison is not None
    assert (across.comparison.inserted, across.comparison.deleted) == (0, 2)
    scanned = cli("draft", "diff", nap_plan, "3", "4")
    assert scanned.code == 0
    assert "v4 (scan.pdf) cannot be compared word by word: it holds no text" in scanned.out
    same = cli("draft", "diff", nap_plan, "2", "2")
    assert same.out.strip().endswith("the same words.")


def test_a_workflow_can_require_a_draft_and_refuse_new_ones(
    db_url: str, clock: VirtualClock, tmp_path: Path
) -> None:
    from napflow.runtime.bootstrap import build_runtime
    from napflow.runtime.settings import Settings

    source = (Path(__file__).parent.parent / "workflows" / "nap.toml").read_text()
    needing = (
        source.replace('name = "nap"', 'name = "nap_drafted"', 1)
        .replace(
            'source = "drafting"\ndest = "working_group_review"',
            'source = "drafting"\ndest = "working_group_review"\nconditions = ["draft_present"]',
            1,
        )
        .replace('working_group_review = "restart"', 'working_group_review = "refuse"')
    )
    assert needing.count("draft_present") == 1  # the file changed where meant
    assert needing.count('"refuse"') == 1
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "nap_drafted.toml").write_text(needing)
    settings = Settings(database_url=db_url, workflow_dirs=(folder,))
    rt = build_runtime(settings, clock=clock)
    try:
        services.init_database(rt)
        services.add_person(rt, COORD, "Coordinator")
        key = services.create_plan(rt, "TJK", "Plan", workflow="nap_drafted", key="TJK-D").key
        services.grant_role(rt, key, COORD, "coordinator")
        with pytest.raises(NotAllowedError, match="TJK-D has no draft yet"):
            services.advance_plan(rt, key, "submit_for_review", COORD)
        add(rt, key, V1)
        moved = services.advance_plan(rt, key, "submit_for_review", COORD)
        assert moved.to_state == "working_group_review"
        # a state the workflow marks "refuse" takes no new draft, and says where one goes
        with pytest.raises(RefusedError, match="takes new drafts in drafting, expert_review, s"):
            add(rt, key, V2)
        assert [d.version for d in services.drafts.list_drafts(rt, key)] == [1]
    finally:
        rt.db.dispose()


def test_a_bundle_with_drafts_verifies_and_fails_after_one_byte_changes(
    rt: Runtime, nap_plan: str, cli: Callable[..., Result], tmp_path: Path
) -> None:
    import zipfile

    add(rt, nap_plan, V1, "v1.md")
    services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    add(rt, nap_plan, V2, "v2.md")
    bundle = tmp_path / "bundle.zip"
    exported = cli("audit", "export", nap_plan, "--out", str(bundle), "--with-drafts")
    assert exported.code == 0, exported.err
    with zipfile.ZipFile(bundle) as archive:
        names = sorted(archive.namelist())
        v2_name = f"drafts/{hashlib.sha256(V2).hexdigest()}"
        assert names == sorted(["bundle.json", f"drafts/{hashlib.sha256(V1).hexdigest()}", v2_name])
        assert archive.read(v2_name) == V2
        listed = json.loads(archive.read("bundle.json"))["plans"][0]["drafts"]
    assert [(d["version"], d["sha256"]) for d in listed] == [
        (1, hashlib.sha256(V1).hexdigest()),
        (2, hashlib.sha256(V2).hexdigest()),
    ]
    checked = cli("audit", "verify", "--bundle", str(bundle))
    assert checked.code == 0 and checked.out.startswith("OK: 1 plans, "), checked.out

    changed = tmp_path / "changed.zip"  # the same bundle, one byte of v2 different
    flip_byte_in_zip(bundle, changed, v2_name, 10)
    refused = cli("audit", "verify", "--bundle", str(changed))
    assert refused.code == 1
    assert f"{nap_plan} seq " in refused.out
    assert "the file of draft v2 no longer matches its sealed digest" in refused.out
    plain = tmp_path / "plain.json"  # without the files: the digests are still listed
    assert cli("audit", "export", nap_plan, "--out", str(plain)).code == 0
    assert json.loads(plain.read_text())["plans"][0]["drafts"] == listed
    assert cli("audit", "verify", "--bundle", str(plain)).code == 0


def test_the_same_bytes_again_are_no_new_draft_and_each_upload_keeps_its_own_type(
    rt: Runtime, nap_plan: str
) -> None:
    add(rt, nap_plan, V1, "notes.txt")
    with pytest.raises(RefusedError, match="is the same as TJK-T's current draft v1"):
        add(rt, nap_plan, V1, "notes-again.txt")  # a double submit: no v2, no new round
    add(rt, nap_plan, V2, "nap.md")
    again = add(rt, nap_plan, V1, "nap.md")  # v1's bytes, now named as Markdown
    assert again.version == 3 and again.media_type == "text/markdown"
    listed = services.drafts.list_drafts(rt, nap_plan)
    assert [(d.version, d.media_type) for d in listed] == [
        (1, "text/plain"),
        (2, "text/markdown"),
        (3, "text/markdown"),
    ]
    assert stored(rt) == (3, 2, 2)  # the bytes of v1 and v3 are kept once
