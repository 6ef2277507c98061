"""The docs stay true: the README's test command is exactly what CI runs, and every test
RELIABILITY.md names as the proof of a promise exists."""

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


def test_every_test_reliability_md_names_exists() -> None:
    text = (REPO / "RELIABILITY.md").read_text()
    # `test_x.py` or `test_x.py::test_name` (a name may go on after a line break)
    named = re.findall(r"`(test_\w+\.py)(?:::\s*(test_\w+))?`", text)
    assert len(named) >= 20, named
    missing = []
    for file, function in named:
        path = REPO / "tests" / file
        if not path.exists() or (function and f"def {function}(" not in path.read_text()):
            missing.append(f"{file}::{function}" if function else file)
    assert missing == [], f"RELIABILITY.md names tests that do not exist: {missing}"


def test_every_document_the_code_and_docs_cite_is_in_the_repository() -> None:
    cited = set()
    sources = [*REPO.joinpath("napflow").rglob("*.py"), *REPO.joinpath("notifications").rglob("*")]
    sources += [*REPO.joinpath("bench").glob("*.py"), *REPO.joinpath("tests").rglob("*.py")]
    sources += [REPO / "config.toml", REPO / "pyproject.toml", REPO / ".ci" / "run"]
    for path in sources:
        if path.is_file() and path.suffix in (".py", ".toml", ".txt", ".html", ""):
            text = path.read_text(encoding="utf-8")
            cited |= {(path, m) for m in re.findall(r"(?<![\w/.])(docs/[\w./-]*\w)", text)}
    # relative links of the README and the docs pages
    for page in [REPO / "README.md", REPO / "RELIABILITY.md", *REPO.joinpath("docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            cited.add((page, str((page.parent / target).resolve().relative_to(REPO))))
    assert len(cited) > 10
    missing = sorted(
        f"{p.relative_to(REPO)}: {doc}" for p, doc in cited if not (REPO / doc).exists()
    )
    assert missing == []
