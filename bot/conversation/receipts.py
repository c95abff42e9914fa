"""When a webhook update counts as taken: once its turn stored it — or, if that takes
more than a moment, once it is kept in the inbox (:mod:`storage.inbox`).

Telegram sends a chat's webhook updates one at a time, each only after our answer to the
previous one. Answering once the turn has committed acknowledges nothing unstored, but a
slow turn (a custom action asking the shop, a busy database) then holds the customer's
next messages back at Telegram: they could never join that chat's next turn as a burst,
and a turn slower than Telegram's patience would be sent again. So an update is
*acknowledged early* — written to the inbox (one small commit), answered, its turn going
on in the background — when

- its chat already has a turn queued or running in this process: at once (it waits for
  that turn anyway, and the messages after it can now join it);
- its own turn has not finished within ``after`` seconds.

The row is deleted when the turn is done. A turn that failed leaves it there, and so does
a crash or a shutdown cut short: :meth:`Receipts.recover` — at start-up and then every
few seconds — runs such updates again, oldest first (the turn's update-id check makes a
replay of a stored message harmless, and an interrupted custom action resumes).

Order: within one process a chat's turns run in arrival order (:mod:`.arrivals`).
Across processes it rests on the platform waiting for our answer — which early
acknowledgement gives up — so it is meant for one process: the ``auto`` setting turns it
on with SQLite and off with PostgreSQL, where several workers may share a chat.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

from bot.errors import log_failure
from bot.messages import Inbound
from storage.inbox import SqlInbox

log = logging.getLogger("supportbot.conversation")

RECOVER_SECONDS = 5.0
"""How often the inbox is searched for updates whose turn is not running."""

Update = tuple[str, str]
"""(channel, update id)."""


class Receipts:
    """Early acknowledgement for one process (see the module's docstring)."""

    def __init__(self, inbox: SqlInbox, busy: Callable[[str], bool], *, after: float) -> None:
        """``busy(chat_key)``: whether the chat has a turn queued or running here."""
        self._inbox = inbox
        self._busy = busy
        self._after = after
        self._running: dict[Update, asyncio.Future[object]] = {}
        self._cleanups: set[asyncio.Task[None]] = set()

    async def settle(self, inbound: Inbound, turn: Awaitable[object]) -> None:
        """Run ``turn`` (the one that takes ``inbound``); return once it has finished, or
        once ``inbound`` is in the inbox while the turn goes on. Raises what the turn
        raised if it failed before that (the platform then sends the update again)."""
        wait = 0.0 if self._busy(str(inbound.key)) else self._after
        task = asyncio.ensure_future(turn)
        if inbound.update_id is None:  # nothing to find it by again: wait, as before
            await task
            return
        done, _ = await asyncio.wait({task}, timeout=wait)
        if done:
            task.result()
            return
        update = (inbound.key.channel, inbound.update_id)
        try:
            await self._inbox.put(*update, str(inbound.key), inbound.to_json())
        except Exception:  # not kept: acknowledge only once the turn has stored it
            log_failure(log, "could not keep update %s in the inbox; waiting for its turn",
                        inbound.update_id)  # fmt: skip
            await task
            return
        self._follow(update, task)

    async def recover(self, run: Callable[[Inbound], Awaitable[object]]) -> int:
        """Run again, oldest first, the inbox's updates of workers that are gone and this
        worker's own whose turn is no longer running (it failed); how many."""
        started = 0
        for entry in await self._inbox.adopt():
            update = (entry.channel, entry.update_id)
            if update in self._running:
                continue
            try:
                inbound = Inbound.from_json(entry.payload)
            except (KeyError, TypeError, ValueError):
                log.error("inbox: update %s on %s cannot be read back; dropped",
                          entry.update_id, entry.channel)  # fmt: skip
                await self._inbox.done(entry.channel, [entry.update_id])
                continue
            self._follow(update, asyncio.ensure_future(run(inbound)))
            started += 1
        if started:
            log.info("inbox: running %d acknowledged update(s) again", started)
        return started

    async def keep_recovering(self, run: Callable[[Inbound], Awaitable[object]]) -> None:
        """:meth:`recover` every :data:`RECOVER_SECONDS`, for as long as the bot runs."""
        while True:
            await asyncio.sleep(RECOVER_SECONDS)
            try:
                await self.recover(run)
            except Exception:
                log_failure(log, "inbox: recovery failed; retrying")

    @property
    def running(self) -> int:
        """Acknowledged updates whose turn is still running."""
        return len(self._running)

    async def close(self) -> None:
        """Let the deletions of finished updates' rows complete (the store closes next)."""
        if self._cleanups:
            await asyncio.wait(list(self._cleanups), timeout=2.0)

    def _follow(self, update: Update, task: asyncio.Future[object]) -> None:
        self._running[update] = task
        task.add_done_callback(functools.partial(self._finished, update))

    def _finished(self, update: Update, task: asyncio.Future[object]) -> None:
        if self._running.get(update) is task:
            del self._running[update]
        if task.cancelled():
            return
        failure = task.exception()
        if failure is not None:
            log.warning("inbox: the turn of update %s on %s did not finish (%s); it stays "
                        "in the inbox and runs again", update[1], update[0],
                        type(failure).__name__)  # fmt: skip
            return
        cleanup = asyncio.create_task(self._forget(update))
        self._cleanups.add(cleanup)
        cleanup.add_done_callback(self._cleanups.discard)

    async def _forget(self, update: Update) -> None:
        try:
            await self._inbox.done(update[0], [update[1]])
        except Exception:  # the row stays: a replay of a handled update is harmless
            log_failure(log, "inbox: could not delete update %s; kept", update[1])
