"""Checkpoints of the ledger, witnessed outside the database.

A checkpoint seals the ledger's state at one moment: the head digest over every plan,
each plan's newest record (seq and digest) and record count, the site ledger's newest
record, and the time. ``napflow audit checkpoint`` (and the scheduler, once a day) sends it
to the witnesses: a mail to each address in ``[audit] witnesses`` with the checkpoint
attached, and a file in ``[audit] witness_dir``. Nobody who can only write to the database
can reach those copies, so ``napflow audit verify --witness PATH`` later names any record a
checkpoint covered that is gone (a plan cut short, or deleted whole), changed or sealed
again: what the chain alone cannot show, since a chain cut at its end is still a chain.

A checkpoint is sealed with the Ed25519 signing key when ``NAPFLOW_AUDIT_SIGNING_KEY`` is
set (anyone with the public key can check napflow made it), else with an HMAC under the
audit key (only holders of the key can check it, and could have made it), else with a
plain SHA-256 (it shows accidental damage only: the witness's keeping is the proof).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, func, insert, select

from napflow.errors import ConfigError, ConflictError, InputError
from napflow.ledger import chain
from napflow.ledger.verification import EDITED, FORGED, MISSING, SITE_LEDGER, Problem
from napflow.notifications.mailer import Attachment, DeliveryError, Outgoing
from napflow.runtime import Runtime
from napflow.services import signing
from napflow.services._witness_sources import FORMAT, Found
from napflow.services._witness_sources import read_witnesses as _read_witnesses
from napflow.services.audit import VerifyReport, _load_bundle
from napflow.services.dispatch import message_id
from napflow.storage.schema import app_secrets, history, plans, site_history

log = logging.getLogger("napflow.checkpoints")

#: how a day's checkpoint is claimed in app_secrets (the app's role only inserts there):
#: the row named with the day (UTC) exists once, whichever scheduler inserted it first
DAY_CLAIM = "checkpoint-day:"
#: the seals a checkpoint may carry besides an Ed25519 signature
HMAC_SEAL, PLAIN_SEAL = "hmac-sha256", "sha256"
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _digest(document: Mapping[str, Any]) -> str:
    """Return the SHA-256 of a whole checkpoint, seal included: what names it."""
    return f"sha256:{hashlib.sha256(_CANONICAL(document).encode('utf-8')).hexdigest()}"


@dataclass(frozen=True)
class Checkpoint:
    """One sealed checkpoint: its JSON object, as sent and filed."""

    document: dict[str, Any]

    @property
    def digest(self) -> str:
        """The SHA-256 of the whole checkpoint, seal included (``sha256:<hex>``)."""
        return _digest(self.document)

    @property
    def taken_at(self) -> str:
        """When it was taken (UTC, ISO 8601)."""
        return str(self.document["taken_at"])

    @property
    def seal(self) -> str:
        """What the checkpoint is sealed with, in words."""
        found = self.document[signing.SIGNATURE]
        if found["algorithm"] == signing.ED25519:
            return f"signed with Ed25519 key {found['key']}"
        if found["algorithm"] == HMAC_SEAL:
            return "sealed with an HMAC under the audit key (not signed)"
        return "not signed (a plain SHA-256)"

    @property
    def file_name(self) -> str:
        """The name of its file: when it was taken and the start of its digest."""
        stamp = self.taken_at.replace("-", "").replace(":", "")
        return f"napflow-checkpoint-{stamp}-{self.digest[7:19]}.json"

    def text(self) -> str:
        """Return the checkpoint as the JSON text sent and filed."""
        return json.dumps(self.document, ensure_ascii=False, indent=1, sort_keys=True) + "\n"

    def summary(self) -> str:
        """Say in one line what the checkpoint seals."""
        body = self.document
        site = body["site_ledger"]["records"]
        return (
            f"Checkpoint {self.digest} of {len(body['plans'])} plans, {body['records']} "
            f"records and {site} site records at {self.taken_at}; head {body['head']}; "
            f"{self.seal}."
        )


def _plan_ends(conn: Connection) -> dict[str, dict[str, Any]]:
    """Return each plan's newest record (seq and digest) and record count, by key."""
    ends = (
        select(
            history.c.plan_id,
            func.max(history.c.seq).label("seq"),
            func.count().label("records"),
        )
        .group_by(history.c.plan_id)
        .subquery()
    )
    query = (
        select(plans.c.key, ends.c.seq, ends.c.records, history.c.hash)
        .select_from(plans)
        .outerjoin(ends, ends.c.plan_id == plans.c.id)
        .outerjoin(history, (history.c.plan_id == ends.c.plan_id) & (history.c.seq == ends.c.seq))
        .order_by(plans.c.key)
    )
    return {
        row.key: {"seq": row.seq or 0, "hash": row.hash or "", "records": row.records or 0}
        for row in conn.execute(query)
    }


def _site_end(conn: Connection) -> dict[str, Any]:
    seq, count = conn.execute(select(func.max(site_history.c.seq), func.count())).one()
    found = None
    if seq is not None:
        found = conn.execute(select(site_history.c.hash).where(site_history.c.seq == seq)).scalar()
    return {"seq": seq or 0, "hash": found or "", "records": count}


def _seal(rt: Runtime, body: dict[str, Any]) -> dict[str, Any]:
    """Seal a checkpoint: Ed25519 with the signing key, else an HMAC, else a SHA-256."""
    if rt.secrets.signing_key_file is not None:
        return signing.sign(body, signing.load_private_key(rt.secrets.signing_key_file))
    data = signing.canonical_bytes(body)
    if rt.secrets.audit_key:
        value = hmac.digest(rt.secrets.audit_key, data, "sha256").hex()
        return {**body, signing.SIGNATURE: {"algorithm": HMAC_SEAL, "value": value}}
    value = hashlib.sha256(data).hexdigest()
    return {**body, signing.SIGNATURE: {"algorithm": PLAIN_SEAL, "value": value}}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def take_checkpoint(rt: Runtime) -> Checkpoint:
    """Seal the ledger's state now: every plan's newest record, the site ledger's, the head.

    Read in one snapshot from the records themselves (not from the plans' rows), so the
    head is the one ``napflow audit verify`` computes.
    """
    rt.db.require_current_schema()
    if rt.secrets.signing_key_file is not None:  # a bad key file fails before any work
        signing.load_private_key(rt.secrets.signing_key_file)
    with rt.db.read() as conn:
        ends = _plan_ends(conn)
        site = _site_end(conn)
    body = {
        "format": FORMAT,
        "taken_at": _iso(rt.clock.now()),
        "site": rt.settings.base_url,
        "head": chain.head_digest({key: end["hash"] for key, end in ends.items()}),
        "records": sum(end["records"] for end in ends.values()),
        "plans": ends,
        "site_ledger": site,
    }
    return Checkpoint(_seal(rt, body))


#: how a witness gets its copy: a mail, or a file in a folder
MAIL, FILE = "mail", "file"


@dataclass(frozen=True)
class Delivery:
    """One witness's copy: mailed to an address or filed in a folder, or why not."""

    #: the address, or the file written (the folder or path meant, if it failed)
    witness: str
    ok: bool
    #: MAIL or FILE
    how: str
    error: str = ""

    def __str__(self) -> str:
        verb = "sent to" if self.how == MAIL else "filed as" if self.ok else "filed in"
        return f"{verb} {self.witness}" if self.ok else f"NOT {verb} {self.witness}: {self.error}"


@dataclass(frozen=True)
class Witnessed:
    """A checkpoint and where it went."""

    checkpoint: Checkpoint
    deliveries: tuple[Delivery, ...]

    @property
    def ok(self) -> bool:
        """True when every witness got its copy."""
        return all(d.ok for d in self.deliveries)

    def lines(self) -> list[str]:
        """Say what was sealed, then where each copy went."""
        return [self.checkpoint.summary(), *map(str, self.deliveries)]


def _context(checkpoint: Checkpoint, address: str) -> dict[str, Any]:
    body = checkpoint.document
    return {
        "recipient": address,
        "site": body["site"],
        "taken_at": checkpoint.taken_at,
        "plans": len(body["plans"]),
        "records": body["records"],
        "site_records": body["site_ledger"]["records"],
        "head": body["head"],
        "digest": checkpoint.digest,
        "seal": checkpoint.seal,
        "signed": signing.signed_by(body) is not None,
        "file_name": checkpoint.file_name,
    }


def _mail(rt: Runtime, checkpoint: Checkpoint) -> list[Delivery]:
    """Mail the checkpoint to each witness address, attached as its JSON file."""
    witnesses = rt.settings.witnesses
    mailer = rt.mailer
    if not witnesses:
        return []
    if mailer is None:
        return [Delivery(w, False, MAIL, "no mail transport is configured") for w in witnesses]
    attachment = Attachment(
        checkpoint.file_name, "application/json", checkpoint.text().encode("utf-8")
    )
    now = rt.clock.now()
    done = []
    try:
        for address in witnesses:
            rendered = mailer.renderer.render("checkpoint", _context(checkpoint, address))
            mid = message_id(f"checkpoint:{checkpoint.digest}:{address}", mailer.sender)
            message = mailer.build(
                rendered,
                sender=(mailer.sender_name, mailer.sender),
                recipient=("", address),
                message_id=mid,
                date=now,
                files=(attachment,),
            )
            try:
                mailer.transport.send(Outgoing.from_message(message, mailer.sender, address, now))
            except DeliveryError as exc:
                done.append(Delivery(address, False, MAIL, exc.answer))
            else:
                done.append(Delivery(address, True, MAIL))
    finally:
        mailer.transport.close()
    return done


def _file(where: str, checkpoint: Checkpoint) -> Delivery:
    """File the checkpoint in the folder ``where`` (or as the file ``where``, if no folder).

    Whole or not at all, read-only (0444), never replacing a file.
    """
    target = Path(where)
    try:
        if target.is_dir():
            target = target / checkpoint.file_name
    except OSError:  # a name too long, say: writing it says why
        pass
    try:
        signing.write_new(target, checkpoint.text().encode("utf-8"), 0o444)
    except InputError as exc:
        return Delivery(where, False, FILE, exc.message)
    return Delivery(str(target), True, FILE)


def send_checkpoint(rt: Runtime, checkpoint: Checkpoint, out: str | None = None) -> Witnessed:
    """Send ``checkpoint`` to every witness (and write it to ``out`` if given).

    The file in ``[audit] witness_dir`` is written first, then a mail goes to each address in
    ``[audit] witnesses``. A witness that cannot be reached is reported, not retried.
    """
    deliveries = []
    if out is not None:
        deliveries.append(_file(out, checkpoint))
    if rt.settings.witness_dir is not None:
        folder = rt.settings.witness_dir
        if Path(folder).is_dir():
            deliveries.append(_file(folder, checkpoint))
        else:
            deliveries.append(Delivery(folder, False, FILE, "there is no such folder"))
    deliveries += _mail(rt, checkpoint)
    return Witnessed(checkpoint, tuple(deliveries))


def checkpoint_now(rt: Runtime, out: str | None = None) -> Witnessed:
    """Take a checkpoint and send it to the witnesses (``napflow audit checkpoint``).

    Refused (a ConfigError, exit 2) when it would go nowhere: no witness is configured and
    no ``out`` is given.
    """
    if not (rt.settings.witnesses or rt.settings.witness_dir or out):
        raise ConfigError(
            "No witness to send the checkpoint to: set [audit] witnesses or witness_dir in "
            "config.toml (NAPFLOW_AUDIT_WITNESSES, NAPFLOW_AUDIT_WITNESS_DIR), or give --out FILE."
        )
    return send_checkpoint(rt, take_checkpoint(rt), out)


def daily_checkpoint(rt: Runtime) -> Witnessed | None:
    """Take and send today's checkpoint, unless one was taken today (the scheduler's job).

    Any number of schedulers may call this, as often as they like: the first to insert
    today's row (``checkpoint-day:YYYY-MM-DD``, UTC) in app_secrets sends it, every other
    finds the row and returns None. The day is claimed before the mail goes out, so a
    witness unreachable then gets no checkpoint that day (it is logged): at most once a
    day, never twice. Returns None as well when no witness is configured.
    """
    if not (rt.settings.witnesses or rt.settings.witness_dir):
        return None
    now = rt.clock.now()
    name = f"{DAY_CLAIM}{now.astimezone(UTC).date().isoformat()}"
    claimed = select(app_secrets.c.created_at).where(app_secrets.c.name == name)
    with rt.db.read() as conn:
        when = conn.execute(claimed).scalar()
    today = now.astimezone(UTC).date()
    if when is not None and when.astimezone(UTC).date() >= today:
        return None  # claimed today, by this or another scheduler
    checkpoint = take_checkpoint(rt)
    if when is not None:  # claimed before the day came: someone holds the checkpoints back
        log.error(
            "checkpoint: the day %s was claimed in the database on %s, before it came: "
            "someone is holding the daily checkpoints back; sending this one anyway",
            today.isoformat(),
            when.isoformat(),
        )
    else:
        try:
            with rt.db.write() as conn:
                conn.execute(
                    insert(app_secrets).values(name=name, value=checkpoint.digest, created_at=now)
                )
        except ConflictError:  # another scheduler claimed the day meanwhile
            return None
    witnessed = send_checkpoint(rt, checkpoint)
    for delivery in witnessed.deliveries:
        if not delivery.ok:
            log.error("checkpoint %s: %s", checkpoint.digest, delivery)
    return witnessed


def read_witnesses(paths: Sequence[str]) -> list[Found]:
    """Return every checkpoint found in ``paths`` (mailboxes, .eml files, checkpoint files).

    A path that is missing or unreadable, or holds no checkpoint, is an InputError (exit 2).
    """
    return _read_witnesses(paths)


# --- checking a ledger against its checkpoints ---------------------------------------


class _Ledger(Protocol):
    """What a check against checkpoints reads: the database's ledger, or a bundle's."""

    #: what a plan that is gone is said to be ("deleted from the database")
    gone: str

    def plan_end(self, key: str) -> int | None:
        """Return the seq of a plan's newest record (None: no such plan)."""
        ...

    def plan_hashes(self, key: str, seqs: set[int]) -> dict[int, str]:
        """Return the digests of a plan's records with these seqs (those that exist)."""
        ...

    def site(self, seqs: set[int]) -> tuple[int, dict[int, str]] | None:
        """Return the site ledger's newest seq and the digests of these site records.

        None: this ledger holds no site ledger.
        """
        ...


_CHUNK = 500  # seqs per query: well under any engine's limit on bound values


def _chunks(values: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(values)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


class _DatabaseLedger:
    """The ledger in the database, read in one snapshot."""

    gone = "it was deleted from the database"

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        rows = conn.execute(
            select(plans.c.key, plans.c.id, func.max(history.c.seq))
            .select_from(plans)
            .outerjoin(history, history.c.plan_id == plans.c.id)
            .group_by(plans.c.key, plans.c.id)
        )
        self.ends = {key: (plan_id, seq or 0) for key, plan_id, seq in rows}

    def plan_end(self, key: str) -> int | None:
        found = self.ends.get(key)
        return None if found is None else found[1]

    def plan_hashes(self, key: str, seqs: set[int]) -> dict[int, str]:
        plan_id = self.ends[key][0]
        found: dict[int, str] = {}
        for part in _chunks(seqs):
            query = select(history.c.seq, history.c.hash).where(
                history.c.plan_id == plan_id, history.c.seq.in_(part)
            )
            found.update({seq: digest for seq, digest in self.conn.execute(query)})
        return found

    def site(self, seqs: set[int]) -> tuple[int, dict[int, str]] | None:
        end = self.conn.execute(select(func.max(site_history.c.seq))).scalar()
        found: dict[int, str] = {}
        for part in _chunks(seqs):
            query = select(site_history.c.seq, site_history.c.hash).where(
                site_history.c.seq.in_(part)
            )
            found.update({seq: digest for seq, digest in self.conn.execute(query)})
        return end or 0, found


class _BundleLedger:
    """The records of an exported bundle."""

    gone = "it is not in the bundle: it was deleted, or the bundle was exported for some plans only"

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.records: dict[str, dict[int, str]] = {}
        for plan in data["plans"]:
            if isinstance(plan, dict) and isinstance(plan.get("records"), list):
                self.records[str(plan.get("key"))] = {
                    r["seq"]: r["hash"]
                    for r in plan["records"]
                    if isinstance(r, dict) and isinstance(r.get("seq"), int)
                }

    def plan_end(self, key: str) -> int | None:
        found = self.records.get(key)
        return None if found is None else max(found, default=0)

    def plan_hashes(self, key: str, seqs: set[int]) -> dict[int, str]:
        found = self.records[key]
        return {seq: found[seq] for seq in seqs if seq in found}

    def site(self, seqs: set[int]) -> tuple[int, dict[int, str]] | None:
        return None


@dataclass(frozen=True)
class _Covered:
    """What one checkpoint sealed of one chain: its newest record then."""

    taken_at: str
    seq: int
    hash: str
    records: int

    @property
    def said(self) -> str:
        return f"the checkpoint of {self.taken_at} sealed"


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _end_ok(end: Any) -> bool:
    return (
        isinstance(end, dict)
        and _is_count(end.get("seq"))
        and _is_count(end.get("records"))
        and isinstance(end.get("hash"), str)
    )


def _malformed(document: Mapping[str, Any]) -> str | None:
    """Return why ``document`` is not a well-formed checkpoint (None if it is)."""
    ends = document.get("plans")
    if not isinstance(document.get("taken_at"), str):
        return 'it has no "taken_at" time'
    if not isinstance(ends, dict) or not all(_end_ok(end) for end in ends.values()):
        return "its plans are not as napflow writes them"
    if not _end_ok(document.get("site_ledger")):
        return "its site ledger head is not as napflow writes it"
    if document.get("head") != chain.head_digest({k: e["hash"] for k, e in ends.items()}):
        return "its head digest is not the digest of its plans' heads"
    if not isinstance(document.get(signing.SIGNATURE), dict):
        return "it carries no seal"
    return None


@dataclass
class _Seals:
    """How the checkpoints' seals were checked, for the notes."""

    checked: int = 0
    unchecked_signed: int = 0
    unchecked_hmac: int = 0
    plain: int = 0


def _seal_problem(
    document: Mapping[str, Any],
    public: Any,
    audit_key: bytes | None,
    seals: _Seals,
) -> tuple[str, str] | None:
    """Return (kind, why) if a checkpoint's seal shows it is not as sealed; count the rest."""
    seal = document[signing.SIGNATURE]
    if public is not None:
        found = signing.signature_problem(document, public)
        if found is None:
            seals.checked += 1
            return None
        what, why = found
        if what == signing.UNSIGNED:
            return MISSING, f"it is not signed with the given key ({seal.get('algorithm')})"
        return (FORGED if what == signing.OTHER_KEY else EDITED), why
    algorithm = seal.get("algorithm")
    data = signing.canonical_bytes(document)
    if algorithm == signing.ED25519:
        seals.unchecked_signed += 1
        return None
    if algorithm == HMAC_SEAL:
        if not audit_key:
            seals.unchecked_hmac += 1
            return None
        expected = hmac.digest(audit_key, data, "sha256").hex()
        if hmac.compare_digest(expected.encode(), str(seal.get("value")).encode("utf-8")):
            seals.checked += 1
            return None
        return EDITED, "its HMAC does not verify with NAPFLOW_AUDIT_KEY: it was changed"
    if algorithm == PLAIN_SEAL and seal.get("value") == hashlib.sha256(data).hexdigest():
        seals.plain += 1
        return None
    return EDITED, "its content no longer matches its seal: it was changed after it was taken"


def _span(first: int, last: int) -> str:
    return f"record seq {first} was" if first == last else f"records seq {first}-{last} were"


def _chain_problems(
    name: str, covered: list[_Covered], end: int | None, current: dict[int, str], gone: str
) -> list[Problem]:
    """Compare what checkpoints sealed of one chain with what it holds now."""
    covered = [c for c in covered if c.seq > 0]
    if not covered:
        return []
    newest = max(covered, key=lambda c: (c.seq, c.taken_at))
    if end is None:
        return [
            Problem(
                name,
                None,
                MISSING,
                f"the plan is gone: {newest.said} its {newest.records} records up to seq "
                f"{newest.seq} ({newest.hash}); {gone}",
            )
        ]
    problems = []
    changed = [c for c in covered if c.seq <= end and current.get(c.seq) != c.hash]
    if changed:
        first = min(changed, key=lambda c: (c.seq, c.taken_at))
        now = current.get(first.seq)
        why = (
            "it is not there"
            if now is None
            else f"it is {now}, not the record {first.said} ({first.hash})"
        )
        problems.append(
            Problem(
                name,
                first.seq,
                FORGED,
                f"{why}: the history up to here was rewritten and sealed again",
            )
        )
    if newest.seq > end:
        problems.append(
            Problem(
                name,
                end + 1,
                MISSING,
                f"{_span(end + 1, newest.seq)} removed from the end: {newest.said} the "
                f"history up to seq {newest.seq} ({newest.hash})",
            )
        )
    return problems


def _compare(ledger: _Ledger, checkpoints: list[Mapping[str, Any]]) -> tuple[list[Problem], bool]:
    """Return what the checkpoints sealed that the ledger no longer holds as sealed.

    Also whether the site ledger was compared (a bundle holds none).
    """
    by_plan: dict[str, list[_Covered]] = {}
    site: list[_Covered] = []
    for document in checkpoints:
        taken = str(document["taken_at"])
        for key, end in document["plans"].items():
            by_plan.setdefault(key, []).append(
                _Covered(taken, end["seq"], end["hash"], end["records"])
            )
        end = document["site_ledger"]
        site.append(_Covered(taken, end["seq"], end["hash"], end["records"]))
    problems: list[Problem] = []
    for key in sorted(by_plan):
        covered = by_plan[key]
        plan_end = ledger.plan_end(key)
        current: dict[int, str] = {}
        if plan_end is not None:
            current = ledger.plan_hashes(key, {c.seq for c in covered if 0 < c.seq <= plan_end})
        problems += _chain_problems(key, covered, plan_end, current, ledger.gone)
    site_now = ledger.site({c.seq for c in site if c.seq > 0})
    if site_now is None:
        return problems, False
    site_end, current = site_now
    problems += _chain_problems(SITE_LEDGER, site, site_end, current, "")
    return problems, True


def _when(checkpoints: list[Mapping[str, Any]]) -> str:
    times = sorted(str(d["taken_at"]) for d in checkpoints)
    if len(times) == 1:
        return f"1 checkpoint, taken {times[0]}"
    return f"{len(times)} checkpoints, taken from {times[0]} to {times[-1]}"


def _seal_notes(seals: _Seals, public: Any) -> list[str]:
    notes = []
    if public is not None and seals.checked:
        key = signing.fingerprint(public)
        notes.append(f"{seals.checked} signed with the given key {key}, checked")
    elif seals.checked:
        notes.append(f"{seals.checked} sealed with the audit key, their HMAC checked")
    if seals.unchecked_signed:
        notes.append(
            f"{seals.unchecked_signed} signed with Ed25519, not checked: give --public-key FILE"
        )
    if seals.unchecked_hmac:
        notes.append(
            f"{seals.unchecked_hmac} sealed with the audit key, not checked: set NAPFLOW_AUDIT_KEY"
        )
    if seals.plain:
        notes.append(
            f"{seals.plain} not signed (a plain SHA-256): as good as the witness's keeping"
        )
    return notes


def check_witnessed(
    report: VerifyReport,
    ledger: _Ledger,
    found: Sequence[Found],
    public_key: str | None,
    audit_key: bytes | None,
) -> VerifyReport:
    """Add to ``report`` what the checkpoints ``found`` show is missing, changed or resealed.

    Each checkpoint's seal is checked first (with ``public_key``, every one must be signed
    with that key); one whose seal fails is named and not compared.
    """
    public = signing.load_public_key(public_key) if public_key is not None else None
    seals = _Seals()
    problems: list[Problem] = []
    usable: list[Mapping[str, Any]] = []
    seen: set[str] = set()
    for item in found:
        digest = _digest(item.document)
        if digest in seen:
            continue  # the same checkpoint from two witnesses
        seen.add(digest)
        where = f"checkpoint in {item.where}"
        why = _malformed(item.document)
        if why is not None:
            problems.append(Problem(where, None, EDITED, f"{why}: it was changed"))
            continue
        sealed = _seal_problem(item.document, public, audit_key, seals)
        if sealed is not None:
            problems.append(Problem(where, None, *sealed))
            continue
        usable.append(item.document)
    notes = []
    if usable:
        compared, with_site = _compare(ledger, usable)
        problems += compared
        seal_notes = _seal_notes(seals, public)
        sealed_by = f" ({'; '.join(seal_notes)})" if seal_notes else ""
        verdict = "every record they sealed is there as sealed"
        if compared:
            verdict = "some records they sealed are not there as sealed"
        site = "" if with_site else "; the site ledger is not in bundles, so not compared"
        notes.append(f"Witnesses: {_when(usable)}{sealed_by}: {verdict}{site}.")
    return dataclasses.replace(
        report, problems=[*report.problems, *problems], notes=(*report.notes, *notes)
    )


def verify_witnessed(
    rt: Runtime, report: VerifyReport, found: Sequence[Found], public_key: str | None
) -> VerifyReport:
    """Check the database's ledger against the checkpoints ``found`` (``verify --witness``).

    ``report`` is the ledger's own verification; the result adds every record a
    checkpoint sealed that is gone, changed or sealed again, and a note on what was checked.
    """
    with rt.db.read() as conn:
        return check_witnessed(
            report, _DatabaseLedger(conn), found, public_key, rt.secrets.audit_key
        )


def verify_witnessed_bundle(
    path: str,
    report: VerifyReport,
    found: Sequence[Found],
    public_key: str | None,
    audit_key: bytes | None,
) -> VerifyReport:
    """Check an exported bundle against the checkpoints ``found`` (``--bundle --witness``).

    A plan a checkpoint sealed that the bundle does not hold is named (the bundle may be
    of some plans only); the site ledger is not in bundles and is not compared.
    """
    ledger = _BundleLedger(_load_bundle(path))
    return check_witnessed(report, ledger, found, public_key, audit_key)
