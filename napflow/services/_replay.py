"""Reading the ledger for the replay that judges every record's authority.

:func:`start_judging` reads the site ledger, then every plan's records in order (the
payload only of the kinds whose payload the replay reads: creation, roles, drafts,
migrations, deadlines, zones), and hands each plan's records to
:func:`napflow.ledger.authority.judge_plan`. On SQLite the rows are read straight from the
file, read-only, and a large ledger is shared among worker processes by ranges of plans,
started before the chain scan so that both run at once.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Text, case, select, type_coerce

from napflow.errors import NapflowError
from napflow.i18n import SOURCE, use_locale
from napflow.ledger import chain
from napflow.ledger.authority import (
    UNAUTHORIZED,
    UNJUDGED,
    People,
    Step,
    engines,
    judge_plan,
    site_events,
)
from napflow.ledger.record import Kind
from napflow.ledger.verification import EDITED, SITE_LEDGER, Problem, split_plans
from napflow.runtime import Runtime
from napflow.storage.schema import history, plans, site_history, workflow_versions
from napflow.workflow.definition import WorkflowDefinition

#: the kinds whose payload the replay reads (others' payloads are not even fetched)
_READ_PAYLOAD = (
    Kind.CREATED,
    Kind.ROLE_GRANTED,
    Kind.ROLE_REVOKED,
    Kind.DRAFT_ADDED,
    Kind.MIGRATED,
    Kind.PLAN_EDITED,
    Kind.DEADLINE_ADDED,
    Kind.DEADLINE_MET,
    Kind.DEADLINE_CANCELLED,
)
#: from this many records on, a SQLite ledger is replayed by several processes
PARALLEL_FROM = 200_000


def _quoted(kinds: Iterable[str]) -> str:
    return ", ".join(f"'{kind}'" for kind in sorted(kinds))


#: the same rows, read straight from a SQLite file: the payloads of _READ_PAYLOAD's kinds,
#: and not the records the replay skips (authority.UNJUDGED); the kinds are napflow's own
#: constants, never input
_SQLITE_STEPS = f"""
SELECT p.key, h.seq, h.kind, h."trigger", h.from_state, h.to_state, h.actor, h.role,
       h.comment IS NOT NULL, h.at, h.workflow, h.workflow_version,
       CASE WHEN h.kind IN ({_quoted(_READ_PAYLOAD)}) THEN h.payload END
FROM history h JOIN plans p ON p.id = h.plan_id
WHERE h.plan_id BETWEEN ? AND ? AND h.kind NOT IN ({_quoted(UNJUDGED)})
ORDER BY h.plan_id, h.seq
"""  # noqa: S608


@dataclass(frozen=True)
class Judgement:
    """What the replay found: the records not allowed, and how many it could not judge."""

    problems: list[Problem]
    not_judged: int


def _at(value: object) -> str:
    if isinstance(value, str):
        return value
    return chain.at_text(value) if isinstance(value, datetime) else str(value)


def _parsed(text: str | None) -> Mapping[str, Any] | None:
    if not text:
        return None
    try:
        found = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested past any napflow payload
        return None
    return found if isinstance(found, dict) else None


def _plans_of(
    rows: Iterable[tuple[Any, ...]], until: Mapping[str, int] | None = None
) -> Iterator[tuple[str, list[Step]]]:
    """Group ordered (key, FIELDS of a Step...) rows into each plan's steps.

    With ``until``, only each plan's records up to that seq (those of the snapshot the
    site ledger was read in), and only the plans it names.
    """
    current: str | None = None
    steps: list[Step] = []
    for key, seq, kind, trig, src, dest, actor, role, commented, at, wf, ver, text in rows:
        if until is not None and not (key in until and isinstance(seq, int) and seq <= until[key]):
            continue
        if key != current:
            if current is not None:
                yield current, steps
            current, steps = key, []
        steps.append(
            Step(
                seq,
                kind,
                trig,
                src,
                dest,
                actor,
                role,
                bool(commented),
                _at(at),
                wf,
                ver,
                _parsed(text),
            )
        )
    if current is not None:
        yield current, steps


def _generic_rows(
    conn: Connection, wanted: str | Collection[str] | None
) -> Iterator[tuple[Any, ...]]:
    raw = conn.dialect.name == "sqlite"
    payload = case(
        (history.c.kind.in_(_READ_PAYLOAD), type_coerce(history.c.payload, Text)), else_=None
    )
    query = (
        select(
            plans.c.key,
            history.c.seq,
            history.c.kind,
            history.c.trigger,
            history.c.from_state,
            history.c.to_state,
            history.c.actor,
            history.c.role,
            history.c.comment.is_not(None),
            type_coerce(history.c.at, Text) if raw else history.c.at,
            history.c.workflow,
            history.c.workflow_version,
            payload,
        )
        .join(plans, plans.c.id == history.c.plan_id)
        .where(history.c.kind.not_in(UNJUDGED))
        .order_by(history.c.plan_id, history.c.seq)
    )
    if isinstance(wanted, str):
        query = query.where(plans.c.key == wanted)
    elif wanted is not None:
        query = query.where(plans.c.key.in_(sorted(wanted)))
    for row in conn.execute(query, execution_options={"yield_per": 5000}):
        yield tuple(row)


def _people(conn: Connection) -> People:
    raw = conn.dialect.name == "sqlite"
    at = type_coerce(site_history.c.at, Text) if raw else site_history.c.at
    rows = conn.execute(
        select(
            site_history.c.seq,
            at,
            site_history.c.kind,
            site_history.c.actor,
            type_coerce(site_history.c.payload, Text),
        ).order_by(site_history.c.seq)
    )
    return People(site_events((q, _at(a), k, who, p) for q, a, k, who, p in rows))


def _judge_all(
    plans_steps: Iterable[tuple[str, list[Step]]],
    definitions: Mapping[tuple[str, int], WorkflowDefinition],
    people: People,
) -> Judgement:
    # in English, as every problem verify names, whoever asks (the engine's reasons would
    # otherwise follow a web reader's language here, and not in the worker processes)
    with use_locale(SOURCE):
        return _judge_plans(plans_steps, definitions, people)


def _judge_plans(
    plans_steps: Iterable[tuple[str, list[Step]]],
    definitions: Mapping[tuple[str, int], WorkflowDefinition],
    people: People,
) -> Judgement:
    lookup = engines(definitions.get)
    problems: list[Problem] = []
    not_judged = 0
    for key, steps in plans_steps:
        try:
            verdict = judge_plan(key, steps, lookup, people)
        except (TypeError, ValueError, AttributeError, KeyError, RecursionError) as exc:
            detail = f"its history holds values napflow never writes ({type(exc).__name__})"
            problems.append(Problem(key, None, EDITED, detail))
            continue
        not_judged += verdict.not_judged
        problems += [Problem(key, f.seq, UNAUTHORIZED, f.detail) for f in verdict.findings]
    return Judgement(problems, not_judged)


def _judge_range(
    path: str,
    definitions: Mapping[tuple[str, int], WorkflowDefinition],
    people: People,
    until: Mapping[str, int],
    span: tuple[int, int],
) -> Judgement:
    """Replay the plans with ids in ``span`` from the SQLite file ``path`` (a worker's part).

    Each plan up to the seq ``until`` gives it (the snapshot the site ledger was read in).
    """
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute(_SQLITE_STEPS, span)
        return _judge_all(_plans_of(rows, until), definitions, people)
    finally:
        conn.close()


def _definitions(rt: Runtime) -> dict[tuple[str, int], WorkflowDefinition]:
    """Return every workflow version napflow has: each file's, and each one stored."""
    found = {}
    for name in rt.catalog.names():
        try:
            definition = rt.catalog.get(name)
        except NapflowError:  # a broken workflow file: its records are not judged
            continue
        found[name, definition.version] = definition
    with rt.db.read() as conn:
        stored = conn.execute(select(workflow_versions.c.name, workflow_versions.c.version)).all()
    for name, version in stored:
        if (name, version) not in found:
            kept = rt.catalog.stored(name, version)
            if kept is not None:
                found[name, version] = kept
    return found


def _site_findings(people: People) -> list[Problem]:
    return [Problem(SITE_LEDGER, f.seq, UNAUTHORIZED, f.detail) for f in people.findings]


def start_judging(
    rt: Runtime, wanted: str | None = None, workers: int | None = None
) -> Callable[[], Judgement]:
    """Start replaying every plan (or plan ``wanted``); return what collects the judgement.

    Everything is read in one snapshot per process: the site ledger (who is who,
    administrators, deactivations) and every plan's records. A SQLite ledger of
    PARALLEL_FROM records or more (or any, given ``workers`` > 1) is judged by worker
    processes (default: one per CPU, at most 8), which run while the caller goes on.
    """
    definitions = _definitions(rt)
    sqlite = rt.db.sqlite_path is not None
    with rt.db.read() as conn:  # one snapshot: the site ledger and the plans' records
        people = _people(conn)
        ends = conn.execute(select(plans.c.id, plans.c.key, plans.c.seq).order_by(plans.c.id))
        sizes = [(int(i), k, int(n)) for i, k, n in ends] if sqlite and wanted is None else []
        if workers is None:
            large = sum(n for _, _, n in sizes) >= PARALLEL_FROM
            workers = min(os.cpu_count() or 1, 8) if large else 1
        workers = min(workers, len(sizes))
        if workers <= 1:
            judged = _judge_all(_plans_of(_generic_rows(conn, wanted)), definitions, people)
            site = _site_findings(people) if wanted is None else []
            return lambda: Judgement([*site, *judged.problems], judged.not_judged)
    # worker processes read later: each plan only as far as this snapshot had it
    until = {k: n for _, k, n in sizes}
    path = str(rt.db.sqlite_path)
    context = multiprocessing.get_context("spawn")  # no state of this process inherited
    pool = ProcessPoolExecutor(workers, mp_context=context)
    spans = split_plans([(i, n) for i, _, n in sizes], sum(until.values()), workers)
    futures: list[Future[Judgement]] = [
        pool.submit(_judge_range, path, definitions, people, until, span) for span in spans
    ]
    pool.shutdown(wait=False)

    def collect() -> Judgement:
        parts = [f.result() for f in futures]
        found = [p for part in parts for p in part.problems]
        return Judgement([*_site_findings(people), *found], sum(p.not_judged for p in parts))

    return collect


def judge_plans(rt: Runtime, keys: Collection[str], site_after: int | None = None) -> Judgement:
    """Replay the plans ``keys`` whole, in this process and one snapshot (an increment's).

    With ``site_after``, also the site ledger's records after that seq that were not
    allowed (the site ledger is read whole either way: it says who was who).
    """
    definitions = _definitions(rt)
    with rt.db.read() as conn:
        people = _people(conn)
        judged = (
            _judge_all(_plans_of(_generic_rows(conn, keys)), definitions, people)
            if keys
            else Judgement([], 0)
        )
    site = [
        p
        for p in _site_findings(people)
        if site_after is not None and p.seq is not None and p.seq > site_after
    ]
    return Judgement([*site, *judged.problems], judged.not_judged)
