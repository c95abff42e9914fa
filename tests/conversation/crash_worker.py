"""One worker process handling one platform update, for the restart-safety tests.

Usage: python -m tests.conversation.crash_worker DB_URL PLATFORM_LOG CHAT UPDATE_ID TEXT

It delivers outbox rows left by an earlier (crashed) run first, handles the update,
then delivers its replies to a stand-in platform: a JSON-lines file. With
``SUPPORTBOT_CRASH_AT`` set, it dies like ``kill -9`` at that point.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from bot.conversation.manager import ConversationManager, FixedCatalog
from bot.delivery import OutboxSender
from bot.engine.loader import load_catalog
from bot.messages import ConversationKey, CustomerInfo, Inbound, InboundKind, Outbound
from storage.sql import open_store
from tests.conftest import example_actions

ROOT = Path(__file__).resolve().parents[2]


class FilePlatform:
    channel = "test"

    def __init__(self, path: Path) -> None:
        self.path = path

    async def send(self, message: Outbound) -> str | None:
        with self.path.open("a", encoding="utf-8") as log:
            log.write(json.dumps({"chat": message.key.chat_id, "text": message.text}) + "\n")
        return None


async def drain(sender: OutboxSender, store_outbox_counts: object) -> None:
    """Deliver until nothing is pending (waiting out a dead worker's short lease)."""
    for _ in range(100):
        await sender.deliver_due()
        counts = await store_outbox_counts()  # type: ignore[operator]
        if not counts.get("pending"):
            return
        await asyncio.sleep(0.05)
    raise SystemExit("outbox did not drain")


async def main(db_url: str, platform_log: str, chat: str, update_id: str, text: str) -> None:
    catalog, diagnostics = load_catalog(ROOT / "flows", ROOT / "personas")
    assert catalog is not None, diagnostics
    store = await open_store(db_url)
    try:
        manager = ConversationManager(store, FixedCatalog(catalog), example_actions())
        sender = OutboxSender(store.outbox, FilePlatform(Path(platform_log)), lease_seconds=0.3)
        await drain(sender, store.outbox.counts)
        key = ConversationKey("test", chat)
        await manager.handle(
            Inbound(key, CustomerInfo(chat), InboundKind.TEXT, text, update_id=update_id)
        )
        await drain(sender, store.outbox.counts)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
