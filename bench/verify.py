"""Ledger verification speed, next to hashing the same bytes with hashlib alone.

Builds a SQLite ledger of 1,000,000 records (1,000 plans of 1,000 records: roles granted,
then rounds of a submission, seven endorsements (some with comments), mail deliveries and
a return for changes, every action allowed by the NAP workflow), sealed exactly as napflow
seals them, then in each round times

- ``napflow audit verify`` (the service: read the plans, scan and hash every record, follow
  every link, check every plan's row, and replay every plan through its workflow to judge
  each record's authority), with its default of one worker process per CPU, and again in
  one process, for reference, and
- hashlib alone: one SHA-256 per record over the same canonical bytes, already in memory.

Rounds alternate between the two in this process; the result is the ratio (verify records/s
over hashlib records/s) per round and its median. Target: >= 0.2, the chains and the
replay of every plan together.

    python bench/verify.py [--rounds 3] [--plans 1000] [--per-plan 1000] [--small]

``--small`` (3 rounds on 20 plans of 500 records; a few seconds) is the same run in
miniature, to show the benchmark works (tests/test_bench.py); its numbers are noisier (the
worker processes' start-up weighs more on so few records).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from napflow import services
from napflow.clock import SystemClock
from napflow.ledger import chain
from napflow.ledger.verification import scan_sqlite
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.services import audit
from napflow.services._replay import start_judging

#: --small: the defaults of a run of seconds (flags given still win)
SMALL = {"rounds": 3, "plans": 20, "per_plan": 500}
START = datetime(2015, 7, 1, 4, 0, tzinfo=UTC)
_PREV = chain.FIELDS.index("prev_hash")
COLUMNS = (
    'plan_id, seq, kind, "trigger", from_state, to_state, actor, role, comment, at, workflow, '
    "workflow_version, payload, prev_hash, hash"
)


MEMBERS = [f"member{i}@mfa.tj.example" for i in range(7)]
COORDINATOR, CHAIR = "coord@mfa.tj.example", "chair@mfa.tj.example"
WG = "working_group_review"


def _story(plan_key: str) -> Iterator[dict[str, str | int | None]]:
    """Yield a plan's records as napflow writes them, every action allowed by its workflow.

    Created, its nine roles granted, then rounds without end: submitted to the working
    group, endorsed by its seven members (some with a comment), mail delivered, returned
    for changes by the chair with a comment.
    """
    yield {
        "kind": "created",
        "to_state": "drafting",
        "payload": chain.payload_text({"title": f"Plan {plan_key}", "country": "TJK"}),
    }
    cast = [(COORDINATOR, "coordinator"), (CHAIR, "wg_chair")]
    for person, role in [*cast, *((m, "wg_member") for m in MEMBERS)]:
        yield {
            "kind": "role_granted",
            "payload": chain.payload_text({"person": person, "role": role}),
        }
    while True:
        yield {
            "kind": "transition",
            "trigger": "submit_for_review",
            "from_state": "drafting",
            "to_state": WG,
            "actor": COORDINATOR,
            "role": "coordinator",
        }
        for n, member in enumerate(MEMBERS):
            endorsement: dict[str, str | int | None] = {
                "kind": "action",
                "trigger": "endorse",
                "from_state": WG,
                "to_state": WG,
                "actor": member,
                "role": "wg_member",
            }
            if n % 2:
                endorsement["comment"] = "Agreed, with the changes to section 3 on export controls."
            yield endorsement
            mail = {"recipient": member, "rung": "7d", "attempts": 1}
            mail["message_id"] = f"<{plan_key}.{n}@napflow.example>"
            yield {"kind": "mail_sent", "payload": chain.payload_text(mail)}
        yield {
            "kind": "transition",
            "trigger": "request_changes",
            "from_state": WG,
            "to_state": "drafting",
            "actor": CHAIR,
            "role": "wg_chair",
            "comment": "Section 4 needs the customs agency's text.",
        }


def _records(plan_key: str, count: int) -> Iterator[list[str | int | None]]:
    """Yield ``count`` records of a plan (FIELDS values, canonical, not yet chained)."""
    story = _story(plan_key)
    for seq in range(1, count + 1):
        record = {
            **next(story),
            "seq": seq,
            "at": chain.at_text(START + timedelta(minutes=seq)),
            "workflow": "nap",
            "workflow_version": 1,
        }
        yield [record.get(name) for name in chain.FIELDS]


def build_ledger(path: Path, plans: int, per_plan: int) -> tuple[Runtime, list[bytes]]:
    """Create the ledger with napflow's schema; return it and every record's canonical bytes."""
    rt = build_runtime(Settings(database_url=f"sqlite:///{path}"), clock=SystemClock())
    services.init_database(rt)
    rt.db.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER history_append_only_update")  # only to load fast, re-created
    conn.execute("BEGIN")
    canonical: list[bytes] = []
    for p in range(1, plans + 1):
        key = f"TJK-{p}"
        prev = chain.genesis(key)
        rows = []
        state, version = "drafting", 0
        for values in _records(key, per_plan):
            values[_PREV] = prev
            data = chain.canonical(values)
            digest = chain.digest(data, None)
            canonical.append(data)
            rows.append((p, *values, digest))
            prev = digest
            if values[1] in ("created", "transition"):
                state = str(values[4])
            version += values[1] != "mail_sent"
        conn.execute(
            "INSERT INTO plans (id, key, country, title, workflow, workflow_version, state, "
            "version, seq, head_hash, entered_seq, timezone, created_at, updated_at) "
            "VALUES (?, ?, 'TJK', ?, 'nap', 1, ?, ?, ?, ?, 1, 'Asia/Dushanbe', ?, ?)",
            (p, key, f"Plan {key}", state, version, per_plan, prev, "2015-07-01", "2015-07-01"),
        )
        conn.executemany(f"INSERT INTO history ({COLUMNS}) VALUES ({', '.join('?' * 15)})", rows)
    conn.execute("COMMIT")
    conn.execute(
        "CREATE TRIGGER history_append_only_update BEFORE UPDATE ON history "
        "BEGIN SELECT RAISE(ABORT, 'history is append-only'); END"
    )
    conn.close()
    return rt, canonical


def run_verify(rt: Runtime, workers: int | None = None) -> tuple[float, int]:
    start = time.perf_counter()
    report = audit.verify_ledger(rt, workers=workers)
    elapsed = time.perf_counter() - start
    assert report.ok, report.problems[:3]
    return report.records / elapsed, report.records


def run_parts(rt: Runtime, records: int) -> tuple[float, float]:
    """Time the two halves of a verify apart: the chain scan, and the replay (records/s).

    Each with its default worker processes, so that the report shows where the time goes.
    """
    path = rt.db.sqlite_path
    assert path is not None
    start = time.perf_counter()
    scan_sqlite(path, rt.secrets.audit_key)
    scanned = time.perf_counter()
    judged = start_judging(rt)()
    replayed = time.perf_counter()
    assert not judged.problems, judged.problems[:3]
    return records / (scanned - start), records / (replayed - scanned)


def run_hashlib(canonical: list[bytes]) -> float:
    sha256 = hashlib.sha256
    start = time.perf_counter()
    for data in canonical:
        sha256(data).hexdigest()
    return len(canonical) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--plans", type=int, default=1000)
    parser.add_argument("--per-plan", type=int, default=1000)
    parser.add_argument("--small", action="store_true", help=f"a run of seconds: {SMALL}")
    args = parser.parse_args()
    if args.small:
        parser.set_defaults(**SMALL)
        args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rt, canonical = build_ledger(Path(tmp) / "ledger.db", args.plans, args.per_plan)
        ratios, alone, chains, replays = [], [], [], []
        for r in range(args.rounds):
            hash_rate = run_hashlib(canonical)
            verify_rate, records = run_verify(rt)
            single_rate, _ = run_verify(rt, workers=1)
            scan_rate, replay_rate = run_parts(rt, records)
            ratios.append(verify_rate / hash_rate)
            alone.append(single_rate / hash_rate)
            chains.append(scan_rate / hash_rate)
            replays.append(replay_rate / hash_rate)
            print(
                f"round {r + 1}: hashlib {hash_rate:9.0f} records/s  napflow audit verify "
                f"{verify_rate:9.0f} records/s  ratio {ratios[-1]:.2f}  "
                f"(in one process {single_rate:9.0f} records/s, ratio {alone[-1]:.2f}; "
                f"the chains alone {chains[-1]:.2f}, the replay alone {replays[-1]:.2f})"
            )
        print(
            json.dumps(
                {
                    "benchmark": "verify",
                    "records": records,
                    "rounds": args.rounds,
                    "median_ratio": round(statistics.median(ratios), 3),
                    "median_ratio_one_process": round(statistics.median(alone), 3),
                    "median_ratio_chains_alone": round(statistics.median(chains), 3),
                    "median_ratio_replay_alone": round(statistics.median(replays), 3),
                    "cpus": os.cpu_count(),
                    "target": 0.2,
                }
            )
        )


if __name__ == "__main__":
    main()
