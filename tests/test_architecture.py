"""The shape of the code, held by tests: no import cycles, imports pointing one way, no
module too long to read.

Imports are read from the source with :mod:`ast` (also those inside functions and under
``TYPE_CHECKING``: a cycle that only shows at type-check time is still a cycle to a
reader). An ``import`` of a package counts as an arrow to its ``__init__``; the implicit
import of a parent package when a submodule is imported is not an arrow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "storage")
MAX_LINES = 500
"""The longest a module may be (DESIGN.md: "no module over ~500 lines")."""

NEVER: tuple[tuple[str, str, str], ...] = (
    ("storage", "bot", "storage is the bottom of the house and knows nothing of the bot"),
    ("bot.engine", "bot.conversation", "the engine is pure: the manager calls it, not back"),
    ("bot.engine", "bot.channels", "the engine knows no platform"),
    ("bot.engine", "bot.handoff", "the engine emits HandoffRequested; it runs no desk"),
    ("bot.engine", "storage", "the engine does no I/O"),
    ("bot.engine", "bot.actions", "the engine emits RunAction; it runs no action"),
    ("bot.conversation", "bot.channels", "channels call the manager, never the other way"),
    ("bot.conversation", "bot.handoff", "handoff sits above the conversation it hands off"),
    ("bot.actions", "bot.conversation", "actions are a seam the manager calls"),
    ("bot.reports", "bot.conversation", "reports read storage; they never run a turn"),
    ("bot.reports", "bot.channels", "reports know no platform"),
    ("bot.channels", "bot.handoff", "the desks use the channels, never the other way"),
    ("bot.channels", "bot.app", "channels get what they need passed in"),
    ("bot.errors", "bot.engine", "the error tree is the bottom: every layer raises it"),
    ("bot.messages", "bot.engine", "messages are channel-neutral values below everything"),
)
"""(importer, imported, why): no module under the first may import one under the second."""


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_migration(name: str) -> bool:
    return name.startswith("storage.migrations.versions.")


def _imported_names(name: str, tree: ast.AST) -> Iterator[str]:
    is_package = MODULES[name].name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            for alias in node.names:  # a submodule, else a name the module defines
                submodule = f"{module}.{alias.name}"
                yield submodule if submodule in MODULES else module


def _resolve(imported: str) -> str | None:
    """The module of this tree that an imported dotted name lands in (longest match)."""
    parts = imported.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        targets = {_resolve(imported) for imported in _imported_names(name, tree)}
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


GRAPH = _graph()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def test_the_import_graph_is_read() -> None:
    """Guards the checks below against passing because nothing was read."""
    assert len(MODULES) > 50
    assert "bot.engine.catalog" in GRAPH["bot.conversation.manager"]
    assert "bot.engine.dialogue.turn" in GRAPH["bot.engine.dialogue.menu"]


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize(("importer", "imported", "why"), NEVER)
def test_imports_point_one_way(importer: str, imported: str, why: str) -> None:
    wrong = sorted(
        f"{source} -> {target}"
        for source, targets in GRAPH.items()
        if _under(source, importer)
        for target in targets
        if _under(target, imported)
    )
    assert wrong == [], why


def test_only_the_entry_points_import_the_command_line() -> None:
    importers = sorted(
        source
        for source, targets in GRAPH.items()
        if not _under(source, "bot.cli") and any(_under(t, "bot.cli") for t in targets)
    )
    assert importers == ["bot.__main__"]


def test_no_module_is_too_long_to_read() -> None:
    long = {
        name: lines
        for name, path in MODULES.items()
        if not _is_migration(name)
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
