"""Advances per second through the service layer, next to a raw sqlite3 loop of the same writes.

Both run in this process, on SQLite files with the same durable settings napflow uses (WAL,
synchronous=FULL, BEGIN IMMEDIATE), and the same schema (created by napflow's migrations).
The plan is on the national_report workflow, which declares no deadlines or notices, so an
advance is exactly a state change plus its history record, the writes the raw loop does.
A tamper-evident ledger must hash each record onto its chain, so the raw loop does that
too, in the fewest steps Python allows (its fields joined, one hashlib call).
The service runs twice, on databases of its own: on the fast path (the hot statements on the
driver cursor, napflow.storage.fastpath; the default) and on the plain path (the same
statements through SQLAlchemy's Connection.execute: ``[database] fast_path = false``).
Each round runs all three (the raw loop, then the fast and the plain service, the order
rotated every round) so machine noise hits all alike; the results are the ratios
(service rate / the same round's raw rate) per round and their medians. Target, on the fast
path: >= 0.5. The plain path's ratio is shown beside it (no target: it shows what the fast
path buys).

    python bench/advance.py [--rounds 5] [--advances 2000] [--small]

``--small`` (3 rounds of 200 advances, about two seconds) is the same run in miniature, to
show the benchmark works (tests/test_bench.py); its numbers are noisier.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from napflow import services
from napflow.clock import SystemClock
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings

COORD = "coord@example.org"
CHAIR = "chair@example.org"


#: --small: the defaults of a run of seconds (flags given still win)
SMALL = {"rounds": 3, "advances": 200}


def setup_service(path: Path, fast_path: bool = True) -> tuple[Runtime, str]:
    settings = Settings(database_url=f"sqlite:///{path}", fast_path=fast_path)
    rt = build_runtime(settings, clock=SystemClock())
    assert rt.db.fast_path is fast_path
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
    parser.add_argument("--advances", type=int, default=2000, help="per run, an even number")
    parser.add_argument("--small", action="store_true", help=f"a run of seconds: {SMALL}")
    args = parser.parse_args()
    if args.small:
        parser.set_defaults(**SMALL)
        args = parser.parse_args()
    if args.rounds < 1 or args.advances < 2:
        parser.error("--rounds must be at least 1 and --advances at least 2")
    with tempfile.TemporaryDirectory() as tmp:
        fast_rt, fast_key = setup_service(Path(tmp) / "fast.db")
        plain_rt, plain_key = setup_service(Path(tmp) / "plain.db", fast_path=False)
        raw = setup_raw(Path(tmp) / "raw.db")
        runs: dict[str, Callable[[], float]] = {
            "raw": lambda: run_raw(raw, args.advances),
            "fast": lambda: run_service(fast_rt, fast_key, args.advances),
            "plain": lambda: run_service(plain_rt, plain_key, args.advances),
        }
        run_service(fast_rt, fast_key, 200)  # warm caches, compile statements
        run_service(plain_rt, plain_key, 200)
        run_raw(raw, 200)
        rates: dict[str, list[float]] = {name: [] for name in runs}
        fast_ratios, plain_ratios = [], []
        names = list(runs)
        for r in range(args.rounds):
            for name in names[r % 3 :] + names[: r % 3]:
                rates[name].append(runs[name]())
            raw_rate, fast_rate, plain_rate = (rates[name][-1] for name in names)
            fast_ratios.append(fast_rate / raw_rate)
            plain_ratios.append(plain_rate / raw_rate)
            print(
                f"round {r + 1}: raw sqlite3 {raw_rate:8.0f}/s  napflow fast path "
                f"{fast_rate:8.0f}/s  ratio {fast_ratios[-1]:.2f}  plain SQLAlchemy "
                f"{plain_rate:8.0f}/s  ratio {plain_ratios[-1]:.2f}"
            )
        fast_rt.db.dispose()
        plain_rt.db.dispose()
        raw.close()
    fast, plain = statistics.median(fast_ratios), statistics.median(plain_ratios)
    print(f"median ratio to raw sqlite3: fast path {fast:.2f} (target >= 0.5), plain {plain:.2f}")
    print(
        json.dumps(
            {
                "benchmark": "advance",
                "rounds": args.rounds,
                "advances_per_round": args.advances,
                "median_rates": {name: round(statistics.median(v)) for name, v in rates.items()},
                "median_ratio": round(fast, 3),
                "median_ratio_plain": round(plain, 3),
                "target": 0.5,
            }
        )
    )


if __name__ == "__main__":
    main()
