"""The audit services: verify the ledger, take its head digest, export and check bundles.

An export bundle is one JSON file holding the records of the exported plans exactly as they
were sealed, what each plan's row said, the workflow files they follow (with their
SHA-256) and the head digest, so that ``napflow audit verify --bundle FILE`` can check it
on another machine with no database.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sqlite3
import zipfile
import zlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Select, Text, func, select, type_coerce

from napflow import inputs
from napflow.errors import (
    ConfigError,
    ConflictError,
    InputError,
    NotAllowedError,
    NotFoundError,
    RefusedError,
)
from napflow.i18n import _, ngettext
from napflow.ledger import chain
from napflow.ledger.record import NUMBERS, OPTIONAL, UNVERSIONED_KINDS, Record, SiteKind
from napflow.ledger.verification import (
    CHANGED,
    EDITED,
    MISSING,
    SITE_LEDGER,
    KeyNeeded,
    PlanState,
    Problem,
    Verified,
    diagnose,
    diagnose_since,
    diagnose_site,
    diagnose_site_since,
    scan_sqlite,
)
from napflow.runtime import Runtime
from napflow.services import _verifications, signing
from napflow.services._bundle_drafts import check_drafts, draft_entries, read_zip_bundle, write_zip
from napflow.services._bundle_signature import check_plan_rows, check_signature, sign_bundle
from napflow.services._files import write_whole
from napflow.services._records import load_plan, missing_plan
from napflow.services._replay import Judgement, judge_plans, start_judging
from napflow.services._site_ledger import site_record
from napflow.services._verifications import SITE_CHAIN
from napflow.services._visibility import ADMIN, AUDITOR, Viewer, load_viewer
from napflow.storage.schema import (
    draft_chunks,
    draft_contents,
    drafts,
    history,
    plans,
    site_history,
    workflow_versions,
)

BUNDLE_FORMAT = "napflow-audit-bundle/1"
_KEY_NEEDED = (
    "The ledger is sealed with an audit key (HMAC); set NAPFLOW_AUDIT_KEY to the key to verify it."
)


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of a verification: counts, the head digest, and every problem found."""

    plans: int
    records: int
    head: str
    problems: list[Problem]
    #: records of the site ledger checked (changes to people and site grants)
    site_records: int = 0
    #: what was checked besides, or left unchecked, in a sentence each (not problems)
    notes: tuple[str, ...] = ()
    #: records made under a workflow version napflow does not have: their authority unjudged
    not_judged: int = 0
    #: True when every plan was also replayed through its workflow (the authority check)
    replayed: bool = False
    #: True when only what was added since each chain's verified head was checked (then
    #: ``records`` and ``site_records`` count the records added since)
    incremental: bool = False

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def summary(self) -> str:
        """Say in one line what was checked and how it came out (in the reader's language).

        English keeps the form scripts have read since the first release ("1 plans").
        """
        if self.incremental:
            return self._incremental_summary()
        values: dict[str, object] = {
            "plans": ngettext("%(n)d plans", "%(n)d plans", self.plans) % {"n": self.plans},
            "records": ngettext("%(n)d records", "%(n)d records", self.records)
            % {"n": self.records},
            "head": self.head,
        }
        if self.site_records:
            values["site"] = ngettext(
                "%(n)d site records", "%(n)d site records", self.site_records
            ) % {"n": self.site_records}
            counts = _("%(plans)s, %(records)s and %(site)s") % values
        else:
            counts = _("%(plans)s, %(records)s") % values
        values["counts"] = counts
        if self.ok:
            if self.replayed and self.not_judged:
                values["n"] = self.not_judged
                return (
                    _(
                        "OK: %(counts)s, every chain intact, every judged action allowed "
                        "(%(n)d records under workflow versions napflow does not have not "
                        "judged); head %(head)s"
                    )
                    % values
                )
            if self.replayed:
                return _(
                    "OK: %(counts)s, every chain intact, every action allowed; head %(head)s"
                ) % (values)
            return _("OK: %(counts)s, every chain intact; head %(head)s") % values
        values["n"] = len(self.problems)
        values["broken"] = len({p.plan for p in self.problems})
        return (
            ngettext(
                "FAILED: %(n)d problem in %(broken)d of %(counts)s; head %(head)s",
                "FAILED: %(n)d problems in %(broken)d of %(counts)s; head %(head)s",
                len(self.problems),
            )
            % values
        )

    def _incremental_summary(self) -> str:
        added = self.records + self.site_records
        values: dict[str, object] = {
            "plans": ngettext("%(n)d plans", "%(n)d plans", self.plans) % {"n": self.plans},
            "records": ngettext("%(n)d new record", "%(n)d new records", added) % {"n": added},
            "head": self.head,
            "n": self.not_judged,
        }
        if self.ok and self.not_judged:
            return (
                _(
                    "OK: %(plans)s, %(records)s checked since the last verification, each "
                    "chain linked to the head verified then, every judged action allowed "
                    "(%(n)d records under workflow versions napflow does not have not "
                    "judged); head %(head)s"
                )
                % values
            )
        if self.ok:
            return (
                _(
                    "OK: %(plans)s, %(records)s checked since the last verification, each "
                    "chain linked to the head verified then, every action allowed; head "
                    "%(head)s"
                )
                % values
            )
        values["n"] = len(self.problems)
        values["broken"] = len({p.plan for p in self.problems})
        return (
            ngettext(
                "FAILED: %(n)d problem in %(broken)d of %(plans)s, %(records)s checked since "
                "the last verification; head %(head)s",
                "FAILED: %(n)d problems in %(broken)d of %(plans)s, %(records)s checked "
                "since the last verification; head %(head)s",
                len(self.problems),
            )
            % values
        )


@dataclass(frozen=True)
class HeadView:
    """One digest over every plan's chain head."""

    plans: int
    head: str
    #: over the plans one auditor audits, not every plan
    scoped: bool = False


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    path: str
    plans: int
    records: int
    head: str


_RECORD_COLUMNS = tuple(
    # the payload as the text that was sealed, not parsed
    type_coerce(history.c[name], Text).label(name) if name == "payload" else history.c[name]
    for name in Record._fields
)


_AT = Record._fields.index("at")
# how the scan and the diagnosis must see a record: as stored. On SQLite the time is stored
# as the canonical text itself; reading it parsed would hide a rewritten format.
_RAW_AT = (*_RECORD_COLUMNS[:_AT], type_coerce(history.c.at, Text).label("at"))
_RAW_COLUMNS = (*_RAW_AT, *_RECORD_COLUMNS[_AT + 1 :])


def _records(conn: Connection, plan_id: int, since: int = 0) -> list[Record]:
    """Return the plan's records as stored, in seq order (those from seq ``since`` on)."""
    raw = conn.dialect.name == "sqlite"
    query = select(*(_RAW_COLUMNS if raw else _RECORD_COLUMNS)).where(history.c.plan_id == plan_id)
    if since > 0:
        query = query.where(history.c.seq >= since)
    rows = conn.execute(query.order_by(history.c.seq))
    records = []
    for row in rows:
        values = list(row)
        if not raw:
            values[_AT] = chain.at_text(values[_AT])
        records.append(Record(*values))
    return records


def _diagnose(
    state: PlanState, records: list[Record], key: bytes | None, allow_unkeyed: bool
) -> list[Problem]:
    """Diagnose one plan; values of the wrong type (a text seq, say) are edits too."""
    try:
        return diagnose(state, records, key, allow_unkeyed)
    except (TypeError, ValueError, AttributeError) as exc:
        return _never_written(state, exc)


def _never_written(state: PlanState, exc: Exception) -> list[Problem]:
    """Return the problem of a plan whose history holds a value napflow never writes.

    ``exc`` is what checking the value raised (a text seq, say).
    """
    return [
        Problem(
            state.key,
            None,
            EDITED,
            f"its history holds values napflow never writes ({type(exc).__name__}: {exc})",
        )
    ]


def _orphan_problems(orphans: Mapping[int, int]) -> list[Problem]:
    return [
        Problem(
            f"plan id {plan_id}",
            None,
            MISSING,
            f"{count} history records belong to a plan that was removed from the plans table",
        )
        for plan_id, count in sorted(orphans.items())
    ]


def _plan_state(row: Any) -> PlanState:
    return PlanState(row.key, row.state, row.version, row.seq, row.head_hash)


_HEAD = re.compile(r"sha256:[0-9a-f]{64}")


def _head_arg(head: str | None) -> str | None:
    """Check a --head argument: a digest as `napflow audit head` prints it."""
    if head is None:
        return None
    if not _HEAD.fullmatch(head.strip()):
        raise InputError(
            "--head takes a digest as `napflow audit head` prints it (sha256: and 64 hex "
            f"digits), not {head.strip()[:80]!r}."
        )
    return head.strip()


def _check_head(report: VerifyReport, expected: str | None, what: str) -> VerifyReport:
    if expected is None or expected.strip() == report.head:
        return report
    problem = Problem(
        what,
        None,
        CHANGED,
        f"the head digest is {report.head}, not {expected.strip()}: the ledger changed since "
        "that digest was taken",
    )
    return dataclasses.replace(report, problems=[*report.problems, problem])


def _refuse_wrong_key(key: bytes | None, keyed_ok: int, keyed_total: int) -> None:
    if key and keyed_total and not keyed_ok:
        raise RefusedError(
            f"No record verifies with this NAPFLOW_AUDIT_KEY (0 of {keyed_total} sealed with "
            "a key): it is not the key the ledger was sealed with, or every record was "
            "replaced."
        )


def _keyed_counts(records: Iterable[Record], key: bytes | None) -> tuple[int, int]:
    keyed = [r for r in records if chain.algorithm(str(r.hash)) == chain.HMAC]
    ok = sum(1 for r in keyed if key and _seal_ok(r, key))
    return ok, len(keyed)


def _seal_ok(record: Record, key: bytes) -> bool:
    try:
        return chain.reseal(record, key) == record.hash
    except (TypeError, ValueError, AttributeError):
        return False


def verify_ledger(
    rt: Runtime,
    plan_key: str | None = None,
    head: str | None = None,
    workers: int | None = None,
    allow_unkeyed: bool = False,
) -> VerifyReport:
    """Check every plan's chain (or plan ``plan_key``'s) and that its row agrees with it.

    With ``head``, also check that the head digest is still that one. ``workers`` processes
    share a large SQLite ledger (default: one per CPU from 200,000 records on). With
    NAPFLOW_AUDIT_KEY set every record must be sealed with it, unless ``allow_unkeyed``.
    """
    _workers_arg(workers)
    head = _head_arg(head)
    wanted = inputs.plan_key(plan_key) if plan_key is not None else None
    rt.db.require_current_schema()
    return _check_head(_verify_all(rt, wanted, workers, allow_unkeyed), head, "ledger")


def _workers_arg(workers: int | None) -> None:
    if workers is not None and not 1 <= workers <= 64:
        raise InputError(f"--workers must be a whole number from 1 to 64, not {workers}.")


def _verify_all(
    rt: Runtime,
    wanted: str | None,
    workers: int | None,
    allow_unkeyed: bool,
    ends: dict[str, Verified] | None = None,
) -> VerifyReport:
    """Verify every plan (or plan ``wanted``) whole; see :func:`verify_ledger`.

    ``ends`` gets where each chain read ends (the site ledger's under SITE_CHAIN).
    """
    key = rt.secrets.audit_key
    try:
        judging = start_judging(rt, wanted, workers)  # beside the scan on a large ledger
        if rt.db.sqlite_path is not None:
            report = _verify_sqlite(
                rt, rt.db.sqlite_path, key, wanted, workers, allow_unkeyed, ends
            )
        else:
            report = _verify_generic(rt, key, wanted, allow_unkeyed, ends)
        if wanted is None:
            report = _with_site_ledger(rt, report, key, allow_unkeyed, ends)
            report = _with_workflow_versions(rt, report)
        report = _with_drafts(rt, report, wanted)
        return _with_authority(report, judging())
    except KeyNeeded:
        raise InputError(_KEY_NEEDED) from None


def _with_authority(report: VerifyReport, judged: Judgement) -> VerifyReport:
    """Add the records the ledger did not allow (the replay, napflow.ledger.authority).

    A plan whose chain is already broken is not replayed: its records prove nothing, and
    judging them would only repeat the break as many unauthorized records.
    """
    broken = {p.plan for p in report.problems}
    found = [p for p in judged.problems if p.plan not in broken]
    return dataclasses.replace(
        report, problems=[*report.problems, *found], not_judged=judged.not_judged, replayed=True
    )


def _site_records(conn: Connection, since: int = 0) -> list[Record]:
    """Return the site ledger's records as stored, in seq order (from seq ``since`` on)."""
    raw = conn.dialect.name == "sqlite"
    at = type_coerce(site_history.c.at, Text).label("at") if raw else site_history.c.at
    payload = type_coerce(site_history.c.payload, Text).label("payload")
    columns = [c for c in site_history.c if c.name not in ("id", "at", "payload")]
    query = select(*columns, at, payload)
    if since > 0:
        query = query.where(site_history.c.seq >= since)
    rows = conn.execute(query.order_by(site_history.c.seq))
    records = []
    for row in rows:
        values = dict(row._mapping)
        if not raw:
            values["at"] = chain.at_text(values["at"])
        sealed = site_record(values)
        records.append(Record(**sealed, hash=values["hash"]))
    return records


def _with_site_ledger(
    rt: Runtime,
    report: VerifyReport,
    key: bytes | None,
    allow_unkeyed: bool,
    ends: dict[str, Verified] | None = None,
) -> VerifyReport:
    """Add the site ledger's check (changes to people and site grants) to ``report``."""
    with rt.db.read() as conn:
        records = _site_records(conn)
    problems = diagnose_site(records, key, allow_unkeyed)
    if ends is not None and records:
        ends[SITE_CHAIN] = Verified(records[-1].seq, records[-1].hash, 0)
    return dataclasses.replace(
        report, problems=[*report.problems, *problems], site_records=len(records)
    )


def _stored_digest(conn: Connection, content_id: int) -> str:
    """Return the SHA-256 of stored bytes, read a chunk at a time."""
    digest, n = hashlib.sha256(), 0
    while True:
        data = conn.execute(
            select(draft_chunks.c.data).where(
                draft_chunks.c.content_id == content_id, draft_chunks.c.n == n
            )
        ).scalar()
        if data is None:
            return digest.hexdigest()
        digest.update(bytes(data))
        n += 1


def _with_workflow_versions(rt: Runtime, report: VerifyReport) -> VerifyReport:
    """Add what is wrong with the stored workflow versions to ``report``.

    Each stored text must still hash to its digest, and the site record that stored it
    must have sealed that workflow, version and digest. (Few and small: all are checked,
    by an incremental verification too.)
    """
    query = select(
        workflow_versions.c.name,
        workflow_versions.c.version,
        workflow_versions.c.digest,
        workflow_versions.c.source,
        workflow_versions.c.seq,
        site_history.c.kind,
        type_coerce(site_history.c.payload, Text).label("payload"),
    ).outerjoin(site_history, site_history.c.seq == workflow_versions.c.seq)
    problems: list[Problem] = []
    with rt.db.read() as conn:
        rows = conn.execute(query.order_by(workflow_versions.c.id)).all()
    for row in rows:
        what = f"workflow {row.name} v{row.version}"
        if hashlib.sha256(row.source.encode("utf-8")).hexdigest() != row.digest:
            detail = f"the stored text of {what} no longer matches its digest {row.digest}"
            problems.append(Problem(SITE_LEDGER, row.seq, EDITED, detail))
        try:
            sealed = json.loads(row.payload) if row.payload else None
        except json.JSONDecodeError:
            sealed = None
        expected = {"workflow": row.name, "version": row.version, "digest": row.digest}
        if row.kind != SiteKind.WORKFLOW_STORED or sealed != expected:
            detail = (
                f"{what} is stored as {row.digest}, but the site record it names (seq "
                f"{row.seq}) did not seal that: the stored version was swapped"
            )
            problems.append(Problem(SITE_LEDGER, row.seq, CHANGED, detail))
    if not problems:
        return report
    return dataclasses.replace(report, problems=[*report.problems, *problems])


def _with_drafts(
    rt: Runtime,
    report: VerifyReport,
    wanted: str | None,
    after: Mapping[str, int] | None = None,
) -> VerifyReport:
    """Add what is wrong with the stored drafts to ``report``.

    Bytes that no longer match the digest their record sealed, a draft whose record
    sealed other bytes than it points to, or a plan whose current draft is not the one
    its newest sealed draft_added record added. With ``after`` (plan key -> seq), only
    those plans, and only the bytes of drafts their records after that seq added are
    hashed again (an incremental verification's).
    """
    keys: str | Collection[str] | None = wanted if after is None else sorted(after)
    if after is not None and not after:
        return report
    query = (
        select(
            plans.c.key,
            drafts.c.version,
            drafts.c.seq,
            draft_contents.c.id,
            draft_contents.c.sha256,
            type_coerce(history.c.payload, Text).label("payload"),
        )
        .join(plans, plans.c.id == drafts.c.plan_id)
        .join(draft_contents, draft_contents.c.id == drafts.c.content_id)
        .outerjoin(
            history, (history.c.plan_id == drafts.c.plan_id) & (history.c.seq == drafts.c.seq)
        )
        .order_by(plans.c.key, drafts.c.version)
    )
    query = _only(query, keys)
    problems: list[Problem] = []
    hashed: dict[int, str] = {}
    with rt.db.read() as conn:
        for row in conn.execute(query):
            try:
                payload = json.loads(row.payload) if row.payload else None
            except json.JSONDecodeError:
                payload = None
            sealed = payload.get("sha256") if isinstance(payload, dict) else None
            if sealed != row.sha256:
                problems.append(
                    Problem(
                        row.key,
                        row.seq,
                        CHANGED,
                        f"draft v{row.version} is stored as {row.sha256}, but its record "
                        f"sealed {sealed}: the draft was swapped",
                    )
                )
            if after is not None and row.seq is not None and row.seq <= after[row.key]:
                continue  # its bytes were verified with the chain up to there
            if row.id not in hashed:
                hashed[row.id] = _stored_digest(conn, row.id)
            if hashed[row.id] != row.sha256:
                problems.append(
                    Problem(
                        row.key,
                        row.seq,
                        EDITED,
                        f"the stored bytes of draft v{row.version} no longer match its sealed "
                        f"digest {row.sha256}",
                    )
                )
        problems += _current_draft_problems(conn, keys)
        problems += _unstored_draft_problems(conn, keys)
    if not problems:
        return report
    return dataclasses.replace(report, problems=[*report.problems, *problems])


def _only(query: Select[Any], keys: str | Collection[str] | None) -> Select[Any]:
    """Keep the rows of plan ``keys`` (one key, several, or None: every plan)."""
    if keys is None:
        return query
    if isinstance(keys, str):
        return query.where(plans.c.key == keys)
    return query.where(plans.c.key.in_(sorted(keys)))


def _payload_draft(payload: str | None) -> tuple[Any, Any]:
    """Return the (version, SHA-256) a draft_added record's payload names."""
    try:
        found = json.loads(payload) if payload else None
    except json.JSONDecodeError:
        found = None
    if not isinstance(found, dict):
        return None, None
    return found.get("draft"), found.get("sha256")


def _current_draft_problems(
    conn: Connection, wanted: str | Collection[str] | None
) -> list[Problem]:
    """Return a problem for each plan whose current draft is not its newest sealed one.

    ``plans.draft_version`` and ``plans.draft_sha256`` must name what the plan's newest
    sealed ``draft_added`` record added (0 and '' if none did): the ledger, not the drafts
    table (which is not sealed), is what they are held to. One query for every plan.
    """
    newest = select(history.c.plan_id, func.max(history.c.seq).label("seq")).where(
        history.c.kind == "draft_added"
    )
    if wanted is not None:
        newest = newest.where(history.c.plan_id.in_(_only(select(plans.c.id), wanted)))
    latest = newest.group_by(history.c.plan_id).subquery()
    sealed = history.alias("sealed")
    query = (
        select(
            plans.c.key,
            plans.c.draft_version,
            plans.c.draft_sha256,
            latest.c.seq,
            type_coerce(sealed.c.payload, Text).label("payload"),
        )
        .select_from(plans)
        .outerjoin(latest, latest.c.plan_id == plans.c.id)
        .outerjoin(sealed, (sealed.c.plan_id == latest.c.plan_id) & (sealed.c.seq == latest.c.seq))
        .order_by(plans.c.key)
    )
    query = _only(query, wanted)
    problems: list[Problem] = []
    for row in conn.execute(query):
        current = (row.draft_version, row.draft_sha256)
        if row.seq is None:
            expected: tuple[Any, Any] = (0, "")
            why = "no sealed record added a draft: a plan without drafts has draft_version 0 and "
            why += "draft_sha256 ''"
        else:
            expected = _payload_draft(row.payload)
            why = (
                f"its newest sealed draft_added record (seq {row.seq}) added v{expected[0]} "
                f"({expected[1]!r}): the plan was pointed at another draft"
            )
        if current != expected:
            problems.append(
                Problem(
                    row.key,
                    None,
                    CHANGED,
                    f"its row names draft v{row.draft_version} ({row.draft_sha256!r}) as "
                    f"current, but {why}",
                )
            )
    return problems


def _unstored_draft_problems(
    conn: Connection, wanted: str | Collection[str] | None
) -> list[Problem]:
    """Return a problem for each sealed ``draft_added`` record whose draft is not stored.

    A draft row removed behind napflow's back (its bytes with it, or not) leaves its sealed
    record pointing at nothing. One query for every plan.
    """
    query = (
        select(plans.c.key, history.c.seq, type_coerce(history.c.payload, Text).label("payload"))
        .join(plans, plans.c.id == history.c.plan_id)
        .outerjoin(
            drafts, (drafts.c.plan_id == history.c.plan_id) & (drafts.c.seq == history.c.seq)
        )
        .where(history.c.kind == "draft_added", drafts.c.id.is_(None))
        .order_by(plans.c.key, history.c.seq)
    )
    query = _only(query, wanted)
    problems = []
    for row in conn.execute(query):
        version, sha256 = _payload_draft(row.payload)
        problems.append(
            Problem(
                row.key,
                row.seq,
                MISSING,
                f"draft v{version} ({sha256}), added by this sealed record, is not stored: "
                "its draft was removed",
            )
        )
    return problems


def verify_visible(rt: Runtime, viewer: str | None) -> VerifyReport:
    """Verify the chains of the plans ``viewer`` audits (admins and auditors only).

    Someone who audits every country (and the operator) gets :func:`verify_ledger`, site
    ledger included; an auditor of some countries the chains of those countries' plans,
    and their drafts.
    """
    countries = _audited(_auditor(rt, viewer))
    rt.db.require_current_schema()
    if countries is None:
        return _verify_all(rt, None, None, False)
    return _verify_countries(rt, countries)


def _audited(who: Viewer) -> frozenset[str] | None:
    """Return the countries ``who`` audits; None if every country (and the site ledger)."""
    if who.sees_every_plan and who.covers("", ADMIN, AUDITOR):
        return None
    return frozenset(where for grant, where in who.grants if grant in (ADMIN, AUDITOR))


def _verify_countries(
    rt: Runtime, countries: Collection[str], ends: dict[str, Verified] | None = None
) -> VerifyReport:
    """Verify the plans of ``countries`` whole: chains, drafts, and each one replayed."""
    key = rt.secrets.audit_key
    with rt.db.read() as conn:
        rows = [r for r in _plan_rows(conn, None) if r.country in countries]
        chains = [(_plan_state(row), _records(conn, row.id)) for row in rows]
    try:
        report = _check_chains(chains, key, False, ends)
    except KeyNeeded:
        raise InputError(_KEY_NEEDED) from None
    report = _with_drafts(rt, report, None, {row.key: 0 for row in rows})
    # and each of those plans replayed through its workflow (the site ledger is read for
    # who was who, not shown)
    return _with_authority(report, judge_plans(rt, [row.key for row in rows]))


@dataclass(frozen=True)
class Verification:
    """A verification that was run: when, by whom, what it covered, and what it found."""

    report: VerifyReport
    #: when it began (UTC)
    ran_at: datetime
    #: the person who ran it (the web app, the API); None: the operator (the CLI)
    ran_by: str | None
    #: the countries whose plans it covered; None: every plan, and the site ledger
    countries: tuple[str, ...] | None
    #: its number among the stored verifications; None if it could not be stored
    id: int | None = None
    #: why it could not be stored (the database refused the write), if so
    not_stored: str | None = None

    @property
    def incremental(self) -> bool:
        """True when it checked only what was added since each chain's verified head."""
        return self.report.incremental

    @property
    def ok(self) -> bool:
        """True when it found no problem."""
        return self.report.ok


def verify_and_record(
    rt: Runtime,
    viewer: str | None = None,
    *,
    incremental: bool = False,
    head: str | None = None,
    workers: int | None = None,
    allow_unkeyed: bool = False,
) -> Verification:
    """Verify what ``viewer`` audits, store the result, and return it.

    ``viewer`` None is the operator (every plan and the site ledger, as :func:`verify_ledger`);
    else an administrator or an auditor (refused otherwise), over the plans they audit as
    :func:`verify_visible`. ``incremental`` checks only the records added since each
    chain's verified head (docs/audit.md says what that proves); else everything is hashed
    again. With ``head``, the returned report also holds the ledger to that digest (the
    stored result does not: it is the ledger's own verification). A database that refuses
    the write (a read-only replica) still gets its verification: ``not_stored`` says why.
    """
    _workers_arg(workers)
    head = _head_arg(head)
    who = _auditor(rt, viewer) if viewer is not None else None
    countries = _audited(who) if who is not None else None
    rt.db.require_current_schema()
    done = _run(rt, viewer, countries, incremental, workers, allow_unkeyed)
    return dataclasses.replace(done, report=_check_head(done.report, head, "ledger"))


def verify_new_records(rt: Runtime, viewer: str) -> Verification:
    """Return the last verification of what ``viewer`` audits, after checking what is new.

    If records were added to the ledger since that verification, an incremental one runs
    first (the first ever is a full one); otherwise nothing is hashed. Administrators and
    auditors only.
    """
    countries = _audited(_auditor(rt, viewer))
    rt.db.require_current_schema()
    with rt.db.read() as conn:
        last = _verifications.last_run(conn, _verifications.scope_text(countries))
        history_id, site_id = _verifications.newest_ids(conn)
    if last is not None and history_id <= last.history_id and site_id <= last.site_id:
        return _stored(last)
    return _run(rt, viewer, countries, last is not None, None, False)


def last_verification(rt: Runtime, viewer: str | None = None) -> Verification:
    """Return the newest stored verification of what ``viewer`` audits (None: every plan).

    Refused (not found) when none was stored yet; administrators and auditors only.
    """
    countries = _audited(_auditor(rt, viewer)) if viewer is not None else None
    rt.db.require_current_schema()
    with rt.db.read() as conn:
        last = _verifications.last_run(conn, _verifications.scope_text(countries))
    if last is None:
        raise NotFoundError(
            _(
                "No verification has been stored yet; run one (`napflow audit verify`, "
                "or POST /api/v1/audit/verification)."
            ),
            missing="verification",
        )
    return _stored(last)


def _stored(run: _verifications.Run) -> Verification:
    report = VerifyReport(
        run.plans,
        run.records,
        run.head,
        run.problems,
        site_records=run.site_records,
        not_judged=run.not_judged,
        replayed=True,
        incremental=run.incremental,
    )
    countries = None if run.scope == _verifications.EVERY_PLAN else tuple(run.scope.split(","))
    return Verification(report, run.ran_at, run.ran_by, countries, run.id)


def _run(
    rt: Runtime,
    viewer: str | None,
    countries: frozenset[str] | None,
    incremental: bool,
    workers: int | None,
    allow_unkeyed: bool,
) -> Verification:
    """Run one verification of ``countries``' plans (None: every plan) and store it."""
    ran_at = rt.clock.now()
    with rt.db.read() as conn:  # where each chain was verified up to, before it begins
        keys = [
            r.key
            for r in conn.execute(select(plans.c.key, plans.c.country))
            if countries is None or r.country in countries
        ]
        chains = [*keys, SITE_CHAIN] if countries is None else keys
        seen = _verifications.verified_heads_of(conn, None if countries is None else chains)
        history_id, site_id = _verifications.newest_ids(conn)
    ends: dict[str, Verified] = {}
    if incremental:
        report = _verify_increment(rt, countries, seen, allow_unkeyed, ends)
    elif countries is None:
        report = _verify_all(rt, None, workers, allow_unkeyed, ends)
    else:
        report = _verify_countries(rt, countries, ends)
    scope = _verifications.scope_text(countries)
    run = _verifications.Run(
        None,
        ran_at,
        viewer,
        incremental,
        scope,
        report.ok,
        report.plans,
        report.records,
        report.site_records,
        report.not_judged,
        report.head,
        history_id,
        site_id,
        report.problems,
    )
    # a run that found a problem moves no chain on; a full one moves the chains it found
    # broken back to nothing, so that incremental runs check them whole until one is intact
    reached = ends if report.ok else {}
    broken = set() if report.ok or incremental else {p.plan for p in report.problems}
    found = Verification(
        report, ran_at, viewer, None if countries is None else tuple(sorted(countries))
    )
    try:
        with rt.db.write() as conn:
            stored = _verifications.store(conn, run, seen, reached, broken & set(chains))
    except (ConfigError, ConflictError) as exc:  # a read-only database, a busy one
        return dataclasses.replace(found, not_stored=exc.message)
    return dataclasses.replace(found, id=stored)


def _verify_increment(
    rt: Runtime,
    countries: frozenset[str] | None,
    seen: Mapping[str, _verifications.Head],
    allow_unkeyed: bool,
    ends: dict[str, Verified],
) -> VerifyReport:
    """Check what was added to each chain since its verified head in ``seen``.

    Each plan's record at its verified head is hashed again and must still carry the
    digest verified then; the records after it must chain on from that digest; its row
    must agree with where the chain now ends. Plans that grew (or were never verified) are
    replayed through their workflow, and the drafts their new records added hashed again.
    A plan verified before that is gone from the plans table is named. ``ends`` gets
    where each chain now ends.
    """
    key = rt.secrets.audit_key
    problems: list[Problem] = []
    heads: dict[str, str] = {}
    grown: dict[str, int] = {}  # plan key -> the seq after which its records are new
    added = site_added = keyed_ok = keyed_total = 0
    site_after: int | None = None
    try:
        with rt.db.read() as conn:
            rows = [
                r for r in _plan_rows(conn, None) if countries is None or r.country in countries
            ]
            for row in rows:
                point = seen.get(row.key)
                verified = point.verified if point is not None and point.verified.seq else None
                after = verified.seq if verified is not None else 0
                records = _records(conn, row.id, after)
                problems += _diagnose_since(_plan_state(row), verified, records, key, allow_unkeyed)
                new = [r for r in records if r.seq > after]
                heads[row.key] = records[-1].hash if records else ""
                if new or verified is None:  # a head to move (else it stays where it is)
                    grown[row.key] = after
                    if records:
                        base = verified.actions if verified is not None else 0
                        actions = base + sum(1 for r in new if r.kind not in UNVERSIONED_KINDS)
                        ends[row.key] = Verified(records[-1].seq, records[-1].hash, actions)
                added += len(new)
                ok, total = _keyed_counts(records, key)
                keyed_ok, keyed_total = keyed_ok + ok, keyed_total + total
            if countries is None:
                problems += _gone(seen, {row.key for row in rows})
                point = seen.get(SITE_CHAIN)
                verified = point.verified if point is not None and point.verified.seq else None
                site_after = verified.seq if verified is not None else 0
                records = _site_records(conn, site_after)
                problems += diagnose_site_since(verified, records, key, allow_unkeyed)
                site_added = sum(1 for r in records if r.seq > site_after)
                if records and (site_added or verified is None):
                    ends[SITE_CHAIN] = Verified(records[-1].seq, records[-1].hash, 0)
                ok, total = _keyed_counts(records, key)
                keyed_ok, keyed_total = keyed_ok + ok, keyed_total + total
    except KeyNeeded:
        raise InputError(_KEY_NEEDED) from None
    _refuse_wrong_key(key, keyed_ok, keyed_total)
    report = VerifyReport(
        len(rows),
        added,
        chain.head_digest(heads),
        problems,
        site_records=site_added,
        incremental=True,
    )
    report = _with_workflow_versions(rt, _with_drafts(rt, report, None, grown))
    return _with_authority(report, judge_plans(rt, grown, site_after))


def _diagnose_since(
    state: PlanState,
    verified: Verified | None,
    records: list[Record],
    key: bytes | None,
    allow_unkeyed: bool,
) -> list[Problem]:
    """As :func:`_diagnose`, for what was added since ``verified``."""
    try:
        return diagnose_since(state, verified, records, key, allow_unkeyed)
    except (TypeError, ValueError, AttributeError) as exc:
        return _never_written(state, exc)


def _gone(seen: Mapping[str, _verifications.Head], keys: Collection[str]) -> list[Problem]:
    """Name each plan verified before that is no longer in the plans table."""
    return [
        Problem(
            chain_key,
            None,
            MISSING,
            f"the plan is gone: it was verified up to seq {point.verified.seq} "
            f"({point.verified.hash or 'none'}); it was deleted from the database",
        )
        for chain_key, point in sorted(seen.items())
        if chain_key != SITE_CHAIN and chain_key not in keys
    ]


def _auditor(rt: Runtime, viewer: str | None) -> Viewer:
    """Return ``viewer`` if they may audit (admin or auditor), else refuse."""
    with rt.db.read() as conn:
        who = load_viewer(conn, viewer)
    if who.is_admin or any(grant == AUDITOR for grant, _where in who.grants):
        return who
    reason = _("the audit is for administrators and auditors, and they are neither")
    raise NotAllowedError(
        _("%(viewer)s cannot see the audit: %(reason)s.") % {"viewer": viewer, "reason": reason},
        actor=viewer,
        reasons=[reason],
    )


def _verify_sqlite(
    rt: Runtime,
    path: Path,
    key: bytes | None,
    wanted: str | None,
    workers: int | None,
    allow_unkeyed: bool,
    ends: dict[str, Verified] | None = None,
) -> VerifyReport:
    with rt.db.read() as conn:  # refuses a missing database or plan with the usual errors
        if wanted is not None:
            load_plan(conn, wanted)
    try:
        scan = scan_sqlite(path, key, wanted, workers, allow_unkeyed)
    except sqlite3.Error as exc:
        raise InputError(
            f"Cannot read the ledger in {path} ({exc}); if napflow was upgraded, run "
            "`napflow init` first."
        ) from None
    _refuse_wrong_key(key, scan.keyed_ok, scan.keyed)
    if ends is not None:
        for plan_key, (count, actions) in scan.ends.items():
            ends[plan_key] = Verified(count, scan.heads[plan_key], actions)
    problems: list[Problem] = []
    if scan.suspects:
        with rt.db.read() as conn:
            for plan_key in scan.suspects:
                row = load_plan(conn, plan_key)
                problems += _diagnose(_plan_state(row), _records(conn, row.id), key, allow_unkeyed)
    problems += _orphan_problems(scan.orphans)
    return VerifyReport(len(scan.heads), scan.records, chain.head_digest(scan.heads), problems)


def _plan_rows(conn: Connection, wanted: str | None) -> list[Any]:
    """Return plan ``wanted``'s row, or every plan's, by key."""
    if wanted is not None:
        return [load_plan(conn, wanted)]
    return list(conn.execute(select(plans).order_by(plans.c.key)).all())


def _check_chains(
    chains: Iterable[tuple[PlanState, list[Record]]],
    key: bytes | None,
    allow_unkeyed: bool,
    ends: dict[str, Verified] | None = None,
) -> VerifyReport:
    """Diagnose each plan's chain record by record (other engines, and bundles).

    ``ends`` gets where each chain ends: its last record, and the actions up to it.
    """
    problems: list[Problem] = []
    heads: dict[str, str] = {}
    count = keyed_ok = keyed_total = 0
    for state, records in chains:
        problems += _diagnose(state, records, key, allow_unkeyed)
        heads[state.key] = records[-1].hash if records else ""
        if ends is not None and records:
            actions = sum(1 for r in records if r.kind not in UNVERSIONED_KINDS)
            ends[state.key] = Verified(records[-1].seq, records[-1].hash, actions)
        count += len(records)
        ok, total = _keyed_counts(records, key)
        keyed_ok, keyed_total = keyed_ok + ok, keyed_total + total
    _refuse_wrong_key(key, keyed_ok, keyed_total)
    return VerifyReport(len(heads), count, chain.head_digest(heads), problems)


def _verify_generic(
    rt: Runtime,
    key: bytes | None,
    wanted: str | None,
    allow_unkeyed: bool,
    ends: dict[str, Verified] | None = None,
) -> VerifyReport:
    with rt.db.read() as conn:
        chains = ((_plan_state(row), _records(conn, row.id)) for row in _plan_rows(conn, wanted))
        report = _check_chains(chains, key, allow_unkeyed, ends)
        if wanted is None:
            orphans = conn.execute(
                select(history.c.plan_id, func.count())
                .where(history.c.plan_id.not_in(select(plans.c.id)))
                .group_by(history.c.plan_id)
            ).all()
            report.problems.extend(_orphan_problems({plan_id: n for plan_id, n in orphans}))
    return report


def ledger_head(rt: Runtime, *, viewer: str | None = None) -> HeadView:
    """Return the digest over every plan's chain head, as the plans table records them.

    ``napflow audit verify --head DIGEST`` recomputes it from the chains themselves. With
    ``viewer`` (an administrator or auditor), over the plans they audit: the head of the
    bundle they download.
    """
    who = _auditor(rt, viewer)
    with rt.db.read() as conn:
        rows = conn.execute(select(plans.c.key, plans.c.country, plans.c.head_hash)).all()
    heads = {r.key: r.head_hash for r in rows if who.covers(r.country, ADMIN, AUDITOR)}
    # said from the grant, not from the plans left out: those are nobody else's business
    scoped = not (who.sees_every_plan and who.covers("", ADMIN, AUDITOR))
    return HeadView(len(heads), chain.head_digest(heads), scoped)


def _workflow_entry(rt: Runtime, name: str) -> dict[str, Any]:
    """Return the bundle's entry of workflow ``name``: its file, and every version stored.

    ``versions`` holds the text of each version the database stores, by version number:
    the plans' records were made under them.
    """
    with rt.db.read() as conn:
        stored = conn.execute(
            select(
                workflow_versions.c.version, workflow_versions.c.digest, workflow_versions.c.source
            )
            .where(workflow_versions.c.name == name)
            .order_by(workflow_versions.c.version)
        ).all()
    versions = {str(r.version): {"sha256": r.digest, "source": r.source} for r in stored}
    entry = next((e for e in rt.catalog.entries() if e.name == name), None)
    if entry is None:
        return {"version": None, "sha256": None, "source": None, "versions": versions}
    source = entry.path.read_text(encoding="utf-8")
    version = entry.definition.version if entry.definition is not None else None
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
    return {"version": version, "sha256": digest, "source": source, "versions": versions}


def build_bundle(
    rt: Runtime, plan_key: str | None = None, *, viewer: str | None = None
) -> tuple[str, ExportResult]:
    """Return the bundle of the ledger (or plan ``plan_key``'s) as JSON text, and its summary.

    ``viewer`` (None: the operator) must be an administrator or an auditor; the bundle holds
    the plans they audit (a plan they do not is answered as missing).
    """
    wanted = inputs.plan_key(plan_key) if plan_key is not None else None
    who = _auditor(rt, viewer)
    exported: list[dict[str, Any]] = []
    with rt.db.read() as conn:
        rows = _plan_rows(conn, wanted)
        covered = [r for r in rows if who.covers(r.country, ADMIN, AUDITOR)]
        if wanted is not None and not covered:
            raise missing_plan(wanted)
        for row in covered:
            records = _records(conn, row.id)
            exported.append(
                {
                    "key": row.key,
                    "title": row.title,
                    "country": row.country,
                    "timezone": row.timezone,
                    "workflow": row.workflow,
                    "workflow_version": row.workflow_version,
                    "state": row.state,
                    "version": row.version,
                    "seq": row.seq,
                    "head_hash": row.head_hash,
                    "records": [r._asdict() for r in records],
                    "drafts": draft_entries(conn, row.id),
                }
            )
    heads = {p["key"]: (p["records"][-1]["hash"] if p["records"] else "") for p in exported}
    head = chain.head_digest(heads)
    workflows = sorted({p["workflow"] for p in exported})
    bundle = {
        "format": BUNDLE_FORMAT,
        "exported_at": _iso(rt.clock.now()),
        "head": head,
        "workflows": {name: _workflow_entry(rt, name) for name in workflows},
        "plans": exported,
    }
    count = sum(len(p["records"]) for p in exported)
    bundle = sign_bundle(rt.secrets.signing_key_file, bundle)
    text = json.dumps(bundle, ensure_ascii=False, indent=1) + "\n"
    return text, ExportResult("", len(exported), count, head)


def export_bundle(
    rt: Runtime, out: str, plan_key: str | None = None, with_drafts: bool = False
) -> ExportResult:
    """Write the ledger (or plan ``plan_key``'s) to ``out`` as a self-contained JSON bundle.

    ``with_drafts`` writes a ZIP instead: the bundle and every draft's bytes. The file
    appears whole or not at all (written aside, then renamed into place).
    """
    target = Path(out)
    try:
        unusable = target.is_dir() or not target.parent.is_dir()
    except OSError as exc:  # a name too long for the file system, say
        raise InputError(f"Cannot write the bundle to {out!r}: {exc.strerror}.") from None
    if unusable:
        raise InputError(
            f"Cannot write the bundle to {out!r}: give a file path in an existing directory."
        )
    text, done = build_bundle(rt, plan_key)
    if with_drafts:
        plans_in = json.loads(text)["plans"]
        write_whole(
            target,
            lambda handle: write_zip(rt, handle, text, plans_in),
            replace=True,
            what="the bundle to ",
        )
    else:
        write_whole(
            target,
            lambda handle: handle.write(text.encode("utf-8")),
            replace=True,
            what="the bundle to ",
        )
    return ExportResult(str(target), done.plans, done.records, done.head)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _bad_bundle(path: str, what: str) -> InputError:
    return InputError(f"{path} is not a napflow audit bundle: {what}.")


def _load_bundle(path: str) -> dict[str, Any]:
    try:
        text = read_zip_bundle(path)
        raw = text if text is not None else Path(path).read_text(encoding="utf-8")
        data = signing.load_json(raw)  # a member twice is refused, not taken last
    except FileNotFoundError:
        raise InputError(f"There is no file {path!r}.") from None
    except KeyError:
        raise _bad_bundle(path, "it is a ZIP without bundle.json") from None
    except (OSError, ValueError, RecursionError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise _bad_bundle(path, f"it cannot be read as JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
        raise _bad_bundle(path, f'it lacks "format": "{BUNDLE_FORMAT}"')
    if not isinstance(data.get("plans"), list) or not isinstance(data.get("workflows"), dict):
        raise _bad_bundle(path, 'it needs a "plans" list and a "workflows" object')
    return data


# the JSON types each field of a bundle may have (None where the column may be NULL)
_PLAN_TYPES: dict[str, tuple[type, ...]] = {
    "key": (str,),
    "state": (str,),
    "version": (int,),
    "seq": (int,),
    "head_hash": (str,),
    "workflow": (str,),
}
_RECORD_TYPES: dict[str, tuple[type, ...]] = {
    name: ((int,) if name in NUMBERS else (str,)) + ((type(None),) if name in OPTIONAL else ())
    for name in Record._fields
}


def _typed(path: str, entry: Any, types: Mapping[str, tuple[type, ...]], what: str) -> None:
    if not isinstance(entry, dict):
        raise _bad_bundle(path, f"a {what} is not an object")
    for name, allowed in types.items():
        value = entry.get(name, ...)
        if value is ... or isinstance(value, bool) or not isinstance(value, allowed):
            raise _bad_bundle(path, f"a {what} lacks {name!r} or it has the wrong type")


def _bundle_plan(path: str, entry: Any) -> tuple[PlanState, list[Record]]:
    _typed(path, entry, _PLAN_TYPES, "plan")
    records = entry.get("records")
    if not isinstance(records, list):
        raise _bad_bundle(path, f'plan {entry["key"]} has no "records" list')
    for record in records:
        _typed(path, record, _RECORD_TYPES, "record")
    state = PlanState(*(entry[f] for f in PlanState._fields))
    return state, [Record(*(r[f] for f in Record._fields)) for r in records]


def verify_bundle(
    path: str,
    key: bytes | None,
    head: str | None = None,
    allow_unkeyed: bool = False,
    *,
    public_key: str | None = None,
) -> VerifyReport:
    """Check an exported bundle on its own: chains, plan rows, workflows and head digest.

    Each plan's title, country, time zone and workflow are held to its sealed records. With
    ``public_key`` (a PEM file), the bundle must also be signed with that key.
    """
    head = _head_arg(head)
    data = _load_bundle(path)
    loaded = [_bundle_plan(path, entry) for entry in data["plans"]]
    try:
        report = _check_chains(loaded, key, allow_unkeyed)
    except KeyNeeded:
        raise InputError(_KEY_NEEDED) from None
    report.problems.extend(
        _check_workflows(data["workflows"], {e["workflow"] for e in data["plans"]})
    )
    report.problems.extend(check_drafts(path, data["plans"]))
    rows, uncovered = check_plan_rows(data["plans"])
    signature, signed = check_signature(data, public_key)
    report = dataclasses.replace(
        report, problems=[*report.problems, *rows, *signature], notes=(*uncovered, *signed)
    )
    if data.get("head") != report.head:
        report = _check_head(report, str(data.get("head")), "bundle")
    return _check_head(report, head, "bundle")


def _check_workflows(workflows: Any, used: set[str]) -> list[Problem]:
    found: list[Problem] = []
    entries: Mapping[str, Any] = workflows if isinstance(workflows, dict) else {}
    for name in sorted(used):
        entry = entries.get(name)
        entry = entry if isinstance(entry, dict) else {}
        source = entry.get("source")
        where = f"workflow {name}"
        if not isinstance(source, str):
            found.append(Problem(where, None, EDITED, "its definition is not in the bundle"))
        elif hashlib.sha256(source.encode("utf-8")).hexdigest() != entry.get("sha256"):
            found.append(Problem(where, None, EDITED, "its definition does not match its SHA-256"))
        versions = entry.get("versions")
        for number, kept in (versions if isinstance(versions, dict) else {}).items():
            text = kept.get("source") if isinstance(kept, dict) else None
            digest = kept.get("sha256") if isinstance(kept, dict) else None
            if not isinstance(text, str) or hashlib.sha256(text.encode()).hexdigest() != digest:
                found.append(
                    Problem(where, None, EDITED, f"its v{number} does not match its SHA-256")
                )
    return found
