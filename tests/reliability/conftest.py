"""The reliability suite's shared bits: the heavy flag and the printed summary.

Tests count what they tried and measured through the ``tally`` fixture; the terminal
summary prints one line per kind (``reliability: …``) at the end of the run, whether
the tests passed or failed.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import pytest

HEAVY = os.environ.get("SUPPORTBOT_RELIABILITY_HEAVY", "") not in ("", "0", "false")
"""``SUPPORTBOT_RELIABILITY_HEAVY=1``: more examples, more load, more crashes."""


@dataclass
class Tally:
    """Cases tried per kind, and measured figures (printed, never asserted on time)."""

    cases: Counter[str] = field(default_factory=Counter)
    figures: dict[str, str] = field(default_factory=dict)

    def count(self, kind: str, n: int = 1) -> None:
        self.cases[kind] += n

    def note(self, name: str, value: str) -> None:
        self.figures[name] = value


_TALLY = pytest.StashKey[Tally]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_TALLY] = Tally()


@pytest.fixture(scope="session")
def tally(pytestconfig: pytest.Config) -> Tally:
    return pytestconfig.stash[_TALLY]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    found = terminalreporter.config.stash.get(_TALLY, None)
    if found is None or not (found.cases or found.figures):
        return
    terminalreporter.section("reliability summary")
    mode = "heavy" if HEAVY else "light (SUPPORTBOT_RELIABILITY_HEAVY=1 for more)"
    terminalreporter.write_line(f"reliability: mode {mode}")
    if found.cases:
        tried = ", ".join(f"{kind} {n}" for kind, n in sorted(found.cases.items()))
        terminalreporter.write_line(f"reliability: cases tried: {tried}")
    for name, value in sorted(found.figures.items()):
        terminalreporter.write_line(f"reliability: {name}: {value}")
