"""The Telegram agent desk: tickets as forum topics in the agents' supergroup.

``TELEGRAM_AGENT_CHAT_ID`` names a supergroup with topics enabled. Each ticket gets a
topic "#<id> <customer>" whose first message is the ticket's card (plain text, no
``parse_mode``: customer names and slots can never break formatting) with the buttons
*Take*, *Close* and *Return to bot*. The customer's messages are relayed into the topic,
their files as files (a Telegram customer's by ``file_id``, others fetched and uploaded;
one that cannot be passed on as a note); the owner's messages and files in the topic go
to the customer; ``//`` starts an internal note.

**Without topics** (``createForumTopic`` answers 400, e.g. "the chat is not a forum") the
card is a plain message in the group and replies thread on it: customer messages are
posted as replies to the card, and an agent's reply to the card (or anything else in the
card's reply thread) belongs to the ticket. Topics are tried again for every new ticket,
so enabling them later needs no restart.

The desk uses the channel's one ``Bot`` and receives the group's updates through
:attr:`bot.channels.telegram.TelegramChannel.group_handler` (one poller per token).
Only updates from ``TELEGRAM_AGENT_CHAT_ID`` count; other groups are ignored and logged.
Cards are drawn and kept current by :class:`bot.handoff.desk_feed.DeskFeed`.

A topic is matched to its ticket by scanning the open tickets' ``desk_refs["telegram"]``
— fine for the handful of open tickets a desk has; an index would be the next step.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
    User,
)
from telegram.error import BadRequest

from bot.channels.files import FileSources, FileUnavailable, too_large_note, unavailable_note
from bot.channels.telegram_messages import MAX_TEXT, attachment_of, split_text, utf16_len
from bot.channels.telegram_sending import CAPTION_LIMIT, send_file
from bot.handoff.service import Agent, HandoffService, TicketConflict, TicketView, parse_command
from bot.messages import attachments_in, shown
from storage.records import TicketRecord, TranscriptEntry, utcnow
from storage.tickets import ASSIGNED, CLOSED, QUEUED

if TYPE_CHECKING:
    from bot.channels.telegram import TelegramChannel
    from bot.settings import Settings

log = logging.getLogger("supportbot.telegram.desk")

DESK = "telegram"
CALLBACK_PREFIX = "desk:"
NOTE_PREFIX = "//"
CARD_MESSAGES = 5
QUOTE_CHARS = 300
TOPIC_NAME_CHARS = 128  # Telegram's limit for a topic name


class TelegramDesk:
    """The :class:`~bot.handoff.desk_feed.Desk` for a Telegram supergroup of agents."""

    name = DESK

    def __init__(
        self, bot: Bot, chat_id: str, service: HandoffService, files: FileSources | None = None
    ) -> None:
        self._bot = bot
        self._files = files or FileSources()
        self._chat_id: int | str = int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
        self._chat_key = str(chat_id)
        self._service = service
        self._topics: dict[int, int] = {}
        """ticket id → topic made for it whose card is not posted yet (a retry reuses it)."""

    # ---- Desk protocol (called by the DeskFeed) -------------------------------------

    async def post_card(self, view: TicketView) -> dict[str, Any]:
        """A topic "#<id> <name>" with the card as its first message (or a plain card)."""
        ticket = view.ticket
        topic_id = self._topics.get(ticket.id)
        if topic_id is None:
            topic_id = await self._create_topic(view)
            if topic_id is not None:
                self._topics[ticket.id] = topic_id
        card = await self._bot.send_message(
            chat_id=self._chat_id,
            text=card_text(view),
            reply_markup=card_buttons(ticket),
            message_thread_id=topic_id,
        )
        self._topics.pop(ticket.id, None)
        return {"chat_id": self._chat_id, "topic_id": topic_id, "message_id": card.message_id}

    async def _create_topic(self, view: TicketView) -> int | None:
        name = f"#{view.ticket.id} {view.customer_name}"[:TOPIC_NAME_CHARS]
        try:
            topic = await self._bot.create_forum_topic(chat_id=self._chat_id, name=name)
        except BadRequest as exc:  # topics off, or no right to manage them
            log.info(
                "telegram desk: no topic for ticket #%d (%s); the card's replies thread it",
                view.ticket.id,
                exc.message,
            )
            return None
        return topic.message_thread_id

    async def update_card(self, view: TicketView, ref: dict[str, Any]) -> None:
        """Redraw the card (status, owner, buttons); a closed ticket's topic is closed."""
        ticket = view.ticket
        try:
            await self._bot.edit_message_text(
                chat_id=ref["chat_id"],
                message_id=ref["message_id"],
                text=card_text(view),
                reply_markup=card_buttons(ticket),
            )
        except BadRequest as exc:  # not modified / deleted: retrying would not help
            log.debug("telegram desk: card of ticket #%d not edited: %s", ticket.id, exc.message)
        if ticket.status == CLOSED and ref.get("topic_id") is not None:
            with contextlib.suppress(Exception):  # already closed, no rights: cosmetic
                await self._bot.close_forum_topic(
                    chat_id=ref["chat_id"], message_thread_id=ref["topic_id"]
                )

    async def relay(self, view: TicketView, ref: dict[str, Any], entry: TranscriptEntry) -> None:
        """'Customer: …' in the ticket's topic, or as a reply to its card; each file as a
        file with the words as its caption (fetch failures other than for good raise:
        the feed retries)."""
        topic_id = ref.get("topic_id")
        where: dict[str, Any] = {
            "message_thread_id": topic_id,
            "reply_parameters": None
            if topic_id is not None
            else ReplyParameters(ref["message_id"], allow_sending_without_reply=True),
        }
        text = f"Customer: {entry_text(entry)}"
        try:
            for file in attachments_in(entry.data):
                try:
                    caption = text if utf16_len(text) <= CAPTION_LIMIT else None
                    await send_file(self._bot, self._files, ref["chat_id"], file, caption, **where)
                    text = "" if caption else text
                except FileUnavailable as exc:
                    text += "\n" + unavailable_note(file, str(exc))
            if text:
                await self._bot.send_message(chat_id=ref["chat_id"], text=_clip(text), **where)
        except BadRequest as exc:  # the topic was deleted…: the transcript keeps it
            log.warning(
                "telegram desk: could not relay to ticket #%d: %s", view.ticket.id, exc.message
            )

    # ---- agents' side (the channel's group_handler) ---------------------------------

    async def handle_group_update(self, update: Update) -> None:
        """One update from a group chat: a card's button, or an agent's message."""
        query = update.callback_query
        chat = update.effective_chat
        if chat is None or str(chat.id) != self._chat_key:
            log.info(
                "telegram desk: ignored update %d from chat %s (not TELEGRAM_AGENT_CHAT_ID)",
                update.update_id,
                chat.id if chat else "?",
            )
            if query is not None:
                with contextlib.suppress(Exception):
                    await query.answer()
            return
        if query is not None:
            await self._on_button(query)
        elif update.message is not None:
            await self._on_message(update.message)

    async def _on_button(self, query: CallbackQuery) -> None:
        """Take / Close / Return to bot; the query is always answered."""
        text, alert = "", False
        try:
            text, alert = await self._button(query)
        except Exception:
            text, alert = "Something went wrong; please try again.", True
            raise
        finally:
            with contextlib.suppress(Exception):  # too old / answered before: best effort
                await query.answer(text or None, show_alert=alert)

    async def _button(self, query: CallbackQuery) -> tuple[str, bool]:
        action, _, number = (query.data or "").removeprefix(CALLBACK_PREFIX).partition(":")
        if not (query.data or "").startswith(CALLBACK_PREFIX) or not number.isdigit():
            return "", False
        ticket_id, agent = int(number), agent_of(query.from_user)
        try:
            if action == "take":
                await self._service.take(ticket_id, agent)
                return (
                    f"You took ticket #{ticket_id}. Write in its topic (or reply to its card).",
                    False,
                )
            current = await self._current(ticket_id)
            if current is not None and current.status == ASSIGNED and current.owner_id != agent.id:
                return owner_text(current), True
            if action == "close":
                await self._service.close(ticket_id, agent)
                return f"Ticket #{ticket_id} closed.", False
            if action == "return":
                await self._service.return_to_bot(ticket_id, agent)
                return f"Ticket #{ticket_id} handed back to the bot.", False
        except TicketConflict as exc:
            ticket = exc.ticket
            if ticket is not None and ticket.status == ASSIGNED and ticket.owner_id == agent.id:
                return f"You already have ticket #{ticket_id}.", False
            return (owner_text(ticket) if ticket else str(exc)), True
        return "", False

    async def _on_message(self, message: Message) -> None:
        """An agent's message in a ticket's topic / reply thread: reply or note."""
        user = message.from_user
        if user is None or user.is_bot:
            return
        ticket = await self._ticket_of(message)
        if ticket is None:
            return  # general chatter in the group
        file = attachment_of(message)
        text = message.text or message.caption or ""
        if not text and file is None:
            if message.effective_attachment is not None:
                await self._answer(message, "Only text and files reach the customer.")
            return
        agent = agent_of(user)
        message_id = f"telegram:{message.chat_id}:{message.message_id}"  # redelivered = same
        command = parse_command(text)
        if command is not None:
            # !reassign is sent as a reply to a message of the colleague taking over.
            replied = message.reply_to_message.from_user if message.reply_to_message else None
            to = agent_of(replied) if replied is not None and not replied.is_bot else None
            try:
                told = await self._service.command(ticket.id, agent, command, to)
            except TicketConflict as exc:
                told = owner_text(exc.ticket) if exc.ticket else str(exc)
            await self._answer(message, told)
            return
        if text.startswith(NOTE_PREFIX):
            note = text[len(NOTE_PREFIX) :].strip()
            await self._service.note(ticket.id, agent, note, message_id)
            return
        if ticket.status != ASSIGNED or ticket.owner_id != agent.id:
            await self._answer(message, owner_text(ticket))
            return
        if file is not None and file.too_large:
            await self._answer(message, too_large_note(file))
            file = None
            if not text:
                return
        try:
            files = (file,) if file is not None else ()
            await self._service.reply(ticket.id, agent, text, message_id, files)
        except TicketConflict as exc:  # taken over or closed meanwhile
            await self._answer(message, owner_text(exc.ticket) if exc.ticket else str(exc))

    async def _ticket_of(self, message: Message) -> TicketRecord | None:
        """The open ticket whose topic (or card's reply thread) the message is in."""
        thread = message.message_thread_id if message.is_topic_message else None
        replied = message.reply_to_message.message_id if message.reply_to_message else None
        root = message.message_thread_id
        for ticket in await self._service.inbox():
            ref = ticket.desk_refs.get(DESK) or {}
            if not ref:
                continue
            if ref.get("topic_id") is not None:
                if thread is not None and thread == ref["topic_id"]:
                    return ticket
            elif ref.get("message_id") in (replied, root):
                return ticket
        return None

    async def _current(self, ticket_id: int) -> TicketRecord | None:
        view = await self._service.view(ticket_id, last=0)
        return view.ticket if view else None

    async def _answer(self, message: Message, text: str) -> None:
        """A reply in the agent's topic/thread; cosmetic, so failures are only logged."""
        try:
            await self._bot.send_message(
                chat_id=message.chat.id,
                text=text,
                message_thread_id=message.message_thread_id if message.is_topic_message else None,
                reply_parameters=ReplyParameters(
                    message.message_id, allow_sending_without_reply=True
                ),
            )
        except Exception as exc:
            log.warning("telegram desk: could not answer an agent: %s", exc)


def build_telegram_desk(
    settings: Settings, service: HandoffService, channel: TelegramChannel
) -> TelegramDesk | None:
    """The desk for ``TELEGRAM_AGENT_CHAT_ID`` (None when unset), hooked into the channel."""
    chat_id = (settings.telegram_agent_chat_id or "").strip()
    if not chat_id:
        return None
    desk = TelegramDesk(channel.bot, chat_id, service, channel.files)
    channel.group_handler = desk.handle_group_update
    return desk


# ---- the card ---------------------------------------------------------------------


def agent_of(user: User) -> Agent:
    return Agent(f"telegram:{user.id}", "@" + (user.username or user.first_name))


def owner_text(ticket: TicketRecord) -> str:
    """Why an agent may not act on the ticket, naming who may."""
    if ticket.status == ASSIGNED:
        owner = ticket.owner_name or ticket.owner_id
        return f"Ticket #{ticket.id} is taken by {owner}; only they can reply or close it."
    if ticket.status == QUEUED:
        return f"Ticket #{ticket.id} is not taken yet: press Take on its card first."
    return f"Ticket #{ticket.id} is closed."


def card_buttons(ticket: TicketRecord) -> InlineKeyboardMarkup | None:
    """Take (while queued), Close and Return to bot (while open); none once closed."""
    labels = {QUEUED: ("take", "close", "return"), ASSIGNED: ("close", "return")}
    names = {"take": "Take", "close": "Close", "return": "Return to bot"}
    row = [
        InlineKeyboardButton(names[a], callback_data=f"{CALLBACK_PREFIX}{a}:{ticket.id}")
        for a in labels.get(ticket.status, ())
    ]
    return InlineKeyboardMarkup([row]) if row else None


def status_line(ticket: TicketRecord) -> str:
    owner = ticket.owner_name or ticket.owner_id
    if ticket.status == QUEUED:
        return "Waiting for an agent"
    if ticket.status == ASSIGNED:
        return f"Taken by {owner}"
    since = ticket.taken_at or ticket.created_at
    minutes = int(((ticket.closed_at or utcnow()) - since).total_seconds() // 60)
    by = f" by {owner}" if owner else ""
    if ticket.resolution == "returned_to_bot":
        return f"Returned to the bot{by} after {minutes} min"
    if ticket.resolution in ("cancel", "cancelled"):
        return "Cancelled by the customer"
    return f"Closed{by} after {minutes} min"


def card_text(view: TicketView) -> str:
    """Plain text: who, where from, why, what they said, and where the ticket stands."""
    t = view.ticket
    channel = t.chat_key.partition(":")[0]
    lines = [
        f"#{t.id} · {view.customer_name} ({channel})",
        f"Status: {status_line(t)}",
        f"Persona: {view.persona or '-'} · Queue: {t.queue}",
        f"Escalated from: {t.flow_id or '-'} / {t.step_id or '-'}",
        f"Reason: {t.reason or '-'}",
    ]
    if view.slots:
        lines.append("Slots: " + ", ".join(f"{k}={shown(v)}" for k, v in view.slots.items()))
    recent = view.last_messages[-CARD_MESSAGES:]
    if recent:
        lines += ["", "Last messages:"]
        for entry in recent:
            who = "Customer" if entry.direction == "in" else "Bot"
            if entry.kind in ("agent", "agent_joined"):
                who = "Agent"
            lines.append(f"{who}: {entry_text(entry)[:QUOTE_CHARS]}")
    return _clip("\n".join(lines))


def entry_text(entry: TranscriptEntry) -> str:
    """A transcript line as words: a tap shows its payload, a photo its kind."""
    files = attachments_in(entry.data)
    if files:
        return " ".join([*(f"[{file.label()}]" for file in files), entry.text]).strip()
    if entry.kind == "non_text":
        kind = entry.data.get("non_text_kind", "attachment")
        return f"({kind}) {entry.text}".strip()
    if entry.text:
        return entry.text
    payload = entry.data.get("payload")
    return f"(tapped {payload})" if payload else f"({entry.kind})"


def _clip(text: str) -> str:
    return split_text(text, MAX_TEXT)[0]
