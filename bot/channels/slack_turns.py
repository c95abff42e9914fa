"""A Slack customer's turn, run inside Slack's 3-second ack window.

Acknowledging (Slack retries anything not acked within 3 s): Bolt runs with
``process_before_response=True``, so the HTTP answer is sent when our listener returns.
The listener runs the turn as a task and waits for it at most :attr:`TurnRunner.ack_budget`
(2.5 s). Normally the turn has committed by then, so the ack means "durably taken". A
slower turn keeps running in the background (its task is kept; the gate counts it for
shutdown) and Slack gets its ack in time. During shutdown the gate refuses the update
and we answer 503, so Slack redelivers it to the next process (events are retried up to
3 times; a button press is not retried — Slack shows the user an error instead). A turn
that fails (e.g. the database is down) answers 500 for the same reason.

The turn's :class:`~bot.messages.Inbound` carries the user's first name from
``users.info`` (cached). Slack sends events side by side, so a chat's events queue in
arrival order while the first looks the name up, and reach the conversation manager in
that order (which takes those that arrive during a turn together, as one).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Any

from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.base import InboundGate, ShuttingDown
from bot.channels.slack_sending import CHANNEL, NETWORK_ERRORS
from bot.errors import log_failure
from bot.messages import Attachment, ConversationKey, CustomerInfo, Inbound, InboundKind

log = logging.getLogger("supportbot.slack")

NAME_CACHE_SIZE = 1000

Json = dict[str, Any]


class TurnRunner:
    """Hands a listener's turn to the gate and answers Slack in time, done or not."""

    ack_budget = 2.5
    """Seconds a listener waits for the turn before acking anyway (Slack allows 3)."""

    def __init__(self, client: AsyncWebClient, gate: InboundGate) -> None:
        self._client = client
        self._gate = gate
        self._names: OrderedDict[str, str | None] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._detached: set[asyncio.Task[None]] = set()
        self._last: dict[str, asyncio.Future[None]] = {}  # per chat: the latest event
        self._lookups: dict[str, asyncio.Future[str | None]] = {}  # users.info in flight

    async def turn(
        self,
        chat: str,
        user: str,
        kind: InboundKind,
        text: str,
        payload: str | None,
        non_text: str | None,
        update_id: str,
        files: tuple[Attachment, ...] = (),
    ) -> None:
        earlier = self._last.get(chat)
        mine = self._last[chat] = asyncio.get_running_loop().create_future()
        try:
            first_name = await self._first_name(user)
            if earlier is not None:
                await asyncio.shield(earlier)  # the chat's earlier event goes in first
            inbound = Inbound(
                key=ConversationKey(CHANNEL, chat),
                sender=CustomerInfo(user, first_name=first_name),
                kind=kind,
                text=text,
                payload=payload,
                non_text_kind=non_text,
                update_id=update_id,
                attachments=files,
            )
            handled = asyncio.ensure_future(self._gate.handle(inbound))
        finally:
            if not mine.done():
                mine.set_result(None)
            if self._last.get(chat) is mine:
                del self._last[chat]
        await handled

    async def within_budget(self, turn: Coroutine[Any, Any, None]) -> BoltResponse | None:
        """Run ``turn``; answer when it is done or after :attr:`ack_budget`, whichever first.

        ``None`` = acknowledge (200); a ``BoltResponse`` replaces Bolt's ack.
        """
        task = asyncio.create_task(turn)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        try:
            await asyncio.wait_for(asyncio.shield(task), self.ack_budget)
        except TimeoutError:
            self._detached.add(task)
            log.info("slack: turn still running after %.1fs; acking, it continues", self.ack_budget)
            return None
        except ShuttingDown:
            return BoltResponse(status=503, body="shutting down; retry later")
        except Exception:
            log_failure(log, "slack: turn failed; answering 500 so Slack redelivers")
            return BoltResponse(status=500, body="")
        return None

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task not in self._detached:
            return  # the listener saw the outcome
        self._detached.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, ShuttingDown):
            log.warning("slack: an update acked before shutdown was not handled")
        elif error is not None:
            log.error("slack: a background turn failed", exc_info=error)

    async def _first_name(self, user: str) -> str | None:
        """The user's first name from ``users.info`` (cached; ``None`` if unavailable).

        Events that arrive together share one lookup (a burst from a new user)."""
        if user in self._names:
            self._names.move_to_end(user)
            return self._names[user]
        lookup = self._lookups.get(user)
        if lookup is None:
            lookup = self._lookups[user] = asyncio.ensure_future(self._look_up(user))
            lookup.add_done_callback(lambda _: self._lookups.pop(user, None))
        return await asyncio.shield(lookup)

    async def _look_up(self, user: str) -> str | None:
        try:
            response = await self._client.users_info(user=user)
        except (SlackApiError, *NETWORK_ERRORS) as exc:
            log.debug("slack: users.info failed: %s", type(exc).__name__)
            return None
        info: Json = response.get("user") or {}
        profile: Json = info.get("profile") or {}
        name = (
            profile.get("first_name")
            or profile.get("display_name")
            or profile.get("real_name")
            or info.get("real_name")
            or None
        )
        self._names[user] = name
        while len(self._names) > NAME_CACHE_SIZE:
            self._names.popitem(last=False)
        return name
