"""Drafts in audit bundles: every draft's digest, and with ``--with-drafts`` the files.

A bundle lists each plan's drafts (version, SHA-256, size, type, file name, and the seq of
the record that sealed the digest). ``napflow audit export --with-drafts`` writes a ZIP
instead of the JSON file: ``bundle.json`` (the same bundle) and ``drafts/<sha256>`` for
every draft's bytes, streamed from the database. ``audit verify --bundle`` checks that each
listed draft is the one its sealed record names and, in a ZIP, that each file's bytes hash
to that digest; and, the other way round, that every draft a sealed record added is listed
(a bundle cannot leave a draft out unnoticed).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from napflow.ledger.verification import CHANGED, EDITED, MISSING, Problem
from napflow.runtime import Runtime
from napflow.services.drafts import read_draft
from napflow.storage.schema import draft_contents, drafts

#: the bundle's own file inside a ZIP bundle
BUNDLE_MEMBER = "bundle.json"
#: where a draft's bytes are inside a ZIP bundle
DRAFTS_FOLDER = "drafts/"


def draft_entries(conn: Connection, plan_id: int) -> list[dict[str, Any]]:
    """Return what a bundle says of one plan's drafts, oldest first."""
    rows = conn.execute(
        select(
            drafts.c.version,
            draft_contents.c.sha256,
            draft_contents.c.size,
            drafts.c.media_type,
            drafts.c.file_name,
            drafts.c.seq,
        )
        .join(draft_contents, draft_contents.c.id == drafts.c.content_id)
        .where(drafts.c.plan_id == plan_id)
        .order_by(drafts.c.version)
    )
    return [dict(row._mapping) for row in rows]


def write_zip(rt: Runtime, handle: Any, text: str, plans: list[dict[str, Any]]) -> int:
    """Write a ZIP bundle to ``handle``: the bundle's text and every draft's bytes once.

    Return how many files of drafts it holds. The bytes are streamed chunk by chunk and
    checked against their digest as they are read.
    """
    written: set[str] = set()
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(BUNDLE_MEMBER, text)
        for plan in plans:
            for entry in plan.get("drafts", []):
                if entry["sha256"] in written:
                    continue
                _found, chunks = read_draft(rt, plan["key"], entry["version"])
                with archive.open(f"{DRAFTS_FOLDER}{entry['sha256']}", "w") as member:
                    for chunk in chunks:
                        member.write(chunk)
                written.add(entry["sha256"])
    return len(written)


def read_zip_bundle(path: str) -> str | None:
    """Return the text of ``bundle.json`` if ``path`` is a ZIP bundle (None if it is no ZIP)."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        return archive.read(BUNDLE_MEMBER).decode("utf-8")


def _payload(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Return a record's payload as sealed (JSON text) parsed, or None if it is no object."""
    payload = record.get("payload")
    try:
        found = json.loads(payload) if isinstance(payload, str) else None
    except json.JSONDecodeError:
        return None
    return found if isinstance(found, dict) else None


def _sealed(records: list[Mapping[str, Any]], seq: Any) -> Mapping[str, Any] | None:
    for record in records:
        if record.get("seq") == seq and record.get("kind") == "draft_added":
            return _payload(record)
    return None


def _draft_key(*values: Any) -> tuple[str, ...]:
    """Return values from a bundle as a comparable key, whatever their JSON types."""
    return tuple(json.dumps(v, sort_keys=True) for v in values)


def _unlisted(key: str, records: list[Any], listed: list[Any]) -> list[Problem]:
    """Return a problem for each draft a sealed record added that the bundle does not list.

    A listed entry counts when it has the record's seq, draft version and digest.
    """
    entries = {
        _draft_key(e.get("seq"), e.get("version"), e.get("sha256"))
        for e in listed
        if isinstance(e, dict)
    }
    problems = []
    for record in records:
        if not isinstance(record, dict) or record.get("kind") != "draft_added":
            continue
        seq = record.get("seq")
        payload = _payload(record) or {}
        version, sha256 = payload.get("draft"), payload.get("sha256")
        if _draft_key(seq, version, sha256) not in entries:
            problems.append(
                Problem(
                    key,
                    seq if isinstance(seq, int) else None,
                    MISSING,
                    f"draft v{version} ({sha256}), added by this sealed record, is not in the "
                    "bundle's drafts list: the bundle leaves it out",
                )
            )
    return problems


def _file_digest(archive: zipfile.ZipFile, name: str) -> str | None:
    try:
        with archive.open(name) as member:
            digest = hashlib.sha256()
            while chunk := member.read(1 << 20):
                digest.update(chunk)
            return digest.hexdigest()
    except KeyError:
        return None
    except Exception:
        return ""


def check_drafts(path: str, plans: list[Any]) -> list[Problem]:
    """Check every draft a bundle lists against its sealed record (and its file, in a ZIP).

    And the converse: every draft a plan's sealed records added must be listed.
    """
    problems: list[Problem] = []
    archive = zipfile.ZipFile(path) if zipfile.is_zipfile(path) else None
    try:
        for plan in plans:
            if not isinstance(plan, dict):
                continue
            key, records = str(plan.get("key")), plan.get("records") or []
            listed = plan.get("drafts") or []
            if not isinstance(listed, list):
                problems.append(Problem(key, None, CHANGED, "its drafts are not a list"))
                continue
            if isinstance(records, list):
                problems += _unlisted(key, records, listed)
            for entry in listed:
                if not isinstance(entry, dict):
                    problems.append(Problem(key, None, CHANGED, "a draft entry is not an object"))
                    continue
                version, sha256, seq = entry.get("version"), entry.get("sha256"), entry.get("seq")
                sealed = _sealed(records, seq)
                if sealed is None or (sealed.get("draft"), sealed.get("sha256")) != (
                    version,
                    sha256,
                ):
                    problems.append(
                        Problem(
                            key,
                            seq if isinstance(seq, int) else None,
                            CHANGED,
                            f"draft v{version} is listed as {sha256}, which no sealed record "
                            "of the plan names",
                        )
                    )
                    continue
                if archive is None:
                    continue
                found = _file_digest(archive, f"{DRAFTS_FOLDER}{sha256}")
                if found is None:
                    problems.append(
                        Problem(key, seq, MISSING, f"the file of draft v{version} is missing")
                    )
                elif found != sha256:
                    problems.append(
                        Problem(
                            key,
                            seq,
                            EDITED,
                            f"the file of draft v{version} no longer matches its sealed digest "
                            f"{sha256}",
                        )
                    )
    finally:
        if archive is not None:
            archive.close()
    return problems
