"""Read one YAML file into plain Python data plus the position of every key and value.

ruamel's round-trip loader keeps positions; this module copies its tree into plain
dicts, lists and scalars, records the positions in a :class:`SourceMap`, and turns what
stops a file from being read at all (not UTF-8, YAML syntax, duplicate keys, alias
bombs) into Diagnostics. It knows nothing of the flow schema: that is
:mod:`bot.engine.schema_errors`' job, on the data this returns.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from bot.diagnostics import Diagnostic
from bot.engine.problem_wording import describe
from bot.engine.source_map import DataPath, Position, SourceMap

_MAX_NODES = 200_000  # guards against alias bombs: a flow file is never this big


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """One readable file: its plain data, where each part sits, and a digest of its bytes."""

    data: dict[str | int, object]
    source: SourceMap
    digest: str


def parse_file(path: Path) -> tuple[ParsedFile | None, list[Diagnostic]]:
    """Read one file into plain data plus positions, or say why it cannot be read."""
    shown = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Diagnostic(shown, 1, 1, f"cannot read file: {exc.strerror or exc}")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Diagnostic(shown, line, 1, "file is not UTF-8 text")]
    node, problem = _load_yaml(shown, text)
    if problem is not None:
        return None, [problem]
    if node is None:
        return None, [Diagnostic(shown, 1, 1, "file is empty; expected a mapping (id: ...)")]
    if not isinstance(node, dict):
        message = f"expected a mapping at the top of the file (id: ...), got {describe(node)}"
        return None, [Diagnostic(shown, 1, 1, message)]
    recorder = _Recorder()
    data = recorder.plain_mapping(node, ())
    source = SourceMap(shown, recorder.keys, recorder.values)
    problems = [source.diagnostic(p, m) for p, m in recorder.problems]
    if problems:
        return None, problems
    digest = hashlib.sha256(raw).hexdigest()[:12]
    return ParsedFile(data, source, digest), []


def _load_yaml(shown: str, text: str) -> tuple[Any, Diagnostic | None]:
    """ruamel's round-trip tree of ``text``, or the syntax problem as a Diagnostic."""
    try:
        return YAML(typ="rt").load(text), None
    except DuplicateKeyError as exc:
        return None, _marked(shown, exc, _duplicate_key_message(exc))
    except MarkedYAMLError as exc:
        return None, _marked(shown, exc, _syntax_message(exc))
    except YAMLError as exc:
        return None, Diagnostic(shown, 1, 1, f"YAML syntax error: {exc}")
    except (ValueError, TypeError, RecursionError) as exc:  # e.g. `!!int foo`, 2020-13-45
        return None, Diagnostic(shown, 1, 1, f"cannot read YAML value: {exc}")


def _marked(shown: str, exc: MarkedYAMLError, message: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return Diagnostic(shown, 1, 1, message)
    return Diagnostic(shown, int(mark.line) + 1, int(mark.column) + 1, message)


_DUPLICATE_KEY = re.compile(r'duplicate key "(?P<key>.*?)" with value')


def _duplicate_key_message(exc: DuplicateKeyError) -> str:
    match = _DUPLICATE_KEY.search(str(exc.problem or ""))
    key = f" '{match.group('key')}'" if match else ""
    return f"duplicate key{key}: each key may appear only once in a mapping"


def _syntax_message(exc: MarkedYAMLError) -> str:
    message = f"YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}"
    if exc.context and exc.problem and exc.context_mark is not None:
        message += f" ({exc.context} started at line {int(exc.context_mark.line) + 1})"
    problem = str(exc.problem)
    if "'\\t'" in problem:
        message += "; indent with spaces, not tabs"
    elif "mapping values are not allowed" in problem:
        message += "; put text that contains ': ' in quotes"
    return message


class _Recorder:
    """Copies ruamel's tree into plain data, recording 1-based positions on the way."""

    def __init__(self) -> None:
        self.keys: dict[DataPath, Position] = {}
        self.values: dict[DataPath, Position] = {}
        self.problems: list[tuple[DataPath, str]] = []
        self._active: set[int] = set()
        self._nodes = 0

    def plain_mapping(self, node: Any, path: DataPath) -> dict[str | int, object]:
        if not path:
            lc = getattr(node, "lc", None)
            self.keys[()] = (int(getattr(lc, "line", 0)) + 1, int(getattr(lc, "col", 0)) + 1)
        marks = _marks(node)
        out: dict[str | int, object] = {}
        for raw_key, raw_value in node.items():
            key = _plain_key(raw_key)
            child = (*path, key)
            mark = marks.get(raw_key)
            if mark is not None and len(mark) >= 4:
                self.keys[child] = (int(mark[0]) + 1, int(mark[1]) + 1)
                if not isinstance(raw_value, dict | list):
                    self.values[child] = (int(mark[2]) + 1, int(mark[3]) + 1)
            out[key] = self.plain(raw_value, child)
        return out

    def plain_sequence(self, node: Any, path: DataPath) -> list[object]:
        marks = _marks(node)
        out: list[object] = []
        for index, item in enumerate(node):
            child = (*path, index)
            mark = marks.get(index)
            if mark is not None and len(mark) >= 2:
                self.keys[child] = self.values[child] = (int(mark[0]) + 1, int(mark[1]) + 1)
            out.append(self.plain(item, child))
        return out

    def plain(self, node: Any, path: DataPath) -> object:
        """Plain Python value of ``node``; cycles and alias bombs become problems."""
        self._nodes += 1
        if self._nodes > _MAX_NODES:
            if self._nodes == _MAX_NODES + 1:
                self.problems.append((path, "file is too large (too many values or aliases)"))
            return None
        if not isinstance(node, dict | list):
            return _plain_scalar(node)
        if id(node) in self._active:
            self.problems.append((path, "an alias refers to its own parent (endless nesting)"))
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, dict):
                return self.plain_mapping(node, path)
            return self.plain_sequence(node, path)
        finally:
            self._active.discard(id(node))


def _marks(node: Any) -> dict[Any, Any]:
    """ruamel's position table of a mapping or sequence (empty when it has none)."""
    data = getattr(getattr(node, "lc", None), "data", None)
    return data if isinstance(data, dict) else {}


def _plain_key(key: Any) -> str | int:
    if isinstance(key, str):
        return str(key)
    if isinstance(key, int):
        return int(key)
    return str(key)


def _plain_scalar(node: Any) -> object:
    if node is None or isinstance(node, bool):
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, date):
        return node
    value = getattr(node, "value", None)  # TaggedScalar: an unknown `!tag`
    return str(value) if value is not None else str(node)
