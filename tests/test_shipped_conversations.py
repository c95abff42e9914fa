"""Every scripted conversation in flows/tests/ runs as a pytest case too — with the
example shop's rasa-sdk actions in-process, and again on a real action server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.actions import ActionRunner
from bot.actions.rasa import ActionServer, InProcessActions
from bot.engine.catalog import Catalog
from bot.scripted.flowtest import CaseSpec, ConversationTester, discover, load_cases
from storage.sql import SqlStore
from tests.conftest import FLOWS, SHOP_PACKAGE
from tests.rasa_server import action_server

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


@pytest.fixture(scope="module")
def server_url(shop_database: str) -> Iterator[str]:
    with action_server(SHOP_PACKAGE) as url:
        yield url


@pytest.fixture(params=["in-process", "action-server"])
async def actions(
    request: pytest.FixtureRequest, shop_actions: InProcessActions
) -> AsyncIterator[ActionRunner]:
    if request.param == "in-process":
        yield shop_actions
        return
    server = ActionServer(request.getfixturevalue("server_url"))
    yield server
    await server.close()


@pytest.mark.parametrize(("file", "case"), CASES)
async def test_shipped_conversation(
    file: Path, case: CaseSpec, store: SqlStore, shipped_catalog: Catalog, actions: ActionRunner
) -> None:
    tester = ConversationTester(shipped_catalog, store, actions)
    result = await tester.run_case(case, str(file))
    assert result.passed, "\n".join(result.failures)
