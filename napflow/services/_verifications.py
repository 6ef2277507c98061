"""Stored verifications: each run's result, and how far each chain was found intact.

A run is one row of ``verifications``; the chains it moved are rows of ``verified_heads``
(both append-only). A chain's verified head is its row of the newest run that has one:
an incremental run goes on from there (napflow.services.audit). A run that found nothing
wrong moves the chains it verified to where it found them ending; a full run that found a
chain broken moves it back to nothing (seq 0), so that incremental runs check that chain
whole until a run finds it intact again; a run never moves a chain on otherwise.

Runs may overlap (two pages at once, the CLI and a page). Each stores its result in one
transaction, one after the other (SQLite's write lock; on PostgreSQL a transaction-level
advisory lock), and moves a chain on only if no run stored since it read the chain's
verified head (a compare-and-swap per chain, as advances do with a plan's seq): so a run
that began earlier never undoes what a later one stored, and a chain a full run found
broken stays so whatever an overlapping incremental run concluded.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, insert, select, text

from napflow.ledger.verification import SITE_LEDGER, Problem, Verified
from napflow.storage.schema import history, site_history, verifications, verified_heads

#: the scope of a run over every plan (and the site ledger); else the countries, "KGZ,TJK"
EVERY_PLAN = "*"
#: what the site ledger's verified head is stored under (plans under their keys)
SITE_CHAIN = SITE_LEDGER
#: the PostgreSQL advisory lock that puts the storing of runs one after the other
_STORE_LOCK = 0x6E6170_766572  # "nap" "ver"


class Head(NamedTuple):
    """A chain's verified head, and the run that stored it."""

    run: int
    verified: Verified


@dataclass(frozen=True)
class Run:
    """One verification as stored (``id`` None: not stored)."""

    id: int | None
    ran_at: datetime
    ran_by: str | None
    incremental: bool
    scope: str
    ok: bool
    plans: int
    records: int
    site_records: int
    not_judged: int
    head: str
    history_id: int
    site_id: int
    problems: list[Problem]


def scope_text(countries: Collection[str] | None) -> str:
    """Return how a scope is stored: every plan, or the countries in order."""
    return EVERY_PLAN if countries is None else ",".join(sorted(countries))


def verified_heads_of(conn: Connection, chains: Collection[str] | None) -> dict[str, Head]:
    """Return the verified head of each chain (of ``chains``; None: every chain stored)."""
    newest = select(
        verified_heads.c.chain, func.max(verified_heads.c.verification_id).label("run")
    ).group_by(verified_heads.c.chain)
    if chains is not None:
        if not chains:
            return {}
        newest = newest.where(verified_heads.c.chain.in_(sorted(chains)))
    latest = newest.subquery()
    rows = conn.execute(
        select(
            verified_heads.c.chain,
            verified_heads.c.verification_id,
            verified_heads.c.seq,
            verified_heads.c.hash,
            verified_heads.c.actions,
        ).join(
            latest,
            (verified_heads.c.chain == latest.c.chain)
            & (verified_heads.c.verification_id == latest.c.run),
        )
    )
    return {
        row.chain: Head(row.verification_id, Verified(row.seq, row.hash, row.actions))
        for row in rows
    }


def newest_ids(conn: Connection) -> tuple[int, int]:
    """Return the newest history id and site ledger id (0 where there is none)."""
    plan_id = conn.execute(select(func.max(history.c.id))).scalar()
    site_id = conn.execute(select(func.max(site_history.c.id))).scalar()
    return int(plan_id or 0), int(site_id or 0)


def last_run(conn: Connection, scope: str) -> Run | None:
    """Return the newest run of ``scope``, or None if none was stored."""
    row = conn.execute(
        select(verifications)
        .where(verifications.c.scope == scope)
        .order_by(verifications.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else _run_of(row)


def _run_of(row: Any) -> Run:
    found = row.problems if isinstance(row.problems, list) else []
    problems = [
        Problem(str(p[0]), p[1] if isinstance(p[1], int) else None, str(p[2]), str(p[3]))
        for p in found
        if isinstance(p, list) and len(p) == 4
    ]
    return Run(
        row.id,
        row.ran_at,
        row.ran_by,
        bool(row.incremental),
        row.scope,
        bool(row.ok),
        row.plans,
        row.records,
        row.site_records,
        row.not_judged,
        row.head,
        row.history_id,
        row.site_id,
        problems,
    )


def store(
    conn: Connection,
    run: Run,
    seen: Mapping[str, Head],
    reached: Mapping[str, Verified],
    broken: Iterable[str] = (),
) -> int:
    """Store ``run`` and move the chains it verified; return its id (see the docstring).

    ``seen`` are the verified heads the run read before it began, ``reached`` where it
    found each chain intact up to (moved only if no run stored a head since ``seen``),
    ``broken`` the chains a full run found broken (moved back to nothing).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _STORE_LOCK})
    now = verified_heads_of(conn, set(reached))
    moved = {
        chain: end
        for chain, end in reached.items()
        if (now[chain].run if chain in now else None)
        == (seen[chain].run if chain in seen else None)
    }
    moved.update({chain: Verified(0, "", 0) for chain in broken})
    run_id = conn.execute(
        insert(verifications)
        .values(
            ran_at=run.ran_at,
            ran_by=run.ran_by,
            incremental=run.incremental,
            scope=run.scope,
            ok=run.ok,
            plans=run.plans,
            records=run.records,
            site_records=run.site_records,
            not_judged=run.not_judged,
            head=run.head,
            history_id=run.history_id,
            site_id=run.site_id,
            problems=[[p.plan, p.seq, p.kind, p.detail] for p in run.problems],
        )
        .returning(verifications.c.id)
    ).scalar_one()
    if moved:
        conn.execute(
            insert(verified_heads),
            [
                {
                    "verification_id": run_id,
                    "chain": chain,
                    "seq": end.seq,
                    "hash": end.hash,
                    "actions": end.actions,
                }
                for chain, end in sorted(moved.items())
            ],
        )
    return int(run_id)
