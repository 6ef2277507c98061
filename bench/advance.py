"""Advances per second through the service layer, next to a raw sqlite3 loop of the same writes.

Both run in this process, on SQLite files with the same durable settings napflow uses (WAL,
synchronous=FULL, BEGIN IMMEDIATE), and the same schema (created by napflow's migrations).
The plan is on the national_report workflow, which declares no deadlines or notices, so an
advance is exactly a state change plus its history record, the writes the raw loop does.
A tamper-evident ledger must hash each record onto its chain, so the raw loop does that
too, in the fewest steps Python allows (its fields joined, one hashlib call).
Rounds alternate between the two so machine noise hits both alike; the result is the ratio
(service rate / raw rate) per round and its median. Target: >= 0.5.

    python bench/advance.py [--rounds 5] [--advances 2000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from napflow import services
from napflow.clock import SystemClock
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings

COORD = "coord@example.org"
CHAIR = "chair@example.org"


def setup_service(path: Path) -> tuple[Runtime, str]:
    rt = build_runtime(Settings(database_url=f"sqlite:///{path}"), clock=SystemClock())
    services.init_database(rt)
    for email in (COORD, CHAIR):
        services.add_person(rt, email, email)
    key = services.create_plan(rt, "TJK", "Bench", workflow="national_report", key="TJK-B").key
    services.grant_role(rt, key, COORD, "coordinator")
    services.grant_role(rt, key, CHAIR, "wg_chair")
    return rt, key


def run_service(rt: Runtime, key: str, n: int) -> float:
    start = time.perf_counter()
    for i in range(n // 2):
        services.advance_plan(rt, key, "submit_for_clearance", COORD)
        services.advance_plan(rt, key, "request_changes", CHAIR, f"Round {i}: please revise.")
    return n / (time.perf_counter() - start)


def setup_raw(path: Path) -> sqlite3.Connection:
    rt, _key = setup_service(path)  # same schema and first rows, made by napflow itself
    rt.db.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def run_raw(conn: sqlite3.Connection, n: int) -> float:
    plan_id, version, seq, head = conn.execute(
        "SELECT id, version, seq, head_hash FROM plans"
    ).fetchone()
    moves = [
        ("drafting", "clearance", "submit_for_clearance", COORD, "coordinator"),
        ("clearance", "drafting", "request_changes", CHAIR, "wg_chair"),
    ]
    start = time.perf_counter()
    for i in range(n):
        src, dest, trigger, actor, role = moves[i % 2]
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
        comment = f"Round {i // 2}: please revise." if i % 2 else None
        fields = (seq + 1, "transition", trigger, src, dest, actor, role, comment, now, head)
        digest = "sha256:" + hashlib.sha256("\x1f".join(map(str, fields)).encode()).hexdigest()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "UPDATE plans SET version = ?, seq = ?, head_hash = ?, updated_at = ?, state = ?, "
            "entered_seq = ? WHERE id = ? AND seq = ?",
            (version + 1, seq + 1, digest, now, dest, seq + 1, plan_id, seq),
        )
        conn.execute(
            'INSERT INTO history (plan_id, seq, kind, "trigger", from_state, to_state, actor, '
            "role, comment, at, workflow, workflow_version, payload, prev_hash, hash) "
            "VALUES (?, ?, 'transition', ?, ?, ?, ?, ?, ?, ?, 'national_report', 1, NULL, ?, ?)",
            (plan_id, seq + 1, trigger, src, dest, actor, role, comment, now, head, digest),
        )
        conn.execute("COMMIT")
        version, seq, head = version + 1, seq + 1, digest
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--advances", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rt, key = setup_service(Path(tmp) / "service.db")
        raw = setup_raw(Path(tmp) / "raw.db")
        run_service(rt, key, 200)  # warm caches, compile statements
        run_raw(raw, 200)
        rows = []
        for r in range(args.rounds):
            raw_rate = run_raw(raw, args.advances)
            service_rate = run_service(rt, key, args.advances)
            rows.append((raw_rate, service_rate, service_rate / raw_rate))
            print(
                f"round {r + 1}: raw sqlite3 {raw_rate:8.0f}/s  napflow {service_rate:8.0f}/s"
                f"  ratio {service_rate / raw_rate:.2f}"
            )
        median = statistics.median(ratio for _, _, ratio in rows)
        print(
            json.dumps(
                {
                    "benchmark": "advance",
                    "rounds": args.rounds,
                    "advances_per_round": args.advances,
                    "median_ratio": round(median, 3),
                    "target": 0.5,
                }
            )
        )


if __name__ == "__main__":
    main()
