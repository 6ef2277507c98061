"""The catalog of workflows: the files in the workflow directories, and stored versions.

Every ``*.toml`` file in the workflow directories is a workflow. Directories are searched
in order; a file in a later directory replaces a built-in workflow of the same name. A file
that fails validation stays listed with its problems, so one bad file does not stop plans
on the other workflows; using it reports the problems.

Each plan runs under one version of its workflow. The file serves the plans of its own
version; a plan pinned to another one is served by that version's text as the database
stored it the first time it was used (:class:`StoredVersion`, read through the ``stored``
function the runtime attaches), else, for a built-in workflow, by the text napflow
released it with (``released/NAME.vN.toml`` beside the built-in files: a database from
before versions were stored has plans on versions it never stored). A file whose version
the database holds with other text (edited without a new ``version``) is refused, with the
reason; plans of that version go on under the stored text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from napflow.errors import InvalidDefinition, NotFoundError
from napflow.workflow.definition import WorkflowDefinition, load_definition, parse_definition
from napflow.workflow.engine import Engine


@dataclass(frozen=True)
class CatalogEntry:
    """One workflow file: its definition, or the problems that keep it from loading."""

    name: str
    path: Path
    definition: WorkflowDefinition | None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredVersion:
    """A workflow version as the database keeps it: its text, digest and original file."""

    name: str
    version: int
    digest: str
    source: str
    path: str


#: reads the stored version (name, version) from the database, None if it holds none
StoredLookup = Callable[[str, int], StoredVersion | None]


class WorkflowCatalog:
    """Workflows by name and version, each version's engine built on first use."""

    def __init__(
        self,
        dirs: Sequence[Path],
        stored: StoredLookup | None = None,
        released: Path | None = None,
    ) -> None:
        self.dirs = tuple(dirs)
        self.released = released
        self._entries: dict[str, CatalogEntry] = {}
        self._engines: dict[tuple[str, int], Engine] = {}
        # versions read from the database (they never change once stored)
        self._versions: dict[tuple[str, int], WorkflowDefinition] = {}
        # the digest the database holds for each file's version (None: not stored yet)
        self._digests: dict[str, str | None] = {}
        # released built-in versions read (they never change either; None: there is none)
        self._released_read: dict[tuple[str, int], WorkflowDefinition | None] = {}
        # versions the database did not hold when asked, which a released text serves
        # (the same text it stores at the first change, by this process or another)
        self._released_only: set[tuple[str, int]] = set()
        self._stored = stored
        for directory in self.dirs:
            for path in sorted(directory.glob("*.toml")):
                self._entries[path.stem] = self._load(path)

    def attach(self, stored: StoredLookup) -> None:
        """Read stored versions (and check the files against them) through ``stored``."""
        self._stored = stored

    @staticmethod
    def _load(path: Path) -> CatalogEntry:
        try:
            definition = load_definition(path)
        except InvalidDefinition as exc:
            return CatalogEntry(path.stem, path, None, tuple(exc.problems))
        return CatalogEntry(definition.name, path, definition)

    def _checked(self, name: str) -> CatalogEntry | None:
        """Return the entry of file ``name``, refused if its version is stored otherwise."""
        entry = self._entries.get(name)
        if entry is None or entry.definition is None or self._stored is None:
            return entry
        if name not in self._digests:
            found = self._stored(name, entry.definition.version)
            self._digests[name] = found.digest if found is not None else None
        stored = self._digests[name]
        definition = entry.definition
        if stored is None or stored == definition.digest:
            return entry
        entry = CatalogEntry(
            name,
            entry.path,
            None,
            (
                f"{entry.path}: workflow {name} v{definition.version} was changed after the "
                f"database stored it (stored {stored[:12]}, this file {definition.digest[:12]}); "
                f"plans run under v{definition.version} as stored. Give the changed file a new "
                f"version (version = {definition.version + 1}), or restore its text.",
            ),
        )
        self._entries[name] = entry
        return entry

    def entries(self) -> list[CatalogEntry]:
        """Return every workflow file found, valid or not, by name."""
        return [e for n in sorted(self._entries) if (e := self._checked(n)) is not None]

    def names(self) -> list[str]:
        """Return the names of the valid workflows."""
        return [e.name for e in self.entries() if e.definition is not None]

    def file_entry(self, name: str) -> CatalogEntry | None:
        """Return the file of workflow ``name`` (checked against the database), or None."""
        return self._checked(name)

    def get(self, name: str, version: int | None = None) -> WorkflowDefinition:
        """Return workflow ``name`` at ``version`` (None: the file's, which new plans use).

        Unknown names, invalid files and versions neither the file nor the database has are
        refused with the reason.
        """
        entry = self._checked(name)
        if version is not None:
            current = entry.definition if entry is not None else None
            if current is not None and current.version == version:
                return current
            found = self.stored(name, version)
            if found is not None:
                return found
            if entry is None or entry.definition is not None:
                have = (
                    f"its file is v{entry.definition.version}"
                    if entry and entry.definition
                    else "it has no file"
                )
                raise NotFoundError(
                    f"Workflow {name} v{version} is not stored in this database, and {have}."
                )
            # an invalid file: what is wrong with it is the reason
        if entry is None:
            known = ", ".join(self.names()) or "none"
            raise NotFoundError(f"There is no workflow called {name!r}; workflows: {known}.")
        if entry.definition is None:
            raise InvalidDefinition(
                [f"Workflow {name!r} ({entry.path}) is invalid:", *entry.problems]
            )
        return entry.definition

    def stored(self, name: str, version: int) -> WorkflowDefinition | None:
        """Return version ``version`` of ``name`` as the database stored it, or None."""
        key = (name, version)
        found = self._versions.get(key)
        if found is not None or self._stored is None:
            return found
        if key in self._released_only:  # found unstored before: the released text serves
            return self._released(name, version)
        kept = self._stored(name, version)
        if kept is None:
            released = self._released(name, version)
            if released is not None:  # asked again on every page otherwise, until stored
                self._released_only.add(key)
            return released
        found = self._versions[key] = parse_definition(
            kept.source.encode("utf-8"), Path(kept.path), stored=True
        )
        return found

    def _released(self, name: str, version: int) -> WorkflowDefinition | None:
        """Return the text napflow released built-in ``name`` v``version`` with, if any.

        Not remembered as stored: the first change under it stores it (and seals it).
        """
        key = (name, version)
        if key not in self._released_read:
            path = self.released / f"{name}.v{version}.toml" if self.released else None
            self._released_read[key] = (
                parse_definition(
                    path.read_bytes(), path.parent.parent / f"{name}.toml", stored=True
                )
                if path is not None and path.is_file()
                else None
            )
        return self._released_read[key]

    def is_remembered(self, definition: WorkflowDefinition) -> bool:
        """Tell whether the database is known to hold ``definition``'s version, same text."""
        found = self._versions.get((definition.name, definition.version))
        return found is not None and found.digest == definition.digest

    def remember(self, definition: WorkflowDefinition) -> None:
        """Note that the database holds ``definition`` (found stored, committed)."""
        self._versions[(definition.name, definition.version)] = definition
        self._released_only.discard((definition.name, definition.version))
        entry = self._entries.get(definition.name)
        current = entry.definition if entry is not None else None
        if current is not None and current.version == definition.version:
            self._digests[definition.name] = definition.digest

    def engine(self, name: str, version: int | None = None) -> Engine:
        """Return the engine of workflow ``name`` at ``version``, building its Machine once."""
        definition = self.get(name, version)
        key = (definition.name, definition.version)
        engine = self._engines.get(key)
        if engine is None or engine.definition is not definition:
            engine = self._engines[key] = Engine(definition)
        return engine
