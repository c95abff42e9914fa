"""Telegram's outbound side: outbox rows sent as texts (``sendMessage``) or files
(``sendPhoto``, ``sendDocument``, ``sendVoice``, ``sendVideo``…), and files fetched for
other platforms (``getFile``, then ``{root}/file/bot{token}/{file_path}``).

A file that lives on Telegram is re-sent by its ``file_id`` — no download, no upload;
one from elsewhere (a Slack agent's PDF) is fetched through
:class:`~bot.channels.files.FileSources` and uploaded. Telegram's limits: bots download
files up to 20 MB (the relay limit, :data:`~bot.messages.MAX_FILE_BYTES`), upload photos
up to 10 MB (a larger image goes as a document) and other files up to 50 MB; a caption
holds 1024 characters (a longer text goes first, as its own message).
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, InputFile, Message
from telegram.error import TelegramError
from telegram.warnings import PTBUserWarning

from bot.channels.files import FileSources, FileUnavailable, too_large_reason
from bot.channels.telegram_messages import (
    CHANNEL,
    delivery_error,
    keyboard,
    split_text,
    utf16_len,
)
from bot.delivery import DeliveryError
from bot.messages import Attachment, Outbound

CAPTION_LIMIT = 1024
PHOTO_UPLOAD_LIMIT = 10 * 1024 * 1024
SENDABLE = frozenset({"photo", "document", "voice", "video", "audio", "animation", "video_note"})
NO_CAPTION = frozenset({"video_note"})
TELEGRAM_FORMATS = frozenset({"voice", "video_note", "animation"})
"""Kinds Telegram makes itself; a file from elsewhere is sent as a document instead."""


class TelegramFileSource:
    """Fetches a Telegram file: ``getFile`` for its path, then the download."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def fetch(self, file: Attachment) -> bytes:
        try:
            found = await self._bot.get_file(file.file_id)
            return bytes(await found.download_as_bytearray())
        except TelegramError as exc:  # "file is too big", an unknown file_id: for good
            error = delivery_error(exc)
            if error.permanent:
                raise FileUnavailable(f"Telegram: {exc.message}") from exc
            if error.retry_after is not None:
                raise error from exc
            # The download URL holds the token, and a network error may quote it.
            raise DeliveryError(f"Telegram: file download failed ({type(exc).__name__})") from exc


async def send_file(
    bot: Bot,
    files: FileSources,
    chat_id: int | str,
    file: Attachment,
    caption: str | None,
    **where: Any,
) -> Message:
    """Send ``file`` to a chat (``where``: ``message_thread_id``, ``reply_parameters``,
    ``reply_markup``); by ``file_id`` when it is Telegram's own. Telegram errors are
    raised as they come; a file that cannot be fetched raises FileUnavailable."""
    if file.too_large:  # even by file_id: the customer was told it is not passed on
        raise FileUnavailable(too_large_reason(file.size))
    kind = file.kind if file.kind in SENDABLE else "document"
    media: str | InputFile
    if file.channel == CHANNEL:
        media = file.file_id
    else:
        data = await files.fetch(file)
        big_photo = kind == "photo" and len(data) > PHOTO_UPLOAD_LIMIT
        if big_photo or kind in TELEGRAM_FORMATS:
            kind = "document"
        media = InputFile(data, filename=file.name or file.kind)
    method: Callable[..., Awaitable[Message]] = getattr(bot, f"send_{kind}")
    if caption and kind not in NO_CAPTION:
        where["caption"] = caption
    return await method(chat_id=chat_id, **{kind: media}, **where)


async def send_text(
    bot: Bot, chat_id: int | str, text: str, markup: InlineKeyboardMarkup | None
) -> str | None:
    """``sendMessage`` through ptb's request path (same parameters, same errors), keeping
    only the id of the message Telegram answers with: ``Bot.send_message`` would build
    its whole :class:`~telegram.Message` (184 µs instead of 49 µs per message, measured
    with a canned answer; ``docs/BENCHMARKS.md``)."""
    params: dict[str, Any] = {"chat_id": chat_id, "text": text}
    if markup is not None:
        params["reply_markup"] = markup
    result = await bot.do_api_request("sendMessage", api_kwargs=params)
    message_id = result.get("message_id") if isinstance(result, dict) else None
    return None if message_id is None else str(message_id)


def quiet_send_warning() -> None:
    """ptb warns that ``Bot.sendMessage`` exists when ``do_api_request`` is asked for it;
    :func:`send_text` asks on purpose."""
    warnings.filterwarnings("ignore", r"Please use 'Bot\.sendMessage'", PTBUserWarning)


@dataclass(slots=True)
class _Progress:
    sent: int
    last_id: str | None


class TelegramTransport:
    """Sends outbox rows: texts with ``sendMessage``, files with ``send<Kind>``.

    A split message whose later part fails resumes at that part on the retry (kept in
    memory by chat and text), so the customer does not see the first part twice; a file
    whose caption went ahead as text resumes at the file the same way.
    """

    channel = CHANNEL

    def __init__(self, bot: Bot, files: FileSources | None = None) -> None:
        self._bot = bot
        self._files = files or FileSources()
        self._progress: dict[tuple[str, str], _Progress] = {}
        quiet_send_warning()

    async def send(self, message: Outbound) -> str | None:
        if message.attachment is not None:
            return await self._send_file(message, message.attachment)
        parts = split_text(message.text)
        markup = keyboard(message.buttons)
        progress_key = (message.key.chat_id, message.text)
        progress = self._progress.pop(progress_key, _Progress(0, None))
        for index in range(progress.sent, len(parts)):
            last = index == len(parts) - 1
            try:
                sent = await send_text(
                    self._bot, message.key.chat_id, parts[index], markup if last else None
                )
            except TelegramError as exc:
                error = delivery_error(exc)
                if index > 0 and not error.permanent:
                    self._progress[progress_key] = progress
                raise error from exc
            progress = _Progress(index + 1, sent)
        return progress.last_id

    async def _send_file(self, message: Outbound, file: Attachment) -> str | None:
        """The file with the text as its caption; a text too long for a caption (or a
        file that takes none) goes first as a message of its own."""
        caption: str | None = message.text
        progress_key = (message.key.chat_id, f"file:{file.file_id}:{message.text}")
        long = utf16_len(message.text) > CAPTION_LIMIT or file.kind in NO_CAPTION
        if message.text and long:
            if progress_key not in self._progress:
                await self.send(replace(message, attachment=None, buttons=()))
                self._progress[progress_key] = _Progress(1, None)
            caption = None
        try:
            sent = await send_file(
                self._bot, self._files, message.key.chat_id, file, caption or None,
                reply_markup=keyboard(message.buttons),
            )  # fmt: skip
        except TelegramError as exc:
            error = delivery_error(exc)
            if error.permanent:
                self._progress.pop(progress_key, None)
            raise error from exc
        except FileUnavailable:
            self._progress.pop(progress_key, None)
            raise
        self._progress.pop(progress_key, None)
        return str(sent.message_id)
