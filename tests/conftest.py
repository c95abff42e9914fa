"""Shared fixtures: the shipped flows, a real SQLite store, and a customer driver."""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest

from bot.actions.rasa import InProcessActions
from bot.channels.base import InboundGate
from bot.conversation.manager import ConversationManager, FixedCatalog
from bot.engine.catalog import Catalog
from bot.engine.loader import load_catalog
from bot.messages import ConversationKey, CustomerInfo, Inbound, InboundKind, Outbound
from storage.sql import SqlStore, open_store

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "flows"
PERSONAS = ROOT / "personas"


SHOP_PACKAGE = "examples.actions"


@pytest.fixture(scope="session", autouse=True)
def shop_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example shop's sample orders in a throw-away SQLite file, seeded today, for
    every test (and every subprocess they start: the variable is inherited)."""
    from examples.actions import seed_demo_data

    url = f"sqlite:///{tmp_path_factory.mktemp('shop') / 'shop.db'}"
    previous = os.environ.get("SHOP_DATABASE_URL")
    os.environ["SHOP_DATABASE_URL"] = url
    seed_demo_data(url)
    yield url
    if previous is None:
        os.environ.pop("SHOP_DATABASE_URL", None)
    else:
        os.environ["SHOP_DATABASE_URL"] = previous


@functools.cache
def example_actions() -> InProcessActions:
    """The shipped example shop's rasa-sdk actions, run in-process (one per process)."""
    return InProcessActions(SHOP_PACKAGE)


@pytest.fixture(scope="session")
def shop_actions(shop_database: str) -> InProcessActions:
    return example_actions()


@pytest.fixture(scope="session")
def shipped_catalog() -> Catalog:
    catalog, diagnostics = load_catalog(FLOWS, PERSONAS)
    assert catalog is not None, "\n".join(map(str, diagnostics))
    return catalog


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    yield store
    await store.close()


@pytest.fixture
def manager(
    store: SqlStore, shipped_catalog: Catalog, shop_actions: InProcessActions
) -> ConversationManager:
    return ConversationManager(store, FixedCatalog(shipped_catalog), shop_actions)


class Customer:
    """Plays one customer in one chat; remembers the buttons of the last replies."""

    def __init__(
        self,
        manager: ConversationManager,
        user_id: str = "u1",
        first_name: str | None = None,
        channel: str = "test",
    ) -> None:
        self.manager = manager
        self.key = ConversationKey(channel, user_id)
        self.sender = CustomerInfo(user_id, first_name=first_name)
        self.last: Sequence[Outbound] = []

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.last)

    @property
    def labels(self) -> list[str]:
        return [b.label for r in self.last for b in r.buttons]

    async def send(self, inbound: Inbound) -> str:
        self.last = await self.manager.handle(inbound)
        return self.text

    async def say(self, text: str) -> str:
        return await self.send(Inbound(self.key, self.sender, InboundKind.TEXT, text))

    async def tap(self, label: str) -> str:
        for reply in self.last:
            for button in reply.buttons:
                if button.label == label and button.payload:
                    return await self.press(button.payload)
        raise AssertionError(f"no button {label!r}; offered: {self.labels}")

    async def press(self, payload: str) -> str:
        return await self.send(Inbound(self.key, self.sender, InboundKind.BUTTON, payload=payload))

    async def send_photo(self) -> str:
        return await self.send(
            Inbound(self.key, self.sender, InboundKind.NON_TEXT, non_text_kind="photo")
        )


@pytest.fixture
def customer(manager: ConversationManager) -> Customer:
    return Customer(manager, first_name="Ann")


async def settle(store: SqlStore, gate: InboundGate, timeout: float) -> None:
    """Wait until no turn runs and the outbox holds nothing pending (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = await store.outbox.counts()
        if not counts.get("pending") and gate.in_flight == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"outbox not drained after {timeout}s: {counts}")
        await asyncio.sleep(0.02)
