"""Signed bundles: an auditor can tell a bundle napflow exported from one edited or rechained.

The plan rows of a bundle are held to the records that sealed them even without a
signature; the workflow files' text is not sealed in any record, so only the signature
covers it.
"""

from __future__ import annotations

import hashlib
import json
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import Result

from napflow import services
from napflow.runtime import Runtime
from napflow.services import signing
from napflow.services._bundle_signature import check_plan_rows

Cli = Callable[..., Result]
PRIVATE, PUBLIC = signing.PRIVATE_NAME, signing.PUBLIC_NAME


def keygen(cli: Cli, folder: Path) -> tuple[Path, Path]:
    result = cli("audit", "keygen", "--out", str(folder))
    assert result.code == 0, result.err
    return folder / PRIVATE, folder / PUBLIC


@pytest.fixture
def keys(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A key pair; exports sign with its private key (NAPFLOW_AUDIT_SIGNING_KEY)."""
    private, public = keygen(cli, tmp_path / "keys")
    monkeypatch.setenv("NAPFLOW_AUDIT_SIGNING_KEY", str(private))
    return private, public


def lines(result: Result) -> list[str]:
    return result.out.strip().splitlines()


def export(cli: Cli, path: Path, *args: str) -> Path:
    result = cli("audit", "export", *args, "--out", str(path))
    assert result.code == 0, result.err
    return path


def rewrite(source: Path, target: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    data = json.loads(source.read_text(encoding="utf-8"))
    change(data)
    target.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return target


def test_keygen_writes_a_private_key_only_its_owner_reads(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "new" / "keys"
    result = cli("audit", "keygen", "--out", str(folder))
    assert result.code == 0
    private, public = folder / PRIVATE, folder / PUBLIC
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    key = signing.fingerprint(signing.load_public_key(str(public)))
    assert key == signing.fingerprint(signing.load_private_key(str(private)).public_key())
    assert lines(result)[-1] == f"Key {key}"
    assert str(private) in result.out and str(public) in result.out
    before = private.read_bytes()
    again = cli("audit", "keygen", "--out", str(folder))
    assert again.code == 2 and "exists already: napflow never overwrites a key" in again.err
    assert private.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == [PRIVATE, PUBLIC]  # nothing left aside


def test_a_signed_bundle_verifies_with_its_public_key(
    demo: Runtime, cli: Cli, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle = export(cli, tmp_path / "bundle.json")
    key = signing.fingerprint(signing.load_public_key(str(keys[1])))
    checked = cli("audit", "verify", "--bundle", str(bundle), "--public-key", str(keys[1]))
    assert checked.code == 0, checked.out
    assert lines(checked)[0] == f"The bundle is signed with the given key {key}."
    assert lines(checked)[1].startswith("OK: 3 plans, 59 records")
    unchecked = cli("audit", "verify", "--bundle", str(bundle))
    assert unchecked.code == 0
    assert lines(unchecked)[0] == (
        f"The bundle is signed (Ed25519 key {key}), but the signature was not checked: give "
        "--public-key FILE."
    )
    as_json = cli("audit", "verify", "--bundle", str(bundle), "--format", "json").json()
    assert isinstance(as_json, dict) and as_json["ok"] and len(as_json["notes"]) == 1
    # laid out differently, it is the same document: the signature still holds
    relaid = rewrite(bundle, tmp_path / "relaid.json", lambda data: None)
    assert cli("audit", "verify", "--bundle", str(relaid), "--public-key", str(keys[1])).code == 0


def _edit_workflow(data: dict[str, Any]) -> None:
    entry = data["workflows"]["nap"]
    entry["source"] = entry["source"].replace("wg_chair", "wg_member", 1)
    entry["sha256"] = hashlib.sha256(entry["source"].encode("utf-8")).hexdigest()


def test_a_workflow_edited_with_its_sha_is_caught_only_by_the_signature(
    demo: Runtime, cli: Cli, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle = export(cli, tmp_path / "bundle.json")
    edited = rewrite(bundle, tmp_path / "edited.json", _edit_workflow)
    assert cli("audit", "verify", "--bundle", str(edited)).code == 0  # nothing seals its text
    result = cli("audit", "verify", "--bundle", str(edited), "--public-key", str(keys[1]))
    assert result.code == 1
    assert lines(result)[0] == (
        "bundle: edited: its signature does not verify with the given key: it was changed "
        "after it was signed"
    )


@pytest.mark.parametrize(
    ("field", "value", "sealed"),
    [
        ("title", "A different plan", "'National Action Plan"),
        ("country", "KGZ", "'TJK'"),
        ("timezone", "UTC", "'Asia/Dushanbe'"),
    ],
)
def test_a_plan_row_edited_in_a_bundle_is_caught_with_or_without_the_key(
    demo: Runtime,
    cli: Cli,
    keys: tuple[Path, Path],
    tmp_path: Path,
    field: str,
    value: str,
    sealed: str,
) -> None:
    bundle = export(cli, tmp_path / "bundle.json", "TJK-2015")

    def change(data: dict[str, Any]) -> None:
        data["plans"][0][field] = value

    edited = rewrite(bundle, tmp_path / "edited.json", change)
    plain = cli("audit", "verify", "--bundle", str(edited))
    assert plain.code == 1
    assert lines(plain)[0].startswith(
        f"TJK-2015: changed: its {field} in the bundle is {value!r}, but its sealed records "
        f"give {sealed}"
    )
    assert lines(plain)[0].endswith(": the bundle's plan row was changed")
    signed = cli("audit", "verify", "--bundle", str(edited), "--public-key", str(keys[1]))
    assert signed.code == 1
    assert lines(signed)[:2] == [
        lines(plain)[0],
        "bundle: edited: its signature does not verify with the given key: it was changed "
        "after it was signed",
    ]


def test_an_edited_plan_is_held_to_its_newest_edit(demo: Runtime, cli: Cli, tmp_path: Path) -> None:
    services.edit_plan(demo, "TKM-2018", title="Renamed plan", timezone="Asia/Tashkent")
    bundle = export(cli, tmp_path / "bundle.json", "TKM-2018")
    assert cli("audit", "verify", "--bundle", str(bundle)).code == 0

    def back(data: dict[str, Any]) -> None:  # the row put back to what it was at creation
        records = data["plans"][0]["records"]
        created = json.loads(records[0]["payload"])
        data["plans"][0]["title"] = created["title"]

    result = cli("audit", "verify", "--bundle", str(rewrite(bundle, tmp_path / "b.json", back)))
    assert result.code == 1
    assert "but its sealed records give 'Renamed plan'" in lines(result)[0]


def test_a_bundle_signed_with_another_key_is_refused(
    demo: Runtime, cli: Cli, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    # someone with write access rechains what they like and signs it with a key of theirs
    bundle = export(cli, tmp_path / "bundle.json")
    _private, theirs = keygen(cli, tmp_path / "theirs")
    their_key = signing.load_private_key(str(tmp_path / "theirs" / PRIVATE))
    data = json.loads(bundle.read_text(encoding="utf-8"))
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(signing.sign(data, their_key)), encoding="utf-8")
    assert cli("audit", "verify", "--bundle", str(forged), "--public-key", str(theirs)).code == 0
    result = cli("audit", "verify", "--bundle", str(forged), "--public-key", str(keys[1]))
    assert result.code == 1
    ours = signing.fingerprint(signing.load_public_key(str(keys[1])))
    assert lines(result)[0] == (
        f"bundle: forged: it is signed with another key "
        f"({signing.fingerprint(their_key.public_key())}), not with the given key {ours}"
    )


def test_an_unsigned_bundle_fails_with_a_public_key(
    demo: Runtime, cli: Cli, tmp_path: Path
) -> None:
    _private, public = keygen(cli, tmp_path / "keys")
    bundle = export(cli, tmp_path / "bundle.json")
    assert "signature" not in json.loads(bundle.read_text(encoding="utf-8"))
    result = cli("audit", "verify", "--bundle", str(bundle), "--public-key", str(public))
    assert result.code == 1
    assert lines(result)[0] == (
        "bundle: missing: it is not signed, so nothing shows napflow exported it (napflow "
        "signs bundles when NAPFLOW_AUDIT_SIGNING_KEY is set)"
    )


def test_a_signed_zip_bundle_covers_its_drafts(
    demo: Runtime, cli: Cli, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    draft = tmp_path / "plan.txt"
    draft.write_text("The national action plan, first draft.\n", encoding="utf-8")
    assert cli("draft", "add", "TJK-2015", str(draft)).code == 0
    bundle = export(cli, tmp_path / "bundle.zip", "TJK-2015", "--with-drafts")
    public = str(keys[1])
    assert cli("audit", "verify", "--bundle", str(bundle), "--public-key", public).code == 0
    with zipfile.ZipFile(bundle) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(members["bundle.json"])
    [listed] = data["plans"][0]["drafts"]
    assert listed["sha256"] == hashlib.sha256(draft.read_bytes()).hexdigest()
    data["exported_at"] = "2015-01-01T00:00:00Z"  # any change to bundle.json
    members["bundle.json"] = json.dumps(data).encode("utf-8")
    edited = tmp_path / "edited.zip"
    with zipfile.ZipFile(edited, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    result = cli("audit", "verify", "--bundle", str(edited), "--public-key", public)
    assert result.code == 1 and lines(result)[0].startswith("bundle: edited: its signature ")


def test_bad_key_files_are_one_line_errors(
    demo: Runtime, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, public = keygen(cli, tmp_path / "keys")
    bundle = export(cli, tmp_path / "bundle.json")
    garbled = tmp_path / "garbled.pem"
    garbled.write_text("-----BEGIN PUBLIC KEY-----\nnot base64\n", encoding="utf-8")
    cases = {
        str(tmp_path / "none.pem"): "Cannot read the public key",
        str(garbled): "is not a PEM public key",
        str(private): "holds a private key: give the public one",
    }
    for path, fragment in cases.items():
        result = cli("audit", "verify", "--bundle", str(bundle), "--public-key", path)
        assert result.code == 2 and fragment in result.err and not result.out
        assert len(result.err.splitlines()) == 1
    usage = cli("audit", "verify", "--public-key", str(public))
    assert usage.code == 2 and "--public-key checks a --bundle" in usage.err
    for key_file, fragment in (
        (str(tmp_path / "none.pem"), "Cannot read the signing key (NAPFLOW_AUDIT_SIGNING_KEY)"),
        (str(public), "is not a PEM private key"),
        (str(garbled), "is not a PEM private key"),
    ):
        monkeypatch.setenv("NAPFLOW_AUDIT_SIGNING_KEY", key_file)
        result = cli("audit", "export", "--out", str(tmp_path / "signed.json"))
        assert result.code == 2 and fragment in result.err, result.err
        assert len(result.err.splitlines()) == 1
        assert not (tmp_path / "signed.json").exists()
        assert cli("audit", "checkpoint", "--out", str(tmp_path / "cp.json")).code == 2


def test_plan_rows_an_old_creation_record_did_not_seal_are_not_covered() -> None:
    created: dict[str, Any] = {
        "kind": "created",
        "payload": json.dumps({"title": "Old plan"}),
        "workflow": "nap",
        "workflow_version": 1,
    }
    plan = {
        "key": "OLD-1",
        "title": "Old plan",
        "country": "TJK",
        "timezone": "Asia/Dushanbe",
        "workflow": "nap",
        "workflow_version": 1,
        "records": [created],
    }
    problems, notes = check_plan_rows([plan])
    assert problems == []
    assert notes == [
        "OLD-1: not covered: its creation record does not seal its country and timezone (a "
        "plan made before napflow sealed them), so the bundle's cannot be checked."
    ]
    assert services.audit.VerifyReport(1, 1, "h", [], notes=tuple(notes)).ok


def test_a_member_named_twice_cannot_hide_behind_the_signature(
    demo: Runtime, cli: Cli, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle = export(cli, tmp_path / "bundle.json")
    text = bundle.read_text(encoding="utf-8")
    # a forged "plans" first, which a person reading the file sees; the signed one last,
    # which a parser keeping the last member would check
    forged = tmp_path / "forged.json"
    forged.write_text('{"plans": [{"key": "TJK-2015", "title": "Forged"}], ' + text[1:])
    refused = cli("audit", "verify", "--bundle", str(forged), "--public-key", str(keys[1]))
    assert refused.code == 2
    assert "the member 'plans' appears twice" in refused.err
