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

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "storage")
MAX_LINES = 500
"""The longest a module may be (DESIGN.md: "no module over ~500 lines")."""

LAYERS: tuple[tuple[str, ...], ...] = (
    ("__main__",),
    ("cli",),  # the command line: only the entry points know it
    ("channel_setup", "runner"),  # what runs, and running it
    ("scripted", "app"),  # written cases played through the bot; the composition root
    ("handoff",),  # tickets and desks: above the conversation they hand off
    ("conversation", "channels", "reports"),  # channels get the manager passed in
    ("actions", "delivery"),  # seams the manager and channels call
    ("engine", "http"),  # the engine is pure: it imports no I/O
    ("errors",),  # one exception tree every layer raises
    (
        "diagnostics",
        "messages",
        "settings",
        "metrics",
        "faults",
        "body_limit",
        "head_limit",
        "log_privacy",
        "storage",
    ),
)
"""Parts of the house from the top down (``bot.<name>``, and ``storage``). A module may
import modules of its own part and of parts in lower rows, never of its own row's other
parts or of a row above — that is what "imports point one way" means here."""


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
    return name == "storage.migrations.versions" or name.startswith("storage.migrations.versions.")


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


def _part(module: str) -> str:
    names = module.split(".")
    return names[0] if names[0] != "bot" or len(names) == 1 else names[1]


def _row(part: str) -> int:
    for row, parts in enumerate(LAYERS):
        if part in parts:
            return row
    raise AssertionError(f"{part} is on no row of LAYERS: add it where it belongs")


def test_every_part_has_a_row() -> None:
    parts = {_part(name) for name in MODULES} - {"bot"}
    assert {part: _row(part) for part in parts}


def test_imports_point_one_way() -> None:
    upward = sorted(
        f"{source} -> {target}"
        for source, targets in GRAPH.items()
        for target in targets
        if _part(source) != "bot"
        and _part(target) != _part(source)
        and _row(_part(target)) <= _row(_part(source))
    )
    assert upward == []


def test_storage_never_imports_bot() -> None:
    assert not [
        (s, t) for s, ts in GRAPH.items() if _under(s, "storage") for t in ts if _under(t, "bot")
    ]


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


MAP_MARKER = "<!-- module map: tests/test_architecture.py checks it against the files -->"


def _readme_map() -> tuple[set[str], list[str]]:
    """The files the README's module map names, and its lines that say nothing of theirs."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split(MAP_MARKER, 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    named: set[str] = set()
    silent: list[str] = []
    folders: list[str] = []
    for line in block.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name, _, says = line.strip().partition(" ")
        if not says.strip():
            silent.append(line)
        folders = folders[:depth]
        if name.endswith("/"):
            folders.append(name.rstrip("/"))
            if name == "versions/":  # the revisions are not listed one by one
                named.add("/".join(folders) + "/")
        else:
            named.add("/".join([*folders, name]))
    return named, silent


def test_the_readme_maps_exactly_the_modules() -> None:
    named, silent = _readme_map()
    files = {
        "storage/migrations/versions/" if _is_migration(name) else str(path.relative_to(ROOT))
        for name, path in MODULES.items()
    }
    assert sorted(files - named) == [], "modules the README's map does not name"
    assert sorted(named - files) == [], "names in the README's map that are no module"
    assert silent == [], "every line of the map says what the module is for"
