"""Every benchmark in bench/ still runs: its ``--small`` mode exits 0 and prints its table.

Speed is never judged here (the machines are noisy and shared); what is checked is that each
script runs to its end and prints what a full run prints: the headings and labels, and
numbers that are positive and finite where they are rates, times, sizes or ratios.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pg_server import PgServer

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
#: scripts in bench/ that are not benchmarks of their own (locust runs it for load.py)
HELPERS = {"locustfile.py"}
#: per script: a small mode takes seconds; this is for a machine under heavy load
TIMEOUT = 300
NUMBER = r"(-?[\d,]*\.?\d+(?:e[+-]?\d+)?|nan|inf|-inf)"

pytestmark = pytest.mark.slow


def run_small(script: str, *args: str) -> str:
    """Run ``bench/<script> --small`` from the repository root; return its output.

    Fails with the output if it exits non-zero or prints a traceback. On a time-out the
    script gets SIGTERM first, so it stops the servers and daemons it started.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith("NAPFLOW_")}
    process = subprocess.Popen(
        [sys.executable, str(BENCH / script), "--small", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: a time-out ends all of it
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
        pytest.fail(f"{script} --small took over {TIMEOUT}s:\n{out[-3000:]}\n{err[-3000:]}")
    shown = f"{script} --small exited with {process.returncode}:\n{out[-4000:]}\n{err[-4000:]}"
    assert process.returncode == 0, shown
    assert "Traceback" not in out + err, shown
    return out


def positive(text: str) -> float:
    """Parse a number as printed ("1,008", "0.73", "3.6"); it must be finite and above 0."""
    value = float(text.replace(",", ""))
    assert math.isfinite(value) and value > 0, f"{text!r} is not a positive finite number"
    return value


def rows(pattern: str, out: str, count: int | None = None) -> list[list[float]]:
    """Return the numbers of every line matching ``pattern`` (each group), all positive.

    ``NUM`` in the pattern stands for a printed number. With ``count``, exactly that many
    lines must match; else at least one.
    """
    regex = re.compile(pattern.replace("NUM", NUMBER), re.MULTILINE)
    found = [[positive(group) for group in m.groups()] for m in regex.finditer(out)]
    if count is None:
        assert found, f"no line matches {pattern!r} in:\n{out}"
    else:
        assert len(found) == count, f"{len(found)} lines match {pattern!r}, not {count}:\n{out}"
    return found


def last_json(out: str) -> dict[str, Any]:
    """Return the JSON object on the last line that holds one."""
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, f"no JSON line in:\n{out}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def test_every_bench_script_has_a_small_mode_test() -> None:
    """A benchmark added to bench/ without a test here fails this (it would rot unseen)."""
    scripts = {path.name for path in BENCH.glob("*.py")} - HELPERS
    tested = {
        name.removeprefix("test_").removesuffix("_small") + ".py"
        for name in globals()
        if name.startswith("test_") and name.endswith("_small")
    }
    assert scripts <= tested, f"bench scripts without a test_<name>_small: {scripts - tested}"
    for script in scripts:
        assert "--small" in (BENCH / script).read_text(), script


def test_advance_small() -> None:
    out = run_small("advance.py")
    # per round: raw rate, fast rate and ratio, plain rate and ratio, all against the raw
    rounds = rows(
        r"^round NUM: raw sqlite3 +NUM/s +napflow fast path +NUM/s +ratio NUM +"
        r"plain SQLAlchemy +NUM/s +ratio NUM$",
        out,
        count=3,
    )
    for _, raw, fast, fast_ratio, plain, plain_ratio in rounds:
        assert fast_ratio == pytest.approx(fast / raw, abs=0.006)
        assert plain_ratio == pytest.approx(plain / raw, abs=0.006)
    rows(r"^median ratio to raw sqlite3: fast path NUM \(target >= 0\.5\), plain NUM$", out, 1)
    result = last_json(out)
    assert result["benchmark"] == "advance" and result["rounds"] == 3
    positive(str(result["median_ratio"]))
    positive(str(result["median_ratio_plain"]))
    assert set(result["median_rates"]) == {"raw", "fast", "plain"}
    for rate in result["median_rates"].values():
        positive(str(rate))


def test_dispatch_small() -> None:
    out = run_small("dispatch.py")
    rows(r"^  round NUM: napflow NUM/s, raw smtplib NUM/s, ratio NUM$", out, count=3)
    rows(
        r"^throughput \(median of rounds\): napflow NUM/s, raw smtplib NUM/s, ratio NUM "
        r"\(target 0\.8\)$",
        out,
        count=1,
    )
    [[few, few_ms, many, many_ms, ratio]] = rows(
        r"^one pass, 10 due: among NUM pending NUM ms, among NUM pending NUM ms, ratio NUM "
        r"\(target <= 2\)$",
        out,
        count=1,
    )
    assert (few, many) == (1000, 10_000)
    assert ratio == pytest.approx(many_ms / few_ms, rel=0.05, abs=0.01)
    result = last_json(out)
    assert result["benchmark"] == "dispatch"
    positive(str(result["throughput_ratio"]))
    positive(str(result["scale_ratio"]))


def test_verify_small() -> None:
    out = run_small("verify.py")
    rows(
        r"^round NUM: hashlib +NUM records/s +napflow audit verify +NUM records/s +ratio NUM +"
        r"\(in one process +NUM records/s, ratio NUM; "
        r"the chains alone NUM, the replay alone NUM\)$",
        out,
        count=3,
    )
    result = last_json(out)
    assert result["benchmark"] == "verify"
    assert result["records"] == 20 * 500  # every record was verified (the report was ok)
    positive(str(result["median_ratio"]))
    positive(str(result["median_ratio_one_process"]))
    positive(str(result["median_ratio_chains_alone"]))
    positive(str(result["median_ratio_replay_alone"]))


def test_drafts_small() -> None:
    out = run_small("drafts.py")
    rows(
        r"^upload of NUM MiB: peak resident memory NUM MiB \(NUM MiB before it\), NUMx the "
        r"file size$",
        out,
        count=1,
    )
    rows(
        r"^round NUM: write raw +NUM MiB/s +napflow +NUM MiB/s +ratio NUM +read raw +NUM MiB/s "
        r"+napflow +NUM MiB/s +ratio NUM$",
        out,
        count=2,
    )
    result = last_json(out)
    assert result["benchmark"] == "drafts" and result["bytes"] == 2 << 20
    for name in ("median_write_ratio", "median_read_ratio", "peak_memory_ratio"):
        positive(str(result[name]))


def check_scaling(out: str, engines: list[str]) -> None:
    """Check bench/scaling.py's output: a rate per run, the ratios, no problems."""
    assert "rates per second" in out and "ratios (the result" in out, out
    for engine in engines:
        for label in ("advance", "dispatch"):
            unit = "processes" if label == "advance" else "daemons"
            for n in (1, 2):  # the round's rate and the median, in the table
                rows(rf"^  {label} {engine} +{n} {unit} +NUM +NUM$", out, count=1)
        rows(rf"^  advance {engine}: 2 / 1 processes +NUM +\(rounds: NUM\)$", out, count=1)
        rows(rf"^  dispatch {engine}: 2 / 1 daemons +NUM +\(rounds: NUM\)$", out, count=1)
    if len(engines) == 2:
        for what, n, unit in (("advance", 1, "processes"), ("dispatch", 2, "daemons")):
            rows(
                rf"^  {what} +{n} {unit}: postgresql / sqlite +NUM +\(rounds: NUM\)$",
                out,
                count=1,
            )
    assert re.search(r"^0 problems; ", out, re.MULTILINE), out


def test_scaling_small() -> None:
    check_scaling(run_small("scaling.py"), ["sqlite"])


@pytest.mark.both_engines
def test_scaling_small_on_both_engines(pg_server: PgServer) -> None:
    out = run_small("scaling.py", "--engines", "sqlite,postgresql", "--pg-url", pg_server.url())
    check_scaling(out, ["sqlite", "postgresql"])


def test_web_small() -> None:
    # logs in through the form (token and cookie) as the worker and the reader, or exits 1;
    # exits 1 too if the database built does not verify, or a page does not show what it
    # measures (the search's page of plans, my work's plans, the plan page's history)
    out = run_small("web.py")
    [[plans, records, _seconds]] = rows(r"^built NUM plans, NUM history records in NUMs$", out, 1)
    assert plans == 40 and records >= plans * 10
    assert re.search(r"^audit verify: OK: 40 plans, .*every action allowed", out, re.MULTILINE)
    assert re.search(r"^ +p50 ms +p99 ms +p50 / bare +p99 / bare$", out, re.MULTILINE), out
    for name in ("bare route", "my work", "plans list", "plan page"):
        [[p50, p99, ratio50, ratio99]] = rows(rf"^{name} +NUM +NUM +NUMx +NUMx$", out, 1)
        assert p50 <= p99
        if name == "bare route":
            assert ratio50 == ratio99 == 1.0
    result = last_json(out)
    assert result["benchmark"] == "web" and result["plans"] == 40
    assert result["bare_route"]["p50_ratio"] == 1.0
    for name in ("my_work", "plans_list", "plan_page"):
        for key in ("p50_ms", "p99_ms", "mean_ms", "p50_ratio", "p99_ratio"):
            positive(str(result[name][key]))


def test_load_small() -> None:
    out = run_small("load.py")
    for part in ("reminders", "web"):
        assert re.search(rf"^{part}: PASS$", out, re.MULTILINE), out
    assert re.search(r"^PASS; ", out, re.MULTILINE), out
    [[sent, queued, _seconds, _rate]] = rows(
        r"^  sent NUM of NUM in NUMs from the daemons' start: NUM messages/s", out, 1
    )
    assert sent == queued >= 1000
    rows(r"^    daemon \d: early NUM MiB, peak NUM MiB", out, count=2)
    rows(r"^  NUM requests in NUMs: NUM requests/s, 0 errors; latency p50 NUM ms", out, 1)
    clicks = ("api plans", "deadlines", "log in", "login form", "my work", "plan page")
    for click in (*clicks, "plans list"):
        # requests, no errors, p50 and p99 ms
        rows(rf"^    {click} +NUM +0 +NUM +NUM$", out, count=1)


def test_cli_start_small() -> None:
    out = run_small("cli_start.py")
    rows(
        r"^round NUM: baseline NUM ms \(1\.00x\), napflow --help NUM ms \(NUMx\), "
        r"napflow --version NUM ms \(NUMx\), napflow plan list NUM ms \(NUMx\)$",
        out,
        count=3,
    )
    assert re.search(r"^command +CPU ms +ratio +target +RSS MiB +max RSS$", out, re.MULTILINE)
    rows(r"^baseline +NUM +1\.00x +- +NUM +NUM$", out, count=1)
    rows(r"^napflow --help +NUM +NUMx +<= 0\.6x +NUM +NUM$", out, count=1)
    rows(r"^napflow --version +NUM +NUMx +- +NUM +NUM$", out, count=1)
    rows(r"^napflow plan list +NUM +NUMx +<= 1\.3x +NUM +NUM$", out, count=1)
    result = last_json(out)
    assert result["benchmark"] == "cli_start" and result["rounds"] == 3
    floor = positive(str(result["rss_floor_mib"]))
    # importing sqlalchemy.orm takes tens of MiB, well above the launcher's own peak: the
    # children's RSS is theirs, not the memory of the process they were started from
    assert result["baseline"]["rss_mib"] > floor + 10
    for label in ("napflow --help", "napflow --version", "napflow plan list"):
        positive(str(result[label]["cpu_ms"]))
        positive(str(result[label]["ratio"]))
        assert result[label]["rss_mib"] >= floor
