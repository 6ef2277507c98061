"""Hostile input to every command: a clear error or success, never a crash or a partial write.

Hypothesis builds command lines for every napflow command (but the two that run until
stopped and the interactive password prompt) from its own arguments and options, with
values that are valid-looking, hostile (control characters, bidirectional overrides,
invalid UTF-8, SQL and path fragments, huge numbers, long text) or random. Whatever comes
out must be exit 0, 1 (refused) or 2 (bad input), with one line on standard error on a
refusal, no traceback, and on a refusal not a byte changed in the database.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from helpers import REPO, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from napflow.cli import cli as root
from napflow.cli import run
from napflow.models import metadata
from napflow.runtime import Runtime

#: commands that run until stopped, or prompt for a password
SKIPPED = {("serve",), ("scheduler",), ("user", "set-password")}

VALUES = [
    "TJK-1",
    "TJK",
    "coord@example.org",
    "m1@example.org",
    "chair@example.org",
    "2015-07-30",
    "2016-02-29",
    "2015-02-29",
    "2015-13-01",
    "0001-01-01",
    "9999-12-31",
    "2015-07-30T25:00",
    "10:00",
    "24:00",
    "drafting",
    "working_group_review",
    "submit_for_review",
    "endorse",
    "withdraw",
    "coordinator",
    "wg_member",
    "approval",
    "follow_up_session",
    "nap",
    "national_report",
    "Asia/Dushanbe",
    "Europe/Vienna",
    "Etc/GMT+14",
    "America/St_Johns",
    "localtime",
    "../../etc/localtime",
    "json",
    "csv",
    "1",
    "0",
    "-1",
    "99999999999",
    "",
    " ",
    "x" * 5000,
    "' OR '1'='1",
    "%",
    "../../../etc/passwd",
    "\udcff",
    "\x00",
    "\r\nBcc: victim@example.org",
    "\u202egnp.exe",
    "\U0001f600",
    "<script>alert(1)</script>",
]
value = st.one_of(st.sampled_from(VALUES), st.text(max_size=30))


def run_cli(*argv: str) -> Result:
    """Run napflow in-process on no database in particular; return code and output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(list(argv))
    return Result(code, out.getvalue(), err.getvalue())


def leaf_commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[Any]:
    for name, command in sorted(group.commands.items()):
        here = (*path, name)
        if isinstance(command, click.Group):
            yield from leaf_commands(command, here)
        elif here not in SKIPPED:
            yield here, command


COMMANDS = list(leaf_commands(root))


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    path, command = draw(st.sampled_from(COMMANDS))
    argv = list(path)
    for param in command.params:
        if isinstance(param, click.Argument):
            count = draw(st.integers(0, 2)) if param.nargs == -1 else 1
            if not param.required and draw(st.booleans()):
                count = 0
            argv += [draw(value) for _ in range(count)]
        elif isinstance(param, click.Option) and param.name != "help" and draw(st.booleans()):
            argv.append(param.opts[0])
            if not param.is_flag:
                argv.append(draw(value))
    return argv


def everything(rt: Runtime) -> dict[str, list[Any]]:
    """Every row of every table, to prove a refusal wrote nothing."""
    with rt.db.read() as conn:
        return {
            table.name: sorted(map(repr, conn.execute(select(table)).all()))
            for table in metadata.sorted_tables
        }


@pytest.fixture
def ready(cli: Callable[..., Result], rt: Runtime) -> Callable[..., Result]:
    """A database with a plan TJK-1 in working-group review, its cast and a deadline."""
    for email in ("coord@example.org", "m1@example.org", "chair@example.org"):
        assert cli("person", "add", email, "--name", email.split("@")[0]).code == 0
    assert cli("plan", "create", "--country", "TJK", "--title", "NAP", "--key", "TJK-1").code == 0
    for email, role in [
        ("coord@example.org", "coordinator"),
        ("m1@example.org", "wg_member"),
        ("chair@example.org", "wg_chair"),
    ]:
        assert cli("role", "grant", "TJK-1", email, role).code == 0
    assert cli("advance", "TJK-1", "submit_for_review", "--as", "coord@example.org").code == 0
    assert cli("deadline", "add", "TJK-1", "approval", "2015-12-31").code == 0
    return cli


@pytest.mark.slow
@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=command_lines())
def test_any_command_line_is_done_or_refused_clearly_and_whole(
    ready: Callable[..., Result], rt: Runtime, argv: list[str]
) -> None:
    before = everything(rt)
    result = ready(*argv)
    event(f"exit {result.code}")
    assert result.code in (0, 1, 2), (argv, result)
    assert "Traceback" not in result.err and "internal error" not in result.err, (argv, result)
    if result.code:
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("napflow: "), (argv, result)
        assert everything(rt) == before, argv  # a refusal writes nothing


#: TOML values of every type, valid and not, to put where a file had another
LITERALS = [
    "3",
    "-1",
    "0",
    "1.5",
    "true",
    '""',
    '"x"',
    '"*"',
    '"drafting"',
    '"nowhere"',
    '"\\u0000"',
    '"\\r\\nBcc: victim@example.org"',
    '"../../etc/passwd"',
    '"Mars/Olympus"',
    "[]",
    '["drafting", "nowhere"]',
    "[1, 2]",
    "{}",
    '{ name = "quorum", role = "wg_member", trigger = "endorse", min = "most" }',
    '"' + "x" * 3000 + '"',
    "1979-05-27T07:32:00Z",
]


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """``text`` (a TOML file) with a few lines deleted, doubled or given another value."""
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["value", "value", "delete", "double", "garble"]))
        line = lines[at]
        if how == "value" and " = " in line:
            lines[at] = line.split(" = ", 1)[0] + " = " + draw(st.sampled_from(LITERALS))
        elif how == "delete":
            del lines[at]
        elif how == "double":
            lines.insert(at, line)
        elif how == "garble":
            lines[at] = draw(st.text(max_size=20))
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


NAP = (REPO / "workflows" / "nap.toml").read_text()
CONFIG = (REPO / "config.toml").read_text()


def check_file(name: str, text: str, *argv: str) -> list[str]:
    """Write ``text`` to a file called ``name``, run napflow ARGV (FILE stands for its path)
    on it, check the outcome is success or a clear refusal, and return the error lines."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        result = run_cli(*(str(path) if arg == "FILE" else arg for arg in argv))
    assert result.code in (0, 2), result
    assert "Traceback" not in result.err and "internal error" not in result.err, result
    lines = result.err.strip().splitlines()
    assert bool(lines) == bool(result.code), result
    assert all(line.startswith("napflow: ") for line in lines), result
    return lines


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(text=mutated(NAP))
def test_any_workflow_file_loads_or_every_problem_is_named(text: str) -> None:
    problems = check_file("nap.toml", text, "workflow", "check", "FILE")
    assert all(line.startswith("napflow: nap.toml") for line in problems), problems


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(text=mutated(CONFIG))
def test_any_config_file_is_taken_or_its_problem_named(text: str) -> None:
    assert len(check_file("config.toml", text, "--config", "FILE", "workflow", "list")) <= 1
