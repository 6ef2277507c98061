"""The catalog of workflows: every ``*.toml`` file in the workflow directories.

Directories are searched in order; a file in a later directory replaces a built-in workflow
of the same name. A file that fails validation stays listed with its problems, so one bad
file does not stop plans on the other workflows; using it reports the problems.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from napflow.errors import InvalidDefinition, NotFoundError
from napflow.workflow.definition import WorkflowDefinition, load_definition
from napflow.workflow.engine import Engine


@dataclass(frozen=True)
class CatalogEntry:
    """One workflow file: its definition, or the problems that keep it from loading."""

    name: str
    path: Path
    definition: WorkflowDefinition | None
    problems: tuple[str, ...] = ()


class WorkflowCatalog:
    """Workflows by name, each with one engine built on first use."""

    def __init__(self, dirs: Sequence[Path]) -> None:
        self.dirs = tuple(dirs)
        self._entries: dict[str, CatalogEntry] = {}
        self._engines: dict[str, Engine] = {}
        for directory in self.dirs:
            for path in sorted(directory.glob("*.toml")):
                self._entries[path.stem] = self._load(path)

    @staticmethod
    def _load(path: Path) -> CatalogEntry:
        try:
            definition = load_definition(path)
        except InvalidDefinition as exc:
            return CatalogEntry(path.stem, path, None, tuple(exc.problems))
        return CatalogEntry(definition.name, path, definition)

    def entries(self) -> list[CatalogEntry]:
        """Return every workflow file found, valid or not, by name."""
        return [self._entries[n] for n in sorted(self._entries)]

    def names(self) -> list[str]:
        """Return the names of the valid workflows."""
        return [e.name for e in self.entries() if e.definition is not None]

    def get(self, name: str) -> WorkflowDefinition:
        """Return the definition called ``name``; refuse unknown or invalid ones."""
        entry = self._entries.get(name)
        if entry is None:
            known = ", ".join(self.names()) or "none"
            raise NotFoundError(f"There is no workflow called {name!r}; workflows: {known}.")
        if entry.definition is None:
            raise InvalidDefinition(
                [f"Workflow {name!r} ({entry.path}) is invalid:", *entry.problems]
            )
        return entry.definition

    def engine(self, name: str) -> Engine:
        """Return the engine of workflow ``name``, building its Machine once."""
        engine = self._engines.get(name)
        if engine is None:
            engine = self._engines[name] = Engine(self.get(name))
        return engine
