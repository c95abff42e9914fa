"""Long polling: our own ``getUpdates`` loop, which confirms a batch only once handled.

Not ptb's ``Updater``, which confirms updates before handlers run. Telegram treats an
update as confirmed once ``getUpdates`` is called with a higher ``offset``; the offset
advances only after every update of a batch went through the gate and its turn returned
(= committed). A crash, a failed turn or a shutdown leaves the update unconfirmed,
Telegram delivers it again and the store's update-id check makes the replay harmless. A
batch's chats run in parallel; one chat's updates run in order — a customer's are handed
on together, so what they sent while their last turn ran is answered as one turn.

Updates are read one by one (:mod:`bot.channels.telegram_quick`: the common kinds
straight from the JSON, the rest by ptb); one that cannot be read would fail the same
way on every fetch and stall every chat, so it is skipped (its id logged, its body
never).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence

from telegram import Bot
from telegram.error import Conflict, EndPointNotFound, InvalidToken, RetryAfter, TelegramError
from telegram.warnings import PTBUserWarning

from bot.channels.base import ShuttingDown
from bot.channels.telegram_messages import ALLOWED_UPDATES, retry_seconds
from bot.channels.telegram_quick import Received, read_update
from bot.errors import log_failure

log = logging.getLogger("supportbot.telegram")

POLL_TIMEOUT = 25  # long-poll seconds: below common proxies' 30 s idle cut-off
STOP_WAIT = 20.0  # matches the runner's grace for turns in flight
READ_TIMEOUT = 10.0  # beyond the long poll's own seconds


class UpdatePoller:
    """The ``getUpdates`` loop of one bot, as a task between start() and stop()."""

    def __init__(
        self,
        bot: Bot,
        process: Callable[[Received], Awaitable[None]],
        *,
        poll_timeout: int = POLL_TIMEOUT,
        retry_delay: float = 1.0,
        max_retry_delay: float = 30.0,
        conflict_delay: float = 30.0,
    ) -> None:
        """``process`` handles one update and returns when its turn did."""
        self._bot = bot
        self._process = process
        self._poll_timeout = poll_timeout
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._conflict_delay = conflict_delay
        self._stopping = asyncio.Event()
        self._poll_task: asyncio.Task[None] | None = None
        self._fetching: asyncio.Task[tuple[tuple[Received, ...], int | None]] | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._poll_task = asyncio.create_task(self._poll(), name="telegram-poll")

    async def stop(self) -> None:
        """Stop polling: the long poll is cancelled, the batch in hand finishes."""
        self._stopping.set()
        if self._fetching is not None:
            self._fetching.cancel()
        task = self._poll_task
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_WAIT)
        except TimeoutError:
            log.warning("telegram: polling did not stop within %.0fs; cancelled", STOP_WAIT)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._poll_task = None

    async def _poll(self) -> None:
        offset: int | None = None  # None: start at the oldest unconfirmed update
        confirmed: int | None = None
        delay = self._retry_delay
        while not self._stopping.is_set():
            try:
                updates, skip_to = await self._fetch(offset)
                confirmed = offset
            except asyncio.CancelledError:
                if self._stopping.is_set():
                    break
                raise
            except Conflict:
                log.error(
                    "telegram: another process is polling this bot (409 Conflict); only one "
                    "poller per token can run — stop the other one, or use webhooks to scale "
                    "out. Retrying in %.0fs.",
                    self._conflict_delay,
                )
                await self._pause(self._conflict_delay)
                continue
            except (InvalidToken, EndPointNotFound):  # do_api_request's name for a 401/404
                log.error("telegram: the bot token was rejected (revoked?); retrying later")
                await self._pause(self._conflict_delay)
                continue
            except RetryAfter as exc:
                await self._pause(retry_seconds(exc))
                continue
            except TelegramError as exc:
                log.warning(
                    "telegram: getUpdates failed (%s); retrying in %.1fs",
                    type(exc).__name__,
                    delay,
                )
                await self._pause(delay)
                delay = min(delay * 2, self._max_retry_delay)
                continue
            except Exception:  # a bug, or an answer ptb cannot read: keep polling, loudly
                log.exception("telegram: getUpdates failed; retrying in %.1fs", delay)
                await self._pause(delay)
                delay = min(delay * 2, self._max_retry_delay)
                continue
            delay = self._retry_delay
            if not updates:
                offset = skip_to or offset
                continue
            try:
                next_offset, failed, shutting_down = await self._run_batch(updates)
            except Exception:  # a bug in the batch's bookkeeping: never end polling over it
                log_failure(log, "telegram: a batch failed; fetching it again")
                first = min(u.update_id for u in updates) if offset is None else offset
                next_offset, failed, shutting_down = first, True, False
            offset = next_offset if failed or skip_to is None else max(next_offset, skip_to)
            if shutting_down:
                break
            if failed:
                await self._pause(delay)
                delay = min(delay * 2, self._max_retry_delay)
        if offset is not None and offset != confirmed:
            await self._confirm(offset)

    async def _fetch(self, offset: int | None) -> tuple[tuple[Received, ...], int | None]:
        """One long poll, cancellable by stop() without cancelling turns in flight.

        Returns the updates, and the offset past any update that could not be read."""
        self._fetching = asyncio.create_task(self._get_updates(offset))
        try:
            return await self._fetching
        finally:
            self._fetching = None

    async def _get_updates(self, offset: int | None) -> tuple[tuple[Received, ...], int | None]:
        """The pending updates, read one by one; unreadable ones are skipped (logged with
        their id only: the body is personal data). Also returns the offset past them."""
        raw = await self._bot.do_api_request(
            "getUpdates",
            api_kwargs={
                "offset": offset,
                "timeout": self._poll_timeout,
                "allowed_updates": ALLOWED_UPDATES,
            },
            read_timeout=self._poll_timeout + READ_TIMEOUT,
        )
        updates: list[Received] = []
        skip_to: int | None = None
        for item in raw if isinstance(raw, list) else []:
            try:
                updates.append(read_update(item, self._bot))
            except Exception as exc:
                update_id = item.get("update_id") if isinstance(item, dict) else None
                log.warning(
                    "telegram: update %s cannot be read (%s); skipped",
                    update_id,
                    type(exc).__name__,
                )
                if isinstance(update_id, int):
                    skip_to = max(skip_to or 0, update_id + 1)
        return tuple(updates), skip_to

    async def _confirm(self, offset: int) -> None:
        """Tell Telegram the last batch was handled, so a restart does not replay it."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._bot.get_updates(offset=offset, timeout=0, limit=1), 5.0)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _run_batch(self, updates: Sequence[Received]) -> tuple[int, bool, bool]:
        """Handle a batch; returns (next offset, a turn failed, shutdown refused one).

        The next offset is the first update that did not complete, else the last + 1.
        """
        chains: dict[object, list[Received]] = {}
        for update in sorted(updates, key=lambda u: u.update_id):
            chains.setdefault(_chain_key(update), []).append(update)
        incomplete: list[int] = []
        refused: list[int] = []

        async def run_one(update: Received) -> bool:
            try:
                await self._process(update)
            except ShuttingDown:
                refused.append(update.update_id)
                return False
            except Exception:
                log_failure(
                    log, "telegram: update %d failed; it will be fetched again", update.update_id
                )
                incomplete.append(update.update_id)
                return False
            return True

        async def run_chain(chain: list[Received]) -> None:
            if chain[0].private:
                # Handed on together: each task reaches the conversation manager before
                # the next one starts (nothing on that path waits), so the chat's messages
                # keep their order and a backlog is taken as one turn (a burst).
                await asyncio.gather(*(run_one(update) for update in chain))
                return
            for update in chain:  # the agents' group: in order, stop at the first failure
                if not await run_one(update):
                    return

        await asyncio.gather(*(run_chain(chain) for chain in chains.values()))
        stuck = incomplete + refused
        next_offset = min(stuck) if stuck else max(u.update_id for u in updates) + 1
        return next_offset, bool(incomplete), bool(refused)


def _chain_key(update: Received) -> object:
    """The chat whose updates must run in order; an update without a usable chat id runs
    on its own."""
    return update.chat_id if update.chat_id is not None else ("update", update.update_id)


def quiet_unparsable_batches() -> None:
    """ptb logs a batch it cannot parse — bodies included — at CRITICAL; we log the update
    ids we skip instead (see ``UpdatePoller._get_updates``), which reads the batch with
    ``do_api_request("getUpdates")`` on purpose, so ptb's warning about that goes."""
    bot_logger = logging.getLogger("telegram.Bot")
    if _drop_unparsable_batch not in bot_logger.filters:
        bot_logger.addFilter(_drop_unparsable_batch)
    warnings.filterwarnings("ignore", "Please use 'Bot.getUpdates'", PTBUserWarning)


def _drop_unparsable_batch(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Error while parsing updates")
