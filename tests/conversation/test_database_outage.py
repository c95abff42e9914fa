"""The database goes away mid-run and comes back: turns fail cleanly, then recover.

A TCP proxy on 127.0.0.1 sits between the bot and the real PostgreSQL server; cutting
it is what a network partition or a database restart looks like to the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url

from bot.conversation.manager import ConversationManager, FixedCatalog
from bot.engine.catalog import Catalog
from bot.messages import ConversationKey, CustomerInfo, Inbound, InboundKind
from storage.sql import open_store
from tests.conftest import example_actions
from tests.pg import require_server


class Proxy:
    """Forwards 127.0.0.1:<port> to the database; ``cut()`` drops every connection."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update({writer, up_writer})
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
            self._writers.discard(writer)


@pytest.fixture
async def proxied_url() -> AsyncIterator[tuple[str, Proxy]]:
    server = require_server()
    url = server.create_database()
    parsed = make_url(url)
    proxy = Proxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    await proxy.start()
    try:
        yield parsed.set(port=proxy.port).render_as_string(hide_password=False), proxy
    finally:
        with contextlib.suppress(Exception):
            await proxy.cut()
        server.drop_database(url)


async def test_turn_fails_cleanly_while_the_database_is_gone_then_recovers(
    proxied_url: tuple[str, Proxy], shipped_catalog: Catalog
) -> None:
    url, proxy = proxied_url
    store = await open_store(url)
    manager = ConversationManager(store, FixedCatalog(shipped_catalog), example_actions())
    key = ConversationKey("test", "dora")

    def update(update_id: str, text: str) -> Inbound:
        return Inbound(key, CustomerInfo("dora"), InboundKind.TEXT, text, update_id=update_id)

    try:
        assert await manager.handle(update("1", "hi"))

        await proxy.cut()
        with pytest.raises(Exception):  # noqa: B017 - any driver error: the channel won't ack
            await asyncio.wait_for(manager.handle(update("2", "where is my order")), 30)

        await proxy.start()  # the database is back (same address)
        replies = await manager.handle(update("2", "where is my order"))  # redelivered
        assert "how do you like to be helped" in "\n".join(r.text for r in replies)
        assert await manager.handle(update("2", "where is my order")) == []  # once only

        conversation = (await store.conversations_of("test:dora"))[0]
        said = [e.text for e in await store.transcript(conversation.id) if e.direction == "in"]
        assert said == ["hi", "where is my order"]
    finally:
        await store.close()
