"""Dispatch benchmarks, each against a baseline measured in the same run.

1. Throughput: messages per second through napflow's dispatcher (claim, render, send over
   SMTP, mark) to a local aiosmtpd sink, its readers half in Russian and half in English,
   next to a raw smtplib loop sending the same number of pre-built messages over one
   connection to the same sink. Target: >= 0.8.
2. Scale: the cost of one dispatch pass with 10 due rows among 1,000 pending rows, next to
   the same pass among 1,000,000 pending rows. Target: within 2x.

    python bench/dispatch.py [--messages 500] [--rounds 5] [--pending 1000000] [--small]

``--small`` (3 rounds of 50 messages; 10,000 pending rows; some seconds) is the same run in
miniature, to show the benchmark works (tests/test_bench.py); its numbers are noisier.
"""

from __future__ import annotations

import argparse
import json
import smtplib
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from napflow import services
from napflow.clock import VirtualClock
from napflow.notifications.mailer import Rendered
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.services.dispatch import dispatch_due, send_due

TESTS = Path(__file__).resolve().parent.parent / "tests"
#: --small: the defaults of a run of seconds (flags given still win)
SMALL = {"messages": 50, "rounds": 3, "pending": 10_000}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


START = datetime(2015, 7, 1, tzinfo=UTC)


def runtime(path: Path, port: int) -> Runtime:
    settings = Settings(
        database_url=f"sqlite:///{path}",
        mail_transport="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        batch_size=200,
        mail_from="napflow@napflow.example",
    )
    rt = build_runtime(settings, clock=VirtualClock(START))
    services.init_database(rt)
    return rt


def queue(rt: Runtime, count: int, key: str = "TJK-B") -> None:
    """``count`` notices due now: a plan with ``count`` experts is sent to them.

    Half the experts read Russian, half English, as one event on a Tajik plan mails them.
    """
    for email in ("coord@example.org", "chair@example.org", "member@example.org"):
        services.add_person(rt, email, email)
    services.create_plan(rt, "TJK", "Bench", key=key)
    services.grant_role(rt, key, "coord@example.org", "coordinator")
    with rt.db.write() as conn:  # people in bulk; the services would take minutes here
        conn.exec_driver_sql(
            "INSERT INTO people (email, name, locale, created_at) VALUES (?, ?, ?, ?)",
            [
                (
                    f"expert{i}@example.org",
                    f"Expert {i}",
                    ("ru", "en")[i % 2],
                    "2015-07-01 00:00:00.000000",
                )
                for i in range(count)
            ],
        )
    for i in range(count):
        services.grant_role(rt, key, f"expert{i}@example.org", "expert")
    services.advance_plan(rt, key, "submit_for_review", "coord@example.org")
    # the working group joins once the draft reached it: only the experts' notices are due
    services.grant_role(rt, key, "chair@example.org", "wg_chair")
    services.grant_role(rt, key, "member@example.org", "wg_member")
    services.advance_plan(rt, key, "endorse", "member@example.org")
    services.advance_plan(rt, key, "send_to_experts", "chair@example.org")


class Sink:
    """An aiosmtpd sink in its own process, so it does not share napflow's GIL."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, str(TESTS / "smtp_sink.py"), str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stdout.readline() == "ready\n"

    def stop(self) -> None:
        self.process.communicate("", timeout=60)


def throughput(tmp: Path, server: Sink, count: int, rounds: int) -> dict[str, float]:
    """Alternate napflow and the raw loop, ``rounds`` times; return the median ratio."""
    ratios, napflow_rates, raw_rates = [], [], []
    for r in range(rounds):
        rt = runtime(tmp / f"throughput-{r}.db", server.port)
        queue(rt, count)
        start = time.perf_counter()
        result = send_due(rt)
        napflow_rate = result.sent / (time.perf_counter() - start)
        assert result.sent == count, result
        assert rt.mailer is not None
        text = "A notice of about the size napflow sends. " * 30
        template = rt.mailer.build(
            Rendered("[TJK-B] Send the endorsed draft to the experts", text, f"<p>{text}</p>"),
            sender=("napflow", "napflow@napflow.example"),
            recipient=("Expert", "x@example.org"),
            message_id="<bench@napflow.example>",
            date=START,
        )
        start = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", server.port) as conn:
            for i in range(count):
                del template["To"]
                template["To"] = f"expert{i}@example.org"
                conn.send_message(template)
        raw_rate = count / (time.perf_counter() - start)
        rt.db.dispose()
        print(
            f"  round {r + 1}: napflow {napflow_rate:.0f}/s, raw smtplib {raw_rate:.0f}/s, "
            f"ratio {napflow_rate / raw_rate:.2f}"
        )
        ratios.append(napflow_rate / raw_rate)
        napflow_rates.append(napflow_rate)
        raw_rates.append(raw_rate)
    return {
        "napflow_per_s": statistics.median(napflow_rates),
        "raw_smtplib_per_s": statistics.median(raw_rates),
        "ratio": statistics.median(ratios),
    }


def pass_cost(tmp: Path, server: Sink, pending: int, rounds: int = 7) -> float:
    """Median seconds of one pass sending 10 due rows among ``pending`` future ones."""
    path = tmp / f"scale-{pending}-{time.monotonic_ns()}.db"
    rt = runtime(path, server.port)
    queue(rt, 10, key="TJK-S")
    far = (START + timedelta(days=3650)).replace(tzinfo=None).isoformat(" ")
    raw = sqlite3.connect(path)
    raw.executemany(
        "INSERT INTO outbox (key, plan_id, kind, rung, recipient, send_at, status, attempts, "
        "next_attempt_at, late, created_at) VALUES (?, 1, 'notice', 'x', 'x@example.org', ?, "
        "'pending', 0, ?, 0, ?)",
        ((f"future-{i}", far, far, far) for i in range(pending)),
    )
    raw.commit()
    times = []
    for _ in range(rounds):
        raw.execute("UPDATE outbox SET status = 'pending' WHERE key LIKE 'n%'")
        raw.commit()
        start = time.perf_counter()
        result = dispatch_due(rt)
        times.append(time.perf_counter() - start)
        assert result.sent == 10, result
    raw.close()
    rt.db.dispose()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500, help="per throughput round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--small", action="store_true", help=f"a run of seconds: {SMALL}")
    args = parser.parse_args()
    if args.small:
        parser.set_defaults(**SMALL)
        args = parser.parse_args()
    server = Sink()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            speed = throughput(Path(tmp), server, args.messages, args.rounds)
            print(
                f"throughput (median of rounds): napflow {speed['napflow_per_s']:.0f}/s, "
                f"raw smtplib {speed['raw_smtplib_per_s']:.0f}/s, ratio {speed['ratio']:.2f} "
                "(target 0.8)"
            )
            small = pass_cost(Path(tmp), server, 1000)
            large = pass_cost(Path(tmp), server, args.pending)
            print(
                f"one pass, 10 due: among 1,000 pending {small * 1000:.1f} ms, among "
                f"{args.pending:,} pending {large * 1000:.1f} ms, ratio {large / small:.2f} "
                "(target <= 2)"
            )
            print(
                json.dumps(
                    {
                        "benchmark": "dispatch",
                        "throughput_ratio": round(speed["ratio"], 3),
                        "scale_ratio": round(large / small, 3),
                    }
                )
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
