"""Files between platforms: fetching a file's bytes from the platform that holds it.

The database stores a file only as a reference (:class:`~bot.messages.Attachment`); the
bytes stay on the platform they were sent to. They are fetched only when a file crosses
to another platform — a Telegram customer's photo into a Slack desk thread, a Slack
agent's PDF to a Telegram customer — by the channel that holds it (:class:`FileSource`),
and uploaded by the one it goes to. That happens inside the outbox sender and the desk
feed, so a failed transfer is retried like a text and a finished one recorded once.
Within Telegram a file is re-sent by its ``file_id``: no bytes move at all.

:class:`FileSources` is the one registry every channel adds its source to and every
transport and desk fetches through. Files over :data:`~bot.messages.MAX_FILE_BYTES` are
never fetched (:class:`FileUnavailable`, with the note agents see).
"""

from __future__ import annotations

from typing import Protocol

from bot.delivery import DeliveryError
from bot.messages import MAX_FILE_BYTES, Attachment, human_size


class FileUnavailable(DeliveryError):
    """The file cannot be passed on — too large, gone, or on a platform not running here.
    Permanent: retrying cannot help; desks show the reason instead of the file."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, permanent=True)


class FileSource(Protocol):
    """Fetches the bytes of a file its platform holds (transient failures raise
    :class:`~bot.delivery.DeliveryError`, lasting ones :class:`FileUnavailable`)."""

    async def fetch(self, file: Attachment) -> bytes: ...


class FileSources:
    """Where each platform's files are fetched from, by channel name."""

    def __init__(self) -> None:
        self._sources: dict[str, FileSource] = {}

    def add(self, channel: str, source: FileSource) -> None:
        self._sources[channel] = source

    async def fetch(self, file: Attachment) -> bytes:
        """The file's bytes, within :data:`~bot.messages.MAX_FILE_BYTES`."""
        if file.too_large:
            raise FileUnavailable(too_large_reason(file.size))
        source = self._sources.get(file.channel)
        if source is None:
            raise FileUnavailable(f"it is on {file.channel}, which this bot does not run")
        data = await source.fetch(file)
        if len(data) > MAX_FILE_BYTES:
            raise FileUnavailable(too_large_reason(len(data)))
        return data


def too_large_reason(size: int | None) -> str:
    return f"too large ({human_size(size)}; {human_size(MAX_FILE_BYTES)} at most)"


def unavailable_note(file: Attachment, reason: str) -> str:
    """What a desk shows instead of a file it could not pass on."""
    return f"[{file.label()} — not passed on: {reason}]"


def too_large_note(file: Attachment) -> str:
    """What an agent is told about their own file that is too large to pass on."""
    reason = too_large_reason(file.size)
    return f"Your {file.label()} was not sent to the customer: {reason}. Share a link instead."
