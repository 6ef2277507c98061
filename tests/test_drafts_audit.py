"""The audit of drafts: what a bundle must list, and what a plan's current draft must be.

``audit verify --bundle`` fails when a bundle leaves out a draft a sealed record added, or
(a ZIP exported ``--with-drafts``) lacks a listed draft's file. ``audit verify`` fails when
a plan's row names another current draft than its newest sealed ``draft_added`` record.
Both engines.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers import CAST, Result
from sqlalchemy import delete, update

from napflow import services
from napflow.runtime import Runtime
from napflow.services import audit
from napflow.storage.schema import drafts, plans

COORD = CAST["coordinator"][0]
V1 = b"# National Action Plan\n\nExport controls: the list of 2014.\n"
V2 = b"# National Action Plan\n\nExport controls: the list of 2015.\n"
SHA1, SHA2 = hashlib.sha256(V1).hexdigest(), hashlib.sha256(V2).hexdigest()
Cli = Callable[..., Result]


def two_drafts(rt: Runtime, key: str) -> tuple[int, int]:
    """Add V1 then V2 as drafts of ``key``; return the seqs of the records that sealed them."""
    first = services.drafts.add_draft(rt, key, io.BytesIO(V1), "v1.md", COORD)
    second = services.drafts.add_draft(rt, key, io.BytesIO(V2), "v2.md", COORD)
    return first.seq, second.seq


def rewrite_zip(
    source: Path, target: Path, keep: Callable[[str], bool], edit: Callable[[Any], Any]
) -> None:
    """Copy a ZIP bundle, leaving out the members ``keep`` refuses, ``edit`` on bundle.json."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            if not keep(name):
                continue
            data = old.read(name)
            if name == "bundle.json":
                data = json.dumps(edit(json.loads(data))).encode("utf-8")
            new.writestr(name, data)


def without_version(bundle: Any, version: int) -> Any:
    """The bundle with draft ``version`` of its (one) plan taken out of the drafts list."""
    plan = bundle["plans"][0]
    plan["drafts"] = [d for d in plan["drafts"] if d["version"] != version]
    return bundle


def lines(report: audit.VerifyReport) -> list[str]:
    return [str(p) for p in report.problems]


def test_a_bundle_that_leaves_a_sealed_draft_out_fails(
    rt: Runtime, nap_plan: str, cli: Cli, tmp_path: Path
) -> None:
    seq1, seq2 = two_drafts(rt, nap_plan)
    plain, zipped = tmp_path / "bundle.json", tmp_path / "bundle.zip"
    assert cli("audit", "export", nap_plan, "--out", str(plain)).code == 0
    assert cli("audit", "export", nap_plan, "--out", str(zipped), "--with-drafts").code == 0
    for whole in (plain, zipped):  # as exported, both verify
        assert lines(audit.verify_bundle(str(whole), None)) == []

    v1_left_out = (
        f"{nap_plan} seq {seq1}: missing: draft v1 ({SHA1}), added by this sealed record, is "
        "not in the bundle's drafts list: the bundle leaves it out"
    )
    cut = tmp_path / "cut.json"  # the JSON bundle, v1's entry taken out
    cut.write_text(json.dumps(without_version(json.loads(plain.read_text()), 1)))
    refused = cli("audit", "verify", "--bundle", str(cut))
    assert refused.code == 1
    assert refused.out.splitlines()[:-1] == [v1_left_out]
    assert refused.out.splitlines()[-1].startswith("FAILED: 1 problem in 1 of 1 plans")

    cut_zip = tmp_path / "cut.zip"  # the ZIP bundle, v2's entry out of bundle.json, file kept
    rewrite_zip(zipped, cut_zip, lambda _name: True, lambda b: without_version(b, 2))
    assert lines(audit.verify_bundle(str(cut_zip), None)) == [
        f"{nap_plan} seq {seq2}: missing: draft v2 ({SHA2}), added by this sealed record, is "
        "not in the bundle's drafts list: the bundle leaves it out"
    ]

    bare = json.loads(plain.read_text())  # no drafts list at all: both drafts are named
    del bare["plans"][0]["drafts"]
    (tmp_path / "bare.json").write_text(json.dumps(bare))
    assert [
        (p.seq, p.kind) for p in audit.verify_bundle(str(tmp_path / "bare.json"), None).problems
    ] == [(seq1, "missing"), (seq2, "missing")]

    moved = json.loads(plain.read_text())  # v1 listed under v2's record: neither matches
    moved["plans"][0]["drafts"][0]["seq"] = seq2
    (tmp_path / "moved.json").write_text(json.dumps(moved))
    found = lines(audit.verify_bundle(str(tmp_path / "moved.json"), None))
    assert v1_left_out in found
    assert (
        f"{nap_plan} seq {seq2}: changed: draft v1 is listed as {SHA1}, which no sealed record "
        "of the plan names"
    ) in found


def test_a_zip_bundle_missing_a_listed_drafts_file_fails(
    rt: Runtime, nap_plan: str, cli: Cli, tmp_path: Path
) -> None:
    _seq1, seq2 = two_drafts(rt, nap_plan)
    zipped = tmp_path / "bundle.zip"
    assert cli("audit", "export", nap_plan, "--out", str(zipped), "--with-drafts").code == 0
    gone = tmp_path / "gone.zip"
    rewrite_zip(zipped, gone, lambda name: name != f"drafts/{SHA2}", lambda b: b)
    with zipfile.ZipFile(gone) as archive:
        assert f"drafts/{SHA1}" in archive.namelist()
        assert f"drafts/{SHA2}" not in archive.namelist()
    refused = cli("audit", "verify", "--bundle", str(gone))
    assert refused.code == 1
    assert refused.out.splitlines()[:-1] == [
        f"{nap_plan} seq {seq2}: missing: the file of draft v2 is missing"
    ]


def test_a_plan_pointed_at_another_draft_by_hand_is_named(
    rt: Runtime, nap_plan: str, cli: Cli
) -> None:
    _seq1, seq2 = two_drafts(rt, nap_plan)
    services.create_plan(rt, "TJK", "No drafts", timezone="Asia/Dushanbe", key="TJK-N")
    assert cli("audit", "verify").code == 0  # as napflow left them, both plans verify
    with rt.db.write() as conn:  # behind napflow's back: back to v1, and a draft for TJK-N
        conn.execute(
            update(plans).where(plans.c.key == nap_plan).values(draft_version=1, draft_sha256=SHA1)
        )
        conn.execute(
            update(plans).where(plans.c.key == "TJK-N").values(draft_version=1, draft_sha256=SHA1)
        )
    result = cli("audit", "verify")
    assert result.code == 1
    assert result.out.splitlines()[:-1] == [
        f"TJK-N: changed: its row names draft v1 ('{SHA1}') as current, but no sealed record "
        "added a draft: a plan without drafts has draft_version 0 and draft_sha256 ''",
        f"{nap_plan}: changed: its row names draft v1 ('{SHA1}') as current, but its newest "
        f"sealed draft_added record (seq {seq2}) added v2 ('{SHA2}'): the plan was pointed at "
        "another draft",
    ]
    # one plan verified: only its own problem
    assert lines(audit.verify_ledger(rt, plan_key="TJK-N")) == [result.out.splitlines()[0]]


def test_a_current_digest_changed_alone_or_cleared_is_named(rt: Runtime, nap_plan: str) -> None:
    _seq1, seq2 = two_drafts(rt, nap_plan)
    for version, sha256 in ((2, SHA1), (1, SHA2), (0, "")):
        with rt.db.write() as conn:
            conn.execute(
                update(plans)
                .where(plans.c.key == nap_plan)
                .values(draft_version=version, draft_sha256=sha256)
            )
        assert lines(audit.verify_ledger(rt)) == [
            f"{nap_plan}: changed: its row names draft v{version} ('{sha256}') as current, "
            f"but its newest sealed draft_added record (seq {seq2}) added v2 ('{SHA2}'): the "
            "plan was pointed at another draft"
        ]
    with rt.db.write() as conn:  # put back as napflow left it: verified again
        conn.execute(
            update(plans).where(plans.c.key == nap_plan).values(draft_version=2, draft_sha256=SHA2)
        )
    assert audit.verify_ledger(rt).ok


def test_a_sealed_draft_whose_stored_row_was_removed_is_named(rt: Runtime, nap_plan: str) -> None:
    seq1, _seq2 = two_drafts(rt, nap_plan)
    with rt.db.write() as conn:  # behind napflow's back, past the database's own guard
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER drafts_append_only_delete")
        else:
            conn.exec_driver_sql("DROP TRIGGER drafts_append_only ON drafts")
        conn.execute(delete(drafts).where(drafts.c.seq == seq1))
    assert lines(audit.verify_ledger(rt)) == [
        f"{nap_plan} seq {seq1}: missing: draft v1 ({SHA1}), added by this sealed record, is "
        "not stored: its draft was removed"
    ]
    assert lines(audit.verify_ledger(rt, plan_key=nap_plan)) == lines(audit.verify_ledger(rt))
