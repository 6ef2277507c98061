"""Checkpoints witnessed outside the database: what cutting the ledger short cannot hide.

A chain cut at its end is still a chain: delete a plan's newest records and fix its row, or
delete a plan whole, and `napflow audit verify` has nothing to object to. A checkpoint taken
before, kept by a witness (a mail, a file in a folder the database's users cannot write),
names what is gone. The attacker here works at the database itself, as in test_audit.py.
"""

from __future__ import annotations

import json
import mailbox
import re
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import helpers
import pytest
from helpers import Result, mail_runtime
from smtp_sink import SmtpServer

from napflow import services
from napflow.clock import VirtualClock
from napflow.ledger.record import UNVERSIONED_KINDS
from napflow.runtime import Runtime
from napflow.scheduler.daemon import start_background
from napflow.services import checkpoints

Cli = Callable[..., Result]
WITNESSES = ("auditor@un.example", "archive@osce.example")


class Attacker(helpers.Attacker):
    """Someone at the database itself, with the driver, the append-only triggers dropped."""

    def __init__(self, rt: Runtime) -> None:
        drop = {
            "postgresql": ["history_append_only ON history"],
            "sqlite": ["history_append_only_delete"],
        }
        super().__init__(rt, drop)

    def plan_id(self, key: str) -> int:
        return int(self.execute("SELECT id FROM plans WHERE key = ?", (key,)).fetchone()[0])

    def cut(self, key: str, count: int) -> int:
        """Delete a plan's newest ``count`` records and make its row agree; return the new end."""
        pid = self.plan_id(key)
        end = self.execute("SELECT max(seq) FROM history WHERE plan_id = ?", (pid,)).fetchone()[0]
        kinds = self.execute(
            "SELECT kind FROM history WHERE plan_id = ? AND seq > ?", (pid, end - count)
        ).fetchall()
        actions = sum(1 for (kind,) in kinds if kind not in UNVERSIONED_KINDS)
        self.execute("DELETE FROM history WHERE plan_id = ? AND seq > ?", (pid, end - count))
        seq, digest, state = self.execute(
            "SELECT seq, hash, to_state FROM history WHERE plan_id = ? ORDER BY seq DESC LIMIT 1",
            (pid,),
        ).fetchone()
        self.execute(
            "UPDATE plans SET seq = ?, head_hash = ?, state = ?, version = version - ? "
            "WHERE id = ?",
            (seq, digest, state, actions, pid),
        )
        return int(seq)

    def delete_plan(self, key: str) -> None:
        """Delete a plan whole: its mail, deadlines, roles, history and row."""
        pid = self.plan_id(key)
        for table in ("outbox", "deadlines", "roles", "history"):
            self.execute(f"DELETE FROM {table} WHERE plan_id = ?", (pid,))
        self.execute("DELETE FROM plans WHERE id = ?", (pid,))

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def attacker(demo: Runtime) -> Iterator[Callable[[], Attacker]]:
    opened: list[Attacker] = []

    def connect() -> Attacker:
        opened.append(Attacker(demo))
        return opened[-1]

    yield connect
    for conn in opened:
        conn.close()


@pytest.fixture
def witness_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The [audit] witness_dir of the CLI's runs (a folder of its own)."""
    folder = tmp_path / "witness"
    folder.mkdir()
    monkeypatch.setenv("NAPFLOW_AUDIT_WITNESS_DIR", str(folder))
    return folder


def lines(result: Result) -> list[str]:
    return result.out.strip().splitlines()


def test_a_cut_plan_passes_verify_but_not_the_witness(
    demo: Runtime, cli: Cli, witness_dir: Path, attacker: Callable[[], Attacker]
) -> None:
    taken = cli("audit", "checkpoint")
    assert taken.code == 0, taken.err
    summary, filed = lines(taken)
    assert summary.startswith("Checkpoint sha256:") and " of 3 plans, 59 records and " in summary
    assert summary.endswith("; not signed (a plain SHA-256).")
    [checkpoint] = witness_dir.iterdir()
    assert filed == f"filed as {checkpoint}"
    assert checkpoint.stat().st_mode & 0o777 == 0o444
    sealed = json.loads(checkpoint.read_text(encoding="utf-8"))
    assert sealed["plans"]["TJK-2015"]["seq"] == 23 and sealed["records"] == 59
    assert sealed["head"] == cli("audit", "head").out.strip()

    assert attacker().cut("TJK-2015", 2) == 21
    plain = cli("audit", "verify")
    assert plain.code == 0, plain.out  # the chain that is left is intact
    witnessed = cli("audit", "verify", "--witness", str(witness_dir))
    assert witnessed.code == 1
    taken_at = sealed["taken_at"]
    digest = sealed["plans"]["TJK-2015"]["hash"]
    assert lines(witnessed)[0] == (
        "TJK-2015 seq 22: missing: records seq 22-23 were removed from the end: the checkpoint "
        f"of {taken_at} sealed the history up to seq 23 ({digest})"
    )
    assert lines(witnessed)[1].startswith("Witnesses: 1 checkpoint, taken ")
    assert lines(witnessed)[-1].startswith("FAILED: 1 problem in 1 of 3 plans")
    # a single checkpoint file works as well as the folder
    assert cli("audit", "verify", "--witness", str(checkpoint)).out == witnessed.out


def test_a_deleted_plan_passes_verify_but_not_the_witness(
    demo: Runtime, cli: Cli, witness_dir: Path, attacker: Callable[[], Attacker]
) -> None:
    assert cli("audit", "checkpoint").code == 0
    attacker().delete_plan("KGZ-2021")
    assert cli("audit", "verify").code == 0
    witnessed = cli("audit", "verify", "--witness", str(witness_dir))
    assert witnessed.code == 1
    assert lines(witnessed)[0].startswith("KGZ-2021: missing: the plan is gone: the checkpoint of ")
    assert lines(witnessed)[0].endswith(
        "sealed its 23 records up to seq 23 (" + _hash(witness_dir, "KGZ-2021") + "); it was "
        "deleted from the database"
    )


def _hash(folder: Path, key: str) -> str:
    [checkpoint] = folder.iterdir()
    return str(json.loads(checkpoint.read_text(encoding="utf-8"))["plans"][key]["hash"])


def test_a_history_cut_and_written_again_is_named_where_it_differs(
    demo: Runtime, cli: Cli, witness_dir: Path, attacker: Callable[[], Attacker]
) -> None:
    # the newest records replaced by others, sealed by napflow itself: a valid chain
    assert cli("audit", "checkpoint").code == 0
    attacker().cut("TJK-2015", 2)
    services.advance_plan(demo, "TJK-2015", "endorse", "a.sharipov@customs.tj.example")
    services.advance_plan(demo, "TJK-2015", "endorse", "m.karimova@mfa.tj.example")
    assert cli("audit", "verify").code == 0
    witnessed = cli("audit", "verify", "--witness", str(witness_dir))
    assert witnessed.code == 1
    # the checkpoint sealed seq 23's digest, which covers every record up to it
    assert re.fullmatch(
        r"TJK-2015 seq 23: forged: it is \S+, not the record the checkpoint of \S+ sealed "
        r"\(\S+\): the history up to here was rewritten and sealed again",
        lines(witnessed)[0],
    )
    assert len(lines(witnessed)) == 3  # nothing is missing: the chain is as long as before


def test_a_ledger_that_only_grew_passes_every_checkpoint(
    demo: Runtime, cli: Cli, witness_dir: Path, clock: VirtualClock
) -> None:
    assert cli("audit", "checkpoint").code == 0
    services.advance_plan(demo, "TJK-2015", "endorse", "n.kurbonov@kchs.tj.example")
    services.add_person(demo, "new.person@example.org", "New Person")
    clock.advance(timedelta(days=1))
    assert cli("audit", "checkpoint").code == 0
    result = cli("audit", "verify", "--witness", str(witness_dir), "--witness", str(witness_dir))
    assert result.code == 0, result.out
    note = lines(result)[0]
    assert note.startswith("Witnesses: 2 checkpoints, taken from ")  # the same two, once
    assert note.endswith(
        "(2 not signed (a plain SHA-256): as good as the witness's keeping): every record "
        "they sealed is there as sealed."
    )


def test_the_site_ledger_cut_short_is_named(
    demo: Runtime, cli: Cli, witness_dir: Path, attacker: Callable[[], Attacker]
) -> None:
    # the last change to people (after the demo's plans stored their workflow's version)
    assert cli("person", "add", "late@example.org", "--name", "Late Comer").code == 0
    assert cli("audit", "checkpoint").code == 0
    conn = attacker()
    drop = "DROP TRIGGER site_history_append_only"
    conn.execute(f"{drop} ON site_history" if conn.postgresql else f"{drop}_delete")
    end = conn.execute("SELECT max(seq) FROM site_history").fetchone()[0]
    conn.execute("DELETE FROM site_history WHERE seq = ?", (end,))
    assert cli("audit", "verify").code == 0
    witnessed = cli("audit", "verify", "--witness", str(witness_dir))
    assert witnessed.code == 1
    assert lines(witnessed)[0].startswith(
        f"site ledger seq {end}: missing: record seq {end} was removed from the end: "
    )


@pytest.fixture
def witnessed_rt(
    db_url: str, clock: VirtualClock, smtp: SmtpServer, tmp_path: Path
) -> Iterator[Runtime]:
    """The demo on a runtime that mails checkpoints to WITNESSES and files them."""
    (tmp_path / "filed").mkdir()
    runtime = mail_runtime(
        db_url, clock, smtp, witnesses=WITNESSES, witness_dir=str(tmp_path / "filed")
    )
    services.load_demo(runtime)
    yield runtime
    runtime.db.dispose()


def _attachment(message: EmailMessage) -> tuple[str, bytes]:
    [part] = list(message.iter_attachments())
    data = part.get_content()
    assert isinstance(data, bytes)
    return str(part.get_filename()), data


def test_the_witnesses_get_the_mail_and_the_file(
    witnessed_rt: Runtime, smtp: SmtpServer, tmp_path: Path
) -> None:
    done = checkpoints.checkpoint_now(witnessed_rt)
    assert done.ok
    [filed] = (tmp_path / "filed").iterdir()
    assert [str(d) for d in done.deliveries] == [
        f"filed as {filed}",
        f"sent to {WITNESSES[0]}",
        f"sent to {WITNESSES[1]}",
    ]
    assert [rcpt for _sender, rcpt in smtp.sink.envelopes] == [[w] for w in WITNESSES]
    for message, address in zip(smtp.sink.messages, WITNESSES, strict=True):
        assert message["To"] == address
        assert message["Subject"].startswith("napflow ledger checkpoint ")
        assert message["Subject"].endswith(": 3 plans, 59 records")
        text = message.get_body(("plain",))
        assert text is not None
        assert "napflow audit verify --witness MAILBOX" in text.get_content()
        name, data = _attachment(message)
        assert name == filed.name
        assert data == filed.read_bytes()  # the same checkpoint, byte for byte
    assert json.loads(filed.read_bytes())["head"] == services.audit.ledger_head(witnessed_rt).head


def _mbox(path: Path, messages: list[EmailMessage]) -> None:
    box = mailbox.mbox(path)
    for message in messages:
        box.add(message.as_bytes())
    box.close()


def test_verify_reads_a_mailbox_and_a_folder_of_eml_files(
    witnessed_rt: Runtime, smtp: SmtpServer, tmp_path: Path, cli: Cli
) -> None:
    assert checkpoints.checkpoint_now(witnessed_rt).ok
    first = smtp.sink.messages[0]
    inbox = tmp_path / "inbox.mbox"
    _mbox(inbox, [first])
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "checkpoint.eml").write_bytes(smtp.sink.messages[1].as_bytes())
    (saved / "notes.txt").write_text("not a mail with a checkpoint\n", encoding="utf-8")
    for witness in (inbox, saved):
        assert cli("audit", "verify", "--witness", str(witness)).code == 0
    conn = Attacker(witnessed_rt)
    try:
        conn.cut("TKM-2018", 1)
    finally:
        conn.close()
    for witness in (inbox, saved):
        result = cli("audit", "verify", "--witness", str(witness))
        assert result.code == 1
        assert lines(result)[0].startswith(
            "TKM-2018 seq 13: missing: record seq 13 was removed from the end: the checkpoint of "
        )
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    maildir.add(first.as_bytes())
    assert cli("audit", "verify", "--witness", str(tmp_path / "Maildir")).code == 1


def test_the_day_is_claimed_once_whichever_scheduler_comes_first(
    db_url: str, clock: VirtualClock, smtp: SmtpServer, tmp_path: Path
) -> None:
    filed = tmp_path / "filed"
    filed.mkdir()
    settings = {"witnesses": WITNESSES[:1], "witness_dir": str(filed)}
    first, second = (mail_runtime(db_url, clock, smtp, **settings) for _ in range(2))
    try:
        services.load_demo(first)
        barrier = threading.Barrier(2)
        results: list[Any] = []

        def daemon(rt: Runtime) -> None:
            barrier.wait()
            results.append(checkpoints.daily_checkpoint(rt))

        threads = [threading.Thread(target=daemon, args=(rt,)) for rt in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(r is None for r in results) == [False, True]
        assert len(list(filed.iterdir())) == len(smtp.sink.messages) == 1
        assert checkpoints.daily_checkpoint(first) is None  # later the same day
        clock.advance(timedelta(days=1))
        assert checkpoints.daily_checkpoint(second) is not None  # the next day
        assert len(list(filed.iterdir())) == len(smtp.sink.messages) == 2
    finally:
        first.db.dispose()
        second.db.dispose()


def witnessed_demo(
    db_url: str, clock: VirtualClock, smtp: SmtpServer, tmp_path: Path
) -> tuple[Runtime, Path]:
    """The demo, its checkpoints mailed to one witness and filed in a folder (returned)."""
    filed = tmp_path / "filed"
    filed.mkdir()
    rt = mail_runtime(db_url, clock, smtp, witnesses=WITNESSES[:1], witness_dir=str(filed))
    services.load_demo(rt)
    return rt, filed


def test_the_scheduler_sends_the_days_checkpoint(
    db_url: str, clock: VirtualClock, smtp: SmtpServer, tmp_path: Path
) -> None:
    rt, filed = witnessed_demo(db_url, clock, smtp, tmp_path)
    try:
        background = start_background(rt, poll_seconds=3600)
        try:
            _wait_for(lambda: len(smtp.sink.messages) == 1)
        finally:
            background.shutdown()
        assert len(list(filed.iterdir())) == 1
        assert checkpoints.daily_checkpoint(rt) is None  # the day is taken
    finally:
        rt.db.dispose()


def _wait_for(condition: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(1200):  # a minute at most: a generous bound, not a timed assertion
        if condition():
            return
        done.wait(0.05)
    assert condition(), "the scheduler did not send the checkpoint"


def test_checkpoint_needs_a_witness_and_says_which_failed(
    demo: Runtime, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = cli("audit", "checkpoint")
    assert nowhere.code == 2 and "No witness to send the checkpoint to" in nowhere.err
    assert len(nowhere.err.splitlines()) == 1
    out = tmp_path / "by-hand.json"
    assert cli("audit", "checkpoint", "--out", str(out)).code == 0
    again = cli("audit", "checkpoint", "--out", str(out))
    assert again.code == 1  # never replaces a checkpoint
    assert lines(again)[1].startswith(f"NOT filed in {out}: ") and "exists already" in again.out
    monkeypatch.setenv("NAPFLOW_AUDIT_WITNESS_DIR", str(tmp_path / "no-such-folder"))
    missing = cli("audit", "checkpoint")
    assert missing.code == 1
    assert lines(missing)[1] == (
        f"NOT filed in {tmp_path / 'no-such-folder'}: there is no such folder"
    )


def test_unreadable_witnesses_are_bad_input_and_edited_checkpoints_fail(
    demo: Runtime, cli: Cli, witness_dir: Path, tmp_path: Path
) -> None:
    missing = cli("audit", "verify", "--witness", str(tmp_path / "nothing-here"))
    assert missing.code == 2 and "There is no file or folder" in missing.err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "mail.eml").write_bytes(b"Subject: hello\r\n\r\nno checkpoint here\r\n")
    found = cli("audit", "verify", "--witness", str(empty))
    assert found.code == 2 and "No napflow checkpoint found in" in found.err
    assert cli("audit", "verify", "TJK-2015", "--witness", str(empty)).code == 2
    assert cli("audit", "checkpoint").code == 0
    [checkpoint] = witness_dir.iterdir()
    data = json.loads(checkpoint.read_text(encoding="utf-8"))
    data["plans"]["TJK-2015"]["seq"] = 20  # a witness's copy changed to hide a cut
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data), encoding="utf-8")
    result = cli("audit", "verify", "--witness", str(edited))
    assert result.code == 1
    assert lines(result)[0] == (
        f"checkpoint in {edited}: edited: its content no longer matches its seal: it was "
        "changed after it was taken"
    )
    # a file no one can read, root included (a mode of 0 would not stop root)
    denied = cli("audit", "verify", "--witness", "/proc/self/mem")
    assert denied.code == 2 and "Cannot read the witness file '/proc/self/mem': " in denied.err
    assert len(denied.err.splitlines()) == 1


def test_signed_checkpoints_are_checked_with_the_public_key(
    demo: Runtime, cli: Cli, witness_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("audit", "keygen", "--out", str(tmp_path / "ours")).code == 0
    assert cli("audit", "keygen", "--out", str(tmp_path / "theirs")).code == 0
    ours = tmp_path / "ours" / "napflow-audit-signing.pub.pem"
    theirs = tmp_path / "theirs" / "napflow-audit-signing.pub.pem"
    monkeypatch.setenv(
        "NAPFLOW_AUDIT_SIGNING_KEY", str(tmp_path / "ours" / "napflow-audit-signing.pem")
    )
    taken = cli("audit", "checkpoint")
    assert taken.code == 0 and " signed with Ed25519 key sha256:" in lines(taken)[0]
    checked = cli("audit", "verify", "--witness", str(witness_dir), "--public-key", str(ours))
    assert checked.code == 0, checked.out
    assert "(1 signed with the given key sha256:" in lines(checked)[0]
    other = cli("audit", "verify", "--witness", str(witness_dir), "--public-key", str(theirs))
    assert other.code == 1
    assert ": forged: it is signed with another key (sha256:" in lines(other)[0]
    unchecked = cli("audit", "verify", "--witness", str(witness_dir))
    assert unchecked.code == 0
    assert "1 signed with Ed25519, not checked: give --public-key FILE" in unchecked.out


def test_a_bundle_is_checked_against_the_witnesses(
    demo: Runtime, cli: Cli, witness_dir: Path, tmp_path: Path, attacker: Callable[[], Attacker]
) -> None:
    assert cli("audit", "checkpoint").code == 0
    attacker().cut("KGZ-2021", 3)
    bundle = tmp_path / "bundle.json"
    assert cli("audit", "export", "--out", str(bundle)).code == 0
    assert cli("audit", "verify", "--bundle", str(bundle)).code == 0
    result = cli("audit", "verify", "--bundle", str(bundle), "--witness", str(witness_dir))
    assert result.code == 1
    assert lines(result)[0].startswith(
        "KGZ-2021 seq 21: missing: records seq 21-23 were removed from the end: "
    )
    assert "the site ledger is not in bundles, so not compared" in result.out
    one = tmp_path / "one.json"
    assert cli("audit", "export", "TJK-2015", "--out", str(one)).code == 0
    scoped = cli("audit", "verify", "--bundle", str(one), "--witness", str(witness_dir))
    assert "KGZ-2021: missing: the plan is gone: " in scoped.out
    assert "it is not in the bundle: it was deleted, or the bundle was exported for some " in (
        scoped.out
    )


def test_the_mail_parses_as_sent(witnessed_rt: Runtime, smtp: SmtpServer) -> None:
    # what a witness's mail program saves is what verify reads back
    checkpoints.checkpoint_now(witnessed_rt)
    raw = smtp.sink.messages[0].as_bytes()
    again = message_from_bytes(raw, policy=policy.default)
    assert isinstance(again, EmailMessage)
    name, data = _attachment(again)
    assert name.startswith("napflow-checkpoint-") and json.loads(data)["format"] == (
        "napflow-checkpoint/1"
    )


def test_a_runtime_without_witnesses_takes_no_daily_checkpoint(demo: Runtime) -> None:
    assert checkpoints.daily_checkpoint(demo) is None


def test_days_claimed_ahead_do_not_silence_the_checkpoints(
    db_url: str,
    clock: VirtualClock,
    smtp: SmtpServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from sqlalchemy import insert

    from napflow.storage.schema import app_secrets

    rt, filed = witnessed_demo(db_url, clock, smtp, tmp_path)
    try:
        with rt.db.write() as conn:  # someone at the database claims the next ten days now
            for n in range(10):
                day = (clock.now() + timedelta(days=n)).date().isoformat()
                conn.execute(
                    insert(app_secrets).values(
                        name=f"{checkpoints.DAY_CLAIM}{day}",
                        value="x",
                        created_at=clock.now() - timedelta(days=1),
                    )
                )
        assert checkpoints.daily_checkpoint(rt) is not None  # sent all the same
        assert len(list(filed.iterdir())) == len(smtp.sink.messages) == 1
        assert "claimed in the database on" in caplog.text and "holding the daily" in caplog.text
    finally:
        rt.db.dispose()
