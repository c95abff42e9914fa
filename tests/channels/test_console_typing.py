"""The console shows "typing…" while a turn takes a moment (a slow custom action)."""

from __future__ import annotations

import asyncio
import io

from bot.channels.console import TYPING_AFTER_SECONDS, ConsoleChannel
from bot.messages import Inbound, Outbound


async def play(turn_seconds: float) -> str:
    out = io.StringIO()
    lines = iter(["where is my order WS-10001", None])

    async def handler(_: Inbound) -> list[Outbound]:
        await asyncio.sleep(turn_seconds)
        return []

    async def flush() -> list[Outbound]:
        return []

    async def read() -> str | None:
        return next(lines)

    await ConsoleChannel(handler, flush, "u1", out=out).run(read)
    return out.getvalue()


async def test_a_slow_turn_shows_typing() -> None:
    assert "typing…" in await play(TYPING_AFTER_SECONDS * 3)


async def test_a_quick_turn_does_not_flicker() -> None:
    assert "typing…" not in await play(0)
