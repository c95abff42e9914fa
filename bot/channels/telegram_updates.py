"""What one Telegram update does: a private chat's turn goes through the gate, a group's
update to the agent desk, a tap is answered; "typing…" shows while a turn runs.

**Customers are served in private chats only.** In groups and supergroups the bot stays
silent (button taps are still answered, so no spinner hangs), because

- a conversation is keyed by chat: in a group every member would share one conversation
  — one person's order number, persona choice and handoff would be everyone's;
- support conversations carry personal data (order numbers, e-mail addresses) that should
  not be asked for or shown in front of other members;
- the bot sits in the agents' group (``TELEGRAM_AGENT_CHAT_ID``); agents' messages there
  must never be taken for customer turns.

Only one poller may run per token, so group updates are offered to
:attr:`UpdateHandler.group_handler` (:attr:`TelegramChannel.group_handler
<bot.channels.telegram.TelegramChannel.group_handler>`) — the hook for the agent desk —
and otherwise ignored (logged at DEBUG). Edited messages are ignored the same way: the
original was already answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram import Bot, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction, ChatType

from bot.channels.base import InboundGate, Receipts, ShuttingDown
from bot.channels.telegram_messages import CHANNEL, message_inbound, sender_of
from bot.channels.telegram_quick import Received, Tap
from bot.messages import ConversationKey, Inbound, InboundKind

log = logging.getLogger("supportbot.telegram")

TYPING_AFTER = 0.5  # quick turns show no "typing…" flicker
TYPING_EVERY = 4.0  # Telegram shows the action for 5 s

GroupHandler = Callable[[Update], Awaitable[None]]


class UpdateHandler:
    """Hands one update on, however it arrived (long poll or webhook)."""

    def __init__(
        self,
        bot: Bot,
        gate: InboundGate,
        *,
        typing_after: float = TYPING_AFTER,
        receipts: Receipts | None = None,
    ) -> None:
        """``receipts``: return once the update is kept, before its turn finished if
        that takes a while (webhooks; see :mod:`bot.conversation.receipts`)."""
        self._bot = bot
        self._gate = gate
        self._typing_after = typing_after
        self._receipts = receipts
        self.group_handler: GroupHandler | None = None
        """Receives updates from group chats (the agent desk); None = ignore them."""

    async def received(self, received: Received) -> None:
        """:meth:`process` for an update the poller read (:mod:`telegram_quick`)."""
        if received.update is not None:
            await self.process(received.update)
        elif received.inbound is not None and received.tap is not None:
            acknowledged = asyncio.create_task(self._acknowledge_tap(received.tap))
            try:
                await self._handle(received.inbound)
            finally:
                await acknowledged
        elif received.inbound is not None:
            await self._handle(received.inbound)

    async def process(self, update: Update) -> None:
        """Translate one update and hand it to the gate; returns when the turn did."""
        if update.callback_query is not None:
            await self._on_button(update, update.callback_query)
            return
        if update.edited_message is not None:
            log.debug("telegram: ignored an edited message (update %d)", update.update_id)
            return
        message = update.message
        if message is None or message.chat is None:  # chat: a malformed update (fuzzing)
            log.debug("telegram: ignored update %d of another type", update.update_id)
            return
        if message.chat.type != ChatType.PRIVATE:
            await self._group(update)
            return
        sender = sender_of(update)
        inbound = None if sender is None else message_inbound(message, sender, update.update_id)
        if inbound is None:
            log.debug("telegram: ignored a service message (update %d)", update.update_id)
            return
        await self._handle(inbound)

    async def _on_button(self, update: Update, query: CallbackQuery) -> None:
        """A tap: always answered and its keyboard removed, whatever the turn does.

        Taps in group chats belong to the agent desk, which answers its own; without a
        desk they are answered (no endless spinner) and otherwise ignored.
        """
        message = query.message
        if message is not None and message.chat is None:  # malformed (found by fuzzing)
            message = None
        if message is not None and message.chat.type != ChatType.PRIVATE:
            if self.group_handler is not None:
                await self.group_handler(update)
                return
            with contextlib.suppress(Exception):
                await query.answer()
            log.debug("telegram: ignored a tap in a group chat (update %d)", update.update_id)
            return
        acknowledged = asyncio.create_task(self._acknowledge(query))
        try:
            sender = sender_of(update)
            if message is None or sender is None or query.data is None:
                log.debug("telegram: ignored a tap without chat or data (update %d)",
                          update.update_id)  # fmt: skip
                return
            key = ConversationKey(CHANNEL, str(message.chat.id))
            inbound = Inbound(
                key, sender, InboundKind.BUTTON, payload=query.data, update_id=str(update.update_id)
            )
            await self._handle(inbound)
        finally:
            await acknowledged

    async def _acknowledge(self, query: CallbackQuery) -> None:
        """Stop the client's spinner; drop the callback buttons so a tap can't repeat.

        Link buttons stay: they route nowhere and the customer may still want them.
        """
        try:
            await query.answer()
        except Exception as exc:  # too old / answered before (a redelivery); best effort
            log.debug("telegram: answerCallbackQuery failed: %s", exc)
        message = query.message
        if not isinstance(message, Message) or message.reply_markup is None or not message.chat:
            return  # inaccessible (older than 48 h), no keyboard, or malformed
        links = [
            (button.text, button.url)
            for row in message.reply_markup.inline_keyboard
            for button in row
            if button.url
        ]
        await self._drop_buttons(message.chat.id, message.message_id, links)

    async def _acknowledge_tap(self, tap: Tap) -> None:
        """:meth:`_acknowledge` for a tap read from the JSON."""
        try:
            await self._bot.answer_callback_query(tap.query_id)
        except Exception as exc:
            log.debug("telegram: answerCallbackQuery failed: %s", exc)
        if tap.message_id is not None:
            await self._drop_buttons(tap.chat_id, tap.message_id, tap.links)

    async def _drop_buttons(
        self, chat_id: int, message_id: int, links: Sequence[tuple[str, str]]
    ) -> None:
        """Leave only the link buttons (``(label, url)``) under the message."""
        rows = [[InlineKeyboardButton(label, url=url)] for label, url in links]
        try:
            await self._bot.edit_message_reply_markup(
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=InlineKeyboardMarkup(rows) if rows else None,  # None: remove
            )
        except Exception as exc:  # "message is not modified" on a double tap; best effort
            log.debug("telegram: editMessageReplyMarkup failed: %s", exc)

    async def _group(self, update: Update) -> None:
        if self.group_handler is not None:
            await self.group_handler(update)
        else:
            log.debug("telegram: ignored update %d from a group chat", update.update_id)

    async def _handle(self, inbound: Inbound) -> None:
        """The turn; returns when it finished, or when the update is kept (receipts)."""
        if self._receipts is None:
            await self._turn(inbound)
            return
        if self._gate.closed:
            raise ShuttingDown()
        await self._receipts.settle(inbound, self._turn(inbound))

    async def _turn(self, inbound: Inbound) -> None:
        """The turn, with "typing…" shown while it runs longer than a moment."""
        typing = asyncio.create_task(self._typing(inbound.key.chat_id))
        try:
            await self._gate.handle(inbound)
        finally:
            typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await typing

    async def _typing(self, chat_id: str) -> None:
        await asyncio.sleep(self._typing_after)
        while True:
            try:
                await self._bot.send_chat_action(chat_id=chat_id, action=ChatAction.TYPING)
            except Exception as exc:  # cosmetic: never fails the turn
                log.debug("telegram: sendChatAction failed: %s", exc)
            await asyncio.sleep(TYPING_EVERY)
