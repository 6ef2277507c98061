"""Start-up: the command line loads only what the command it runs uses.

Every command pays for what it imports; ``napflow --help`` and ``--version`` load neither
SQLAlchemy nor FastAPI (bench/cli_start.py measures the CPU time this saves).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HEAVY = ("sqlalchemy", "fastapi", "starlette", "argon2", "jinja2", "icalendar", "apscheduler")

_PROBE = """
import contextlib, io, json, sys
from napflow.cli import run
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = run(sys.argv[1:])
print(json.dumps({"code": code, "out": out.getvalue(),
                  "loaded": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _loaded(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["plan", "--help"]])
def test_help_and_version_load_no_database_or_web_library(args: list[str]) -> None:
    result = _loaded(*args)
    assert result["code"] == 0
    assert result["out"]  # it printed its help or version
    assert [name for name in HEAVY if name in result["loaded"]] == []


def test_a_command_that_reads_the_database_loads_sqlalchemy_but_not_the_web(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert _loaded("--db", db, "init")["code"] == 0
    result = _loaded("--db", db, "plan", "list")
    assert result["code"] == 0
    loaded = result["loaded"]
    assert "sqlalchemy" in loaded
    assert [n for n in ("fastapi", "starlette", "argon2", "apscheduler") if n in loaded] == []


def test_the_services_facade_reaches_every_service_module_and_name() -> None:
    # the facade's tables are kept by hand: a new service module or name left out of them
    # would be missing from `services.X` in the interfaces
    from napflow import services

    folder = Path(services.__file__).parent
    public = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
    assert set(services._MODULES) == public
    assert set(services.__all__) == set(services._NAMES) | set(services._MODULES)
    for name, module in services._NAMES.items():
        assert getattr(services, name) is getattr(getattr(services, module), name), name
