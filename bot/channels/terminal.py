"""Reading lines in a terminal without blocking the event loop (console chat and desk)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


def read_line(prompt: str) -> Callable[[], Awaitable[str | None]]:
    """A reader returning the next typed line, or None at end of input (Ctrl-D)."""

    def read() -> str | None:
        try:
            line = input(prompt)
        except EOFError:
            return None
        # A terminal may cut a long line inside a multi-byte character: keep the rest.
        return line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")

    async def next_line() -> str | None:
        return await asyncio.to_thread(read)

    return next_line
