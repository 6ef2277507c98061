"""CPU time and peak memory of starting napflow's CLI, next to importing sqlalchemy.orm.

Each command runs as a child of this process, with the running venv's own interpreter and
its ``napflow`` console script (the one next to sys.executable), in an empty temporary
directory (so no config.toml is read) and without NAPFLOW_* variables. Measured per run,
from the child's resource usage as os.wait4 returns it (the child alone, not wall time, so
waiting for a busy machine's CPU does not count): CPU time (user + system) and peak RSS
(ru_maxrss). Linux counts in a child's ru_maxrss the memory of the process it was forked
from (the old address space's high-water mark is recorded at exec), so the children are not
started from this process (some 15 MiB) but by a launcher, a ``python -I -S`` process that
imports nothing and only spawns and waits (os.posix_spawn, os.wait4); its own high-water
mark, the lowest RSS a child can show, is printed as the floor. The commands:

- baseline: ``python -c "import sqlalchemy.orm"`` (what any database tool built on
  SQLAlchemy's ORM pays before doing anything);
- ``napflow --help`` and ``napflow --version``;
- ``napflow --db sqlite:///<tmp>/x.db plan list``, on a database made by
  ``napflow init --demo`` beforehand (not measured).

An unmeasured round comes first (bytecode caches, the page cache); then each round runs
every command once, in turn (baseline, --help, --version, plan list, baseline, ...), so
machine noise hits all alike. Printed per command: the median CPU time, the median of the
per-round ratios to the same round's baseline, and the median and highest peak RSS.
Targets (information, not judged here): --help <= 0.6x, plan list <= 1.3x the baseline.

    python bench/cli_start.py [--rounds 15] [--small]

``--small`` (3 rounds, a few seconds) is the same run in miniature, to show the benchmark
works (tests/test_bench.py); its numbers are noisier.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

#: --small: the defaults of a run of seconds (flags given still win)
SMALL = {"rounds": 3}
BASELINE = "baseline"


@dataclass
class Command:
    """One command line to start, and what its runs measured."""

    label: str
    argv: list[str]
    target: float | None = None
    cpu_ms: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)


#: the launcher: reads "error file<TAB>argv..." lines, runs each with stdin and stdout on
#: /dev/null and stderr to the error file, answers "exit status, CPU seconds, peak RSS KiB,
#: its own peak RSS KiB" (VmHWM: the floor under a child's ru_maxrss)
LAUNCHER = r"""
import os, sys
null = os.open(os.devnull, os.O_RDWR)
for line in sys.stdin:
    errors, *argv = line.rstrip("\n").split("\t")
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, null, 0),
        (os.POSIX_SPAWN_DUP2, null, 1),
        (os.POSIX_SPAWN_OPEN, 2, errors, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
    ])
    _pid, status, usage = os.wait4(pid, 0)
    with open("/proc/self/status") as mine:
        floor = next(int(l.split()[1]) for l in mine if l.startswith("VmHWM:"))
    cpu = usage.ru_utime + usage.ru_stime
    print(os.waitstatus_to_exitcode(status), cpu, usage.ru_maxrss, floor, flush=True)
"""


class Launcher:
    """The launcher process: runs one command at a time, measures it as its own child."""

    def __init__(self, python: str, cwd: Path, env: dict[str, str]) -> None:
        self.errors = cwd / "stderr.txt"
        self.floor_mib = 0.0
        self.process = subprocess.Popen(
            [python, "-I", "-S", "-c", LAUNCHER],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, argv: list[str]) -> tuple[float, float]:
        """Run ``argv`` to its end; return its CPU time (user + system, ms), peak RSS (MiB).

        Exits with the command's error output if it fails: a broken command measures nothing.
        """
        assert self.process.stdin is not None and self.process.stdout is not None
        assert not any("\t" in arg or "\n" in arg for arg in argv)
        self.process.stdin.write("\t".join([str(self.errors), *argv]) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline().split()
        if len(answer) != 4:
            raise SystemExit(f"the launcher failed (exit status {self.process.poll()})")
        status, cpu, rss, floor = int(answer[0]), float(answer[1]), int(answer[2]), int(answer[3])
        self.floor_mib = max(self.floor_mib, floor / 1024)
        if status != 0:
            message = self.errors.read_text(errors="replace")[-2000:]
            raise SystemExit(f"{' '.join(argv)} exited with {status}:\n{message}")
        return cpu * 1000, rss / 1024  # ru_maxrss is in KiB on Linux

    def stop(self) -> None:
        """Close the launcher's input; it ends."""
        self.process.communicate(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--small", action="store_true", help=f"a run of seconds: {SMALL}")
    args = parser.parse_args()
    if args.small:
        parser.set_defaults(**SMALL)
        args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    python = sys.executable
    napflow = str(Path(python).with_name("napflow"))
    if not Path(napflow).is_file():
        raise SystemExit(f"no napflow script next to {python}: install napflow in this venv")
    env = {name: value for name, value in os.environ.items() if not name.startswith("NAPFLOW_")}
    with tempfile.TemporaryDirectory(prefix="napflow-cli-start-") as tmp_dir:
        tmp = Path(tmp_dir)
        db = f"sqlite:///{tmp / 'x.db'}"
        made = subprocess.run(
            [napflow, "--db", db, "init", "--demo"],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        listed = subprocess.run(
            [napflow, "--db", db, "plan", "list"],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0 or listed.returncode != 0 or "TJK-2015" not in listed.stdout:
            raise SystemExit(
                f"napflow init --demo / plan list failed:\n{made.stderr}{listed.stderr}"
            )
        commands = [
            Command(BASELINE, [python, "-c", "import sqlalchemy.orm"]),
            Command("napflow --help", [napflow, "--help"], target=0.6),
            Command("napflow --version", [napflow, "--version"]),
            Command("napflow plan list", [napflow, "--db", db, "plan", "list"], target=1.3),
        ]
        launcher = Launcher(python, tmp, env)
        try:
            measure(launcher, commands, args.rounds)
        finally:
            launcher.stop()
    report(commands, args.rounds, launcher.floor_mib)


def measure(launcher: Launcher, commands: list[Command], rounds: int) -> None:
    """Run an unmeasured round, then ``rounds`` rounds of every command in turn."""
    for command in commands:  # unmeasured: bytecode caches, the page cache
        launcher.run(command.argv)
    for r in range(rounds):
        for command in commands:
            cpu, rss = launcher.run(command.argv)
            command.cpu_ms.append(cpu)
            command.rss_mib.append(rss)
        base = commands[0].cpu_ms[-1]
        for command in commands:
            command.ratios.append(command.cpu_ms[-1] / base)
        print(
            f"round {r + 1}: "
            + ", ".join(f"{c.label} {c.cpu_ms[-1]:.0f} ms ({c.ratios[-1]:.2f}x)" for c in commands),
            flush=True,
        )


def report(commands: list[Command], rounds: int, floor_mib: float) -> None:
    """Print the table of medians and the JSON line."""
    print()
    print(f"CPU time (user + system) and peak RSS of each command, {rounds} rounds")
    print(f"{'command':<20}{'CPU ms':>10}{'ratio':>9}{'target':>10}{'RSS MiB':>10}{'max RSS':>10}")
    result: dict[str, object] = {"benchmark": "cli_start", "rounds": rounds}
    for c in commands:
        cpu, ratio = statistics.median(c.cpu_ms), statistics.median(c.ratios)
        target = f"<= {c.target:.1f}x" if c.target is not None else "-"
        print(
            f"{c.label:<20}{cpu:>10.1f}{ratio:>8.2f}x{target:>10}"
            f"{statistics.median(c.rss_mib):>10.1f}{max(c.rss_mib):>10.1f}"
        )
        result[c.label] = {
            "cpu_ms": round(cpu, 1),
            "ratio": round(ratio, 3),
            "target": c.target,
            "rss_mib": round(statistics.median(c.rss_mib), 1),
            "max_rss_mib": round(max(c.rss_mib), 1),
        }
    print(
        f"({BASELINE}: python -c 'import sqlalchemy.orm'; ratio: median of the per-round "
        "ratios of CPU time to the same round's baseline; no RSS can read below the "
        f"launcher's own, {floor_mib:.1f} MiB)"
    )
    result["rss_floor_mib"] = round(floor_mib, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
