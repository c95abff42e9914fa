"""Per-chat locks: one turn at a time per chat, and no lock outlives its last user."""

from __future__ import annotations

import asyncio

from bot.conversation.locks import KeyedLocks


async def test_same_key_is_serialised_and_locks_are_dropped_after_use() -> None:
    locks = KeyedLocks()
    order: list[str] = []

    async def turn(key: str, name: str) -> None:
        async with locks.hold(key):
            order.append(f"{name}+")
            await asyncio.sleep(0.01)
            order.append(f"{name}-")

    await asyncio.gather(turn("a", "1"), turn("a", "2"), turn("b", "3"))
    first_a = order.index("1+")
    assert order[first_a + 1] in ("1-", "3+", "3-")  # chat a's turns never overlap
    assert order.index("2+") > order.index("1-")
    assert len(locks) == 0  # memory stays flat however many chats pass through
