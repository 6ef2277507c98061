"""Folders are layers: every module's napflow imports point down, and interfaces stop at services.

Read from the source with ``ast`` (nothing is imported or run), so a wrong import fails here
even in code no other test reaches. The rule itself is documented in docs/architecture.md.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "napflow"

#: napflow's modules at the package root: what every layer may use
FOUNDATION = "foundation"
#: layer -> the layers its modules may import (besides their own and the foundation)
#: the reader's language (catalogues, Babel formats): below everything, every layer uses it
I18N = "i18n"
MAY_IMPORT: dict[str, frozenset[str]] = {
    I18N: frozenset(),
    FOUNDATION: frozenset(),
    "workflow": frozenset(),
    "documents": frozenset(),
    "ledger": frozenset({"workflow"}),
    "storage": frozenset({"ledger"}),
    "notifications": frozenset(),
    "runtime": frozenset({"workflow", "storage", "notifications"}),
    "services": frozenset(
        {"workflow", "documents", "ledger", "storage", "notifications", "runtime"}
    ),
    # the interfaces: services and the wiring, nothing below; the CLI starts the others
    "scheduler": frozenset({"services", "runtime"}),
    "web": frozenset({"services", "runtime"}),
    "cli": frozenset({"services", "runtime", "web", "scheduler"}),
}
INTERFACES = frozenset({"cli", "web", "scheduler"})


def layer_of(module: str) -> str:
    """Return the layer of a dotted napflow module name."""
    if module == "napflow.__main__":
        return "cli"  # ``python -m napflow`` is the command line
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in MAY_IMPORT:
        return parts[1]
    return FOUNDATION  # napflow itself and its root modules (errors, clock, inputs, ...)


@dataclass(frozen=True)
class Import:
    """One import of a napflow module, where it is written."""

    module: str  # the importing module
    line: int
    target: str  # the imported module (or package attribute) as written

    def __str__(self) -> str:
        return f"{self.module} (line {self.line}) imports {self.target}"


def python_files(root: Path) -> Iterator[Path]:
    """Yield every .py file under ``root``, through the links to notifications/ and workflows/."""
    for folder, _dirs, files in sorted(os.walk(root, followlinks=True)):
        yield from (Path(folder) / name for name in sorted(files) if name.endswith(".py"))


def module_name(path: Path, root: Path) -> str:
    """Return the dotted name of the module at ``path`` inside the package at ``root``."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def napflow_imports(source: str, module: str, package: str) -> list[Import]:
    """Return every import of napflow in ``source`` (``module``'s text), at any depth.

    ``package`` is the package relative imports start from (``module`` itself for an
    ``__init__.py``).
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(module, node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # "from napflow import services" imports the module napflow.services
            found += [Import(module, node.lineno, f"{base}.{a.name}") for a in node.names]
    return [i for i in found if i.target.split(".")[0] == "napflow"]


def violations(root: Path) -> list[str]:
    """Return every import under ``root`` (a napflow source tree) that breaks the layer rule."""
    wrong = []
    for path in python_files(root):
        module = module_name(path, root)
        layer = layer_of(module)
        # every layer may use the foundation and i18n; i18n itself uses nothing of napflow
        allowed = MAY_IMPORT[layer] | {layer, I18N} | ({FOUNDATION} if layer != I18N else set())
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for imp in napflow_imports(path.read_text(encoding="utf-8"), module, package):
            target_layer = layer_of(imp.target)
            if target_layer not in allowed:
                wrong.append(f"{imp}: the {layer} layer may not import the {target_layer} layer")
            elif (
                layer in INTERFACES
                and target_layer == "services"
                and any(part.startswith("_") for part in imp.target.split(".")[2:])
            ):
                wrong.append(f"{imp}: a private helper of the services, not a service")
    return wrong


def test_every_import_points_down_and_interfaces_stop_at_the_services() -> None:
    assert violations(PACKAGE) == []


def test_the_rule_covers_every_package_of_napflow() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert any(
        m.startswith("napflow.notifications.")
        for m in map(lambda p: module_name(p, PACKAGE), python_files(PACKAGE))
    )
    assert packages == set(MAY_IMPORT) - {FOUNDATION}


def test_no_module_imports_its_own_layer_in_a_function() -> None:
    # Imports inside functions keep start-up cheap (heavy libraries, the CLI's commands);
    # one that reaches a module of its own layer is hiding an import circle: move the code.
    nested = []
    for path in python_files(PACKAGE):
        module = module_name(path, PACKAGE)
        if layer_of(module) in INTERFACES:
            continue  # commands and views import what they use when they run
        functions = [
            node
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        nested += [
            f"{module} (line {node.lineno}) imports {node.module}"
            for func in functions
            for node in ast.walk(func)
            if isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("napflow")
            and layer_of(node.module or "") == layer_of(module)
        ]
    assert nested == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        (
            "napflow.workflow.engine",
            "from napflow.cli import main\n",
            "napflow.workflow.engine (line 1) imports napflow.cli.main: "
            "the workflow layer may not import the cli layer",
        ),
        (
            "napflow.storage.schema",
            "import napflow.services.plans\n",
            "napflow.storage.schema (line 1) imports napflow.services.plans: "
            "the storage layer may not import the services layer",
        ),
        (
            "napflow.web.pages",
            "\n\nfrom napflow.storage.schema import plans\n",
            "napflow.web.pages (line 3) imports napflow.storage.schema.plans: "
            "the web layer may not import the storage layer",
        ),
        (
            "napflow.cli.plans",
            "def f():\n    from napflow.services._records import append\n",
            "napflow.cli.plans (line 2) imports napflow.services._records.append: "
            "a private helper of the services, not a service",
        ),
        (
            "napflow.ledger.chain",
            "from ..runtime import bootstrap\n",
            "napflow.ledger.chain (line 1) imports napflow.runtime.bootstrap: "
            "the ledger layer may not import the runtime layer",
        ),
    ],
)
def test_a_wrong_import_is_named_with_its_module_and_line(
    tmp_path: Path, module: str, source: str, expected: str
) -> None:
    # the check itself, on a copy of napflow with one wrong import planted
    root = tmp_path / "napflow"
    path = root.joinpath(*module.split(".")[1:]).with_suffix(".py")
    path.parent.mkdir(parents=True)
    for directory in (root, path.parent):
        (directory / "__init__.py").touch()
    path.write_text(source, encoding="utf-8")
    assert violations(root) == [expected]
