"""Where things sit in a flow or persona file, and what one load of the files produced.

:class:`SourceMap` turns a data path (``("variants", "default", "steps", "ask")``) into
the line and column the operator sees; :class:`LoadedFiles` is the loader's result that
the semantic checks read. Both live here, below the loader and the checks, so that
:mod:`bot.engine.validate` needs nothing from :mod:`bot.engine.loader` and the loader
can call the checks without an import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.diagnostics import Diagnostic, Severity
from bot.engine.schema import Flow, Persona

DataPath = tuple[str | int, ...]
"""Keys and list indexes from the top of a file, as the operator writes them."""

Position = tuple[int, int]
"""1-based (line, column)."""


@dataclass(frozen=True, slots=True)
class SourceMap:
    """Where each key and value of one file sits, so any check can point at its line."""

    path: str
    keys: Mapping[DataPath, Position]
    """Position of each mapping key (or list item); ``()`` is the top of the file."""
    values: Mapping[DataPath, Position]
    """Position of each scalar value."""

    def position(self, path: DataPath) -> Position:
        """Where ``path`` starts (its key), else its nearest known ancestor, else 1:1."""
        for end in range(len(path), -1, -1):
            found = self.keys.get(path[:end])
            if found is not None:
                return found
        return (1, 1)

    def value_position(self, path: DataPath) -> Position:
        """Where the scalar value at ``path`` starts; falls back to :meth:`position`."""
        return self.values.get(path) or self.position(path)

    def diagnostic(
        self,
        path: DataPath,
        message: str,
        *,
        flow: str | None = None,
        step: str | None = None,
        severity: Severity = Severity.ERROR,
        at_value: bool = False,
    ) -> Diagnostic:
        """A Diagnostic located at ``path`` (its value when ``at_value``) in this file."""
        line, column = self.value_position(path) if at_value else self.position(path)
        return Diagnostic(self.path, line, column, message, flow, step, severity)


@dataclass(frozen=True, slots=True)
class LoadedFiles:
    """Everything one load produced: the models, where they came from, and the problems."""

    flows: Mapping[str, Flow]
    versions: Mapping[str, str]
    personas: Mapping[str, Persona]
    flow_sources: Mapping[str, SourceMap]
    persona_sources: Mapping[str, SourceMap]
    invalid_flow_ids: frozenset[str] = frozenset()
    """Ids named by flow files that failed schema checks; treated as existing by the
    semantic checks so one broken file does not cascade into "unknown flow" errors."""
    invalid_persona_ids: frozenset[str] = frozenset()
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)
