"""Drafts: the versions of a plan's document, their bytes, and who added them.

Adding a draft streams the file once into an unnamed temporary file (hashing and counting
as it goes, refusing it as soon as it passes the size limit), tells its type from its bytes
(napflow.documents.sniff), then, in one transaction: checks who may add a draft in the
plan's state (the workflow's ``[drafts]``), stores the bytes in chunks unless the same
SHA-256 is stored already, seals a ``draft_added`` record naming the version and digest on
the plan's chain, and makes it the plan's current draft. Either all of it is stored or
none; a process killed mid-upload leaves its temporary file to the operating system (it
has no name) and nothing in the database.

A new draft in a review state whose workflow says ``restart`` starts a new round there:
endorsements of earlier drafts stop counting (a round is the actions since the plan's
``entered_seq``), and reminders go out again to those who must endorse.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from napflow import inputs
from napflow.documents.compare import MAX_WORDS, Comparison, TooLong, compare_words
from napflow.documents.sniff import sniff
from napflow.documents.text import NoText, extract_text
from napflow.errors import InputError, NotFoundError, RefusedError
from napflow.i18n import N_, _
from napflow.ledger.record import Kind
from napflow.runtime import Runtime
from napflow.services._authority import authorised_role
from napflow.services._outbox import queue_draft_notices, sync_reminders
from napflow.services._records import PlanRow, append, load_plan
from napflow.services._visibility import plan_for
from napflow.storage.schema import draft_chunks, draft_contents, drafts, history, plans
from napflow.workflow.drafts import RESTART

#: the size of the chunks a draft's bytes are stored and streamed in
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class DraftView:
    """One version of a plan's document, as listed (never its bytes)."""

    plan: str
    version: int
    sha256: str
    size: int
    media_type: str
    file_name: str
    note: str | None
    added_by: str | None
    added_at: datetime
    #: the seq of the history record that sealed it
    seq: int


def _spool(source: BinaryIO, spool: BinaryIO, limit: int, file_name: str) -> tuple[str, int]:
    """Copy ``source`` into ``spool`` chunk by chunk; return its SHA-256 and size.

    Refuse it as soon as it passes ``limit`` bytes, before reading it to the end.
    """
    digest, size = hashlib.sha256(), 0
    while chunk := source.read(CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise InputError(
                _(
                    "%(file)s is larger than the %(limit)d MB a draft may have (%(setting)s); "
                    "nothing was stored."
                )
                % {"file": file_name, "limit": limit // (1 << 20), "setting": "[drafts] max_mb"}
            )
        digest.update(chunk)
        spool.write(chunk)
    if size == 0:
        raise InputError(
            _("%(file)s is empty; a draft must have content. Nothing was stored.")
            % {"file": file_name}
        )
    return digest.hexdigest(), size


def _store(conn: Connection, spool: BinaryIO, sha256: str, size: int, media: str, now: Any) -> int:
    """Return the id of the stored bytes with ``sha256``, storing them from ``spool`` if new."""
    values = {"sha256": sha256, "size": size, "media_type": media, "created_at": now}
    # two uploads of the same bytes at once: the second finds the first's row (and writes
    # no chunks) instead of failing on the unique digest
    dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    inserted = conn.execute(
        dialect_insert(draft_contents)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["sha256"])
        .returning(draft_contents.c.id)
    ).scalar()
    if inserted is None:
        return int(
            conn.execute(
                select(draft_contents.c.id).where(draft_contents.c.sha256 == sha256)
            ).scalar_one()
        )
    content_id = int(inserted)
    spool.seek(0)
    n = 0
    while chunk := spool.read(CHUNK_BYTES):
        conn.execute(insert(draft_chunks).values(content_id=content_id, n=n, data=chunk))
        n += 1
    return content_id


def _refuse_state(plan: PlanRow, taking: tuple[str, ...]) -> RefusedError:
    refusal = (
        _(
            "Cannot add a draft to %(key)s in %(state)s: its workflow takes new drafts in "
            "%(states)s. Nothing was stored."
        )
        if taking
        else _(
            "Cannot add a draft to %(key)s in %(state)s: its workflow takes new drafts in "
            "no state (its workflow takes no drafts). Nothing was stored."
        )
    )
    return RefusedError(
        refusal % {"key": plan.key, "state": plan.state, "states": ", ".join(taking)}
    )


def add_draft(
    rt: Runtime,
    key: str,
    source: BinaryIO,
    file_name: str,
    actor: str | None = None,
    note: str | None = None,
) -> DraftView:
    """Add the file read from ``source`` as plan ``key``'s next draft; return it.

    ``actor`` must hold a role the workflow lets add drafts (``[drafts] add``; the NAP's
    coordinator) in a state that takes them (``[drafts.states]``); without, it is the
    administrator's. The record names the version, digest, size, type and file name.
    """
    key = inputs.plan_key(key)
    name = inputs.file_name(file_name)
    note = inputs.comment(note)
    actor = inputs.email_address(actor) if actor is not None else None
    limit = rt.settings.draft_max_mb << 20
    with tempfile.TemporaryFile() as spool:  # unnamed: nothing is left if the process dies
        sha256, size = _spool(source, spool, limit, name)
        media = sniff(spool, name)
        now = rt.clock.now()
        with rt.db.write() as conn:
            plan: PlanRow = load_plan(conn, key)
            rules = rt.catalog.get(plan.workflow, plan.workflow_version).drafts
            role = None
            if actor is not None:
                role = authorised_role(
                    conn,
                    plan,
                    actor,
                    rules.add,
                    N_("Cannot add a draft on %(key)s as %(actor)s: %(reason)s."),
                )
            policy = rules.policy(plan.state)
            if policy is None:
                raise _refuse_state(plan, rules.taking)
            if sha256 == plan.draft_sha256:  # sent twice, say: no new version, no new round
                raise RefusedError(
                    _(
                        "%(file)s is the same as %(key)s's current draft v%(version)d "
                        "(SHA-256 %(sha256)s); nothing was stored."
                    )
                    % {
                        "file": name,
                        "key": key,
                        "version": plan.draft_version,
                        "sha256": sha256,
                    }
                )
            content_id = _store(conn, spool, sha256, size, media, now)
            version = plan.draft_version + 1
            after = append(
                conn,
                plan,
                audit_key=rt.secrets.audit_key,
                kind=Kind.DRAFT_ADDED,
                at=now,
                actor=actor,
                role=role,
                comment=note,
                payload={
                    "draft": version,
                    "sha256": sha256,
                    "size": size,
                    "media_type": media,
                    "file_name": name,
                    "round": "restarted" if policy == RESTART else "kept",
                },
                draft=(version, sha256),
                new_round=policy == RESTART,
            )
            conn.execute(
                insert(drafts).values(
                    plan_id=plan.id,
                    version=version,
                    content_id=content_id,
                    file_name=name,
                    media_type=media,
                    note=note,
                    added_by=actor,
                    added_at=now,
                    seq=after.seq,
                )
            )
            if policy == RESTART:
                # those who endorsed an earlier draft must endorse again: tell them now,
                # and remind them as the state's deadlines come
                record = {
                    "seq": after.seq,
                    "actor": actor,
                    "state": plan.state,
                    "note": note,
                    "draft": {"version": version, "sha256": sha256},
                }
                queue_draft_notices(
                    conn,
                    rt.catalog.engine(plan.workflow, plan.workflow_version),
                    plan,
                    after,
                    record,
                    now,
                )
                sync_reminders(
                    conn, rt.catalog.get(plan.workflow, plan.workflow_version), after, now
                )
    return DraftView(key, version, sha256, size, media, name, note, actor, now, after.seq)


_LISTED = (
    select(
        plans.c.key.label("plan"),
        drafts.c.version,
        draft_contents.c.sha256,
        draft_contents.c.size,
        drafts.c.media_type,
        drafts.c.file_name,
        drafts.c.note,
        drafts.c.added_by,
        drafts.c.added_at,
        drafts.c.seq,
    )
    .join(plans, plans.c.id == drafts.c.plan_id)
    .join(draft_contents, draft_contents.c.id == drafts.c.content_id)
)


def list_drafts(rt: Runtime, key: str, *, viewer: str | None = None) -> list[DraftView]:
    """Return plan ``key``'s drafts, oldest first (``viewer`` must see the plan)."""
    key = inputs.plan_key(key)
    with rt.db.read() as conn:
        plan = plan_for(conn, viewer, key)
        rows = conn.execute(_LISTED.where(drafts.c.plan_id == plan.id).order_by(drafts.c.version))
        return [DraftView(**row._mapping) for row in rows]


def find_draft(
    rt: Runtime, key: str, version: int | None = None, *, viewer: str | None = None
) -> DraftView:
    """Return draft ``version`` of plan ``key`` (the current one if None), or refuse."""
    key = inputs.plan_key(key)
    with rt.db.read() as conn:
        plan = plan_for(conn, viewer, key)
        wanted = plan.draft_version if version is None else version
        row = (
            conn.execute(
                _LISTED.where(drafts.c.plan_id == plan.id, drafts.c.version == wanted)
            ).first()
            if 0 < wanted < 2**31  # the column's range: any other number is no draft
            else None
        )
    if row is None:
        missing = (
            _("%(key)s has no draft v%(version)d; %(command)s shows its drafts.")
            if version is not None
            else _("%(key)s has no draft yet; %(command)s shows its drafts.")
        )
        raise NotFoundError(
            missing % {"key": key, "version": version, "command": f"`napflow draft list {key}`"},
            missing="draft",
            key=key,
        )
    return DraftView(**row._mapping)


def read_draft(
    rt: Runtime, key: str, version: int | None = None, *, viewer: str | None = None
) -> tuple[DraftView, Iterator[bytes]]:
    """Return a draft and an iterator over its bytes, a chunk at a time, checked as read.

    The iterator reads the chunks in a transaction of its own and raises RefusedError
    at the end if the bytes no longer hash to the sealed digest (they were changed).
    """
    found = find_draft(rt, key, version, viewer=viewer)
    return found, _chunks(rt, found)


def _chunks(rt: Runtime, found: DraftView) -> Iterator[bytes]:
    digest = hashlib.sha256()
    with rt.db.read() as conn:
        content_id = conn.execute(
            select(draft_contents.c.id).where(draft_contents.c.sha256 == found.sha256)
        ).scalar_one()
        # one query, its rows fetched a few at a time (a server-side cursor on PostgreSQL)
        rows = conn.execute(
            select(draft_chunks.c.data)
            .where(draft_chunks.c.content_id == content_id)
            .order_by(draft_chunks.c.n),
            execution_options={"yield_per": 4},
        )
        for (data,) in rows:
            chunk = data if isinstance(data, bytes) else bytes(data)
            digest.update(chunk)
            yield chunk
    if digest.hexdigest() != found.sha256:
        raise RefusedError(
            _(
                "Draft v%(version)d of %(key)s no longer matches its sealed digest "
                "%(sha256)s: its stored bytes were changed. %(command)s reports it."
            )
            % {
                "version": found.version,
                "key": found.plan,
                "sha256": found.sha256,
                "command": "`napflow audit verify`",
            }
        )


@dataclass(frozen=True)
class DraftDiff:
    """What changed between two drafts: word by word, or why that cannot be said."""

    old: DraftView
    new: DraftView
    #: None when a draft has no text to compare (``reason`` says why)
    comparison: Comparison | None
    reason: str | None = None
    #: True when ``reason`` is that a text has more words than were to be compared
    too_long: bool = False


def _text(rt: Runtime, found: DraftView) -> str:
    """Return a draft's text, its bytes spooled to an unnamed file for the reader."""
    with tempfile.NamedTemporaryFile(suffix=".draft") as spool:
        for chunk in _chunks(rt, found):
            spool.write(chunk)
        spool.flush()
        return extract_text(Path(spool.name), found.media_type)


def diff_drafts(
    rt: Runtime,
    key: str,
    old: int,
    new: int,
    *,
    viewer: str | None = None,
    max_words: int = MAX_WORDS,
) -> DraftDiff:
    """Compare draft ``old`` of plan ``key`` with draft ``new``, word by word.

    A draft whose format has no text (or a PDF of scanned pages), or a text of more than
    ``max_words`` words, is said, not an error.
    """
    before = find_draft(rt, key, old, viewer=viewer)
    after = find_draft(rt, key, new, viewer=viewer)
    texts = []
    for found in (before, after):
        try:
            texts.append(_text(rt, found))
        except NoText as exc:
            reason = _("v%(version)d (%(file)s) cannot be compared word by word: %(problem)s.") % {
                "version": found.version,
                "file": found.file_name,
                "problem": exc,
            }
            return DraftDiff(before, after, None, reason)
    try:
        return DraftDiff(before, after, compare_words(texts[0], texts[1], max_words))
    except TooLong as exc:
        reason = _("v%(old)d and v%(new)d cannot be compared word by word: %(problem)s.") % {
            "old": old,
            "new": new,
            "problem": exc,
        }
        return DraftDiff(before, after, None, reason, too_long=True)


def last_acted_version(rt: Runtime, key: str, *, viewer: str) -> int | None:
    """Return the draft version ``viewer``'s latest action on plan ``key`` was done on.

    That is the draft named by their most recent action or transition record (one done
    before the plan had a draft names none); None if they never acted on a draft. One query
    on the plan's history, newest first. ``viewer`` must see the plan, or it is answered as
    missing.
    """
    key = inputs.plan_key(key)
    viewer = inputs.email_address(viewer)
    with rt.db.read() as conn:
        plan = plan_for(conn, viewer, key)
        rows = conn.execute(
            select(history.c.payload)
            .where(
                history.c.plan_id == plan.id,
                history.c.actor == viewer,
                history.c.kind.in_((Kind.ACTION, Kind.TRANSITION)),
                history.c.payload.is_not(None),
            )
            .order_by(history.c.seq.desc())
        )
        for (payload,) in rows:
            bound = payload.get("draft") if isinstance(payload, dict) else None
            if isinstance(bound, dict) and isinstance(bound.get("version"), int):
                return int(bound["version"])
    return None
