"""The built-in workflow versions napflow released stay as they were released.

Databases store the text of each version their plans use, and refuse a file whose version
they hold with other text; a database from before versions were stored finds its plans'
versions in ``workflows/released/``. So a released version's text never changes, and a
built-in file that changes takes a new version, its old text kept there.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from napflow.workflow.definition import load_definition

REPO = Path(__file__).resolve().parents[1]
RELEASED = sorted((REPO / "workflows" / "released").glob("*.toml"))


@pytest.mark.parametrize("path", RELEASED, ids=[p.stem for p in RELEASED])
def test_a_released_version_is_what_its_name_says_and_older_than_the_file(path: Path) -> None:
    name, _dot, number = path.stem.rpartition(".v")
    current = load_definition(path.parent.parent / f"{name}.toml")  # the file now
    old = path.read_bytes()
    assert f'name = "{name}"'.encode() in old and f"version = {number}\n".encode() in old
    assert current.version > int(number)


def test_the_nap_v1_text_is_the_one_napflow_released() -> None:
    """Its digest is what databases that ran NAP v1 plans stored: byte for byte the file
    of napflow before version 2 (commit 99e0ea5), when the repository has that history."""
    text = (REPO / "workflows" / "released" / "nap.v1.toml").read_bytes()
    shown = subprocess.run(
        ["git", "show", "99e0ea5:workflows/nap.toml"],
        cwd=REPO,
        capture_output=True,
        check=False,
    )
    if shown.returncode != 0:
        pytest.skip("not a clone with napflow's history")
    assert hashlib.sha256(text).hexdigest() == hashlib.sha256(shown.stdout).hexdigest()
