"""The ``napflow`` command line: parse, call a service, present. No rules live here.

An interface: it may import :mod:`napflow.services`, :mod:`napflow.runtime` and napflow's
foundation modules (and start the web app and the scheduler daemon), nothing below the
services. Each command module imports what its commands use when they run, so that
``napflow --help`` loads no database or web library (tests/test_startup.py).

Exit codes: 0 done; 1 refused by the rules (not allowed, condition unmet, conflict, unknown
plan or person); 2 bad usage or bad input; 70 an internal error (a bug in napflow). Errors
are one or two sentences on stderr; a traceback only with ``--debug``. A command given
``--format json`` reports its error as one JSON object on stderr instead, for scripts::

    {"error": {"code": 1, "kind": "not_allowed", "message": "Cannot ...", "reasons": [...],
               "allowed": [...], ...}}

``code`` is the exit code, ``kind`` the error's (napflow.errors; ``usage``, ``aborted``,
``interrupted`` or ``internal`` for what is not napflow's), then what the error carries
(NapflowError.data).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from typing import Any

import click

from napflow.cli import (
    audit,
    daemon,
    deadlines,
    drafts,
    people,
    plans,
    report,
    setup,
    web,
    workflows,
)
from napflow.cli.context import AppState
from napflow.errors import NapflowError
from napflow.inputs import printable

#: Exit code of an unexpected error (EX_SOFTWARE from sysexits.h), so scripts can tell a
#: bug from a refusal (1) or bad input (2).
INTERNAL_ERROR = 70


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    help="Database URL (else NAPFLOW_DATABASE_URL, else config.toml, "
    "else sqlite:///var/napflow.db).",
)
@click.option(
    "--config",
    metavar="PATH",
    type=click.Path(dir_okay=False),
    help="Config file (else NAPFLOW_CONFIG, else ./config.toml if present).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks of unexpected errors.")
@click.version_option(package_name="napflow")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, config: str | None, debug: bool) -> None:
    """Carry 1540 National Implementation Action Plans through approval."""
    state = ctx.ensure_object(AppState)
    state.db_url, state.config = db_url, config


for _module in (setup, people, plans, drafts, deadlines, daemon, workflows, audit, report, web):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


#: what json.dumps leaves as it is but a terminal would act on: escaped as \uXXXX
_UNPRINTABLE_IN_JSON = re.compile(r"[\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _wants_json(args: Sequence[str]) -> bool:
    """Return whether the command line asks for ``--format json`` (the last --format wins)."""
    fmt = None
    for position, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--format" and position + 1 < len(args):
            fmt = args[position + 1]
        elif arg.startswith("--format="):
            fmt = arg.partition("=")[2]
    return fmt == "json"


class _Failure:
    """Reports a failure on stderr: one line per problem, or one JSON object for scripts."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def __call__(
        self, message: str, code: int, kind: str, data: dict[str, Any] | None = None
    ) -> int:
        if self.as_json:
            error = {"code": code, "kind": kind, "message": message, **(data or {})}
            text = json.dumps({"error": error}, ensure_ascii=False)
            click.echo(
                _UNPRINTABLE_IN_JSON.sub(lambda c: f"\\u{ord(c.group()):04x}", text), err=True
            )
            return code
        # one line per problem; what someone typed, echoed in a message, cannot add lines
        for line in printable(message, keep_newlines=True).split("\n") or [""]:
            click.echo(f"napflow: {line}", err=True)
        return code


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit code (for main() and tests)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    fail = _Failure(_wants_json(args))
    for position, arg in enumerate(args, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return fail(
                f"argument {position} is not valid UTF-8 text; napflow takes UTF-8.", 2, "usage"
            )
        if "\x00" in arg:  # no shell can pass one; a program calling run() might
            return fail(
                f"argument {position} contains a NUL character; napflow takes text.", 2, "usage"
            )
    state = AppState()
    try:
        result: Any = cli.main(args=args, prog_name="napflow", standalone_mode=False, obj=state)
    except NapflowError as exc:
        return fail(exc.message, exc.exit_code, exc.kind, exc.data())
    except click.exceptions.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        return fail(f"{exc.format_message()}{hint}", 2, "usage")
    except click.exceptions.ClickException as exc:
        return fail(exc.format_message(), exc.exit_code, "error")
    except click.exceptions.Abort:
        return fail("aborted.", 1, "aborted")
    except KeyboardInterrupt:
        return fail("interrupted; the action in progress was rolled back.", 1, "interrupted")
    except Exception as exc:
        if debug:
            raise
        return fail(
            f"internal error ({type(exc).__name__}: {exc}). This is a bug in napflow; the "
            "transaction in progress was rolled back. Run again with --debug and report it.",
            INTERNAL_ERROR,
            "internal",
        )
    finally:
        state.close()
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
