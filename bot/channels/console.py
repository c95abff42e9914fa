"""The console channel: you are the customer, in a terminal.

It only translates: a typed line becomes an :class:`Inbound` (a number or a button's
label becomes a button tap), and replies are printed with their buttons numbered.
Replies reach the terminal the way they reach any platform: through the outbox, so a
reply that was decided but not printed before a crash is printed at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TextIO

from bot.channels.terminal import read_line as terminal_line
from bot.messages import (
    Button,
    ConversationKey,
    CustomerInfo,
    Inbound,
    InboundKind,
    Outbound,
)

TYPING_AFTER_SECONDS = 0.5  # quick turns show no "typing…" flicker
log = logging.getLogger("supportbot.console")

CHANNEL = "console"
QUIT_WORDS = frozenset({"/quit", "/exit", "quit", "exit"})

Handler = Callable[[Inbound], Awaitable[Sequence[Outbound]]]
Flush = Callable[[], Awaitable[Sequence[Outbound]]]


class ConsoleTransport:
    """The console's "platform": collects delivered messages until the console prints them."""

    channel = CHANNEL

    def __init__(self) -> None:
        self.delivered: list[Outbound] = []
        self._sent = 0

    async def send(self, message: Outbound) -> str | None:
        self.delivered.append(message)
        self._sent += 1
        return f"console-{self._sent}"

    def take(self) -> list[Outbound]:
        taken, self.delivered = self.delivered, []
        return taken


class ConsoleChannel:
    def __init__(
        self,
        handler: Handler,
        flush: Flush,
        user_id: str,
        first_name: str | None = None,
        out: TextIO = sys.stdout,
    ) -> None:
        """``flush`` delivers this chat's due outbox rows and returns them, in order."""
        self._handler = handler
        self._flush = flush
        self._delivering = asyncio.Lock()
        self._sender = CustomerInfo(user_id=user_id, first_name=first_name)
        self._key = ConversationKey(CHANNEL, user_id)
        self._out = out
        self._choices: list[Button] = []
        self._session = time.time_ns()
        self._sequence = 0

    def to_inbound(self, line: str) -> Inbound:
        """A typed line → a button tap (by number or label) or plain text."""
        self._sequence += 1
        update_id = f"{self._session}-{self._sequence}"
        stripped = line.strip()
        chosen = self._choice_for(stripped)
        if chosen is not None:
            return Inbound(
                self._key,
                self._sender,
                InboundKind.BUTTON,
                text=chosen.label,
                payload=chosen.payload,
                update_id=update_id,
            )
        return Inbound(self._key, self._sender, InboundKind.TEXT, text=line, update_id=update_id)

    def _choice_for(self, typed: str) -> Button | None:
        if typed.isdigit() and 1 <= int(typed) <= len(self._choices):
            return self._choices[int(typed) - 1]
        folded = typed.casefold()
        for button in self._choices:
            if button.label.casefold() == folded:
                return button
        return None

    def show(self, replies: Sequence[Outbound]) -> None:
        """Print replies; number the routing buttons of this batch for the next line."""
        width = min(shutil.get_terminal_size((88, 24)).columns, 100) - 6
        choices: list[Button] = []
        for reply in replies:
            if reply.text:
                wrapped = textwrap.fill(reply.text, width=width, replace_whitespace=False)
                self._write(textwrap.indent(wrapped, "  bot │ ", lambda _: True))
            for button in reply.buttons:
                if button.url:
                    self._write(f"        ↗ {button.label}: {button.url}")
                elif button.payload:
                    choices.append(button)
                    self._write(f"        {len(choices)}) {button.label}")
        if choices or replies:
            self._choices = choices

    def _write(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()

    async def run(self, read_line: Callable[[], Awaitable[str | None]] | None = None) -> None:
        """Read lines until end of input or ``/quit``; each line is one customer turn."""
        reader = read_line or terminal_line("you › ")
        self._write("supportbot console — you are the customer. Type a message; /quit to leave.")
        await self._deliver()  # anything decided but not shown before a crash
        watcher = asyncio.create_task(self._watch())
        try:
            while True:
                line = await reader()
                if line is None or line.strip() in QUIT_WORDS:
                    self._write("Bye!")
                    return
                try:
                    await self._turn(self.to_inbound(line))
                    await self._deliver()
                except Exception:  # a bug or a lost database must not end the session
                    log.exception("console turn failed")
                    self._write(
                        "  bot │ Sorry, something went wrong on our side. Please try again."
                    )
        finally:
            watcher.cancel()

    async def _turn(self, inbound: Inbound) -> None:
        """The turn, with "typing…" shown when it takes a moment (a slow custom action)."""
        turn = asyncio.ensure_future(self._handler(inbound))
        done, _ = await asyncio.wait({turn}, timeout=TYPING_AFTER_SECONDS)
        if not done:
            self._write("  bot │ typing…")
        await turn

    async def _deliver(self) -> None:
        async with self._delivering:
            replies = await self._flush()
            if replies:
                self.show(replies)

    async def _watch(self) -> None:
        """Show messages that arrive on their own: an agent's replies from the desk."""
        while True:
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await self._deliver()
