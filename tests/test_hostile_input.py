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
import json
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from fastapi.testclient import TestClient
from helpers import REPO, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from napflow import services
from napflow.cli import cli as root
from napflow.cli import run
from napflow.runtime import Runtime
from napflow.services import accounts
from napflow.storage.schema import metadata
from napflow.web import create_app

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
        assert len(lines) == 1, (argv, result)
        if lines[0].startswith('{"error": '):  # asked for --format json: one object for scripts
            assert "--format" in argv and "json" in argv, (argv, result)
            assert json.loads(lines[0])["error"]["code"] == result.code, (argv, result)
        else:
            assert lines[0].startswith("napflow: "), (argv, result)
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


#: pieces of comments people paste: scripts, right-to-left text and marks, emoji sequences,
#: combining marks, Windows and old Mac line ends, markup, SQL; and control characters
COMMENT_PIECES = [
    "Please revise annex B.",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "  ",
    "مراجعة الملحق ب",
    "תוכנית לאומית",
    "\u202eevil\u202c",
    "\u200f",
    "\u2028",
    "\U0001f600",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "e\u0301",
    "<b>&amp;</b>",
    "'; DROP TABLE history; --",
]
CONTROL_PIECES = [
    "\x00",
    "\x07",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\x9b",
]


@dataclass(frozen=True)
class Pasted:
    """A comment: ``pieces`` with ``pad`` x's put in at ``at`` (a short repr, for reports)."""

    pieces: tuple[str, ...]
    pad: int
    at: int

    @property
    def text(self) -> str:
        return "".join([*self.pieces[: self.at], "x" * self.pad, *self.pieces[self.at :]])


@st.composite
def comments(draw: st.DrawFn) -> Pasted:
    """A comment of some pieces, sometimes padded to around the 100,000-character limit."""
    printable = st.characters(exclude_categories=("Cc", "Cs"))
    usual = st.one_of(st.sampled_from(COMMENT_PIECES), st.text(printable, max_size=20))
    control = st.one_of(st.sampled_from(CONTROL_PIECES), st.text(max_size=20))
    piece = st.one_of(usual, control) if draw(st.booleans()) else usual
    pieces = draw(st.lists(piece, max_size=8))
    pad = draw(st.sampled_from([0, 0, 0, 0, 99_950, 99_990, 99_999, 100_000, 100_001]))
    return Pasted(tuple(pieces), pad, draw(st.integers(0, len(pieces))))


def kept_as(text: str) -> str | None:
    """What napflow keeps of a comment (line ends made \\n, white space trimmed; None if
    nothing is left), or raise ValueError naming why it must be refused."""
    kept = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(kept) > 100_000:
        raise ValueError("at most 100000")
    if any(ch not in "\n\t" and unicodedata.category(ch) == "Cc" for ch in kept):
        raise ValueError("control characters")
    return kept or None


CHAIR, COORD = "chair@example.org", "coord@example.org"


@pytest.fixture
def api(ready: Callable[..., Result], rt: Runtime) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The API on the `ready` database, and the working-group chair's token."""
    with TestClient(create_app(rt)) as http:
        yield http, {"Authorization": f"Bearer {accounts.create_api_token(rt, CHAIR)}"}


@pytest.mark.slow
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(comment=comments())
def test_any_comment_is_kept_exactly_or_refused_whole(
    ready: Callable[..., Result],
    api: tuple[TestClient, dict[str, str]],
    rt: Runtime,
    comment: Pasted,
) -> None:
    """Sent back for revision with the comment, through the CLI and then the API."""
    text = comment.text
    try:
        expected, reason = kept_as(text), ""
    except ValueError as exc:
        expected, reason = None, str(exc)
    near = " near the limit" if expected and len(expected) > 99_000 else ""
    event(f"kept{near}" if expected else f"refused: {reason or 'no comment'}")
    http, auth = api
    if services.show_plan(rt, "TJK-1").state == "drafting":  # after a failed example
        assert ready("advance", "TJK-1", "submit_for_review", "--as", COORD).code == 0
    for through in ("cli", "api"):
        before = services.plan_history(rt, "TJK-1").records
        if through == "cli":
            result = ready("advance", "TJK-1", "request_changes", "--as", CHAIR, "--comment", text)
            code, message = result.code, result.err
        else:
            body = {"trigger": "request_changes", "comment": text}
            answer = http.post("/api/v1/plans/TJK-1/advance", json=body, headers=auth)
            code, message = answer.status_code, answer.text
        after = services.plan_history(rt, "TJK-1").records
        if through == "api" and len(text) > 100_000:  # the API limits what is sent, too
            assert code == 422 and "at most 100000" in message, message
            assert after == before
            continue
        if expected is None:  # refused (no comment at all: one is required), nothing written
            assert code in ((1, 2) if through == "cli" else range(400, 500)), (through, message)
            if reason and not (through == "cli" and "\x00" in text):  # NUL: no such argv
                assert reason in message, (through, message)
            assert after == before
            continue
        assert code in (0, 200), (through, code, message)
        [sent_back] = [r for r in after[len(before) :] if r.trigger == "request_changes"]
        assert sent_back.comment == expected
        assert ready("advance", "TJK-1", "submit_for_review", "--as", COORD).code == 0
