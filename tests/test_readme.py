"""The README's Quickstart: its test command is exactly what CI runs."""

from __future__ import annotations

import re

from helpers import REPO


def quickstart_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    run_cmd, test_cmd = quickstart_commands()[:2]
    assert "napflow init --demo" in run_cmd and "pytest" in test_cmd
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert test_cmd in ci_lines
