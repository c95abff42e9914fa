"""Shared fixtures: the shipped flows, a real SQLite store, and a customer driver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from bot.actions import LocalActionRunner
from bot.conversation.manager import ConversationManager, FixedCatalog
from bot.demo_actions import DEMO_ACTIONS
from bot.engine.catalog import Catalog
from bot.engine.loader import load_catalog
from bot.messages import ConversationKey, CustomerInfo, Inbound, InboundKind, Outbound
from storage.sql import SqlStore, open_store

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "flows"
PERSONAS = ROOT / "personas"


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
def manager(store: SqlStore, shipped_catalog: Catalog) -> ConversationManager:
    return ConversationManager(
        store, FixedCatalog(shipped_catalog), LocalActionRunner(DEMO_ACTIONS)
    )


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
