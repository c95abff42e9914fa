"""Two workers on one PostgreSQL database: a custom action runs once per customer turn.

Each manager has its own store (its own connection pools), as two processes would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.actions import ActionCall, LocalActionRunner
from bot.conversation.manager import ConversationManager, FixedCatalog
from bot.engine.catalog import Catalog
from bot.engine.effects import ActionResultEvent
from bot.messages import ConversationKey, CustomerInfo, Inbound, InboundKind
from storage.sql import SqlStore, open_store
from tests.conftest import example_actions
from tests.pg import require_server


@pytest.fixture
async def two_stores() -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    server = require_server()
    url = server.create_database()
    first = await open_store(url)
    second = await open_store(url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()
        server.drop_database(url)


async def test_a_message_during_another_workers_action_waits_for_it(
    two_stores: tuple[SqlStore, SqlStore], shipped_catalog: Catalog
) -> None:
    calls: list[str] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_order_status(call: ActionCall) -> ActionResultEvent:
        calls.append(str(call.slots.get("order_number")))
        started.set()
        await release.wait()
        return await example_actions().run(call)

    def worker(store: SqlStore) -> ConversationManager:
        actions = LocalActionRunner({"order_status": slow_order_status})
        return ConversationManager(store, FixedCatalog(shipped_catalog), actions)

    a, b = worker(two_stores[0]), worker(two_stores[1])
    key = ConversationKey("test", "erin")

    def update(update_id: str, text: str) -> Inbound:
        return Inbound(key, CustomerInfo("erin"), InboundKind.TEXT, text, update_id=update_id)

    await a.handle(update("1", "where is my order"))
    await a.handle(update("2", "quick answers"))
    lookup = asyncio.create_task(a.handle(update("3", "WS-10001")))
    await asyncio.wait_for(started.wait(), 10)
    meanwhile = asyncio.create_task(b.handle(update("4", "hello?")))
    redelivered = asyncio.create_task(b.handle(update("3", "WS-10001")))
    await asyncio.sleep(0.3)
    assert not meanwhile.done() and not redelivered.done()  # they wait for the turn

    release.set()
    assert "shipped" in "\n".join(r.text for r in await lookup)
    assert await redelivered == []
    assert await meanwhile  # answered, after the action's reply
    assert calls == ["WS-10001"]  # the action ran once
