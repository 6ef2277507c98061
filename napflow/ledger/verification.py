"""Checking the history's hash chains: a quick scan, and a diagnosis naming what is wrong.

:func:`diagnose` is the reference: given one plan's records and what its row in ``plans``
says, it names every record that is wrong and how (edited, missing, reordered, forged) and
whether the plan's state, version or head were changed behind the ledger's back. It runs on
records from the database or from an exported bundle alike.

:func:`scan_sqlite` goes through a whole SQLite ledger quickly: it reads the records as raw
bytes, has SQLite put each record's canonical bytes together from them in the encoding its
digest names (see napflow.ledger.chain), hashes them and follows the links, and only says
which plans need a diagnosis. Other engines diagnose every plan.

:func:`diagnose_since` (and :func:`diagnose_site_since`) check only what was added to a
chain after the point an earlier verification reached (:class:`Verified`): the record
there must still hash to the digest verified then, and the first new record must link to
that digest. What they prove, and what only a whole diagnosis does, is in docs/audit.md.
"""

from __future__ import annotations

import hashlib
import hmac
import multiprocessing
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from napflow.ledger import chain
from napflow.ledger.record import FIELDS, NUMBERS, OPTIONAL, UNVERSIONED_KINDS
from napflow.ledger.record import Record as Record  # what a diagnosis reads

EDITED = "edited"
MISSING = "missing"
REORDERED = "reordered"
FORGED = "forged"
CHANGED = "changed"  # the plans row disagrees with what its history leads to


class PlanState(NamedTuple):
    """What a plan's row says: where its chain ends and the state it is in."""

    key: str
    state: str
    version: int
    seq: int
    head_hash: str


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a plan's ledger."""

    plan: str
    seq: int | None
    kind: str
    detail: str

    def __str__(self) -> str:
        where = f"{self.plan} seq {self.seq}" if self.seq is not None else self.plan
        return f"{where}: {self.kind}: {self.detail}"


class KeyNeeded(Exception):
    """Records are sealed with the audit key, and no key was given."""


class Verified(NamedTuple):
    """How far an earlier verification found a chain intact: the record there, its digest.

    ``actions`` is how many of the records up to ``seq`` are actions (the plan's version
    there; 0 for the site ledger).
    """

    seq: int
    hash: str
    actions: int


def _seal_matches(record: Record, key: bytes | None) -> bool:
    keyed = chain.algorithm(record.hash) == chain.HMAC
    if keyed and not key:
        raise KeyNeeded
    expected = chain.reseal(record, key if keyed else None)
    return expected is not None and hmac.compare_digest(expected, record.hash)


@dataclass
class _Walk:
    """The state of a diagnosis as it walks one chain."""

    plan: PlanState
    key: bytes | None
    allow_unkeyed: bool = False
    problems: list[Problem] = field(default_factory=list)
    sealed_with_key: bool = False

    def add(self, seq: int | None, kind: str, detail: str) -> None:
        self.problems.append(Problem(self.plan.key, seq, kind, detail))

    def seal_problem(self, record: Record) -> str | None:
        """Return why ``record``'s digest is wrong (None if it is right)."""
        plain = chain.algorithm(record.hash) == chain.SHA256
        if plain and self.key and not self.allow_unkeyed:
            return (
                "it is sealed with plain SHA-256, not with the audit key: it was written by "
                "someone without the key"
            )
        if plain and self.sealed_with_key:
            return (
                "it is sealed with plain SHA-256 after the chain was sealed with the audit "
                "key: it was written by someone without the key"
            )
        self.sealed_with_key |= not plain
        if _seal_matches(record, self.key):
            return None
        unclear = _ambiguous(record)
        if unclear:
            return (
                f"{unclear}, where its encoding (1) cannot tell NULL from the character "
                "U+0000 and napflow sealed neither: it was changed"
            )
        return "its content no longer matches its digest"


def _ambiguous(record: Record) -> str:
    """Say which fields of a record sealed with encoding 1 that encoding cannot pin down."""
    if chain.encoding_of(record.hash) != chain.V1:
        return ""
    values = record._asdict()
    return "; ".join(
        f"its {name} is {'NULL' if values[name] is None else 'the character U+0000'}"
        for name in chain.ambiguous_v1(record[:-1])
    )


def diagnose(
    plan: PlanState, records: Sequence[Record], key: bytes | None, allow_unkeyed: bool = False
) -> list[Problem]:
    """Return every problem in one plan's ledger (records in seq order); [] if none.

    With a key, every record must be sealed with it; ``allow_unkeyed`` accepts plain SHA-256
    records that come before a chain's first keyed one (a ledger keyed after it began).
    Each record is checked in the encoding its digest names (napflow.ledger.chain).
    """
    walk = _Walk(plan, key, allow_unkeyed)
    _walk_chain(walk, records, chain.genesis(plan.key))
    _check_plan_row(walk, records)
    return walk.problems


def diagnose_since(
    plan: PlanState,
    verified: Verified | None,
    records: Sequence[Record],
    key: bytes | None,
    allow_unkeyed: bool = False,
) -> list[Problem]:
    """Return every problem in what was added to one plan's chain since ``verified``.

    ``records`` are the plan's records from seq ``verified.seq`` on, in seq order: the
    record verified last (which must still be there and hash to ``verified.hash``), then
    those added since, which must chain on from that digest. The plan's row is held to
    where the chain now ends, its version to ``verified.actions`` and the actions added.
    Nothing before ``verified.seq`` is read: only :func:`diagnose` sees an edit there.
    Without ``verified`` (the chain was never verified), :func:`diagnose`.
    """
    if verified is None or verified.seq < 1:
        return diagnose(plan, records, key, allow_unkeyed)
    walk = _Walk(plan, key, allow_unkeyed)
    window = _walk_since(walk, verified, records)
    if not window:  # the verified record is gone, and nothing follows it
        if plan.seq != verified.seq:
            walk.add(
                None,
                CHANGED,
                f"the plan says its history ends at seq {plan.seq}, but it was verified "
                f"up to seq {verified.seq}",
            )
        return walk.problems
    actions = verified.actions + sum(
        1 for r in window if r.seq > verified.seq and r.kind not in UNVERSIONED_KINDS
    )
    _check_plan_row(walk, window, actions)
    return walk.problems


def diagnose_site_since(
    verified: Verified | None,
    records: Sequence[Record],
    key: bytes | None,
    allow_unkeyed: bool = False,
) -> list[Problem]:
    """Return every problem in what was added to the site ledger since ``verified``.

    As :func:`diagnose_since`, without a row to compare the chain's end with.
    """
    if verified is None or verified.seq < 1:
        return diagnose_site(records, key, allow_unkeyed)
    walk = _Walk(PlanState(SITE_LEDGER, "", 0, 0, ""), key, allow_unkeyed)
    _walk_since(walk, verified, records)
    return walk.problems


def _walk_since(walk: _Walk, verified: Verified, records: Sequence[Record]) -> list[Record]:
    """Check the verified record again and walk on from it; return the records walked.

    The record at ``verified.seq`` must still be there, carry the digest verified then
    and hash to it; each later record is checked as :func:`_walk_chain` checks it, the
    first one linked to the verified digest (not to whatever digest the record holds now).
    """
    head = records[0] if records and records[0].seq == verified.seq else None
    later = [r for r in records if r.seq > verified.seq]
    if head is None:
        walk.add(
            verified.seq,
            MISSING,
            f"the record verified last ({verified.hash}) is no longer in the history",
        )
    elif head.hash != verified.hash:
        walk.add(
            head.seq,
            FORGED,
            f"it is {head.hash}, but it was verified as {verified.hash}: the verified history "
            "was rewritten (a full verification names every record that changed)",
        )
    else:
        why = walk.seal_problem(head)
        if why is not None:
            walk.add(head.seq, FORGED if "without the key" in why else EDITED, why)
    named = len(walk.problems)
    if head is None:
        _walk_chain(walk, later, verified.hash, first_seq=verified.seq + 1)
        return later
    _walk_chain(walk, later, verified.hash, previous=head)
    if named:  # the verified record is named already: not again as the next one's link
        walk.problems[named:] = [p for p in walk.problems[named:] if p.seq != head.seq]
    return [head, *later]


#: what problems in the site ledger are reported under (a Problem's ``plan``)
SITE_LEDGER = "site ledger"


def diagnose_site(
    records: Sequence[Record], key: bytes | None, allow_unkeyed: bool = False
) -> list[Problem]:
    """Return every problem in the site ledger (records in seq order); [] if none.

    The same checks as a plan's chain, from :data:`napflow.ledger.chain.SITE_GENESIS`; there
    is no row to compare its end with.
    """
    walk = _Walk(PlanState(SITE_LEDGER, "", 0, 0, ""), key, allow_unkeyed)
    _walk_chain(walk, records, chain.SITE_GENESIS)
    return walk.problems


def _walk_chain(
    walk: _Walk,
    records: Sequence[Record],
    genesis: str,
    previous: Record | None = None,
    first_seq: int = 1,
) -> None:
    """Check each record's seq, link and seal along one chain, adding what is wrong.

    The first record must link to ``genesis``: the chain's start, or (walking on from a
    record verified before, ``previous``) that record's verified digest; without
    ``previous`` the first record's seq is ``first_seq``.
    """
    by_hash = {r.hash: r for r in records}
    if previous is not None:
        by_hash.setdefault(previous.hash, previous)
    expected_prev = genesis
    for record in records:
        expected_seq = previous.seq + 1 if previous else first_seq
        gap = record.seq > expected_seq
        if gap:
            missing = _span(expected_seq, record.seq - 1)
            walk.add(expected_seq, MISSING, f"{missing} removed from the history")
        out_of_order = False
        if record.prev_hash != expected_prev and not gap:
            earlier = by_hash.get(record.prev_hash)
            if earlier is not None and earlier is not previous:
                out_of_order = True
                walk.add(
                    record.seq,
                    REORDERED,
                    f"it was written right after the record now at seq {earlier.seq}",
                )
            elif previous is None and first_seq == 1:
                walk.add(
                    record.seq,
                    FORGED,
                    f"the chain begins with {record.prev_hash!r}, not with {genesis!r}: "
                    "the plan's key was changed, or the records come from another chain",
                )
            elif previous is None:
                walk.add(
                    record.seq,
                    EDITED,
                    f"it links to {record.prev_hash!r}, not to the record verified before it "
                    f"({genesis})",
                )
            elif walk.seal_problem(previous) is None:
                walk.add(
                    previous.seq,
                    FORGED,
                    "its content and digest were both replaced: the record after it was "
                    "sealed onto a different digest",
                )
            else:
                walk.add(record.seq, EDITED, "its link to the record before it was changed")
        if not out_of_order:
            why = walk.seal_problem(record)
            if why is not None:
                walk.add(record.seq, FORGED if "without the key" in why else EDITED, why)
        expected_prev, previous = record.hash, record


def _span(first: int, last: int) -> str:
    return f"record seq {first} was" if first == last else f"records seq {first}-{last} were"


def _check_plan_row(walk: _Walk, records: Sequence[Record], actions: int | None = None) -> None:
    """Compare the plans row with the end of its chain and the state the history leads to.

    ``actions``: how many actions the whole chain holds, where ``records`` are only its end
    (else they are counted in ``records``).
    """
    plan = walk.plan
    if not records:
        walk.add(
            1,
            MISSING,
            "the plan has no history at all: its records were removed, or the plan was added "
            "behind the ledger's back",
        )
        return
    last = records[-1]
    if plan.seq > last.seq:
        walk.add(last.seq + 1, MISSING, f"{_span(last.seq + 1, plan.seq)} removed from the end")
        return  # the state and version it led to went with them
    if plan.seq < last.seq:
        walk.add(
            None,
            CHANGED,
            f"the plan says its history ends at seq {plan.seq}, but it goes on to seq {last.seq}",
        )
    elif (
        plan.head_hash != last.hash
        and walk.seal_problem(last) is None
        and last.seq not in {p.seq for p in walk.problems}
    ):
        walk.add(
            last.seq,
            FORGED,
            "the plan's head remembers another digest: this record was replaced, content "
            "and digest, or the plan's head was changed",
        )
    state = last.to_state
    if plan.state != state:
        walk.add(
            None,
            CHANGED,
            f"its state is {plan.state!r} but its history leads to {state!r}: "
            "the state was changed behind the ledger's back",
        )
    if actions is None:
        actions = sum(1 for r in records if r.kind not in UNVERSIONED_KINDS)
    if plan.version != actions and not any(p.kind == MISSING for p in walk.problems):
        walk.add(
            None,
            CHANGED,
            f"its version is {plan.version} but its history records {actions} actions",
        )


@dataclass(frozen=True)
class Scan:
    """What a scan found: records read, chain ends, and the plans that need a diagnosis."""

    records: int
    heads: dict[str, str]
    suspects: list[str]
    keyed: int  # records sealed with the audit key
    keyed_ok: int  # those of them that verify with the key given
    orphans: dict[int, int]  # plan id -> records whose plan is not in the plans table
    #: plan key -> (records read, how many of them are actions), where each walk ended
    ends: dict[str, tuple[int, int]] = field(default_factory=dict)


def _v1_sql(name: str) -> str:
    """Return a stored column as encoding 1 has it: SQL NULL where it cannot pin it down."""
    column = f'h."{name}"'
    if name in NUMBERS:
        return f"CAST({column} AS TEXT)"
    if name in OPTIONAL:  # NULL as U+0000; the text U+0000 (or such a BLOB) as SQL NULL
        return (
            f"CASE WHEN {column} IS NULL THEN char(0) "
            f"WHEN CAST({column} AS BLOB) = x'00' THEN NULL ELSE {column} END"
        )
    return column  # a required field's NULL stays SQL NULL


def _v2_sql(name: str) -> str:
    """Return a stored column as ``json_array()`` must take it for encoding 2."""
    column = f'h."{name}"'
    if name in NUMBERS:
        return f"CASE typeof({column}) WHEN 'integer' THEN {column} ELSE CAST({column} AS TEXT) END"
    return f"CAST({column} AS TEXT)"  # a BLOB as its bytes (json_array refuses BLOBs)


def _sqlite_history_sql(v2: bool, where: str) -> str:
    """Return a scan query: the records ``where`` selects, in seq order per plan.

    ``where`` ends with a condition on ``+h.id`` (the unary plus keeps SQLite reading in
    plan and seq order, deciding on the id before it reads the row). Per record, for
    encoding 1: its plan, its FIELDS as that encoding has them (:func:`_v1_sql`), its
    digest; for encoding 2: its plan, its bytes (SQLite's ``json_array()`` writes what
    Python's json does, see napflow.ledger.chain), kind, to_state, prev_hash and digest.
    """
    if v2:
        data = f"json_array({', '.join(map(_v2_sql, FIELDS))})"
        columns = f'{data}, h."kind", h."to_state", h."prev_hash"'
    else:
        columns = ", ".join(map(_v1_sql, FIELDS))
    select = f"SELECT h.plan_id, {columns}, h.hash FROM history h"  # noqa: S608
    return f"{select} WHERE {where} ORDER BY h.plan_id, h.seq"  # constant text, no input


#: the scan queries by (encoding 2?, what they select); their last parameter is
#: :func:`_first_v2_id`'s answer
_HISTORY = {
    (v2, what): _sqlite_history_sql(v2, f"{where}+h.id {'>=' if v2 else '<'} ?")
    for v2 in (False, True)
    for what, where in (
        ("all", ""),
        ("plan", "h.plan_id = ? AND "),
        ("range", "h.plan_id BETWEEN ? AND ? AND "),
    )
}
_HISTORY_SQL = _HISTORY[False, "all"]
_PLANS_SQL = "SELECT id, key, state, version, seq, head_hash FROM plans"
_PLAN_SQL = f"{_PLANS_SQL} WHERE key = ?"
_PLANS_IN_SQL = f"{_PLANS_SQL} WHERE id BETWEEN ? AND ?"
_UNVERSIONED = frozenset(k.encode() for k in UNVERSIONED_KINDS)


#: below this many records a scan runs in this process (starting workers costs ~0.5 s)
PARALLEL_FROM = 200_000


def scan_sqlite(
    path: Path,
    key: bytes | None,
    plan_key: str | None = None,
    workers: int | None = None,
    allow_unkeyed: bool = False,
) -> Scan:
    """Scan a SQLite ledger file; see the module docstring.

    Plans are independent chains, so a large ledger is split into ranges of plans of about
    equal size, scanned by ``workers`` processes (default: one per CPU, at most 8), each in
    its own read snapshot (a plan and its records are always read in one snapshot).
    """
    if plan_key is not None:
        return _scan_range(path, key, allow_unkeyed, plan_key=plan_key)
    conn = sqlite3.connect(_read_only(path), uri=True, isolation_level=None)
    try:
        sizes = conn.execute("SELECT id, seq FROM plans ORDER BY id").fetchall()
    finally:
        conn.close()
    total = sum(seq for _, seq in sizes)
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if total >= PARALLEL_FROM else 1
    workers = max(1, min(workers, len(sizes)))
    ranges = split_plans(sizes, total, workers)
    if len(ranges) <= 1:
        return _scan_range(path, key, allow_unkeyed)
    context = multiprocessing.get_context("spawn")  # no state of this process is inherited
    with ProcessPoolExecutor(len(ranges), mp_context=context) as pool:
        parts = list(pool.map(partial(_scan_range, path, key, allow_unkeyed, None), ranges))
    return Scan(
        sum(p.records for p in parts),
        {k: v for p in parts for k, v in p.heads.items()},
        sorted(s for p in parts for s in p.suspects),
        sum(p.keyed for p in parts),
        sum(p.keyed_ok for p in parts),
        {k: v for p in parts for k, v in p.orphans.items()},
        {k: v for p in parts for k, v in p.ends.items()},
    )


def _read_only(path: Path) -> str:
    return f"{path.resolve().as_uri()}?mode=ro"


def split_plans(sizes: list[tuple[int, int]], total: int, parts: int) -> list[tuple[int, int]]:
    """Cut plan ids (in order, with their record counts) into ranges of about equal size.

    The first and last ranges are open-ended, so that history rows of plan ids missing
    from the plans table are scanned too.
    """
    ranges: list[tuple[int, int]] = []
    first: int | None = None
    running = 0
    for plan_id, seq in sizes:
        first = plan_id if first is None else first
        running += seq
        if running >= total * (len(ranges) + 1) / parts and len(ranges) < parts - 1:
            ranges.append((first, plan_id))
            first = None
    if first is not None:
        ranges.append((first, sizes[-1][0]))
    if ranges:
        ranges[0] = (-(2**63), ranges[0][1])
        ranges[-1] = (ranges[-1][0], 2**63 - 1)
    return ranges


def _scan_range(
    path: Path,
    key: bytes | None,
    allow_unkeyed: bool,
    plan_key: str | None = None,
    ids: tuple[int, int] | None = None,
) -> Scan:
    """Scan one plan, a range of plan ids, or (neither given) every plan, in one snapshot."""
    conn = sqlite3.connect(_read_only(path), uri=True, isolation_level=None)
    try:
        conn.text_factory = bytes
        conn.execute("BEGIN")
        if plan_key is not None:
            plans = {row[0]: row[1:] for row in conn.execute(_PLAN_SQL, (plan_key,))}
            what, params = "plan", tuple(plans)
        elif ids is not None:
            plans = {row[0]: row[1:] for row in conn.execute(_PLANS_IN_SQL, ids)}
            what, params = "range", ids
        else:
            plans = {row[0]: row[1:] for row in conn.execute(_PLANS_SQL)}
            what, params = "all", ()
        first_v2 = _first_v2_id(conn)
        streams = [
            (v2, conn.execute(_HISTORY[v2, what], (*params, first_v2))) for v2 in (False, True)
        ]
        return _scan_bytes(streams, plans, key, allow_unkeyed)
    finally:
        conn.close()


_V2_PREFIXES = tuple(
    f"{label}:".encode() for (_, found), label in chain.LABELS.items() if found == chain.V2
)


def _first_v2_id(conn: sqlite3.Connection) -> int:
    """Return the history id from which on the records are sealed with encoding 2.

    Records are appended, and napflow sealed with encoding 1 until it sealed with 2, so
    one binary search over the ids finds where. Nothing rests on it: a record put on the
    wrong side of it is hashed in the other encoding, does not match its digest, and its
    plan is diagnosed.
    """
    low, high = conn.execute("SELECT min(id), max(id) FROM history").fetchone()
    if low is None:
        return 0
    high += 1  # the answer when no record names encoding 2
    while low < high:
        middle = (low + high) // 2
        found = conn.execute(
            "SELECT hash FROM history WHERE id >= ? ORDER BY id LIMIT 1", (middle,)
        ).fetchone()
        if found is None or (isinstance(found[0], bytes) and found[0].startswith(_V2_PREFIXES)):
            high = middle
        else:
            low = middle + 1
    return int(low)


def _sealer(encoding: int, key: bytes | None) -> Callable[[bytes], bytes]:
    """Return what the scan seals bytes in ``encoding`` with: they give a stored digest."""
    sha256, hmac_digest = hashlib.sha256, hmac.digest
    if key:
        keyed = f"{chain.LABELS[chain.HMAC, encoding]}:".encode()
        return lambda data: keyed + hmac_digest(key, data, "sha256").hex().encode()
    plain = f"{chain.LABELS[chain.SHA256, encoding]}:".encode()
    return lambda data: plain + sha256(data).hexdigest().encode()


def _scan_bytes(
    streams: Iterable[tuple[bool, Iterable[Any]]],
    plans: dict[int, Any],
    key: bytes | None,
    allow_unkeyed: bool,
) -> Scan:
    """Run the hot loop of scan_sqlite: hash every record, follow links, count actions.

    ``streams`` are (encoding 2?, rows as :func:`_sqlite_history_sql` selects them): the
    records before :func:`_first_v2_id`, then those from it on, each in plan and seq
    order; a plan's walk goes on from one to the other. ``plans`` maps plan ids to (key,
    state, version, seq, head_hash), all bytes but the two numbers.
    """
    join = chain.SEPARATOR.encode().join
    hmac_prefix = tuple(
        f"{label}:".encode() for (name, _), label in chain.LABELS.items() if name == chain.HMAC
    )
    # plan id -> where its walk stands: prev, count, mails, state, intact, chain_keyed
    walks: dict[int, tuple[Any, ...]] = {}
    orphans: dict[int, int] = {}
    keyed_total = keyed_ok = 0
    for v2, rows in streams:
        encoding = chain.V2 if v2 else chain.V1
        plain = _sealer(encoding, None)
        seal = _sealer(encoding, key) if key else plain
        current: int | None = None
        prev: Any = b""
        state: Any = b""
        count = mails = 0
        intact = chain_keyed = True
        for row in rows:
            if row[0] != current:
                if current is not None:
                    walks[current] = (prev, count, mails, state, intact, chain_keyed)
                current = row[0]
                if current not in plans:  # its plan was removed from under its history
                    orphans[current] = orphans.get(current, 0) + 1
                    current = None
                    continue
                walk = walks.get(current)
                if walk is None:
                    genesis = chain.genesis(plans[current][0].decode()).encode()
                    walk = (genesis, 0, 0, b"", True, False)
                prev, count, mails, state, intact, chain_keyed = walk
            if v2:
                _, data, kind, to_state, link, stored = row
            else:
                fields = row[1:14]
                stored, kind, to_state, link = row[14], fields[1], fields[4], fields[12]
                try:
                    data = join(fields)
                except TypeError:  # a field encoding 1 cannot pin down (chain.ambiguous_v1)
                    data = None
            if link != prev:
                intact = False
            if data is not None and stored == seal(data):
                if key:
                    chain_keyed = True
                    keyed_total += 1
                    keyed_ok += 1
            elif stored.startswith(hmac_prefix):  # sealed with a key other than the one given
                if not key:
                    raise KeyNeeded
                chain_keyed, intact = True, False
                keyed_total += 1
            elif (
                not (allow_unkeyed or not key)
                or chain_keyed
                or data is None
                or stored != plain(data)
            ):
                intact = False  # plain where the key is required, or after it, or not sealed
            if kind in _UNVERSIONED:
                mails += 1
            count += 1
            prev = stored
            state = to_state
        if current is not None:
            walks[current] = (prev, count, mails, state, intact, chain_keyed)
    heads: dict[str, str] = {}
    ends: dict[str, tuple[int, int]] = {}
    suspects: list[str] = []
    records = 0
    for plan_id, (plan_key, plan_state, version, seq, head_hash) in plans.items():
        walk = walks.get(plan_id)
        if walk is None:  # no history at all
            heads[plan_key.decode()] = ""
            suspects.append(plan_key.decode())
            continue
        prev, count, mails, state, intact, _ = walk
        records += count
        heads[plan_key.decode()] = prev.decode()
        ends[plan_key.decode()] = (count, count - mails)
        ok = intact and count == seq and prev == head_hash
        if not (ok and plan_state == state and version == count - mails):
            suspects.append(plan_key.decode())
    return Scan(records, heads, sorted(suspects), keyed_total, keyed_ok, orphans, ends)
