"""Editing flow files while the bot runs: new conversations get the edit, running ones don't."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.conversation.manager import ConversationManager
from bot.engine.registry import FlowRegistry
from storage.sql import SqlStore
from tests.conftest import FLOWS, PERSONAS, Customer, example_actions


@pytest.fixture
def live(tmp_path: Path, store: SqlStore) -> tuple[Path, FlowRegistry, ConversationManager]:
    """A copy of the shipped flows served by a hot-reloading registry."""
    flows = tmp_path / "flows"
    shutil.copytree(FLOWS, flows)
    registry = FlowRegistry.load(flows, PERSONAS)
    return flows, registry, ConversationManager(store, registry, example_actions())


Live = tuple[Path, FlowRegistry, ConversationManager]


async def test_running_conversation_finishes_on_its_version(live: Live) -> None:
    flows, registry, manager = live
    early = Customer(manager, "early")
    await early.say("step by step please")
    await early.say("reset my password")
    assert "Step 1 of 3" in early.text

    path = flows / "reset_password.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("Step 2 of 3:", "Step 2 (new wording):"),
        encoding="utf-8",
    )
    assert registry.reload() == []

    await early.tap("It's open")
    assert "Step 2 of 3:" in early.text  # the version it started with

    late = Customer(manager, "late")
    await late.say("step by step please")
    await late.say("reset my password")
    await late.tap("It's open")
    assert "Step 2 (new wording):" in late.text


async def test_broken_edit_keeps_serving_the_last_good_version(live: Live) -> None:
    flows, registry, manager = live
    (flows / "reset_password.yaml").write_text("id: reset_password\nvariants: [", "utf-8")
    assert registry.reload()  # errors reported
    customer = Customer(manager)
    await customer.say("step by step please")
    assert "Step 1 of 3" in await customer.say("reset my password")


async def test_deleted_flow_leaves_the_menu(live: Live) -> None:
    flows, registry, manager = live
    (flows / "charged_twice.yaml").unlink()
    assert registry.reload() == []
    customer = Customer(manager)
    await customer.say("menu")
    assert "I was charged twice" not in customer.labels
    assert "Where is my order?" in customer.labels
