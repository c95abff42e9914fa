"""Compiler-style problem reports for flow and persona files.

A plain record with no imports from the bot: the engine's loader and checks produce
Diagnostics and :class:`bot.errors.FlowFileError` carries them, so it sits beside
``bot/errors.py`` at the bottom of the tree, where both may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem, printed as ``path:line:column: message (flow X, step Y)``.

    ``line`` and ``column`` are 1-based, as editors show them.
    """

    path: str
    line: int
    column: int
    message: str
    flow: str | None = None
    step: str | None = None
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = []
        if self.flow:
            where.append(f"flow {self.flow}")
        if self.step:
            where.append(f"step {self.step}")
        suffix = f" ({', '.join(where)})" if where else ""
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        return f"{self.path}:{self.line}:{self.column}: {prefix}{self.message}{suffix}"
