"""Every scripted conversation in flows/tests/ runs as a pytest case too."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.actions import LocalActionRunner
from bot.demo_actions import DEMO_ACTIONS
from bot.engine.catalog import Catalog
from bot.flowtest import CaseSpec, ConversationTester, discover, load_cases
from storage.sql import SqlStore
from tests.conftest import FLOWS

CASES = [
    pytest.param(file, case, id=f"{file.stem}: {case.name}")
    for file in discover([FLOWS / "tests"])
    for case in load_cases(file)
]


def test_every_shipped_flow_has_cases_for_both_personas() -> None:
    covered: dict[str, set[str]] = {}
    for file in discover([FLOWS / "tests"]):
        for case in load_cases(file):
            covered.setdefault(file.stem, set()).add(case.persona or "new")
    for flow in FLOWS.glob("*.yaml"):
        assert {"self_serve", "guided"} <= covered.get(flow.stem, set()), flow.stem


@pytest.mark.parametrize(("file", "case"), CASES)
async def test_shipped_conversation(
    file: Path, case: CaseSpec, store: SqlStore, shipped_catalog: Catalog
) -> None:
    tester = ConversationTester(shipped_catalog, store, LocalActionRunner(DEMO_ACTIONS))
    result = await tester.run_case(case, str(file))
    assert result.passed, "\n".join(result.failures)
