"""`pip install .` ships everything: the package, workflow files, migrations, templates."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from helpers import REPO


@pytest.mark.slow
def test_wheel_holds_workflows_migrations_and_the_console_command(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("napflow", "workflows", "notifications"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("napflow-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "napflow/workflow/builtin/nap.toml",
        "napflow/workflow/builtin/national_report.toml",
        "napflow/storage/migrations/env.py",
        "napflow/storage/migrations/script.py.mako",
        "napflow/storage/migrations/versions/0001_initial.py",
        "napflow/notifications/__init__.py",
        "napflow/notifications/templates/reminder.subject.txt",
        "napflow/notifications/templates/escalation.html",
        "napflow/notifications/templates/notice.txt",
        "napflow/notifications/templates/change.html",
        "napflow/scenarios/tajikistan-2015.toml",
        "napflow/storage/migrations/versions/0002_deadlines_outbox.py",
        "napflow/storage/migrations/versions/0003_history_chain.py",
        "napflow/storage/migrations/versions/0004_web_accounts.py",
        "napflow/storage/migrations/versions/0005_login_attempts_in_flight.py",
        "napflow/storage/migrations/versions/0006_access.py",
        "napflow/storage/migrations/versions/0007_drafts.py",
        "napflow/storage/migrations/append_only.py",
        "napflow/web/app.py",
        "napflow/web/templates/plan.html",
        "napflow/web/templates/base.html",
        "napflow/web/static/napflow.css",
        "napflow/py.typed",
    ):
        assert expected in names
    # napflow is the only top-level name it installs: the repository's workflows/ and
    # notifications/ folders ship inside it, never as importable names of their own
    assert {name.split("/")[0] for name in names} == {"napflow", "napflow-0.1.0.dist-info"}
    top_level = next(n for n in names if n.endswith("top_level.txt"))
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["napflow"]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "napflow = napflow.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    # Installed alone (no source tree on the path), it finds its workflows and migrations.
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    # -S: no site hooks (an editable install's finder would win); dependencies come from
    # this environment's site-packages, napflow only from the installed wheel.
    deps = sysconfig.get_paths()["purelib"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), deps])}
    work = tmp_path / "elsewhere"
    work.mkdir()
    run = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            "import napflow, sys; from napflow.cli import run; print(napflow.__file__); "
            "sys.exit(run(['--db', 'sqlite:///x.db', 'init', '--demo']) or "
            "run(['--db', 'sqlite:///x.db', 'workflow', 'list']))",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].startswith(str(target))
    assert "national_report" in run.stdout
