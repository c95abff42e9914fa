"""Telegram translation, both ways: updates → :class:`Inbound`, :class:`Outbound` → Bot API.

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
from dataclasses import dataclass
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.delivery import DeliveryError
from bot.messages import Button, ConversationKey, CustomerInfo, Inbound, InboundKind, Outbound

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
            return Inbound(
                key,
                sender,
                InboundKind.NON_TEXT,
                message.caption or "",
                non_text_kind=kind,
                update_id=uid,
            )
    return None


def split_command(message: Message) -> tuple[str | None, str]:
    """``("/start", "order_WS-1")`` for ``/start@shop_bot order_WS-1``; the command is
    lower-cased and loses its ``@botname``; ``(None, text)`` without a leading command."""
    text = message.text or ""
    for entity in message.entities:
        if entity.type == "bot_command" and entity.offset == 0:
            command = message.parse_entity(entity).split("@", 1)[0].lower()
            return command, text_after(text, entity.length)
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


@dataclass(slots=True)
class _Progress:
    sent: int
    last_id: str | None


class TelegramTransport:
    """Sends outbox rows with ``sendMessage``.

    A split message whose later part fails resumes at that part on the retry (kept in
    memory by chat and text), so the customer does not see the first part twice.
    """

    channel = CHANNEL

    def __init__(self, bot: Bot) -> None:
        self._bot = bot
        self._progress: dict[tuple[str, str], _Progress] = {}

    async def send(self, message: Outbound) -> str | None:
        parts = split_text(message.text)
        markup = keyboard(message.buttons)
        progress_key = (message.key.chat_id, message.text)
        progress = self._progress.pop(progress_key, _Progress(0, None))
        for index in range(progress.sent, len(parts)):
            last = index == len(parts) - 1
            try:
                sent = await self._bot.send_message(
                    chat_id=message.key.chat_id,
                    text=parts[index],
                    reply_markup=markup if last else None,
                )
            except TelegramError as exc:
                error = delivery_error(exc)
                if index > 0 and not error.permanent:
                    self._progress[progress_key] = progress
                raise error from exc
            progress = _Progress(index + 1, str(sent.message_id))
        return progress.last_id
