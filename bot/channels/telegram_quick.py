"""Reading an update from ``getUpdates``: the two common kinds straight from the JSON,
everything else through python-telegram-bot.

Why: ptb's ``Update.de_json`` builds its whole object model for every update — 120 µs
for a text message, 220 µs for a button tap, and with the request around it a large
share of the bot's CPU per update (``docs/BENCHMARKS.md``). A customer's plain text
message in a private chat and a tap on a button under one of our messages need four or
five fields, read here; anything else — commands (entities), files, groups, edits, a
field of an unexpected type — goes to ptb exactly as before, so every rule of
:mod:`bot.channels.telegram_updates` still applies to it. The result is the same
:class:`~bot.messages.Inbound` either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram import Bot, Update
from telegram.constants import ChatType

from bot.channels.telegram_messages import CHANNEL
from bot.messages import ConversationKey, CustomerInfo, Inbound, InboundKind

PLAIN_TEXT = frozenset({"message_id", "from", "chat", "date", "text"})
"""The fields of a private text message without entities (no command, link, mention)."""
TAP = frozenset({"id", "from", "message", "chat_instance", "data"})
"""The fields of a tap on a callback button under a message."""


@dataclass(frozen=True, slots=True)
class Tap:
    """What answering a tap needs: the query, and the message whose buttons go."""

    query_id: str
    chat_id: int
    message_id: int | None
    """None: the message is inaccessible or has no keyboard (nothing to edit)."""
    links: tuple[tuple[str, str], ...]
    """The (label, url) buttons that stay (they route nowhere)."""


@dataclass(frozen=True, slots=True)
class Received:
    """One update as the poller hands it on: read here, or by ptb."""

    update_id: int
    chat_id: int | None
    """The chat whose updates run in order (None: the update runs on its own)."""
    private: bool
    inbound: Inbound | None = None
    """Read here: the customer's message or tap."""
    tap: Tap | None = None
    update: Update | None = None
    """Read by ptb: every other kind."""


def read_update(item: Any, bot: Bot) -> Received:
    """``item`` (one element of getUpdates' result) as a :class:`Received`; raises what
    ptb raises for an update it cannot read."""
    quick = _quick(item)
    if quick is not None:
        return quick
    update = Update.de_json(item, bot)
    chat = update.effective_chat
    chat_id = chat.id if chat is not None else None
    return Received(
        update.update_id,
        chat_id if isinstance(chat_id, int) else None,  # ptb does not check types
        chat is not None and chat.type == ChatType.PRIVATE,
        update=update,
    )


def _quick(item: Any) -> Received | None:
    if type(item) is not dict or len(item) != 2:
        return None
    update_id = item.get("update_id")
    if type(update_id) is not int:
        return None
    message = item.get("message")
    if message is not None:
        return _text(update_id, message)
    query = item.get("callback_query")
    if query is not None:
        return _tap(update_id, query)
    return None


def _text(update_id: int, message: Any) -> Received | None:
    if type(message) is not dict or not PLAIN_TEXT.issuperset(message):
        return None
    chat_id = _private_chat(message.get("chat"))
    sender = _sender(message.get("from"))
    text = message.get("text")
    if chat_id is None or sender is None or type(text) is not str:
        return None
    key = ConversationKey(CHANNEL, str(chat_id))
    inbound = Inbound(key, sender, InboundKind.TEXT, text, update_id=str(update_id))
    return Received(update_id, chat_id, True, inbound=inbound)


def _tap(update_id: int, query: Any) -> Received | None:
    if type(query) is not dict or not TAP.issuperset(query):
        return None
    query_id, data, message = query.get("id"), query.get("data"), query.get("message")
    sender = _sender(query.get("from"))
    if type(query_id) is not str or type(data) is not str or sender is None:
        return None
    if type(message) is not dict:
        return None
    chat_id = _private_chat(message.get("chat"))
    message_id, date = message.get("message_id"), message.get("date")
    if chat_id is None or type(message_id) is not int or type(date) is not int:
        return None
    markup = message.get("reply_markup")
    links = _links(markup) if markup is not None else ()
    if links is None:
        return None
    editable = bool(date) and markup is not None  # date 0: inaccessible (older than 48 h)
    key = ConversationKey(CHANNEL, str(chat_id))
    inbound = Inbound(key, sender, InboundKind.BUTTON, payload=data, update_id=str(update_id))
    tap = Tap(query_id, chat_id, message_id if editable else None, links)
    return Received(update_id, chat_id, True, inbound=inbound, tap=tap)


def _private_chat(chat: Any) -> int | None:
    if type(chat) is not dict or chat.get("type") != ChatType.PRIVATE.value:
        return None
    chat_id = chat.get("id")
    return chat_id if type(chat_id) is int else None


def _sender(user: Any) -> CustomerInfo | None:
    if type(user) is not dict:
        return None
    user_id, first = user.get("id"), user.get("first_name")
    last, language = user.get("last_name"), user.get("language_code")
    if type(user_id) is not int or type(first) is not str:
        return None
    if not (last is None or type(last) is str) or not (language is None or type(language) is str):
        return None
    return CustomerInfo(str(user_id), first, last, language)


def _links(markup: Any) -> tuple[tuple[str, str], ...] | None:
    """The url buttons of an inline keyboard; None if it is not one."""
    rows = markup.get("inline_keyboard") if type(markup) is dict else None
    if type(rows) is not list:
        return None
    links: list[tuple[str, str]] = []
    for row in rows:
        if type(row) is not list:
            return None
        for button in row:
            if type(button) is not dict:
                return None
            label, url = button.get("text"), button.get("url")
            if url is None:
                continue
            if type(label) is not str or type(url) is not str:
                return None
            links.append((label, url))
    return tuple(links)
