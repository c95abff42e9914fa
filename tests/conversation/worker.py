"""A bot worker process for the multi-worker test: JSON lines in, JSON lines out.

    python -m tests.conversation.worker DATABASE_URL [NAME]

Builds a :class:`ConversationManager` the way the bot does (``open_store``, the shipped
flows, the demo actions) and reads ``{"chat": ..., "update_id": ..., "text": ...}``
lines from stdin. Each line becomes its own asyncio task calling ``handle()``, so one
worker runs many turns at once, like a webhook server. When a turn finishes it prints
``{"update_id": ..., "replies": n, "worker": NAME}``; if ``handle()`` raised, the line
carries ``"error"`` instead (traceback on stderr) and the exit status becomes 1. After
stdin closes it waits for the running turns, closes the store and exits.

It prints ``{"ready": NAME}`` once the store is open, so a test can start both workers
before sending anything.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from bot.conversation.manager import ConversationManager, FixedCatalog
from bot.engine.loader import load_catalog
from bot.messages import ConversationKey, CustomerInfo, Inbound, InboundKind
from storage.sql import open_store
from tests.conftest import example_actions

ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "test"


def emit(message: dict[str, Any]) -> None:
    """One JSON line on stdout, flushed at once: the test waits for it."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def handle_line(manager: ConversationManager, name: str, line: str) -> bool:
    """Run the turn of one input line and report it; False if ``handle()`` raised."""
    message = json.loads(line)
    chat = str(message["chat"])
    update_id = str(message["update_id"])
    inbound = Inbound(
        ConversationKey(CHANNEL, chat),
        CustomerInfo(chat),
        InboundKind.TEXT,
        str(message["text"]),
        update_id=update_id,
    )
    try:
        replies = await manager.handle(inbound)
    except Exception as error:
        traceback.print_exc()
        emit({"update_id": update_id, "worker": name, "error": repr(error)})
        return False
    emit({"update_id": update_id, "worker": name, "replies": len(replies)})
    return True


async def main(url: str, name: str) -> int:
    catalog, diagnostics = load_catalog(ROOT / "flows", ROOT / "personas")
    if catalog is None:
        print("\n".join(map(str, diagnostics)), file=sys.stderr)
        return 2
    store = await open_store(url)
    manager = ConversationManager(store, FixedCatalog(catalog), example_actions())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks: set[asyncio.Task[bool]] = set()
    emit({"ready": name})
    try:
        while line := await reader.readline():
            if line.strip():
                tasks.add(asyncio.create_task(handle_line(manager, name, line.decode())))
        results = await asyncio.gather(*tasks)
    finally:
        await store.close()
    return 0 if all(results) else 1


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else "worker")))
