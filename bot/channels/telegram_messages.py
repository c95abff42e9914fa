"""Telegram translation: updates → :class:`Inbound` (files as references), the shapes of
what goes out (4096-char parts, keyboards) and Bot API errors as the outbox sees them;
:mod:`bot.channels.telegram_sending` sends.

Replies are sent as **plain text** (no ``parse_mode``): flow text and echoed customer
input (order numbers, names) can never break Markdown/HTML formatting or inject links.
Texts over Telegram's 4096-character limit are split on paragraph, then sentence, then
word boundaries; buttons go under the last part. Lengths are counted in UTF-16 code
units, the way Telegram counts, so emoji cannot push a part over the limit.

``callback_data`` may hold at most 64 bytes. The engine's payloads are far shorter by
construction (ids ≤ 40 chars); should a longer one ever appear it is logged as an error
and cut at a UTF-8 boundary — the engine then sees an unknown payload and answers with
"that button belongs to an earlier message" rather than misrouting.
"""

from __future__ import annotations

import logging
import re
import warnings
from datetime import timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.delivery import DeliveryError
from bot.messages import (
    Attachment,
    Button,
    ConversationKey,
    CustomerInfo,
    Inbound,
    InboundKind,
)

log = logging.getLogger("supportbot.telegram")

CHANNEL = "telegram"
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
ALLOWED_UPDATES = ["message", "callback_query", "edited_message"]

COMMAND_TEXT = {"/menu": "menu", "/human": "human", "/help": "help"}
"""Bot commands that mean the same as the global word (the engine understands words)."""

BOT_COMMANDS = [
    ("start", "Start over and show the menu"),
    ("menu", "Show what I can help with"),
    ("human", "Talk to a person"),
    ("help", "How to use this chat"),
]

NON_TEXT_KINDS = (
    # animation before document: a GIF message carries both
    "animation",
    "photo",
    "sticker",
    "voice",
    "video_note",
    "video",
    "audio",
    "document",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
    "invoice",
)


# ---- inbound ---------------------------------------------------------------------------


def sender_of(update: Update) -> CustomerInfo | None:
    user = update.effective_user
    if user is None:
        return None
    return CustomerInfo(str(user.id), user.first_name, user.last_name, user.language_code)


def message_inbound(message: Message, sender: CustomerInfo, update_id: int) -> Inbound | None:
    """A new message as an Inbound; None for service messages (nothing a customer said)."""
    key = ConversationKey(CHANNEL, str(message.chat.id))
    uid = str(update_id)
    text = message.text
    if text is not None:
        command, rest = split_command(message)
        if command == "/start":
            return Inbound(
                key, sender, InboundKind.START, text, payload=rest or None, update_id=uid
            )
        if command in COMMAND_TEXT and not rest:
            return Inbound(key, sender, InboundKind.TEXT, COMMAND_TEXT[command], update_id=uid)
        return Inbound(key, sender, InboundKind.TEXT, text, update_id=uid)
    for kind in NON_TEXT_KINDS:
        if getattr(message, kind, None):
            file = attachment_of(message)
            return Inbound(
                key,
                sender,
                InboundKind.NON_TEXT,
                message.caption or "",
                non_text_kind=kind,
                update_id=uid,
                attachments=(file,) if file is not None else (),
            )
    return None


FILE_KINDS = ("animation", "photo", "voice", "video_note", "video", "audio", "document")
"""What Telegram holds as a file we can pass on (animation first: a GIF carries both)."""


def attachment_of(message: Message) -> Attachment | None:
    """The reference to a message's file (a photo's largest size); None without one."""
    for kind in FILE_KINDS:
        value = getattr(message, kind, None)
        if not value:
            continue
        if kind == "photo":  # PhotoSizes, smallest first
            photo = value[-1]
            return Attachment("photo", CHANNEL, photo.file_id, mime="image/jpeg",
                              size=photo.file_size)  # fmt: skip
        return Attachment(
            kind,
            CHANNEL,
            value.file_id,
            name=getattr(value, "file_name", None),
            mime=getattr(value, "mime_type", None),
            size=getattr(value, "file_size", None),
        )
    return None


def split_command(message: Message) -> tuple[str | None, str]:
    """``("/start", "order_WS-1")`` for ``/start@shop_bot order_WS-1``; the command is
    lower-cased and loses its ``@botname``; ``(None, text)`` without a leading command."""
    text = message.text or ""
    for entity in message.entities:
        if entity.type == "bot_command" and entity.offset == 0:
            try:
                command = message.parse_entity(entity).split("@", 1)[0].lower()
                return command, text_after(text, entity.length)
            except UnicodeEncodeError:  # a lone surrogate (broken client; found by fuzzing)
                return None, text
    return None, text


def text_after(text: str, utf16_length: int) -> str:
    """The text after the first ``utf16_length`` UTF-16 code units (entity units)."""
    encoded = text.encode("utf-16-le")
    return encoded[utf16_length * 2 :].decode("utf-16-le").strip()


# ---- outbound --------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


_SENTENCE_END = re.compile(r"[.!?…][\"')\]]*\s+")


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Parts of at most ``limit`` UTF-16 units, cut at the best boundary available."""
    parts: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        window = _prefix(rest, limit)
        cut = _best_cut(window)
        part, rest = window[:cut].rstrip(), rest[cut:].lstrip()
        if part:
            parts.append(part)
    if rest or not parts:
        parts.append(rest)
    return parts


def _prefix(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` UTF-16 units (never half a char)."""
    return text.encode("utf-16-le")[: limit * 2].decode("utf-16-le", errors="ignore")


def _best_cut(window: str) -> int:
    """Where to cut: after a paragraph, else a sentence, else a word; the hard limit last.

    A boundary in the first quarter would leave a tiny part, so it only counts later on.
    """
    floor = len(window) // 4
    paragraph = window.rfind("\n\n")
    if paragraph > floor:
        return paragraph + 2
    sentences = [m.end() for m in _SENTENCE_END.finditer(window) if m.end() > floor]
    if sentences:
        return sentences[-1]
    space = max(window.rfind(" "), window.rfind("\n"))
    if space > floor:
        return space + 1
    return len(window)


def callback_data(payload: str) -> str:
    data = payload.encode("utf-8")
    if len(data) <= MAX_CALLBACK_DATA:
        return payload
    log.error(
        "button payload of %d bytes exceeds Telegram's 64-byte callback_data; truncated",
        len(data),
    )
    return data[:MAX_CALLBACK_DATA].decode("utf-8", errors="ignore")


def keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    """One button per row: labels stay readable on a phone."""
    rows: list[list[InlineKeyboardButton]] = []
    for button in buttons:
        if button.url:
            rows.append([InlineKeyboardButton(button.label, url=button.url)])
        elif button.payload:
            rows.append(
                [InlineKeyboardButton(button.label, callback_data=callback_data(button.payload))]
            )
        else:
            log.warning("button %r has neither payload nor url; not shown", button.label)
    return InlineKeyboardMarkup(rows) if rows else None


def retry_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # ptb 22 warns about the int form; both are handled
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def delivery_error(error: TelegramError) -> DeliveryError:
    """ptb's error as the outbox understands it: transient, unreachable or permanent."""
    if isinstance(error, RetryAfter):
        return DeliveryError(f"Telegram flood control: {error}", retry_after=retry_seconds(error))
    if isinstance(error, Forbidden):  # blocked the bot, deactivated, kicked
        return DeliveryError(f"Telegram: {error.message}", unreachable=True)
    if isinstance(error, BadRequest):  # BadRequest is a NetworkError subclass: check first
        return DeliveryError(f"Telegram rejected the message: {error.message}", permanent=True)
    if isinstance(error, NetworkError):  # TimedOut, 5xx, connection errors
        return DeliveryError(f"Telegram unavailable: {error.message}")
    return DeliveryError(f"Telegram: {type(error).__name__}: {error.message}", permanent=True)
