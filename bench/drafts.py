"""Adding and fetching a draft, next to writing and reading the same bytes as one BLOB.

Builds an SQLite database with one plan, and a file of random bytes (50 MiB unless told).
First, in this fresh process, it adds the file as a draft once and reports the process's
peak memory (its resident high-water mark) against the file's size: a draft is streamed in
chunks, never held whole, so the peak stays near what napflow needs anyway (target: under
3x the file size). Then, in each round, alternating in this process:

- napflow: ``services.drafts.add_draft`` from the file (spooled, hashed, sniffed, stored in
  chunks, sealed in the history, one transaction), and ``read_draft`` back (every chunk
  read and the digest checked);
- raw sqlite3: the same bytes read whole and written as one BLOB into a table of a second
  database file with the same durability (WAL, synchronous FULL), and read back whole.

Each round changes the file's first bytes, so napflow stores every round's bytes anew (it
keeps one copy per SHA-256). The result is, each way, raw time over napflow time (1.0:
as fast as a bare BLOB) per round and their median. Target: >= 0.5 each way.

    python bench/drafts.py [--rounds 3] [--mb 50] [--small]

``--small`` (2 rounds of a 2 MiB file; a second or two) is the same run in miniature, to
show the benchmark works (tests/test_bench.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from napflow import services
from napflow.clock import SystemClock
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings

#: --small: the defaults of a run of seconds (flags given still win)
SMALL = {"rounds": 2, "mb": 2}
KEY = "TJK-B"


def peak_rss() -> int:
    """Return this process's resident high-water mark, in bytes (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def napflow_add(rt: Runtime, path: Path) -> float:
    """Add the file as a draft through the service; return the seconds it took."""
    start = time.perf_counter()
    with path.open("rb") as source:
        services.drafts.add_draft(rt, KEY, source, path.name)
    return time.perf_counter() - start


def napflow_read(rt: Runtime) -> tuple[float, int]:
    """Read the current draft back through the service; return the seconds and the bytes."""
    start = time.perf_counter()
    _found, chunks = services.drafts.read_draft(rt, KEY)
    size = sum(len(chunk) for chunk in chunks)
    return time.perf_counter() - start, size


def raw_write(db: sqlite3.Connection, path: Path) -> float:
    """Write the file's bytes as one BLOB, committed durably; return the seconds."""
    start = time.perf_counter()
    data = path.read_bytes()
    db.execute("INSERT INTO blobs (data) VALUES (?)", (data,))
    db.commit()
    return time.perf_counter() - start


def raw_read(db: sqlite3.Connection) -> tuple[float, int]:
    """Read the newest BLOB back whole; return the seconds and its size."""
    start = time.perf_counter()
    (data,) = db.execute("SELECT data FROM blobs ORDER BY id DESC LIMIT 1").fetchone()
    return time.perf_counter() - start, len(data)


def change_head(path: Path, round_number: int) -> None:
    """Give the file new first bytes, so its digest (and napflow's stored copy) is new."""
    with path.open("r+b") as handle:
        handle.write(round_number.to_bytes(8, "big"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--small", action="store_true", help=f"a run of seconds: {SMALL}")
    args = parser.parse_args()
    if args.small:
        parser.set_defaults(**SMALL)
        args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = Settings(database_url=f"sqlite:///{folder / 'napflow.db'}", draft_max_mb=64)
        rt = build_runtime(settings, clock=SystemClock())
        services.init_database(rt)
        services.create_plan(rt, "TJK", "Draft benchmark", key=KEY)
        path = folder / "nap-draft.bin"
        with path.open("wb") as out:  # written a chunk at a time: never whole in memory
            for _ in range(args.mb):
                out.write(os.urandom(1 << 20))
        size = path.stat().st_size

        before = peak_rss()
        napflow_add(rt, path)  # the first upload of this process: its memory is measured
        after = peak_rss()
        print(
            f"upload of {size / (1 << 20):.0f} MiB: peak resident memory {after / (1 << 20):.0f} "
            f"MiB ({before / (1 << 20):.0f} MiB before it), {after / size:.2f}x the file size"
        )

        db = sqlite3.connect(folder / "raw.db")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        writes, reads = [], []
        for r in range(args.rounds):
            change_head(path, r + 1)
            raw_in = raw_write(db, path)
            ours_in = napflow_add(rt, path)
            raw_out, raw_size = raw_read(db)
            ours_out, our_size = napflow_read(rt)
            assert raw_size == our_size == size
            writes.append(raw_in / ours_in)
            reads.append(raw_out / ours_out)
            print(
                f"round {r + 1}: write raw {size / raw_in / (1 << 20):7.1f} MiB/s  napflow "
                f"{size / ours_in / (1 << 20):7.1f} MiB/s  ratio {writes[-1]:.2f}   read raw "
                f"{size / raw_out / (1 << 20):7.1f} MiB/s  napflow "
                f"{size / ours_out / (1 << 20):7.1f} MiB/s  ratio {reads[-1]:.2f}"
            )
        db.close()
        rt.db.dispose()
        print(
            json.dumps(
                {
                    "benchmark": "drafts",
                    "bytes": size,
                    "rounds": args.rounds,
                    "median_write_ratio": round(statistics.median(writes), 3),
                    "median_read_ratio": round(statistics.median(reads), 3),
                    "peak_memory_ratio": round(after / size, 2),
                    "target": {"ratio": 0.5, "peak_memory_ratio": 3},
                }
            )
        )


if __name__ == "__main__":
    main()
